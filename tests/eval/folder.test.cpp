// SPDX-License-Identifier: MIT
// tests/eval/folder.test.cpp — evaluate_folder (the wsss_eval tool's library call)
#include <doctest/doctest.h>

#include "io/temp_dir.hpp"
#include "io/voc_tree.hpp"
#include "wsss/eval/folder.hpp"

TEST_CASE("eval::evaluate_folder scores prediction PNGs against a VOC split") {
  wsss_test::temp_dir dir;
  wsss_test::make_tree(dir.path());
  const auto preds = dir / "preds";
  std::filesystem::create_directories(preds);
  // "a": perfect; "b": everything predicted as background.
  wsss::io::write_label_png(preds / "a.png", wsss::io::read_label_png(dir / "SegmentationClass" / "a.png"));
  wsss::io::write_label_png(preds / "b.png", wsss::label_map(6, 8, 0));
  const auto m = wsss::eval::evaluate_folder(preds, dir.path(), "train", 21);
  // Counted pixels: 2 images x 5 rows x 8 = 80; class 2 (9 px) right, class 5 (9 px) missed.
  CHECK(m.total() == 80);
  CHECK(m.count(2, 2) == 9);
  CHECK(m.count(5, 0) == 9);
  CHECK(m.iou()[2] == 1.0);
  CHECK(m.iou()[5] == 0.0);
  CHECK(m.iou()[0] == doctest::Approx(62.0 / 71.0));  // TP 31 + 31, union 62 + 9
  CHECK(m.miou() == doctest::Approx((62.0 / 71.0 + 1.0 + 0.0) / 3.0));

  CHECK_THROWS_WITH_AS(wsss::eval::evaluate_folder(preds, dir.path(), "val", 21), doctest::Contains("c.png"),
                       wsss::io_error);
  wsss::io::write_label_png(preds / "c.png", wsss::label_map(6, 7, 0));
  CHECK_THROWS_WITH_AS(wsss::eval::evaluate_folder(preds, dir.path(), "val", 21),
                       doctest::Contains("prediction is 6x7, ground truth 6x8 (image 'c')"), wsss::shape_error);
  wsss::io::write_label_png(preds / "c.png", wsss::label_map(6, 8, 30));
  CHECK_THROWS_WITH_AS(wsss::eval::evaluate_folder(preds, dir.path(), "val", 21),
                       doctest::Contains("predicted label 30 >= num_classes 21 at pixel (1, 0) (image 'c')"),
                       wsss::value_error);
  CHECK_THROWS_WITH_AS(wsss::eval::evaluate_folder(dir / "nope", dir.path(), "val", 21),
                       doctest::Contains("prediction folder not found"), wsss::io_error);
}
