// SPDX-License-Identifier: MIT
// tests/cam/annotations.test.cpp — SPN's annotation sanitization on hand-made maps, the degree
// of scatter (closed forms, an independent edge count, disc < ring < comb) and the reliable
// subset per class, with its errors
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "wsss/cam/annotations.hpp"
#include "wsss/core/random.hpp"

namespace {

using wsss::index_t;
using wsss::label_map;

label_map from_rows(const std::vector<std::vector<int>>& rows) {
  label_map m(static_cast<index_t>(rows.size()), static_cast<index_t>(rows[0].size()));
  for (std::size_t y = 0; y < rows.size(); ++y)
    for (std::size_t x = 0; x < rows[y].size(); ++x)
      m[static_cast<index_t>(y * rows[0].size() + x)] = static_cast<std::uint8_t>(rows[y][x]);
  return m;
}

std::vector<int> labels_of(const label_map& m) { return {m.data(), m.data() + m.pixels()}; }

// A disc, a ring and a comb, each of about `area` pixels, as class 1 on an n x n map.
label_map disc(index_t n, double r) {
  label_map m(n, n, 0);
  for (index_t y = 0; y < n; ++y)
    for (index_t x = 0; x < n; ++x) m[y * n + x] = std::hypot(y - n / 2.0, x - n / 2.0) <= r ? 1 : 0;
  return m;
}

// Perimeter by an independent count: 4 edges per pixel minus 2 per 4-adjacent pair inside the class.
double perimeter_by_pairs(const label_map& m, int c) {
  double area = 0, pairs = 0;
  for (index_t y = 0; y < m.height(); ++y)
    for (index_t x = 0; x < m.width(); ++x) {
      if (m[y * m.width() + x] != c) continue;
      area += 1;
      if (x + 1 < m.width() && m[y * m.width() + x + 1] == c) pairs += 1;
      if (y + 1 < m.height() && m[(y + 1) * m.width() + x] == c) pairs += 1;
    }
  return 4 * area - 2 * pairs;
}

}  // namespace

TEST_CASE("cam::annotate: sanitization keeps the tags above half their maximum, background elsewhere") {
  // Two classes on 1 x 4: class 1 peaks at 4, class 2 (untagged) dominates pixel 3.
  wsss::tensor maps({2, 1, 4});
  const float m1[4] = {4.0f, 2.5f, 1.5f, 3.0f}, m2[4] = {1.0f, 3.0f, 0.5f, 9.0f};
  for (int i = 0; i < 4; ++i) maps[i] = m1[i], maps[4 + i] = m2[i];
  const wsss::tag_set only1{1};
  // Sanitized: class 2 dropped; class 1 kept where >= 2 (= 0.5 * 4): pixels 0, 1, 3.
  CHECK(labels_of(wsss::cam::annotate(maps, only1, {.relative = 0.5f, .background = 0.0f})) == std::vector<int>{1, 1, 0, 1});
  // Unsanitized: both classes, no relative threshold: the larger map wins per pixel.
  CHECK(labels_of(wsss::cam::annotate(maps, wsss::cam::all_classes(2), {.relative = 0.0f, .background = 0.0f})) ==
        std::vector<int>{1, 2, 1, 2});
  // Both tagged with relative 0.5: class 2 keeps >= 4.5 (pixel 3 only), class 1 keeps >= 2.
  CHECK(labels_of(wsss::cam::annotate(maps, wsss::tag_set{1, 2}, {.relative = 0.5f, .background = 0.0f})) ==
        std::vector<int>{1, 1, 0, 2});
  // The background threshold: below 2.6 everything is background.
  CHECK(labels_of(wsss::cam::annotate(maps, only1, {.relative = 0.0f, .background = 2.6f})) == std::vector<int>{1, 0, 0, 1});
  // A class whose map never exceeds the background threshold leaves no pixel.
  for (auto& v : maps) v = -v;
  CHECK(labels_of(wsss::cam::annotate(maps, wsss::tag_set{1, 2}, {.relative = 0.5f, .background = 0.0f})) ==
        std::vector<int>{0, 0, 0, 0});
}

TEST_CASE("cam::annotate: errors name the problem") {
  const wsss::tensor maps({2, 3, 3}, 1.0f);
  CHECK_THROWS_WITH_AS((void)wsss::cam::annotate(maps, wsss::tag_set{3}, {}), doctest::Contains("class 3 has no map"),
                       wsss::value_error);
  CHECK_THROWS_WITH_AS((void)wsss::cam::annotate(maps, wsss::tag_set{1}, {.relative = 1.5f}), doctest::Contains("relative"),
                       wsss::value_error);
  CHECK_THROWS_AS((void)wsss::cam::annotate(wsss::tensor({2, 9}), wsss::tag_set{1}, {}), wsss::shape_error);
}

