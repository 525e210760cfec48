// SPDX-License-Identifier: MIT
// tests/pool/superpixel.test.cpp — the SP layer (SPN eq. 1-3) against a brute-force per-pixel
// computation, its gradient, multi-scale plans, SP-CAM exactness and the shape errors
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "wsss/autodiff/grad_check.hpp"
#include "wsss/core/random.hpp"
#include "wsss/pool.hpp"
#include "wsss/superpixel.hpp"

using wsss::index_t;
using wsss::tensor;
namespace pool = wsss::pool;
namespace sp = wsss::superpixel;
namespace ad = wsss::ad;

namespace {

/// A Voronoi partition of an H x W image into k cells around random sites (not necessarily
/// connected after the optional hole: the SP layer does not need connectivity), with label -1
/// on a small rectangle so that "no superpixel" pixels are exercised.
sp::segmentation voronoi(index_t H, index_t W, index_t k, std::uint64_t seed, bool hole = true) {
  wsss::rng g(seed);
  std::vector<double> sy(static_cast<std::size_t>(k)), sx(static_cast<std::size_t>(k));
  for (index_t i = 0; i < k; ++i) {
    sy[static_cast<std::size_t>(i)] = g.uniform(0, static_cast<double>(H));
    sx[static_cast<std::size_t>(i)] = g.uniform(0, static_cast<double>(W));
  }
  sp::segmentation s;
  s.count = static_cast<std::int32_t>(k);
  s.labels = sp::label_tensor({H, W});
  for (index_t y = 0; y < H; ++y)
    for (index_t x = 0; x < W; ++x) {
      index_t best = 0;
      double bd = 1e300;
      for (index_t i = 0; i < k; ++i) {
        const double d = std::pow(y - sy[static_cast<std::size_t>(i)], 2) + std::pow(x - sx[static_cast<std::size_t>(i)], 2);
        if (d < bd) { bd = d; best = i; }
      }
      s.labels[y * W + x] = static_cast<std::int32_t>(best);
    }
  if (hole)
    for (index_t y = 0; y < 2; ++y)
      for (index_t x = 0; x < 3; ++x) s.labels[y * W + x] = -1;
  return s;
}

/// Brute force eq. 1: for every pixel the nearest of all h x w receptive-field centres (first
/// minimum in row-major order), averaged per superpixel; returns C x K and marks empty ones.
std::vector<double> brute_pool(const sp::segmentation& seg, const float* x, index_t C, index_t h, index_t w,
                               const pool::feature_geometry& g, std::vector<char>& nonempty) {
  const index_t H = seg.height(), W = seg.width(), K = seg.count;
  std::vector<double> sum(static_cast<std::size_t>(C * K), 0.0);
  std::vector<index_t> n(static_cast<std::size_t>(K), 0);
  for (index_t y = 0; y < H; ++y)
    for (index_t xx = 0; xx < W; ++xx) {
      const std::int32_t l = seg(y, xx);
      if (l < 0) continue;
      index_t best = 0;
      double bd = std::numeric_limits<double>::max();
      for (index_t u = 0; u < h; ++u)
        for (index_t v = 0; v < w; ++v) {
          const double cy = g.offset_y + static_cast<double>(u) * g.stride_y, cx = g.offset_x + static_cast<double>(v) * g.stride_x;
          const double d = (y - cy) * (y - cy) + (xx - cx) * (xx - cx);
          if (d < bd) { bd = d; best = u * w + v; }
        }
      ++n[static_cast<std::size_t>(l)];
      for (index_t c = 0; c < C; ++c) sum[static_cast<std::size_t>(c * K + l)] += x[c * h * w + best];
    }
  nonempty.assign(static_cast<std::size_t>(K), 0);
  for (index_t i = 0; i < K; ++i) {
    nonempty[static_cast<std::size_t>(i)] = n[static_cast<std::size_t>(i)] > 0;
    for (index_t c = 0; c < C; ++c)
      if (n[static_cast<std::size_t>(i)] > 0) sum[static_cast<std::size_t>(c * K + i)] /= static_cast<double>(n[static_cast<std::size_t>(i)]);
  }
  return sum;
}

}  // namespace

