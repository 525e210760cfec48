// SPDX-License-Identifier: MIT
// tests/superpixel/slic.test.cpp — SLIC: connectivity (BFS), count, boundary recall on a
// synthetic image with known edges, CIELAB reference values, resampling helpers, errors
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "wsss/core/random.hpp"
#include "wsss/superpixel.hpp"

using wsss::index_t;
namespace sp = wsss::superpixel;

namespace {

struct synthetic {
  wsss::rgb_image img;
  std::vector<int> region;  // ground-truth region id per pixel
};

/// 240 x 180 image: a horizontal colour ramp split in two halves, three rectangles, a disc
/// and a diagonal band, each a flat colour, plus uniform noise of +-15 grey levels.
synthetic make_synthetic(std::uint64_t seed) {
  const index_t H = 180, W = 240;
  synthetic s{wsss::rgb_image(H, W), std::vector<int>(static_cast<std::size_t>(H * W))};
  wsss::rng g(seed);
  const int colours[7][3] = {{40, 90, 160}, {200, 180, 60}, {30, 150, 40}, {220, 60, 50}, {240, 240, 240}, {90, 40, 120}, {20, 20, 20}};
  for (index_t y = 0; y < H; ++y)
    for (index_t x = 0; x < W; ++x) {
      int r = y < 90 ? 0 : 1;
      if (x >= 20 && x < 90 && y >= 15 && y < 70) r = 2;
      if (x >= 140 && x < 225 && y >= 100 && y < 165) r = 3;
      if ((x - 160) * (x - 160) + (y - 45) * (y - 45) < 30 * 30) r = 4;
      if (std::abs((x - 30) - (y - 100)) < 9 && y >= 100) r = 5;
      if (x >= 100 && x < 130 && y >= 120 && y < 175) r = 6;
      s.region[static_cast<std::size_t>(y * W + x)] = r;
      for (int c = 0; c < 3; ++c) {
        const int v = colours[r][c] + static_cast<int>(std::lround(g.uniform(-15.0, 15.0)));
        s.img(y, x, c) = static_cast<std::uint8_t>(std::clamp(v, 0, 255));
      }
    }
  return s;
}

/// Smoothly varying colours (sums of sinusoids): no edges, so only the grid decides the count.
wsss::rgb_image make_smooth(index_t H, index_t W) {
  wsss::rgb_image img(H, W);
  for (index_t y = 0; y < H; ++y)
    for (index_t x = 0; x < W; ++x)
      for (int c = 0; c < 3; ++c)
        img(y, x, c) = static_cast<std::uint8_t>(127.5 + 100.0 * std::sin(0.031 * x * (c + 1) + 0.023 * y * (3 - c)));
  return img;
}

/// Pixels whose right or lower neighbour carries another value.
template <class F>
std::vector<char> boundaries(index_t H, index_t W, F&& at) {
  std::vector<char> b(static_cast<std::size_t>(H * W), 0);
  for (index_t y = 0; y < H; ++y)
    for (index_t x = 0; x < W; ++x) {
      const auto v = at(y, x);
      if ((x + 1 < W && at(y, x + 1) != v) || (y + 1 < H && at(y + 1, x) != v)) b[static_cast<std::size_t>(y * W + x)] = 1;
    }
  return b;
}

/// Checks by breadth-first search that every label in [0, count) is present and 4-connected.
void check_connected(const sp::segmentation& seg) {
  const index_t H = seg.height(), W = seg.width();
  const auto sizes = seg.sizes();
  std::vector<char> seen(static_cast<std::size_t>(H * W), 0);
  std::vector<char> label_done(static_cast<std::size_t>(seg.count), 0);
  index_t disconnected = 0, missing = 0;
  for (index_t p0 = 0; p0 < H * W; ++p0) {
    const std::int32_t l = seg.labels[p0];
    if (l < 0 || l >= seg.count) {
      FAIL_CHECK("label " << l << " outside [0, " << seg.count << ") at flat index " << p0);
      return;
    }
    if (label_done[static_cast<std::size_t>(l)]) continue;
    label_done[static_cast<std::size_t>(l)] = 1;
    std::vector<index_t> q{p0};
    seen[static_cast<std::size_t>(p0)] = 1;
    for (std::size_t h = 0; h < q.size(); ++h) {
      const index_t p = q[h], y = p / W, x = p % W;
      const index_t nb[4] = {x > 0 ? p - 1 : -1, x + 1 < W ? p + 1 : -1, y > 0 ? p - W : -1, y + 1 < H ? p + W : -1};
      for (index_t r : nb)
        if (r >= 0 && !seen[static_cast<std::size_t>(r)] && seg.labels[r] == l) {
          seen[static_cast<std::size_t>(r)] = 1;
          q.push_back(r);
        }
    }
    if (static_cast<index_t>(q.size()) != sizes[static_cast<std::size_t>(l)]) ++disconnected;
  }
  for (char d : label_done) missing += d ? 0 : 1;
  CHECK(disconnected == 0);
  CHECK(missing == 0);
}

}  // namespace

