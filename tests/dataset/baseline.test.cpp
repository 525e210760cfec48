// SPDX-License-Identifier: MIT
// tests/dataset/baseline.test.cpp — the tag-only heuristic (examples/baseline, a comparison row): its parts against hand
// cases, and end to end on rendered scenes against trivial predictors
#include <doctest/doctest.h>

#include <cmath>

#include "baseline/tag_baseline.hpp"  // examples/
#include "wsss/data/scenes.hpp"
#include "wsss/eval/confusion.hpp"

namespace {

namespace wd = wsss::data;

const wd::fashion_items& items() {
  static const auto it = [] {
    const auto src = wd::embedded_fashion_subset(std::filesystem::path(WSSS_SOURCE_DIR) / "examples" / "data");
    return wd::read_fashion_items(src.images, src.labels);
  }();
  return it;
}

}  // namespace

TEST_CASE("data::border_distance and otsu_threshold separate a square from a gradient background") {
  // Background: a horizontal blend of two colours; square: a colour off that line.
  wsss::rgb_image img(40, 50);
  for (int y = 0; y < 40; ++y)
    for (int x = 0; x < 50; ++x) {
      const double t = x / 49.0;
      const bool in = y >= 10 && y < 30 && x >= 15 && x < 35;
      img(y, x, 0) = static_cast<std::uint8_t>(in ? 30 : std::lround(200 * (1 - t) + 20 * t));
      img(y, x, 1) = static_cast<std::uint8_t>(in ? 220 : std::lround(40 * (1 - t) + 60 * t));
      img(y, x, 2) = static_cast<std::uint8_t>(in ? 40 : std::lround(60 * (1 - t) + 200 * t));
    }
  const auto d = baseline::border_distance(img);
  CHECK(d[5 * 50 + 25] < 2.0f);   // background mid-way along the gradient: on the segment
  CHECK(d[20 * 50 + 25] > 100.0f);
  const double thr = baseline::otsu_threshold(d);
  CHECK(thr > 0.0);
  CHECK(thr < 100.0);
  baseline::tag_baseline model(11);
  const auto fg = model.foreground(img);
  int wrong = 0;
  for (int y = 0; y < 40; ++y)
    for (int x = 0; x < 50; ++x) wrong += fg[static_cast<std::size_t>(y * 50 + x)] != (y >= 10 && y < 30 && x >= 15 && x < 35);
  CHECK(wrong == 0);
  CHECK_THROWS_WITH_AS(baseline::border_distance(wsss::rgb_image(5, 5)), doctest::Contains("too small for a border of 3"),
                       wsss::shape_error);
}

TEST_CASE("data::tag_baseline: shape features, tags and the single-tag case") {
  // A 4-high, 2-wide rectangle: log aspect log 2, full box, half its area in the upper half.
  std::vector<std::uint8_t> region(6 * 5, 0);
  for (int y = 1; y < 5; ++y)
    for (int x = 2; x < 4; ++x) region[static_cast<std::size_t>(y * 5 + x)] = 1;
  const auto f = baseline::detail::region_features(region, 6, 5);
  CHECK(f[0] == doctest::Approx(std::log(2.0)));
  CHECK(f[1] == doctest::Approx(1.0));
  CHECK(f[2] == doctest::Approx(0.5));
  CHECK(f[3] == doctest::Approx(1.0));

  const auto pools = wd::split_items(items(), 0.2);
  wsss::rng g(3);
  wd::scene_options opt;
  opt.size = 64;
  opt.max_objects = 1;
  const auto sc = wd::render_scene(items(), pools[0], g, opt);
  baseline::tag_baseline model(11);
  const auto pred = model.predict(sc.image, sc.tags);
  wsss::eval::confusion_matrix m(11);
  m.add(pred, sc.mask);
  CHECK(m.iou()[0] > 0.9);
  CHECK(m.iou()[static_cast<std::size_t>(sc.tags[0])] > 0.6);
  CHECK(model.predict(sc.image, {}) == wsss::label_map(64, 64, 0));
  CHECK(model.fit(sc.image, sc.tags));
  CHECK_FALSE(model.fit(sc.image, {1, 2}));
  CHECK(model.examples(sc.tags[0]) == 1);
  CHECK_THROWS_WITH_AS(model.predict(sc.image, {11}), doctest::Contains("tag 11 outside 1..10"), wsss::value_error);
  CHECK_THROWS_WITH_AS(baseline::tag_baseline(1), doctest::Contains("num_classes must be in 2..255"), wsss::value_error);
}

TEST_CASE("data::tag_baseline beats trivial predictors on held-out scenes, and its prototypes help") {
  const auto pools = wd::split_items(items(), 0.2);
  wd::scene_options opt;
  opt.size = 64;
  baseline::tag_baseline fitted(11), unfitted(11);
  for (std::uint64_t i = 0; i < 120; ++i) {
    wsss::rng g(wd::scene_seed(9, 0, i));
    const auto sc = wd::render_scene(items(), pools[0], g, opt);
    fitted.fit(sc.image, sc.tags);
  }
  wsss::eval::confusion_matrix ours(11), plain(11), background(11);
  for (std::uint64_t i = 0; i < 40; ++i) {
    wsss::rng g(wd::scene_seed(9, 1, i));
    const auto sc = wd::render_scene(items(), pools[1], g, opt);
    ours.add(fitted.predict(sc.image, sc.tags), sc.mask);
    plain.add(unfitted.predict(sc.image, sc.tags), sc.mask);
    background.add(wsss::label_map(64, 64, 0), sc.mask);
  }
  MESSAGE("baseline mIoU " << ours.miou() << ", without prototypes " << plain.miou() << ", all background "
                           << background.miou());
  CHECK(ours.miou() > 0.35);
  CHECK(ours.miou() > plain.miou());
  CHECK(background.miou() < 0.15);
}