TEST_CASE("SP layer forward (eq. 1, 2) equals a brute-force per-pixel computation") {
  const index_t H = 37, W = 29, h = 9, w = 7, C = 3, N = 2;
  const std::vector<sp::segmentation> segs = {voronoi(H, W, 40, 1), voronoi(H, W, 25, 2)};
  wsss::rng g(3);
  const tensor x = wsss::random_normal({N, C, h, w}, g);
  const pool::sp_layer layer;
  const wsss::exec<> ex;
  auto pl = layer.prepare(ex, {.superpixels = segs}, x.shape());
  const std::vector<pool::sp_plan>& plans = pl.images;
  tensor out;
  layer.run(ex, pl, x, out);
  const auto feats = layer.superpixel_features(pl, x);
  const auto geo = pool::feature_geometry::tiling(H, W, h, w);
  for (index_t n = 0; n < N; ++n) {
    std::vector<char> ne;
    const auto ref = brute_pool(segs[static_cast<std::size_t>(n)], x.data() + n * C * h * w, C, h, w, geo, ne);
    const index_t K = segs[static_cast<std::size_t>(n)].count;
    index_t nonempty = 0;
    for (char e : ne) nonempty += e;
    CHECK(plans[static_cast<std::size_t>(n)].nonempty() == nonempty);
    for (index_t ch = 0; ch < C; ++ch) {
      double avg = 0;
      for (index_t i = 0; i < K; ++i) {
        CHECK(feats[static_cast<std::size_t>(n)][ch * K + i] == doctest::Approx(ref[static_cast<std::size_t>(ch * K + i)]).epsilon(1e-5));
        avg += ref[static_cast<std::size_t>(ch * K + i)] / static_cast<double>(nonempty);
      }
      CHECK(out(n, ch) == doctest::Approx(avg).epsilon(1e-5));
    }
  }
}

TEST_CASE("SP layer with an explicit geometry and a superpixel that vanishes") {
  // A 1-pixel superpixel 3 disappears when the map is downsized: N counts only non-empty ones.
  sp::segmentation s = voronoi(20, 20, 3, 9, false);
  s.count = 4;
  s.labels[6 * 20 + 6] = 3;  // even row and column: the half-size map samples odd ones
  const auto small = sp::resize_nearest(s, 10, 10);
  const pool::sp_plan big_plan(s, 5, 5), small_plan(small, 5, 5);
  CHECK(big_plan.nonempty() == 4);
  CHECK(small_plan.pixels(3) == 0);
  CHECK(small_plan.nonempty() == 3);
  const pool::feature_geometry geo{4.0, 2.5, 1.0, 0.3};  // strided centres, not a tiling
  const pool::sp_plan p(s, 5, 8, geo);
  wsss::rng g(5);
  const tensor x = wsss::random_normal({1, 2, 5, 8}, g);
  std::vector<char> ne;
  const auto ref = brute_pool(s, x.data(), 2, 5, 8, geo, ne);
  std::vector<float> zbar(2 * 4);
  p.pool(x.data(), 2, zbar.data());
  for (std::size_t k = 0; k < zbar.size(); ++k) CHECK(zbar[k] == doctest::Approx(ref[k]).epsilon(1e-5));
}

TEST_CASE("SP layer backward is eq. 3 and passes grad_check") {
  const index_t H = 23, W = 31, h = 6, w = 8;
  const std::vector<sp::segmentation> segs = {voronoi(H, W, 30, 4), voronoi(H, W, 12, 5)};
  const pool::sp_layer layer;
  wsss::rng g(6);
  const tensor x = wsss::random_normal({2, 3, h, w}, g);
  const wsss::exec<> ex;
  auto plg = layer.prepare(ex, {.superpixels = segs}, x.shape());
  const auto r = ad::grad_check([&](ad::tape& t, std::span<const ad::var> v) { return layer.record(t, plg, v[0]); }, {x});
  CHECK_MESSAGE(r.ok, r.log);
  // eq. 3 from the brute-force responsibilities: dL/dz^j = (1/N) g sum_i h_i^j.
  tensor out, gin;
  auto pl = layer.prepare(ex, {.superpixels = segs}, x.shape());
  layer.run(ex, pl, x, out);
  const tensor gy = wsss::random_normal({2, 3}, g);
  layer.backward(ex, pl, gy, gin);
  const auto geo = pool::feature_geometry::tiling(H, W, h, w);
  for (index_t n = 0; n < 2; ++n) {
    // h_i^j via brute_pool on one-hot feature maps (one per cell j).
    const index_t K = segs[static_cast<std::size_t>(n)].count;
    for (index_t j = 0; j < h * w; ++j) {
      std::vector<float> onehot(static_cast<std::size_t>(h * w), 0.0f);
      onehot[static_cast<std::size_t>(j)] = 1.0f;
      std::vector<char> ne;
      const auto hij = brute_pool(segs[static_cast<std::size_t>(n)], onehot.data(), 1, h, w, geo, ne);
      double colsum = 0, nonempty = 0;
      for (index_t i = 0; i < K; ++i) colsum += hij[static_cast<std::size_t>(i)], nonempty += ne[static_cast<std::size_t>(i)];
      for (index_t ch = 0; ch < 3; ++ch)
        CHECK(gin[(n * 3 + ch) * h * w + j] == doctest::Approx(gy(n, ch) * colsum / nonempty).epsilon(1e-5));
    }
  }
}