TEST_CASE("to_lab matches CIELAB reference values (D65)") {
  wsss::rgb_image img(1, 4);
  const std::uint8_t px[4][3] = {{255, 255, 255}, {255, 0, 0}, {0, 0, 255}, {128, 128, 128}};
  for (int i = 0; i < 4; ++i)
    for (int c = 0; c < 3; ++c) img(0, i, c) = px[i][c];
  const wsss::tensor lab = sp::to_lab(img);
  const double expect[4][3] = {{100.0, 0.0, 0.0}, {53.24, 80.09, 67.20}, {32.30, 79.19, -107.86}, {53.59, 0.0, 0.0}};
  for (int i = 0; i < 4; ++i)
    for (int c = 0; c < 3; ++c) CHECK(std::abs(lab[c * 4 + i] - expect[i][c]) < 0.05);
}

TEST_CASE("to_lab equals a float64 sRGB -> XYZ -> Lab conversion on random colours") {
  wsss::rng g(77);
  wsss::rgb_image img(16, 16);
  for (index_t i = 0; i < 16 * 16 * 3; ++i) img.data()[i] = static_cast<std::uint8_t>(g.below(256));
  const wsss::tensor lab = sp::to_lab(img);
  auto lin = [](double c) { c /= 255.0; return c <= 0.04045 ? c / 12.92 : std::pow((c + 0.055) / 1.055, 2.4); };
  auto f = [](double t) { return t > std::pow(6.0 / 29.0, 3) ? std::cbrt(t) : t / (3.0 * std::pow(6.0 / 29.0, 2)) + 4.0 / 29.0; };
  double worst = 0;
  for (index_t i = 0; i < 256; ++i) {
    const double r = lin(img.data()[3 * i]), gg = lin(img.data()[3 * i + 1]), b = lin(img.data()[3 * i + 2]);
    const double X = (0.4124564 * r + 0.3575761 * gg + 0.1804375 * b) / 0.950456;
    const double Y = 0.2126729 * r + 0.7151522 * gg + 0.0721750 * b;
    const double Z = (0.0193339 * r + 0.1191920 * gg + 0.9503041 * b) / 1.088754;
    const double ref[3] = {116.0 * f(Y) - 16.0, 500.0 * (f(X) - f(Y)), 200.0 * (f(Y) - f(Z))};
    for (int c = 0; c < 3; ++c) worst = std::max(worst, std::abs(lab[c * 256 + i] - ref[c]));
  }
  CHECK(worst < 2e-3);
}

TEST_CASE("slic: labels contiguous, every superpixel connected, count near the target") {
  for (index_t target : {60, 200, 500}) {
    INFO("target " << target);
    const sp::segmentation seg = sp::slic(make_smooth(180, 240), {.superpixels = target});
    REQUIRE(seg.labels.shape() == wsss::shape{180, 240});
    check_connected(seg);
    // Stated tolerance: within 20% of the target on an edge-free image.
    CHECK(seg.count >= static_cast<index_t>(0.8 * static_cast<double>(target)));
    CHECK(seg.count <= static_cast<index_t>(1.2 * static_cast<double>(target)));
  }
}