TEST_CASE("cam::class_shape: closed forms, an independent edge count, and disc < ring < comb") {
  // A 3 x 3 square inside a 5 x 5 map: perimeter 12, area 9, scatter 16.
  const label_map square = from_rows({{0, 0, 0, 0, 0}, {0, 1, 1, 1, 0}, {0, 1, 1, 1, 0}, {0, 1, 1, 1, 0}, {0, 0, 0, 0, 0}});
  const auto s = wsss::cam::class_shape(square, 1);
  CHECK(s.area == 9);
  CHECK(s.perimeter == 12);
  CHECK(s.scatter() == doctest::Approx(16.0));
  // A 1 x n line along the border: the border counts as perimeter: (2n + 2)^2 / n.
  const label_map line = from_rows({{2, 2, 2, 2, 2, 2}, {0, 0, 0, 0, 0, 0}});
  CHECK(wsss::cam::class_shape(line, 2).scatter() == doctest::Approx(14.0 * 14.0 / 6.0));
  // An absent class scatters infinitely (never reliable).
  CHECK(std::isinf(wsss::cam::class_shape(line, 5).scatter()));
  // Random maps: the per-pixel edge count equals 4 A - 2 (adjacent pairs).
  wsss::rng g(11);
  for (int trial = 0; trial < 20; ++trial) {
    label_map m(7 + trial % 5, 9 + trial % 3);
    for (index_t p = 0; p < m.pixels(); ++p) m[p] = static_cast<std::uint8_t>(g.below(3));
    for (int c : {0, 1, 2}) CHECK(wsss::cam::class_shape(m, c).perimeter == perimeter_by_pairs(m, c));
  }
  // Disc < ring < comb at similar areas (64 x 64 maps).
  const index_t n = 64;
  const label_map d = disc(n, 12.0);  // ~452 pixels
  label_map ring = disc(n, 20.0);     // r in (16.2, 20]: ~433 pixels
  const label_map hole = disc(n, 16.2);
  for (index_t p = 0; p < ring.pixels(); ++p)
    if (hole[p]) ring[p] = 0;
  label_map comb(n, n, 0);  // a 2-pixel spine with 2-pixel teeth every 4 columns
  for (index_t x = 4; x < 60; ++x) comb[10 * n + x] = comb[11 * n + x] = 1;
  for (index_t x = 4; x < 60; x += 4)
    for (index_t y = 12; y < 24; ++y) comb[y * n + x] = comb[y * n + x + 1] = 1;
  const auto sd = wsss::cam::class_shape(d, 1), sr = wsss::cam::class_shape(ring, 1), sc = wsss::cam::class_shape(comb, 1);
  CHECK(sr.area == doctest::Approx(sd.area).epsilon(0.15));
  CHECK(sc.area == doctest::Approx(sd.area).epsilon(0.35));
  // An orthogonally convex region's city-block perimeter is twice its bounding box's: 2 (25 + 25).
  CHECK(sd.perimeter == 100);
  CHECK(sd.scatter() < sr.scatter());
  CHECK(sr.scatter() < sc.scatter());
}

TEST_CASE("cam::reliable_subset: the least scattered per class, ties to the lower image, absent classes skipped") {
  // Five images tagged {1}: class-1 segments of scatter 16 (3x3 square), 16, 32-ish (a line), none, 20.
  const label_map sq = from_rows({{0, 0, 0, 0, 0}, {0, 1, 1, 1, 0}, {0, 1, 1, 1, 0}, {0, 1, 1, 1, 0}, {0, 0, 0, 0, 0}});
  const label_map line = from_rows({{0, 0, 0, 0, 0}, {1, 1, 1, 1, 1}, {0, 0, 0, 0, 0}, {0, 0, 0, 0, 0}, {0, 0, 0, 0, 0}});
  const label_map none(5, 5, 0);
  const label_map rect = from_rows({{0, 0, 0, 0, 0}, {0, 1, 1, 1, 1}, {0, 1, 1, 1, 1}, {0, 0, 0, 0, 0}, {0, 0, 0, 0, 0}});
  // Image 5 carries classes 1 and 2 (class 2 a square); image 1 is also tagged 2 with no class-2 pixel.
  label_map both = sq;
  both[0] = 2;
  const std::vector<label_map> annos{sq, sq, line, none, rect, both};
  const std::vector<wsss::tag_set> tags{{1}, {1, 2}, {1}, {1}, {1}, {1, 2}};
  using ic = wsss::cam::image_class;
  // Class-1 scatters 16, 16, 144/5, none, 144/8, 16: ranked 0, 1, 5, 4, 2; 60% of 5 candidates -> 3.
  // Class 2: image 5's one corner pixel (scatter 16), the only candidate.
  const auto three = wsss::cam::reliable_subset(annos, tags, {.per_class = 0, .fraction = 0.6});
  CHECK(three == std::vector<ic>{{0, 1}, {1, 1}, {5, 1}, {5, 2}});
  // per_class = 4 takes the 18 too; class 2 has one candidate (image 1 has no class-2 pixel).
  const auto four = wsss::cam::reliable_subset(annos, tags, {.per_class = 4});
  CHECK(four == std::vector<ic>{{0, 1}, {1, 1}, {4, 1}, {5, 1}, {5, 2}});
  CHECK(wsss::cam::all_pairs(annos, tags) == std::vector<ic>{{0, 1}, {1, 1}, {2, 1}, {4, 1}, {5, 1}, {5, 2}});
  CHECK_THROWS_WITH_AS((void)wsss::cam::reliable_subset(annos, std::vector<wsss::tag_set>(2), {}),
                       doctest::Contains("6 annotations and 2 tag sets"), wsss::shape_error);
  CHECK_THROWS_WITH_AS((void)wsss::cam::reliable_subset(annos, tags, {.per_class = 0, .fraction = 0.0}),
                       doctest::Contains("fraction"), wsss::value_error);
}

TEST_CASE("cam::figure_ground: the class is the figure, ignored pixels stay ignored") {
  const label_map a = from_rows({{0, 1, 2}, {255, 2, 2}});
  CHECK(labels_of(wsss::cam::figure_ground(a, 2)) == std::vector<int>{0, 0, 1, 255, 1, 1});
  CHECK(labels_of(wsss::cam::figure_ground(a, 1)) == std::vector<int>{0, 1, 0, 255, 0, 0});
}