TEST_CASE("SP-CAM of a constant-per-superpixel input reproduces it exactly over scales") {
  const sp::segmentation seg = voronoi(30, 42, 35, 8);
  const index_t C = 4, K = seg.count;
  wsss::rng g(10);
  const tensor value = wsss::random_normal({C, K}, g);  // one value per (class, superpixel)
  const index_t sizes[3] = {21, 42, 63};
  const auto plans = pool::multiscale_plans(seg, sizes, [](index_t s) { return s; });  // features at input resolution
  const auto square = sp::pad_to_square(seg);
  pool::sp_cam cam(C, K);
  for (std::size_t k = 0; k < 3; ++k) {
    const auto at = sp::resize_nearest(square, sizes[k], sizes[k]);
    tensor x({1, C, sizes[k], sizes[k]});
    for (index_t c = 0; c < C; ++c)
      for (index_t p = 0; p < sizes[k] * sizes[k]; ++p)
        x[c * sizes[k] * sizes[k] + p] = at.labels[p] >= 0 ? value[c * K + at.labels[p]] : 1e6f;  // padding must not leak
    const auto z = pool::sp_layer::superpixel_features(std::span<const pool::sp_plan>(&plans[k], 1), x);
    cam.add(plans[k], z[0]);
  }
  const tensor painted = cam.paint(seg, -7.0f);
  REQUIRE(painted.shape() == wsss::shape{C, 30, 42});
  index_t mismatches = 0;
  for (index_t c = 0; c < C; ++c)
    for (index_t p = 0; p < 30 * 42; ++p) {
      const std::int32_t l = seg.labels[p];
      const float expect = l >= 0 ? value[c * K + l] : -7.0f;
      mismatches += painted[c * 30 * 42 + p] == expect ? 0 : 1;
    }
  CHECK(mismatches == 0);
}

TEST_CASE("SP-CAM takes the max over scales, skipping scales where a superpixel is empty") {
  sp::segmentation s = voronoi(12, 12, 3, 4, false);
  s.count = 4;
  s.labels[4 * 12 + 4] = 3;  // one pixel on an even row and column: gone at half size
  const pool::sp_plan full(s, 12, 12), half(sp::resize_nearest(s, 6, 6), 6, 6);
  REQUIRE(half.pixels(3) == 0);
  pool::sp_cam cam(1, 4);
  tensor a({1, 4}), b({1, 4});
  for (index_t i = 0; i < 4; ++i) {
    a[i] = static_cast<float>(i);
    b[i] = static_cast<float>(10 - 3 * i);
  }
  cam.add(full, a);
  cam.add(half, b);
  CHECK(cam.superpixel_scores()[0] == 10.0f);
  CHECK(cam.superpixel_scores()[1] == 7.0f);
  CHECK(cam.superpixel_scores()[2] == 4.0f);
  CHECK(cam.superpixel_scores()[3] == 3.0f);  // b's 1.0 is ignored: empty at half size

  // The same from the resized maps' pixel counts (what a generic SuperpixelPooler's caller has).
  pool::sp_cam by_counts(1, 4);
  by_counts.add(s.sizes(), a);
  by_counts.add(sp::resize_nearest(s, 6, 6).sizes(), b);
  for (index_t i = 0; i < 4; ++i) CHECK(by_counts.superpixel_scores()[i] == cam.superpixel_scores()[i]);
  // SPN's test-time class score: the mean over the superpixels some size has seen.
  CHECK(cam.class_means() == std::vector<double>{(10.0 + 7.0 + 4.0 + 3.0) / 4.0});
  pool::sp_cam unseen(2, 3);
  unseen.add(std::vector<index_t>{0, 5, 0}, tensor({2, 3}, 2.0f));  // only superpixel 1 seen
  CHECK(unseen.class_means() == std::vector<double>{2.0, 2.0});
  CHECK(pool::sp_cam(2, 3).class_means() == std::vector<double>{0.0, 0.0});
  CHECK_THROWS_WITH_AS(unseen.add(std::vector<index_t>{1, 2}, tensor({2, 3})), doctest::Contains("pixel counts of 2 superpixels, expected 3"),
                       wsss::shape_error);
}

