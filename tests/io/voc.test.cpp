// SPDX-License-Identifier: MIT
// tests/io/voc.test.cpp — the VOC folder reader on a tiny tree written here
#include <doctest/doctest.h>

#include <fstream>
#include <numeric>
#include <string>

#include "io/temp_dir.hpp"
#include "io/voc_tree.hpp"
#include "wsss/io/jpeg.hpp"
#include "wsss/io/label_png.hpp"
#include "wsss/io/voc.hpp"

using wsss_test::make_tree;
using wsss_test::temp_dir;
using wsss_test::write_text;

TEST_CASE("io::voc_dataset derives tags from the masks") {
  temp_dir dir;
  make_tree(dir.path());
  wsss::io::voc_dataset train(dir.path(), "train");
  REQUIRE(train.size() == 2);
  CHECK(train.id(1) == "b");
  CHECK(train.tags(0) == std::vector<int>{2});
  CHECK(train.tags(1) == std::vector<int>{5});
  CHECK(train.image(1).height() == 6);
  CHECK(train.mask(0)(3, 2) == 2);
  CHECK(train.mask(0)(0, 0) == wsss::ignore_label);
  const auto mh = train.multi_hot(1);
  CHECK(mh.shape() == wsss::shape{20});
  CHECK(mh[4] == 1.0f);
  CHECK(std::accumulate(mh.begin(), mh.end(), 0.0f) == 1.0f);

  wsss::io::voc_dataset val(dir.path(), "val");
  CHECK(val.tags(0) == std::vector<int>{8, 12});
}

TEST_CASE("io::voc_dataset reads tags from a labels file, masks optional") {
  temp_dir dir;
  make_tree(dir.path());
  write_text(dir / "cls_labels.txt", "# id classes\na 7 3 7\nb\nc 20\n");
  std::filesystem::remove(dir / "SegmentationClass" / "a.png");
  wsss::io::voc_dataset train(dir.path(), "train", {.num_classes = 21, .labels_file = "cls_labels.txt"});
  CHECK(train.tags(0) == std::vector<int>{3, 7});
  CHECK(train.tags(1).empty());
  CHECK_THROWS_WITH_AS(train.mask(0), doctest::Contains("file not found"), wsss::io_error);

  write_text(dir / "ids.txt", "x 1\n");
  CHECK_THROWS_WITH_AS(wsss::io::voc_dataset(dir.path(), "train", {.labels_file = dir / "ids.txt"}),
                       doctest::Contains("no labels for image 'a'"), wsss::io_error);
  write_text(dir / "big.txt", "a 21\nb 1\n");
  CHECK_THROWS_WITH_AS(wsss::io::voc_dataset(dir.path(), "train", {.labels_file = "big.txt"}),
                       doctest::Contains("class 21 outside 1..20 (num_classes 21)"), wsss::io_error);
  write_text(dir / "bg.txt", "a 0\n");
  CHECK_THROWS_WITH_AS(wsss::io::read_voc_labels(dir / "bg.txt", 21), doctest::Contains("class 0 outside"),
                       wsss::io_error);
  write_text(dir / "word.txt", "a cat\n");
  CHECK_THROWS_WITH_AS(wsss::io::read_voc_labels(dir / "word.txt", 21), doctest::Contains("'cat' is not a class id"),
                       wsss::io_error);
  write_text(dir / "twice.txt", "a 1\na 2\n");
  CHECK_THROWS_WITH_AS(wsss::io::read_voc_labels(dir / "twice.txt", 21), doctest::Contains("listed twice"),
                       wsss::io_error);

  // write_voc_labels writes what read_voc_labels reads.
  wsss::io::write_voc_labels(dir / "out.txt", {{"p", {1, 4}}, {"q", {}}});
  const auto back = wsss::io::read_voc_labels(dir / "out.txt", 5);
  CHECK(back.at("p") == std::vector<int>{1, 4});
  CHECK(back.at("q").empty());
}

TEST_CASE("io::voc_dataset: wrong class counts and missing files are errors naming the file") {
  temp_dir dir;
  make_tree(dir.path());
  // Mask "c" holds class 12: fine with 21 classes, an error with 10.
  CHECK_THROWS_WITH_AS(wsss::io::voc_dataset(dir.path(), "val", {.num_classes = 10}),
                       doctest::Contains("label 12 >= num_classes 10"), wsss::io_error);
  try {
    wsss::io::voc_dataset(dir.path(), "val", {.num_classes = 10});
  } catch (const wsss::io_error& e) {
    CHECK(e.path() == dir / "SegmentationClass" / "c.png");
  }
  CHECK_THROWS_WITH_AS(wsss::io::voc_dataset(dir.path(), "val", {.num_classes = 1}),
                       doctest::Contains("num_classes must be in 2..255, got 1"), wsss::value_error);
  CHECK_THROWS_WITH_AS(wsss::io::voc_dataset(dir.path(), "test"), doctest::Contains("test.txt"), wsss::io_error);
  CHECK_THROWS_WITH_AS(wsss::io::voc_dataset(dir / "nowhere", "train"), doctest::Contains("dataset root not found"),
                       wsss::io_error);

  std::filesystem::remove(dir / "SegmentationClass" / "b.png");
  CHECK_THROWS_WITH_AS(wsss::io::voc_dataset(dir.path(), "train"), doctest::Contains("b.png"), wsss::io_error);
  std::filesystem::remove(dir / "JPEGImages" / "a.jpg");
  CHECK_THROWS_WITH_AS(wsss::io::voc_dataset(dir.path(), "train"), doctest::Contains("image of 'a' not found"),
                       wsss::io_error);

  write_text(dir / "ImageSets" / "Segmentation" / "two.txt", "c 1\n");
  CHECK_THROWS_WITH_AS(wsss::io::voc_dataset(dir.path(), "two"), doctest::Contains("one image id per line"),
                       wsss::io_error);
  write_text(dir / "ImageSets" / "Segmentation" / "none.txt", "\n# nothing\n");
  CHECK_THROWS_WITH_AS(wsss::io::voc_dataset(dir.path(), "none"), doctest::Contains("lists no images"),
                       wsss::io_error);
}

TEST_CASE("io::dataset_class_names: classes.txt's non-empty lines, Windows line ends dropped, none without the file") {
  temp_dir dir;
  make_tree(dir.path());
  CHECK(wsss::io::dataset_class_names(dir.path()).empty());
  write_text(dir.path() / "classes.txt", "background\r\ncat\r\n\r\ndog\n");
  CHECK(wsss::io::dataset_class_names(dir.path()) == std::vector<std::string>{"background", "cat", "dog"});
  CHECK_THROWS_WITH_AS((void)wsss::io::read_class_names(dir.path() / "none.txt"), doctest::Contains("class names file not found"),
                       wsss::io_error);
}
