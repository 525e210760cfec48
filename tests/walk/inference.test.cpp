// SPDX-License-Identifier: MIT
// tests/walk/inference.test.cpp — the reference inference path: pooled walk input, upsampling, labels
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include <wsss/core.hpp>
#include <wsss/graph.hpp>
#include <wsss/walk.hpp>

using namespace wsss;

TEST_CASE("reference_walk_input pads, pools 8x8 and prepends (1 - max cam)^alpha") {
  rng g(1);
  const index_t h = 13, w = 20;  // pads to 16 x 24 -> 2 x 3
  const tensor cam = random_uniform({2, h, w}, g);
  const tensor in = walk::reference_walk_input(cam, 16.0f, 8);
  REQUIRE(in.shape() == shape{3, 2, 3});
  // Naive: build the zero-padded full-resolution stack, then average each 8 x 8 block.
  tensor full({3, 16, 24});
  for (index_t y = 0; y < h; ++y)
    for (index_t x = 0; x < w; ++x) {
      const float a = cam(0, y, x), b = cam(1, y, x);
      full(0, y, x) = static_cast<float>(std::pow(1.0 - std::max(a, b), 16.0));
      full(1, y, x) = a;
      full(2, y, x) = b;
    }
  for (index_t c = 0; c < 3; ++c)
    for (index_t by = 0; by < 2; ++by)
      for (index_t bx = 0; bx < 3; ++bx) {
        double s = 0;
        for (index_t y = 0; y < 8; ++y)
          for (index_t x = 0; x < 8; ++x) s += full(c, by * 8 + y, bx * 8 + x);
        CHECK(in(c, by, bx) == doctest::Approx(s / 64.0).epsilon(1e-5));
      }
}

TEST_CASE("reference_walk_input and upsample_revised: the bits of the unfused definitions, zero channels included") {
  // The fused walk input skips all-zero channels and never forms the full-resolution stack;
  // upsampling interpolates only the kept pixels of non-zero planes. Both must give exactly
  // what block_average(with_background(.)) and resize_bilinear + crop give.
  rng g(5);
  const index_t h = 37, w = 50;  // pads to 40 x 56 -> 5 x 7
  tensor cam({4, h, w});
  for (index_t c : {index_t{1}, index_t{3}})
    for (index_t i = 0; i < h * w; ++i) cam[c * h * w + i] = static_cast<float>(g.uniform());
  const tensor fused = walk::reference_walk_input(cam, 16.0f, 8);
  const tensor plain = block_average(cam::with_background(cam, 16.0f), 8);
  REQUIRE(fused.shape() == plain.shape());
  CHECK(std::equal(fused.begin(), fused.end(), plain.begin()));
  const tensor up = walk::upsample_revised(fused, h, w, 8);
  const tensor full = resize_bilinear(fused, 40, 56);
  bool same = true;
  for (index_t c = 0; c < 5; ++c)
    for (index_t y = 0; y < h; ++y)
      for (index_t x = 0; x < w; ++x) same = same && up(c, y, x) == full(c, y, x);
  CHECK(same);
  CHECK_THROWS_AS(walk::reference_walk_input(tensor({1, 8, 8}, std::nanf("")), 16.0f, 8), value_error);
}

TEST_CASE("upsample_revised is resize_bilinear to the padded size, cropped") {
  rng g(2);
  const tensor rev = random_uniform({4, 3, 5}, g);
  const tensor up = walk::upsample_revised(rev, 20, 37, 8);  // padded 24 x 40
  REQUIRE(up.shape() == shape{4, 20, 37});
  const tensor full = resize_bilinear(rev, 24, 40);
  for (index_t c = 0; c < 4; ++c)
    for (index_t y = 0; y < 20; ++y)
      for (index_t x = 0; x < 37; ++x) CHECK(up(c, y, x) == full(c, y, x));
  CHECK_THROWS_WITH_AS(walk::upsample_revised(rev, 30, 37, 8), doctest::Contains("[wsss.shape] walk::upsample_revised"),
                       wsss::shape_error);
}

TEST_CASE("random_walk_labels spreads a seed over its feature region, background included") {
  // 48 x 64 image, 6 x 8 feature map: an object occupies feature columns 0..3 (pixels 0..31),
  // whose features differ strongly from the rest. The CAM is 1 on a 16 x 16 seed and only 0.1
  // on the rest of the object, where the background score (1 - 0.1)^16 = 0.185 beats it.
  const index_t h = 48, w = 64, dh = 6, dw = 8;
  tensor f({4, dh, dw});
  for (index_t y = 0; y < dh; ++y)
    for (index_t x = 0; x < dw; ++x)
      for (index_t c = 0; c < 4; ++c) f(c, y, x) = (x < 4) == (c < 2) ? 20.0f : 0.0f;
  tensor cam({2, h, w});  // class 0 present, class 1 absent (zero)
  for (index_t y = 0; y < h; ++y)
    for (index_t x = 0; x < 32; ++x) cam(0, y, x) = (y >= 16 && y < 32 && x >= 8 && x < 24) ? 1.0f : 0.1f;
  const walk::inference_config cfg;
  const label_map l = walk::random_walk_labels(f, cam, cfg);
  REQUIRE(l.height() == h);
  REQUIRE(l.width() == w);
  auto count = [&](const label_map& m) {
    index_t obj = 0, bg = 0;
    for (index_t y = 0; y < h; ++y)
      for (index_t x = 0; x < w; ++x) {
        if (x < 28) obj += m(y, x) == 1;
        if (x >= 36) bg += m(y, x) == 0;
      }
    return std::pair<double, index_t>{double(obj) / double(h * 28), bg};
  };
  // Without the walk the object is mostly background; with it the whole object is class 1.
  const auto before = count(argmax_labels(walk::upsample_revised(walk::reference_walk_input(cam), h, w)));
  const auto after = count(l);
  CHECK(before.first < 0.5);
  CHECK(after.first > 0.95);
  CHECK(after.second == h * 28);
  // Same labels with the dense oracle and the Chebyshev propagator.
  const exec<cpu_t> host{};
  const label_map ld = walk::random_walk_labels(host, f, cam, cfg, graph::radius{}, walk::dense_power{});
  const label_map lc = walk::random_walk_labels(host, f, cam, cfg, graph::radius{}, walk::chebyshev{});
  for (index_t i = 0; i < h * w; ++i) {
    CHECK(ld[i] == l[i]);
    CHECK(lc[i] == l[i]);
  }
}

TEST_CASE("random_walk_labels rejects mismatched CAM and feature sizes") {
  const tensor f({4, 6, 8});
  CHECK_THROWS_WITH_AS(walk::random_walk_labels(f, tensor({2, 48, 72})),
                       doctest::Contains("[wsss.shape] walk::random_walk_labels"), wsss::shape_error);
  tensor cam({2, 48, 64});
  cam[5] = NAN;
  CHECK_THROWS_WITH_AS(walk::random_walk_labels(f, cam), doctest::Contains("[wsss.value]"), wsss::value_error);
  // The graph's gamma is its builder's config (checked at construction).
  CHECK_THROWS_WITH_AS(walk::random_walk_labels(exec<>{}, f, tensor({2, 48, 64}), {}, graph::radius{{0.5}}),
                       doctest::Contains("radius gamma"), wsss::value_error);
}
