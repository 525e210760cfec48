// SPDX-License-Identifier: MIT
// tests/em/estep.test.cpp — the E-steps of EM for DeepLab: EM-Fixed is the argmax of the biased
// scores, EM-Adapt matches the reference layer on a hand-worked case and meets its area
// constraint on random maps, Bbox-Rect's smallest-box rule, Bbox-EM-Fixed's per-cell biases
#include <doctest/doctest.h>

#include <algorithm>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "wsss/core/random.hpp"
#include "wsss/em.hpp"

namespace {

using wsss::index_t;
using wsss::tensor;

tensor random_scores(wsss::shape s, std::uint64_t seed) {
  wsss::rng g(seed);
  tensor t(s);
  for (index_t i = 0; i < t.numel(); ++i) t[i] = static_cast<float>(g.uniform() * 8.0 - 4.0);
  return t;
}

// The naive argmax of one image's C x h x w plane of N x C x h x w scores (ties to the higher
// id, Caffe's ArgMax).
int naive_argmax(const tensor& s, index_t n, index_t i) {
  const index_t c = s.dim(1), hw = s.dim(2) * s.dim(3);
  int best = 0;
  for (index_t l = 1; l < c; ++l)
    if (s[(n * c + l) * hw + i] >= s[(n * c + best) * hw + i]) best = static_cast<int>(l);
  return best;
}

}  // namespace

TEST_CASE("em: fixed is the argmax of the scores plus b_fg on tagged classes and b_bg on background") {
  const tensor s = random_scores({3, 5, 4, 6}, 7);
  const std::vector<wsss::tag_set> tags{{1, 3}, {}, {1, 2, 3, 4}};
  const wsss::em::fixed e({.fg_bias = 5.0f, .bg_bias = 3.0f});
  auto pl = e.prepare(wsss::exec<>{}, wsss::batch{.tags = tags}, s.shape());
  std::vector<wsss::label_map> out;
  e.run(wsss::exec<>{}, pl, s, out);
  REQUIRE(out.size() == 3);
  tensor b = s;  // eq. 10 by hand
  const index_t hw = 24;
  for (index_t n = 0; n < 3; ++n) {
    for (index_t i = 0; i < hw; ++i) b[(n * 5 + 0) * hw + i] += 3.0f;
    for (int l : tags[static_cast<std::size_t>(n)])
      for (index_t i = 0; i < hw; ++i) b[(n * 5 + l) * hw + i] += 5.0f;
  }
  for (index_t n = 0; n < 3; ++n)
    for (index_t i = 0; i < hw; ++i) CHECK(out[static_cast<std::size_t>(n)][i] == naive_argmax(b, n, i));
  // With biases far above the score range only background and the tags remain, fg winning.
  const wsss::em::fixed big({.fg_bias = 100.0f, .bg_bias = 50.0f});
  auto pb = big.prepare(wsss::exec<>{}, wsss::batch{.tags = tags}, s.shape());
  big.run(wsss::exec<>{}, pb, s, out);
  for (index_t i = 0; i < hw; ++i) {
    CHECK((out[0][i] == 1 || out[0][i] == 3));
    CHECK(out[1][i] == 0);
  }
  CHECK_THROWS_AS(e.prepare(wsss::exec<>{}, wsss::batch{}, s.shape()), wsss::value_error);          // no tags
  CHECK_THROWS_AS(e.prepare(wsss::exec<>{}, wsss::batch{.tags = std::span(tags).first(2)}, s.shape()), wsss::shape_error);
  CHECK_THROWS_AS(e.run(wsss::exec<>{}, pl, random_scores({3, 5, 4, 5}, 1), out), wsss::shape_error);
}

