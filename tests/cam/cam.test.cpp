// SPDX-License-Identifier: MIT
// tests/cam/cam.test.cpp — CAM aggregation, the background map (eq. 2), the compact class stack
// and the confident-region rule, each against a naive loop or a closed form
#include <doctest/doctest.h>

#include <cmath>

#include <wsss/cam.hpp>
#include <wsss/core.hpp>

using namespace wsss;

namespace {

// A fake network: K = 3 maps at stride 2 whose values are simple functions of the input's mean
// per column, so flips and scales leave a trace the naive sum below must reproduce.
tensor fake_cams(const tensor& x) {
  const index_t n = x.dim(0), h = (x.dim(2) + 1) / 2, w = (x.dim(3) + 1) / 2;
  tensor y({n, 3, h, w});
  for (index_t b = 0; b < n; ++b)
    for (index_t c = 0; c < 3; ++c)
      for (index_t r = 0; r < h; ++r)
        for (index_t q = 0; q < w; ++q)
          y(b, c, r, q) = std::max(0.0f, x(b, c, std::min(2 * r, x.dim(2) - 1), std::min(2 * q, x.dim(3) - 1)) + 0.1f * c);
  return y;
}

rgb_image ramp_image(index_t h, index_t w) {
  rgb_image img(h, w);
  for (index_t y = 0; y < h; ++y)
    for (index_t x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) img(y, x, c) = static_cast<std::uint8_t>((7 * x + 3 * y + 50 * c) % 256);
  return img;
}

}  // namespace

TEST_CASE("cam::multiscale sums every scale and flip, zeroes absent classes, divides by the max") {
  const rgb_image img = ramp_image(10, 14);
  const tag_set tags{1, 3};
  cam::multiscale_config cfg;
  cfg.scales = {1.0, 0.5, 1.5};
  const tensor got = cam::multiscale(fake_cams, img, tags, cfg);
  REQUIRE(got.shape() == shape{3, 10, 14});
  // Naive: each scale and each flip separately, upsampled, flipped back, summed.
  const tensor x = nn::normalize(img, cfg.input);
  tensor sum({3, 10, 14});
  for (double s : cfg.scales) {
    const index_t sh = std::llround(s * 10), sw = std::llround(s * 14);
    const tensor xs = resize_bilinear(x, sh, sw);
    for (bool fl : {false, true}) {
      const tensor in = fl ? cam::flip_horizontal(xs) : xs;
      tensor up = resize_bilinear(fake_cams(in), 10, 14);
      if (fl) up = cam::flip_horizontal(up);
      for (index_t i = 0; i < sum.numel(); ++i) sum[i] += up[i];
    }
  }
  for (index_t c = 0; c < 3; ++c) {
    float mx = 0;
    for (index_t i = 0; i < 140; ++i) mx = std::max(mx, sum[c * 140 + i]);
    for (index_t i = 0; i < 140; ++i) {
      const double want = (c == 1) ? 0.0 : sum[c * 140 + i] / (mx + 1e-5);
      CHECK(got[c * 140 + i] == doctest::Approx(want).epsilon(1e-5));
    }
  }
  CHECK_THROWS_WITH_AS(cam::multiscale(fake_cams, img, tag_set{4}, cfg), doctest::Contains("cam::normalise_present"),
                       value_error);
  cfg.scales = {};
  CHECK_THROWS_WITH_AS(cam::multiscale(fake_cams, img, tags, cfg), doctest::Contains("at least one CAM scale"),
                       value_error);
}

TEST_CASE("cam::with_background is (1 - max_c M_c)^alpha in front of the maps (eq. 2)") {
  rng g(3);
  const tensor m = random_uniform({3, 4, 5}, g);
  const tensor s = cam::with_background(m, 4.0f);
  REQUIRE(s.shape() == shape{4, 4, 5});
  for (index_t i = 0; i < 20; ++i) {
    const double mx = std::max({m[i], m[20 + i], m[40 + i]});
    CHECK(s[i] == doctest::Approx(std::pow(1.0 - mx, 4.0)).epsilon(1e-5));
    for (index_t c = 0; c < 3; ++c) CHECK(s[(c + 1) * 20 + i] == m[c * 20 + i]);
  }
  CHECK_THROWS_AS(cam::with_background(m, 0.0f), value_error);
  CHECK_THROWS_AS(cam::with_background(tensor({2, 3}), 1.0f), shape_error);
}

