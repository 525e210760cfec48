// SPDX-License-Identifier: MIT
// tests/eval/confusion.test.cpp — metrics against hand-computed cases and a naive
// set-counting reference
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "wsss/core/random.hpp"
#include "wsss/eval/confusion.hpp"

namespace {

wsss::label_map from(wsss::index_t h, wsss::index_t w, std::initializer_list<int> v) {
  wsss::label_map m(h, w);
  wsss::index_t i = 0;
  for (int x : v) m[i++] = static_cast<std::uint8_t>(x);
  return m;
}

}  // namespace

TEST_CASE("eval::confusion_matrix: hand-computed IoU, accuracy and the VOC mIoU convention") {
  // gt   0 0 1 | 1 2 255      counted: (0,0) (0,1) (1,1) (1,1) (2,0); the 255 pixel is skipped
  // pred 0 1 1 | 1 0 2
  const auto gt = from(2, 3, {0, 0, 1, 1, 2, 255});
  const auto pred = from(2, 3, {0, 1, 1, 1, 0, 2});
  wsss::eval::confusion_matrix m(4);
  m.add(pred, gt);
  CHECK(m.total() == 5);
  CHECK(m.count(1, 1) == 2);
  CHECK(m.count(2, 0) == 1);
  const auto iou = m.iou();
  CHECK(iou[0] == doctest::Approx(1.0 / 3.0));  // TP 1, union 3
  CHECK(iou[1] == doctest::Approx(2.0 / 3.0));  // TP 2, union 3
  CHECK(iou[2] == 0.0);                         // always missed
  CHECK(std::isnan(iou[3]));                    // absent from both: not averaged
  CHECK(m.miou() == doctest::Approx(1.0 / 3.0));
  CHECK(m.pixel_accuracy() == doctest::Approx(3.0 / 5.0));
  const auto acc = m.class_accuracy();
  CHECK(acc[0] == doctest::Approx(0.5));
  CHECK(acc[1] == 1.0);
  CHECK(acc[2] == 0.0);
  CHECK(std::isnan(acc[3]));
  CHECK(m.mean_accuracy() == doctest::Approx(0.5));

  // A class that is only predicted has IoU 0 and counts in mIoU, but has no accuracy.
  wsss::eval::confusion_matrix fp(3);
  fp.add(from(1, 4, {0, 0, 2, 2}), from(1, 4, {0, 0, 0, 0}));
  CHECK(fp.iou()[0] == doctest::Approx(0.5));
  CHECK(fp.iou()[2] == 0.0);
  CHECK(std::isnan(fp.iou()[1]));
  CHECK(fp.miou() == doctest::Approx(0.25));
  CHECK(fp.mean_accuracy() == doctest::Approx(0.5));

  wsss::eval::confusion_matrix empty(21);
  CHECK(std::isnan(empty.miou()));
  CHECK(std::isnan(empty.pixel_accuracy()));
}

TEST_CASE("eval::confusion_matrix agrees with naive set counting, merge equals one pass") {
  const int c = 6;
  wsss::rng g(21);
  INFO("seed 21");
  wsss::eval::confusion_matrix all(c), part_a(c), part_b(c);
  std::vector<std::uint64_t> inter(c, 0), uni(c, 0);
  for (int img = 0; img < 4; ++img) {
    wsss::label_map gt(5, 7), pred(5, 7);
    for (wsss::index_t i = 0; i < gt.pixels(); ++i) {
      gt[i] = g.uniform() < 0.15 ? wsss::ignore_label : static_cast<std::uint8_t>(g.below(c - 1));  // class 5 never in gt
      pred[i] = static_cast<std::uint8_t>(g.below(c));
    }
    for (int k = 0; k < c; ++k)
      for (wsss::index_t i = 0; i < gt.pixels(); ++i) {
        if (gt[i] == wsss::ignore_label) continue;
        const bool in_gt = gt[i] == k, in_pred = pred[i] == k;
        inter[k] += in_gt && in_pred;
        uni[k] += in_gt || in_pred;
      }
    all.add(pred, gt);
    (img % 2 ? part_a : part_b).add(pred, gt);
  }
  double sum = 0;
  int n = 0;
  for (int k = 0; k < c; ++k) {
    CAPTURE(k);
    REQUIRE(uni[k] > 0);
    const double ref = static_cast<double>(inter[k]) / static_cast<double>(uni[k]);
    CHECK(all.iou()[k] == doctest::Approx(ref));
    sum += ref;
    ++n;
  }
  CHECK(all.miou() == doctest::Approx(sum / n));
  part_a.merge(part_b);
  for (int a = 0; a < c; ++a)
    for (int b = 0; b < c; ++b) CHECK(part_a.count(a, b) == all.count(a, b));
  part_a.reset();
  CHECK(part_a.total() == 0);
}

TEST_CASE("eval::confusion_matrix rejects bad shapes, class ids and merges") {
  wsss::eval::confusion_matrix m(3);
  CHECK_THROWS_WITH_AS(m.add(wsss::label_map(2, 3), wsss::label_map(3, 2)),
                       doctest::Contains("[wsss.shape] eval::confusion_matrix: prediction is 2x3, ground truth 3x2"),
                       wsss::shape_error);
  CHECK_THROWS_WITH_AS(m.add(from(1, 3, {0, 3, 1}), from(1, 3, {0, 1, 1})),
                       doctest::Contains("predicted label 3 >= num_classes 3 at pixel (0, 1)"), wsss::value_error);
  CHECK_THROWS_WITH_AS(m.add(from(1, 3, {0, 1, 1}), from(1, 3, {0, 1, 7})),
                       doctest::Contains("ground-truth label 7 >= num_classes 3 at pixel (0, 2)"), wsss::value_error);
  CHECK(m.total() == 0);  // a rejected image adds nothing
  // A prediction of 255 where the ground truth is ignored is not counted, hence not checked.
  m.add(from(1, 2, {255, 1}), from(1, 2, {255, 1}));
  CHECK(m.total() == 1);
  wsss::eval::confusion_matrix other(4);
  CHECK_THROWS_WITH_AS(m.merge(other), doctest::Contains("cannot merge a 4-class matrix"), wsss::value_error);
  CHECK_THROWS_WITH_AS(wsss::eval::confusion_matrix(0), doctest::Contains("num_classes must be in 1..256, got 0"),
                       wsss::value_error);
  CHECK_THROWS_WITH_AS(m.table({"bg", "a"}), doctest::Contains("table needs 3 class names, got 2"), wsss::value_error);
}

TEST_CASE("eval::confusion_matrix prints a per-class table") {
  wsss::eval::confusion_matrix m(3);
  m.add(from(1, 4, {0, 1, 1, 0}), from(1, 4, {0, 1, 1, 1}));
  const std::string t = m.table({"background", "shirt", "bag"});
  CHECK(t.find("background           50.00  100.00") != std::string::npos);
  CHECK(t.find("shirt              ") != std::string::npos);
  CHECK(t.find("bag                      -       -") != std::string::npos);
  CHECK(t.find("mIoU 58.33%") != std::string::npos);  // (1/2 + 2/3) / 2
  CHECK(t.find("pixel accuracy 75.00%") != std::string::npos);
  CHECK(t.find("(4 pixels)") != std::string::npos);
}