TEST_CASE("slic: boundary recall >= 0.9 within 2 px on a synthetic image with known edges") {
  const synthetic s = make_synthetic(3);
  const index_t H = 180, W = 240;
  const sp::segmentation seg = sp::slic(s.img, {.superpixels = 250, .compactness = 10.0f});
  check_connected(seg);
  const auto gt = boundaries(H, W, [&](index_t y, index_t x) { return s.region[static_cast<std::size_t>(y * W + x)]; });
  const auto sb = boundaries(H, W, [&](index_t y, index_t x) { return seg(y, x); });
  index_t total = 0, hit = 0;
  for (index_t y = 0; y < H; ++y)
    for (index_t x = 0; x < W; ++x) {
      if (!gt[static_cast<std::size_t>(y * W + x)]) continue;
      ++total;
      bool found = false;
      for (index_t dy = -2; dy <= 2 && !found; ++dy)
        for (index_t dx = -2; dx <= 2 && !found; ++dx) {
          const index_t yy = y + dy, xx = x + dx;
          found = yy >= 0 && xx >= 0 && yy < H && xx < W && sb[static_cast<std::size_t>(yy * W + xx)];
        }
      hit += found ? 1 : 0;
    }
  const double recall = static_cast<double>(hit) / static_cast<double>(total);
  INFO("boundary recall " << recall << " over " << total << " edge pixels");
  CHECK(recall >= 0.9);
  // Superpixels respect the flat regions: few pixels lie outside their superpixel's majority
  // region (the leakage part of the undersegmentation error).
  std::vector<index_t> hist(static_cast<std::size_t>(seg.count) * 7, 0);
  for (index_t p = 0; p < H * W; ++p) ++hist[static_cast<std::size_t>(seg.labels[p]) * 7 + static_cast<std::size_t>(s.region[static_cast<std::size_t>(p)])];
  index_t leaked = 0;
  for (index_t l = 0; l < seg.count; ++l) {
    const auto* h = &hist[static_cast<std::size_t>(l) * 7];
    leaked += std::accumulate(h, h + 7, index_t{0}) - *std::max_element(h, h + 7);
  }
  const double leak = static_cast<double>(leaked) / static_cast<double>(H * W);
  INFO("leakage " << leak);
  CHECK(leak < 0.05);
}

TEST_CASE("slic is deterministic and every size runs (tiny images, one superpixel)") {
  const auto a = sp::slic(make_smooth(37, 23), {.superpixels = 12});
  const auto b = sp::slic(make_smooth(37, 23), {.superpixels = 12});
  CHECK(a.count == b.count);
  CHECK(std::equal(a.labels.begin(), a.labels.end(), b.labels.begin()));
  const auto one = sp::slic(make_smooth(5, 7), {.superpixels = 1});
  CHECK(one.count == 1);
  const auto many = sp::slic(make_smooth(4, 4), {.superpixels = 100});
  check_connected(many);
}

TEST_CASE("pad_to_square and resize_nearest") {
  sp::segmentation s;
  s.count = 3;
  s.labels = sp::label_tensor({2, 3});
  const std::int32_t v[6] = {0, 0, 1, 2, 2, 1};
  std::copy(v, v + 6, s.labels.begin());
  const auto sq = sp::pad_to_square(s);
  REQUIRE(sq.labels.shape() == wsss::shape{3, 3});
  CHECK(sq(0, 2) == 1);
  CHECK(sq(1, 0) == 2);
  CHECK(sq(2, 0) == -1);
  CHECK(sq(2, 2) == -1);
  const auto up = sp::resize_nearest(s, 4, 6);  // exact 2x: each label becomes a 2 x 2 block
  for (index_t y = 0; y < 4; ++y)
    for (index_t x = 0; x < 6; ++x) CHECK(up(y, x) == s(y / 2, x / 2));
  const auto down = sp::resize_nearest(up, 2, 3);
  CHECK(std::equal(down.labels.begin(), down.labels.end(), s.labels.begin()));
}

TEST_CASE("slic and the helpers reject bad input with tagged errors") {
  CHECK_THROWS_WITH_AS(sp::slic(wsss::rgb_image()), doctest::Contains("[wsss.shape] superpixel::slic: image is empty"), wsss::shape_error);
  const auto img = make_smooth(10, 10);
  CHECK_THROWS_WITH_AS(sp::slic(img, {.superpixels = 0}), doctest::Contains("[wsss.value] superpixel::slic: superpixels must be positive"),
                       wsss::value_error);
  CHECK_THROWS_WITH_AS(sp::slic(img, {.compactness = 0.0f}), doctest::Contains("compactness must be > 0"), wsss::value_error);
  CHECK_THROWS_WITH_AS(sp::slic(img, {.iterations = 0}), doctest::Contains("iterations must be >= 1"), wsss::value_error);
  sp::segmentation bad;
  bad.count = 2;
  bad.labels = sp::label_tensor({2, 2}, 5);
  CHECK_THROWS_WITH_AS(sp::pad_to_square(bad), doctest::Contains("[wsss.value] superpixel::pad_to_square: superpixel label 5"),
                       wsss::value_error);
  bad.labels = sp::label_tensor({4});
  CHECK_THROWS_WITH_AS(sp::resize_nearest(bad, 2, 2), doctest::Contains("[wsss.shape] superpixel::resize_nearest"), wsss::shape_error);
}