TEST_CASE("present_channels keeps background and the tagged classes, expand_labels maps back") {
  rng g(4);
  const tensor s = random_uniform({5, 3, 3}, g);  // background + classes 1..4
  const tag_set tags{2, 4};
  const tensor p = cam::present_channels(s, tags);
  REQUIRE(p.shape() == shape{3, 3, 3});
  for (index_t i = 0; i < 9; ++i) {
    CHECK(p[i] == s[i]);
    CHECK(p[9 + i] == s[2 * 9 + i]);
    CHECK(p[18 + i] == s[4 * 9 + i]);
  }
  label_map compact(1, 4);
  compact[0] = 0;
  compact[1] = 1;
  compact[2] = 2;
  compact[3] = ignore_label;
  const label_map full = cam::expand_labels(compact, tags);
  CHECK(full[0] == 0);
  CHECK(full[1] == 2);
  CHECK(full[2] == 4);
  CHECK(full[3] == ignore_label);
  compact[0] = 3;
  CHECK_THROWS_AS(cam::expand_labels(compact, tags), value_error);
  CHECK_THROWS_AS(cam::present_channels(s, tag_set{5}), value_error);
}

TEST_CASE("threshold_labels is the argmax over a constant background score and the maps") {
  tensor m({2, 1, 3});
  m(0, 0, 0) = 0.1f;  // below 0.2: background
  m(0, 0, 1) = 0.5f;
  m(1, 0, 1) = 0.7f;  // class 2 wins
  m(0, 0, 2) = 0.3f;  // class 1
  const label_map l = cam::threshold_labels(m, 0.2f);
  CHECK(l[0] == 0);
  CHECK(l[1] == 2);
  CHECK(l[2] == 1);
}

TEST_CASE("block_average pools stride x stride blocks with zero padding") {
  rng g(6);
  const tensor x = random_uniform({2, 5, 7}, g);
  const tensor y = block_average(x, 3);
  REQUIRE(y.shape() == shape{2, 2, 3});
  for (index_t c = 0; c < 2; ++c)
    for (index_t by = 0; by < 2; ++by)
      for (index_t bx = 0; bx < 3; ++bx) {
        double s = 0;
        for (index_t yy = by * 3; yy < std::min<index_t>(5, by * 3 + 3); ++yy)
          for (index_t xx = bx * 3; xx < std::min<index_t>(7, bx * 3 + 3); ++xx) s += x(c, yy, xx);
        CHECK(y(c, by, bx) == doctest::Approx(s / 9).epsilon(1e-6));
      }
  CHECK_THROWS_AS(block_average(x, 0), value_error);
}

TEST_CASE("confident_rule: foreground from the low-alpha labelling, background from the high one") {
  // Four pixels, [bg, class 3] stacks: (la, ha) = (fg, fg) -> 3; (bg, fg) -> neutral;
  // (fg, bg) -> background overrides; (bg, bg) -> background.
  tensor lo({2, 1, 4}), hi({2, 1, 4});
  const float la_fg[4] = {0.9f, 0.1f, 0.9f, 0.1f}, ha_fg[4] = {0.9f, 0.9f, 0.1f, 0.1f};
  for (index_t i = 0; i < 4; ++i) {
    lo(1, 0, i) = la_fg[i];
    lo(0, 0, i) = 1 - la_fg[i];
    hi(1, 0, i) = ha_fg[i];
    hi(0, 0, i) = 1 - ha_fg[i];
  }
  const label_map r = cam::confident_rule(lo, hi, tag_set{3}, 1e-5f);
  CHECK(r[0] == 3);
  CHECK(r[1] == ignore_label);
  CHECK(r[2] == 0);
  CHECK(r[3] == 0);
  // A padded cell (all scores ~0) is neutral whatever the argmax says.
  tensor z({2, 1, 1}), z2({2, 1, 1});
  CHECK(cam::confident_rule(z, z2, tag_set{3}, 1e-5f)[0] == ignore_label);
}

TEST_CASE("normalise_pixels makes each pixel a distribution, all-zero pixels become uniform") {
  tensor p({3, 1, 2});
  p(0, 0, 0) = 1.0f;
  p(1, 0, 0) = 3.0f;
  p(2, 0, 0) = -2.0f;  // negative scores count as 0
  cam::normalise_pixels(p);
  CHECK(p(0, 0, 0) == doctest::Approx(0.25));
  CHECK(p(1, 0, 0) == doctest::Approx(0.75));
  CHECK(p(2, 0, 0) == 0.0f);
  for (index_t c = 0; c < 3; ++c) CHECK(p(c, 0, 1) == doctest::Approx(1.0 / 3));
  tensor bad({2, 2});
  CHECK_THROWS_AS(cam::normalise_pixels(bad), shape_error);
}