TEST_CASE("em: adapt equals the reference layer's rule on a hand-worked case") {
  // One image, classes {0, 1} present, 2 absent, 5 positions, rho 0.4 -> k = 2.
  tensor s({1, 3, 1, 5});
  const float s0[] = {5, 4, 3, 2, 1}, s1[] = {0, 1, 2, 3, 4}, s2[] = {10, 0, 0, 0, 0};
  for (index_t i = 0; i < 5; ++i) s[i] = s0[i], s[5 + i] = s1[i], s[10 + i] = s2[i];
  const std::vector<wsss::tag_set> tags{{1}};
  const wsss::em::adapt e({.fg_portion = 0.4f, .bg_portion = 0.4f});
  auto pl = e.prepare(wsss::exec<>{}, wsss::batch{.tags = tags}, s.shape());
  const tensor b = e.biased(pl, s);
  // Suppression: m = min(s0, s1) = [0 1 2 2 1], s2 = [-1e-5 0 0 0 0]. E = [5 4 3 3 4], mean 3.8.
  // Background: d = [0 0 0 1 3], 2nd smallest (0-based) 0 -> b0 = 0. Class 1: d = [5 3 1 0 0] ->
  // b1 = 1, s1 = [1 2 3 4 5], E = [5 4 3 4 5], mean 4.2: every channel shifted by -0.4.
  const float want0[] = {4.6f, 3.6f, 2.6f, 1.6f, 0.6f}, want1[] = {0.6f, 1.6f, 2.6f, 3.6f, 4.6f};
  for (index_t i = 0; i < 5; ++i) {
    CHECK(b[i] == doctest::Approx(want0[i]));
    CHECK(b[5 + i] == doctest::Approx(want1[i]));
    CHECK(b[10 + i] == doctest::Approx(i == 0 ? -0.4 - 1e-5 : -0.4));
  }
  std::vector<wsss::label_map> out;
  e.run(wsss::exec<>{}, pl, s, out);
  const int want[] = {0, 0, 1, 1, 1};  // the tie at position 2 goes to the higher id (Caffe's ArgMax)
  for (index_t i = 0; i < 5; ++i) CHECK(out[0][i] == want[i]);
}

TEST_CASE("em: adapt gives the last present class at least int(rho HW) cells and absent classes none") {
  for (std::uint64_t seed = 1; seed <= 60; ++seed) {
    wsss::rng g(seed * 31);
    const index_t c = 6, h = 5 + static_cast<index_t>(g.below(6)), w = 4 + static_cast<index_t>(g.below(6));
    const tensor s = random_scores({1, c, h, w}, seed);
    wsss::tag_set tags;
    for (int l = 1; l < c; ++l)
      if (g.uniform() < 0.4) tags.push_back(l);
    if (tags.empty()) tags.push_back(1 + static_cast<int>(g.below(c - 1)));
    const float rho = 0.1f + 0.3f * static_cast<float>(g.uniform());
    const wsss::em::adapt e({.fg_portion = rho, .bg_portion = 0.3f});
    const std::vector<wsss::tag_set> ts{tags};
    auto pl = e.prepare(wsss::exec<>{}, wsss::batch{.tags = ts}, s.shape());
    std::vector<wsss::label_map> out;
    e.run(wsss::exec<>{}, pl, s, out);
    const auto k = static_cast<index_t>(rho * static_cast<float>(h * w));
    index_t last = 0;
    for (index_t i = 0; i < h * w; ++i) {
      const int l = out[0][i];
      CHECK((l == 0 || std::binary_search(tags.begin(), tags.end(), l)));
      last += l == tags.back();
    }
    INFO("seed " << seed << ", rho " << rho);
    // It ties or beats the maximum at k + 1 cells, but s + (E - s) may round below E at the k-th.
    CHECK(last >= k);
  }
}

