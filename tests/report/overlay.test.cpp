// SPDX-License-Identifier: MIT
// tests/report/overlay.test.cpp — palette colours, blending, side-by-side panels, the overlay PNG
#include <doctest/doctest.h>

#include "io/temp_dir.hpp"
#include "wsss/io/png.hpp"
#include "wsss/report/overlay.hpp"

namespace {

std::array<int, 3> px(const wsss::rgb_image& im, wsss::index_t y, wsss::index_t x) {
  return {im(y, x, 0), im(y, x, 1), im(y, x, 2)};
}

}  // namespace

TEST_CASE("report::colour_labels uses the VOC palette and blend mixes it into the image") {
  wsss::label_map l(2, 3, 0);
  l(0, 1) = 1;
  l(0, 2) = 15;
  l(1, 0) = 255;
  const auto c = wsss::report::colour_labels(l);
  CHECK(c.height() == 2);
  CHECK(c.width() == 3);
  CHECK(px(c, 0, 0) == std::array{0, 0, 0});
  CHECK(px(c, 0, 1) == std::array{128, 0, 0});
  CHECK(px(c, 0, 2) == std::array{192, 128, 128});
  CHECK(px(c, 1, 0) == std::array{224, 224, 192});

  wsss::rgb_image img(2, 3, 100);
  const auto b = wsss::report::blend(img, l);
  CHECK(px(b, 0, 0) == std::array{50, 50, 50});
  CHECK(px(b, 0, 1) == std::array{114, 50, 50});
  CHECK(px(wsss::report::blend(img, l, 0.0), 0, 2) == std::array{100, 100, 100});
  CHECK(px(wsss::report::blend(img, l, 1.0), 0, 2) == std::array{192, 128, 128});
  CHECK_THROWS_WITH_AS(wsss::report::blend(wsss::rgb_image(3, 2), l), doctest::Contains("image is 3x2, labels 2x3"),
                       wsss::shape_error);
  CHECK_THROWS_AS(wsss::report::blend(img, l, 1.5), wsss::value_error);
}

TEST_CASE("report::side_by_side pads shorter panels and write_overlay saves three panels") {
  const wsss::rgb_image a(2, 2, 10), b(3, 1, 20);
  const wsss::rgb_image panels[] = {a, b};
  const auto s = wsss::report::side_by_side(panels, 1, 0);
  CHECK(s.height() == 3);
  CHECK(s.width() == 4);
  CHECK(px(s, 0, 0)[0] == 10);
  CHECK(px(s, 0, 2)[0] == 0);  // gap
  CHECK(px(s, 2, 0)[0] == 0);  // below the shorter panel
  CHECK(px(s, 2, 3)[0] == 20);
  CHECK(wsss::report::side_by_side({}).empty());

  wsss_test::temp_dir dir;
  wsss::rgb_image img(4, 5, 200);
  wsss::label_map pred(4, 5, 1), gt(4, 5, 0);
  wsss::report::write_overlay(dir / "o.png", img, pred, gt);
  const auto o = wsss::io::read_png(dir / "o.png");
  CHECK(o.height() == 4);
  CHECK(o.width() == 3 * 5 + 2 * 4);
  CHECK(px(o, 1, 1) == std::array{200, 200, 200});
  CHECK(px(o, 1, 9 + 1) == std::array{164, 100, 100});
  CHECK(px(o, 1, 18 + 1) == std::array{100, 100, 100});
  CHECK_THROWS_AS(wsss::report::write_overlay(dir / "bad.png", img, wsss::label_map(1, 1), gt), wsss::shape_error);
  CHECK_FALSE(std::filesystem::exists(dir / "bad.png"));
}
