// SPDX-License-Identifier: MIT
// tests/dataset/scenes.test.cpp — the scenes generator: masks agree with tags and objects,
// determinism from the seed, VOC layout readable by io::voc_dataset
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <set>

#include "dataset/small_scenes.hpp"
#include "io/temp_dir.hpp"
#include "wsss/data/scenes.hpp"
#include "wsss/io/voc.hpp"

namespace {

namespace wd = wsss::data;
using wsss_test::small_options;
const std::filesystem::path embedded_dir = std::filesystem::path(WSSS_SOURCE_DIR) / "examples" / "data";

const wd::fashion_items& embedded_items() {
  static const auto items = [] {
    const auto src = wd::embedded_fashion_subset(embedded_dir);
    return wd::read_fashion_items(src.images, src.labels);
  }();
  return items;
}

}  // namespace

TEST_CASE("data: the embedded Fashion-MNIST subset holds 150 items of each class") {
  const auto& items = embedded_items();
  REQUIRE(items.size() == 1500);
  std::array<int, 10> per_class{};
  for (auto l : items.labels) ++per_class[l];
  for (int c : per_class) CHECK(c == 150);
  // Real images: ink in the centre, mostly empty corners.
  double centre = 0, corner = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    centre += items.item(i)[14 * 28 + 14];
    corner += items.item(i)[0];
  }
  CHECK(centre / 1500 > 60);
  CHECK(corner / 1500 < 5);

  const auto pools = wd::split_items(items, 0.2);
  for (std::size_t c = 0; c < 10; ++c) {
    CHECK(pools[0].by_class[c].size() == 120);
    CHECK(pools[1].by_class[c].size() == 30);
    std::set<std::size_t> train(pools[0].by_class[c].begin(), pools[0].by_class[c].end());
    for (auto i : pools[1].by_class[c]) CHECK(train.count(i) == 0);
    for (auto i : pools[0].by_class[c]) CHECK(items.labels[i] == c);
  }
}

TEST_CASE("data::render_scene: mask classes equal the tags and every object is visible") {
  const auto& items = embedded_items();
  const auto pools = wd::split_items(items, 0.2);
  wd::scene_options opt;
  opt.size = 64;
  std::array<int, 4> object_counts{};
  for (std::uint64_t seed = 0; seed < 24; ++seed) {
    CAPTURE(seed);
    wsss::rng g(seed);
    const auto sc = wd::render_scene(items, pools[0], g, opt);
    REQUIRE(sc.image.height() == 64);
    REQUIRE(sc.mask.width() == 64);
    REQUIRE(!sc.objects.empty());
    REQUIRE(sc.objects.size() <= 3);
    ++object_counts[sc.objects.size()];

    // Mask pixels of class c = visible pixels of the objects of class c; tags = classes present.
    std::map<int, wsss::index_t> from_mask, from_objects;
    for (wsss::index_t i = 0; i < sc.mask.pixels(); ++i)
      if (sc.mask[i]) ++from_mask[sc.mask[i]];
    std::set<int> classes;
    for (const auto& o : sc.objects) {
      CHECK(o.visible_pixels >= opt.min_visible * o.area);
      CHECK(o.visible_pixels >= opt.min_pixels / 2);
      CHECK(items.labels[o.item] + 1 == o.cls);
      from_objects[o.cls] += o.visible_pixels;
      classes.insert(o.cls);
    }
    CHECK(from_mask == from_objects);
    CHECK(sc.tags == std::vector<int>(classes.begin(), classes.end()));
    CHECK(sc.mask.present().front() == 0);  // background remains

    // Object pixels are drawn in the object's colour (shaded darker, plus noise).
    for (const auto& o : sc.objects)
      for (int y = o.y; y < o.y + o.side; ++y)
        for (int x = o.x; x < o.x + o.side; ++x)
          if (sc.mask(y, x) == o.cls && sc.objects.size() == 1)
            for (int ch = 0; ch < 3; ++ch) CHECK(sc.image(y, x, ch) <= o.colour[static_cast<std::size_t>(ch)] + 16);
  }
  CHECK(object_counts[1] > 0);
  CHECK(object_counts[2] + object_counts[3] > 0);

  wsss::rng g(1);
  opt.size = 16;
  CHECK_THROWS_WITH_AS(wd::render_scene(items, pools[0], g, opt), doctest::Contains("size must be in 32..4096, got 16"),
                       wsss::value_error);
  opt.size = 64;
  opt.min_objects = 0;
  CHECK_THROWS_WITH_AS(wd::render_scene(items, pools[0], g, opt), doctest::Contains("min_objects"), wsss::value_error);
}