TEST_CASE("em: adapt keeps its area on flat score maps (ties go to the higher id, as Caffe's ArgMax)") {
  // A network with dead features scores every cell alike: every d is 0, every class ties the
  // maximum everywhere. The lower-id rule would hand background the whole image.
  const tensor s({1, 4, 3, 3}, 0.25f);
  const std::vector<wsss::tag_set> tags{{2}};
  const wsss::em::adapt e;
  auto pl = e.prepare(wsss::exec<>{}, wsss::batch{.tags = tags}, s.shape());
  std::vector<wsss::label_map> out;
  e.run(wsss::exec<>{}, pl, s, out);
  for (index_t i = 0; i < 9; ++i) CHECK(out[0][i] == 2);
  // EM-Fixed's argmax follows the same rule: b_fg = b_bg ties go to the tag.
  const wsss::em::fixed f({.fg_bias = 1.0f, .bg_bias = 1.0f});
  auto fp = f.prepare(wsss::exec<>{}, wsss::batch{.tags = tags}, s.shape());
  f.run(wsss::exec<>{}, fp, s, out);
  for (index_t i = 0; i < 9; ++i) CHECK(out[0][i] == 2);
}

TEST_CASE("em: boxes are rasterised at pixel centres, the smallest box winning overlaps") {
  const wsss::box_list boxes{{.x0 = 0, .y0 = 0, .x1 = 8, .y1 = 8, .label = 2}, {.x0 = 4, .y0 = 4, .x1 = 12, .y1 = 8, .label = 3}};
  // An 8 x 12 image on a 4 x 6 grid: cell (y, x) has its centre at (2y + 1, 2x + 1).
  const auto m = wsss::em::rasterize_boxes(boxes, 4, 6, 8, 12, 5);
  for (index_t y = 0; y < 4; ++y)
    for (index_t x = 0; x < 6; ++x) {
      const index_t cy = 2 * y + 1, cx = 2 * x + 1;
      const bool in2 = cy < 8 && cx < 8, in3 = cy >= 4 && cy < 8 && cx >= 4 && cx < 12;
      const int want = in3 ? 3 : in2 ? 2 : 0;  // box 3 (32 px) is smaller than box 2 (64 px)
      CHECK(m(y, x) == want);
    }
  CHECK_THROWS_AS(wsss::em::rasterize_boxes({{.x0 = 0, .y0 = 0, .x1 = 13, .y1 = 8, .label = 1}}, 4, 6, 8, 12, 5),
                  wsss::value_error);
  CHECK_THROWS_AS(wsss::em::rasterize_boxes({{.x0 = 2, .y0 = 0, .x1 = 2, .y1 = 8, .label = 1}}, 4, 6, 8, 12, 5),
                  wsss::value_error);
  CHECK_THROWS_AS(wsss::em::rasterize_boxes({{.x0 = 0, .y0 = 0, .x1 = 4, .y1 = 4, .label = 5}}, 4, 6, 8, 12, 5),
                  wsss::value_error);

  // Bbox-Rect's targets are the rasterised boxes; Bbox-EM-Fixed boosts class l only in its cells.
  const tensor s = random_scores({1, 5, 4, 6}, 3);
  const std::vector<wsss::box_list> bl{boxes};
  const std::vector<wsss::rgb_image> imgs{wsss::rgb_image(8, 12)};
  const wsss::batch b{.images = imgs, .boxes = bl};
  const wsss::em::bbox_rect rect;
  auto pr = rect.prepare(wsss::exec<>{}, b, s.shape());
  std::vector<wsss::label_map> out;
  rect.run(wsss::exec<>{}, pr, s, out);
  CHECK(out.at(0) == m);
  const wsss::em::bbox_fixed bf({.fg_bias = 5.0f, .bg_bias = 3.0f});
  auto pf = bf.prepare(wsss::exec<>{}, b, s.shape());
  const tensor biased = bf.biased(pf, s);
  for (index_t l = 0; l < 5; ++l)
    for (index_t i = 0; i < 24; ++i) {
      const float add = (l == 0 ? 3.0f : 0.0f) + (l > 0 && m[i] == l ? 5.0f : 0.0f);
      CHECK(biased[l * 24 + i] == doctest::Approx(s[l * 24 + i] + add));
    }
  bf.run(wsss::exec<>{}, pf, s, out);
  for (index_t i = 0; i < 24; ++i) CHECK(out[0][i] == naive_argmax(biased, 0, i));
  CHECK_THROWS_AS(rect.prepare(wsss::exec<>{}, wsss::batch{}, s.shape()), wsss::value_error);  // no boxes
}

