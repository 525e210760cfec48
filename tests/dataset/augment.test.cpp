// SPDX-License-Identifier: MIT
// tests/dataset/augment.test.cpp — the joint random transform of images and label maps
#include <doctest/doctest.h>

#include <wsss/core.hpp>
#include <wsss/data/augment.hpp>

using namespace wsss;

TEST_CASE("an identity transform returns the image and labels unchanged, a flip mirrors both") {
  rgb_image img(5, 7);
  label_map lab(5, 7);
  for (index_t y = 0; y < 5; ++y)
    for (index_t x = 0; x < 7; ++x) {
      for (int c = 0; c < 3; ++c) img(y, x, c) = static_cast<std::uint8_t>(10 * y + x + c);
      lab(y, x) = static_cast<std::uint8_t>(x);
    }
  rng g(1);
  const auto id = data::transform::draw({.min_scale = 1, .max_scale = 1, .flip = false, .crop = 0}, 5, 7, g);
  CHECK(id.apply(img).height() == 5);
  CHECK(id.apply(lab) == lab);
  data::transform fl = id;
  fl.flip = true;
  const label_map m = fl.apply(lab);
  const rgb_image mi = fl.apply(img);
  for (index_t y = 0; y < 5; ++y)
    for (index_t x = 0; x < 7; ++x) {
      CHECK(m(y, x) == lab(y, 6 - x));
      CHECK(mi(y, x, 1) == img(y, 6 - x, 1));
    }
}

TEST_CASE("a crop larger than the rescaled image pads labels with ignore and the image with black") {
  rgb_image img(4, 4, 200);
  label_map lab(4, 4, 3);
  rng g(2);
  const auto t = data::transform::draw({.min_scale = 1, .max_scale = 1, .flip = false, .crop = 8}, 4, 4, g);
  const label_map l = t.apply(lab);
  const rgb_image i = t.apply(img);
  REQUIRE(l.height() == 8);
  int inside = 0;
  for (index_t p = 0; p < 64; ++p) {
    CHECK((l[p] == 3 || l[p] == ignore_label));
    inside += l[p] == 3;
    CHECK((i.data()[p * 3] == 200) == (l[p] == 3));
  }
  CHECK(inside == 16);
  CHECK_THROWS_AS(t.apply(label_map(3, 3)), shape_error);
  CHECK_THROWS_AS(data::transform::draw({.min_scale = 2, .max_scale = 1}, 4, 4, g), value_error);
}

TEST_CASE("a rescale by 2 repeats every source pixel twice per axis (nearest neighbour)") {
  label_map lab(3, 3);
  for (index_t p = 0; p < 9; ++p) lab[p] = static_cast<std::uint8_t>(p);
  rng g(3);
  const auto t = data::transform::draw({.min_scale = 2, .max_scale = 2, .flip = false, .crop = 0}, 3, 3, g);
  const label_map l = t.apply(lab);
  REQUIRE(l.height() == 6);
  for (index_t y = 0; y < 6; ++y)
    for (index_t x = 0; x < 6; ++x) CHECK(l(y, x) == lab(y / 2, x / 2));
}