TEST_CASE("data::make_scenes writes a VOC tree whose tags match its masks, byte-identical per seed") {
  wsss_test::temp_dir a, b, c;
  const auto sum = wd::make_scenes(a.path(), small_options(5));
  wd::make_scenes(b.path(), small_options(5));
  wd::make_scenes(c.path(), small_options(6));
  CHECK(sum.train_images == 4);
  CHECK(sum.val_images == 2);
  CHECK(sum.objects_per_class[0] == 0);

  std::size_t files = 0, differ = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(a.path())) {
    if (!e.is_regular_file()) continue;
    const auto rel = std::filesystem::relative(e.path(), a.path());
    CAPTURE(rel.string());
    ++files;
    CHECK(wsss_test::read_bytes(e.path()) == wsss_test::read_bytes(b.path() / rel));
    const auto folder = rel.begin()->string();
    if ((folder == "JPEGImages" || folder == "SegmentationClass") &&
        wsss_test::read_bytes(e.path()) != wsss_test::read_bytes(c.path() / rel))
      ++differ;
  }
  CHECK(files == 6 * 3 + 6);  // images + masks + annotations, 3 splits, labels, classes, notice
  CHECK(differ == 12);         // another seed changes every image and mask

  // EM's strong list: a quarter of train (at least one image), every id a train id.
  const auto train_ids = wsss::io::read_voc_split(a.path() / "ImageSets" / "Segmentation" / "train.txt");
  const auto strong = wsss::io::read_voc_split(a.path() / "ImageSets" / "Segmentation" / "strong.txt");
  CHECK(strong.size() == 1);
  for (const auto& id : strong) CHECK(std::find(train_ids.begin(), train_ids.end(), id) != train_ids.end());

  for (const char* split : {"train", "val"}) {
    CAPTURE(split);
    const wsss::io::voc_dataset with_file(a.path(), split, {.num_classes = 11, .labels_file = "cls_labels.txt"});
    const wsss::io::voc_dataset from_masks(a.path(), split, {.num_classes = 11});
    for (std::size_t i = 0; i < with_file.size(); ++i) {
      CHECK(!with_file.tags(i).empty());
      CHECK(with_file.tags(i) == from_masks.tags(i));
      CHECK(with_file.image(i).height() == 64);
    }
  }
  CHECK(wsss::io::voc_dataset(a.path(), "train", {.num_classes = 11}).id(3) == "train_00003");
}

TEST_CASE("data::read_idx reads what write_idx_gz writes and rejects malformed files") {
  wsss_test::temp_dir dir;
  wd::idx_array a{{2, 3}, {1, 2, 3, 4, 5, 6}};
  wd::write_idx_gz(dir / "a.gz", a);
  const auto back = wd::read_idx(dir / "a.gz");
  CHECK(back.dims == a.dims);
  CHECK(back.data == a.data);

  wsss_test::write_bytes(dir / "plain", {0, 0, 8, 1, 0, 0, 0, 2, 7, 9});
  CHECK(wd::read_idx(dir / "plain").data == std::vector<std::uint8_t>{7, 9});
  wsss_test::write_bytes(dir / "short", {0, 0, 8, 1, 0, 0, 0, 3, 7, 9});
  CHECK_THROWS_WITH_AS(wd::read_idx(dir / "short"), doctest::Contains("need 3 bytes of data, file has 2"),
                       wsss::io_error);
  wsss_test::write_bytes(dir / "float", {0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0});
  CHECK_THROWS_WITH_AS(wd::read_idx(dir / "float"), doctest::Contains("is not unsigned byte"), wsss::io_error);
  wsss_test::write_bytes(dir / "magic", {1, 2, 3, 4});
  CHECK_THROWS_WITH_AS(wd::read_idx(dir / "magic"), doctest::Contains("bad magic"), wsss::io_error);
  auto gz = wsss_test::read_bytes(dir / "a.gz");
  gz.resize(gz.size() / 2);
  wsss_test::write_bytes(dir / "cut.gz", gz);
  CHECK_THROWS_WITH_AS(wd::read_idx(dir / "cut.gz"), doctest::Contains("gzip data is truncated"), wsss::io_error);
  CHECK_THROWS_WITH_AS(wd::read_idx(dir / "none.gz"), doctest::Contains("file not found"), wsss::io_error);
  // Images and labels that disagree.
  wd::write_idx_gz(dir / "img.gz", {{1, 28, 28}, std::vector<std::uint8_t>(784, 0)});
  wd::write_idx_gz(dir / "lab.gz", {{2}, {0, 1}});
  CHECK_THROWS_WITH_AS(wd::read_fashion_items(dir / "img.gz", dir / "lab.gz"), doctest::Contains("expected 1 labels"),
                       wsss::io_error);
  wd::write_idx_gz(dir / "lab.gz", {{1}, {12}});
  CHECK_THROWS_WITH_AS(wd::read_fashion_items(dir / "img.gz", dir / "lab.gz"), doctest::Contains("label 12 at item 0"),
                       wsss::io_error);
}