TEST_CASE("em: configuration errors name the E-step") {
  CHECK_THROWS_WITH_AS(wsss::em::adapt({.fg_portion = 1.5f}), doctest::Contains("[wsss.value] em::adapt"), wsss::value_error);
  CHECK_THROWS_WITH_AS(wsss::em::adapt({.iterations = 0}), doctest::Contains("iterations"), wsss::value_error);
  CHECK_THROWS_AS(wsss::em::fixed({.fg_bias = std::numeric_limits<float>::infinity()}), wsss::value_error);
  CHECK_THROWS_AS(wsss::em::bbox_fixed({.fg_bias = std::numeric_limits<float>::infinity()}), wsss::value_error);
  const wsss::em::fixed e;
  const std::vector<wsss::tag_set> tags{{0}};
  CHECK_THROWS_AS(e.prepare(wsss::exec<>{}, wsss::batch{.tags = tags}, wsss::shape{1, 3, 2, 2}), wsss::value_error);
  CHECK_THROWS_AS(e.prepare(wsss::exec<>{}, wsss::batch{}, wsss::shape{1, 1, 2, 2}), wsss::shape_error);
}

TEST_CASE_TEMPLATE("em: every E-step keeps the contract (targets, determinism, named errors)", E, wsss::em::fixed,
                   wsss::em::adapt, wsss::em::bbox_rect, wsss::em::bbox_fixed) {
  const E e{};
  const tensor s = random_scores({2, 4, 5, 7}, 11);
  const std::vector<wsss::tag_set> tags{{2}, {1, 3}};
  const std::vector<wsss::box_list> boxes{{{.x0 = 1, .y0 = 1, .x1 = 4, .y1 = 5, .label = 2}}, {}};
  const wsss::batch b{.tags = tags, .boxes = boxes};
  auto pl = e.prepare(wsss::exec<>{}, b, s.shape());
  const tensor before = s;
  std::vector<wsss::label_map> out(5);  // resized and overwritten
  e.run(wsss::exec<>{}, pl, s, out);
  REQUIRE(out.size() == 2);
  for (const auto& m : out) {
    CHECK(m.height() == 5);
    CHECK(m.width() == 7);
    for (index_t i = 0; i < m.pixels(); ++i) CHECK(m[i] < 4);
  }
  CHECK(std::equal(s.begin(), s.end(), before.begin()));
  std::vector<wsss::label_map> again;
  e.run(wsss::exec<>{}, pl, s, again);
  CHECK(again == out);
  auto fresh = e.prepare(wsss::exec<>{}, b, s.shape());
  e.run(wsss::exec<>{}, fresh, s, again);
  CHECK(again == out);
  const std::string named(E::name);  // the type (shape_error) says "[wsss.shape]"
  CHECK_THROWS_WITH_AS(e.run(wsss::exec<>{}, pl, random_scores({2, 4, 5, 6}, 1), out),
                       doctest::Contains(named.c_str()), wsss::shape_error);
  CHECK_THROWS_WITH_AS(e.prepare(wsss::exec<>{}, b, wsss::shape{2, 4, 5}), doctest::Contains(named.c_str()),
                       wsss::shape_error);
  tensor nan = s;
  nan[3] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_AS(e.run(wsss::exec<>{}, pl, nan, out), wsss::value_error);
}

TEST_CASE("em: the docs/em.md snippet runs") {
  const wsss::exec<> ex{};
  const tensor scores = random_scores({2, 4, 6, 6}, 5);
  const std::vector<wsss::tag_set> tags{{1}, {2, 3}};
  // example-begin em_estep
  const wsss::em::adapt estep;                                   // rho_bg 0.4, rho_fg 0.2
  auto plan = estep.prepare(ex, wsss::batch{.tags = tags}, scores.shape());
  std::vector<wsss::label_map> targets;                          // N maps of h x w
  estep.run(ex, plan, scores, targets);                          // the M-step trains on these
  // example-end
  CHECK(targets.size() == 2);
  CHECK(targets[1].pixels() == 36);
}