TEST_CASE("SP layer rejects mismatched plans and maps") {
  const sp::segmentation seg = voronoi(10, 10, 5, 1);
  const pool::sp_plan p(seg, 4, 4);
  const std::vector<sp::segmentation> one{seg};
  const pool::sp_layer layer;
  const wsss::exec<> ex;
  auto c = layer.prepare(ex, {.superpixels = one}, {1, 2, 4, 4});  // one 4x4 plan
  tensor out;
  CHECK_THROWS_WITH_AS(layer.run(ex, c, tensor({1, 2, 5, 4}), out),
                       doctest::Contains("[wsss.shape] pool::sp_layer: plan 0 was built for a 4x4 feature map, got 1x2x5x4"), wsss::shape_error);
  CHECK_THROWS_WITH_AS(layer.run(ex, c, tensor({2, 2, 4, 4}), out), doctest::Contains("need one superpixel plan per image: 2 images, 1 plans"),
                       wsss::shape_error);
  CHECK_THROWS_WITH_AS(layer.run(ex, c, tensor({2, 4, 4}), out), doctest::Contains("[wsss.shape] pool::sp_layer: scores must be rank 4"),
                       wsss::shape_error);
  CHECK_THROWS_WITH_AS(pool::sp_plan(seg, 0, 3), doctest::Contains("[wsss.value] pool::sp_plan: feature size must be positive"), wsss::value_error);
  sp::segmentation bad = seg;
  bad.labels[3] = 9;
  CHECK_THROWS_WITH_AS(pool::sp_plan(bad, 2, 2), doctest::Contains("[wsss.value] pool::sp_plan: superpixel label 9"), wsss::value_error);
  pool::sp_cam cam(2, 5);
  CHECK_THROWS_WITH_AS(cam.add(p, tensor({3, 5})), doctest::Contains("[wsss.shape] pool::sp_cam: superpixel scores must be 2x5"), wsss::shape_error);
  sp::segmentation other = voronoi(10, 10, 6, 2);
  CHECK_THROWS_WITH_AS(cam.paint(other), doctest::Contains("[wsss.shape] pool::sp_cam: superpixel map has 6 superpixels"), wsss::shape_error);
}

TEST_CASE("SP layer prepare reads one superpixel map per image from the batch") {
  const sp::segmentation seg = voronoi(10, 10, 5, 1);
  const std::vector<sp::segmentation> one{seg};
  const pool::sp_layer layer;
  const wsss::exec<> ex;
  CHECK_THROWS_WITH_AS(layer.prepare(ex, {}, {1, 2, 4, 4}),
                       doctest::Contains("[wsss.value] pool::sp_layer: needs superpixel maps in the batch"), wsss::value_error);
  CHECK_THROWS_WITH_AS(layer.prepare(ex, {.superpixels = one}, {2, 2, 4, 4}),
                       doctest::Contains("[wsss.shape] pool::sp_layer: need one superpixel map per image: 2 images, 1 maps"),
                       wsss::shape_error);
  sp::segmentation bad = seg;
  bad.labels[3] = 9;
  const std::vector<sp::segmentation> bad_one{bad};
  CHECK_THROWS_WITH_AS(layer.prepare(ex, {.superpixels = bad_one}, {1, 2, 4, 4}),
                       doctest::Contains("[wsss.value] pool::sp_plan: superpixel label 9"), wsss::value_error);
  // The plan is the one sp_plan builds from the same map and feature size.
  const auto pl = layer.prepare(ex, {.superpixels = one}, {1, 2, 4, 4});
  const pool::sp_plan ref(seg, 4, 4);
  REQUIRE(pl.images.size() == 1);
  CHECK(pl.images[0].nonempty() == ref.nonempty());
  const auto a = pl.images[0].column_weights(), b = ref.column_weights();
  CHECK(std::equal(a.begin(), a.end(), b.begin(), b.end()));
}
