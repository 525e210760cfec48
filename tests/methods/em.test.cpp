// SPDX-License-Identifier: MIT
// tests/methods/em.test.cpp — EM for DeepLab as users run it: every stage on a tiny VOC-layout
// dataset with boxes, a run stopped part-way resumes to identical artifacts, the box variants'
// pre-processed labels against their definitions, the semi-supervised batches, the CRF
// cross-validation (on the host and on a device engine), and configuration errors
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "io/temp_dir.hpp"
#include "methods/tiny_run.hpp"
#include "wsss/backend/thrust/for_each_index.hpp"
#include "wsss/crf/bbox.hpp"
#include "wsss/crf/device_mean_field.hpp"
#include "wsss/em/bias.hpp"
#include "wsss/em/boxes.hpp"
#include "wsss/io/label_png.hpp"
#include "wsss/io/voc.hpp"
#include "wsss/methods/em_deeplab.hpp"
#include "wsss/opencl.hpp"

namespace {

namespace fs = std::filesystem;
using wsss_test::artifacts;
using wsss_test::bytes_of;
using wsss_test::run_until;

template <class E = wsss::em::adapt>
typename wsss::methods::em_deeplab<E>::config tiny_config() {
  auto c = wsss::methods::em_deeplab<E>::config::scenes();
  c.net.width = 1.0 / 32;
  c.net.fc6_dilation = 1;
  c.input_size = 32;
  c.training = {.epochs = 2, .batch_size = 3, .update = wsss::methods::optimizer::adam, .lr = 1e-3f};
  c.crf_holdout = 2;
  c.crf_grid = {};
  c.crf_grid.appearance_sxy = {10.0f, 30.0f};
  c.crf_grid.appearance_weight = {3.0f, 5.0f};
  c.strong_per_batch = 1;
  return c;
}

// The rows of a crf_search.txt: a grid point's five parameters (as written) and its mIoU (%).
std::vector<std::pair<std::string, double>> search_table(const fs::path& file) {
  std::istringstream in(bytes_of(file));
  std::vector<std::pair<std::string, double>> rows;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#' || line.starts_with("smoothness_sxy")) continue;
    const auto cut = line.find_last_of(' ');
    rows.emplace_back(line.substr(0, cut), std::stod(line.substr(cut + 1)));
  }
  return rows;
}

wsss::io::voc_dataset tiny_train(const fs::path& data) {
  return wsss::io::voc_dataset(data, "train", {.num_classes = 11, .labels_file = "cls_labels.txt"});
}

}  // namespace

TEST_CASE("em: a run stopped inside and between stages resumes to identical artifacts") {
  wsss_test::temp_dir tmp;
  wsss_test::make_tiny_scenes(tmp / "data");
  using method = wsss::methods::em_deeplab<>;
  const method m(tiny_config());
  wsss::methods::run_context whole_cx(wsss_test::quiet_run(tmp / "data", tmp / "whole"));
  const auto whole = m.run(whole_cx);
  REQUIRE(whole.results.rows.size() == 3);
  CHECK(whole.results.rows[0].split == "val");
  CHECK(whole.results.rows[1].name == "DeepLab-LargeFOV + dCRF");
  CHECK(whole.results.rows[2].split == "train");
  for (const auto& r : whole.results.rows) CHECK(r.miou >= 0.0);
  // The CRF's cross-validation lists every grid point (2 x 2 here) and picks from it.
  const std::string search = bytes_of(tmp / "whole" / "crf_search.txt");
  CHECK(std::count(search.begin(), search.end(), '\n') == 2 + 4);

  // EM-Adapt's labels of the train images: background and tags only, each tagged class at
  // least int(rho_fg HW) pixels of the image (ties go to it; a later class may take some back,
  // so the check is on the last class, which nothing follows).
  const auto train = tiny_train(tmp / "data");
  for (std::size_t i = 0; i < train.size(); ++i) {
    const auto labels = wsss::io::read_label_png(tmp / "whole" / "labels" / "estep" / (train.id(i) + ".png"));
    const auto& tags = train.tags(i);
    wsss::index_t last = 0;
    for (wsss::index_t u = 0; u < labels.pixels(); ++u) {
      CHECK((labels[u] == 0 || std::binary_search(tags.begin(), tags.end(), static_cast<int>(labels[u]))));
      last += labels[u] == tags.back();
    }
    CHECK(last >= static_cast<wsss::index_t>(0.2f * static_cast<float>(labels.pixels())));
  }

  const auto expected = artifacts(tmp / "whole");
  const fs::path work = tmp / "resumed";
  run_until(m, tmp / "data", work, "segmentation", 1);   // inside the training
  run_until(m, tmp / "data", work, "predict (val)", 2);  // inside a per-image stage
  run_until(m, tmp / "data", work, "E-step labels (train)", 3);
  wsss::methods::run_context cx(wsss_test::quiet_run(tmp / "data", work));
  const auto resumed = m.run(cx);
  wsss_test::check_same_artifacts(expected, work);
  for (std::size_t r = 0; r < whole.results.rows.size(); ++r) CHECK(resumed.results.rows[r].miou == whole.results.rows[r].miou);

  // The log has the background share of the targets, a fraction.
  const auto head = wsss_test::read_log_head(tmp / "whole" / "nets" / "segmentation" / "log.csv");
  CHECK(head.header == "epoch,step,loss,target_background,lr,seconds");
  const auto& v = head.first;
  REQUIRE(v.size() == 6);
  CHECK(v[3] > 0.0);
  CHECK(v[3] < 1.0);
}

TEST_CASE("em: with the CRF slot on a device the cross-validation and the val labels follow the host engine's") {
  // em_deeplab<E, crf::device_mean_field<Tag>>: the grid search over the held-out val images and
  // the val predictions' dCRF on Tag, thrust_omp (the CUDA bodies on the CPU) and OpenCL (PoCL).
  // EM trains without a CRF, so the losses are the host run's; the grid's mIoUs and the labels
  // may differ by the CRF's float rounding only.
  wsss_test::temp_dir tmp;
  wsss_test::make_tiny_scenes(tmp / "data");
  wsss::methods::run_context host_cx(wsss_test::quiet_run(tmp / "data", tmp / "host"));
  wsss::methods::em_deeplab<>(tiny_config()).run(host_cx);
  const auto host_grid = search_table(tmp / "host" / "crf_search.txt");
  REQUIRE(host_grid.size() == 4);
  auto check_device = [&](auto device_method, const std::string& name) {
    using M = typename decltype(device_method)::type;
    wsss_test::check_device_run<M>(tmp / "data", tmp / "host", tmp / name, tiny_config(), "segmentation", {"em_crf"});
    const auto grid = search_table(tmp / name / "crf_search.txt");
    REQUIRE(grid.size() == host_grid.size());
    double worst = 0;
    for (std::size_t i = 0; i < grid.size(); ++i) {
      CHECK(grid[i].first == host_grid[i].first);
      worst = std::max(worst, std::abs(grid[i].second - host_grid[i].second));
    }
    MESSAGE(name, ": grid mIoUs against the host search's: max |difference| ", worst, " points");
    CHECK(worst <= 0.5);
  };
  using wsss::crf::device_mean_field;
  check_device(std::type_identity<wsss::methods::em_deeplab<wsss::em::adapt, device_mean_field<wsss::thrust_omp_t>>>{},
               "thrust_omp");
  check_device(std::type_identity<wsss::methods::em_deeplab<wsss::em::adapt, device_mean_field<wsss::opencl_t>>>{}, "opencl");
}

TEST_CASE("em: the box variants pre-process Bbox-Rect and Bbox-Seg labels once and train on them") {
  wsss_test::temp_dir tmp;
  wsss_test::make_tiny_scenes(tmp / "data");
  const auto train = tiny_train(tmp / "data");

  using rect = wsss::methods::em_deeplab<wsss::em::bbox_rect>;
  wsss::methods::run_context rect_cx(wsss_test::quiet_run(tmp / "data", tmp / "rect"));
  const auto r = rect(tiny_config<wsss::em::bbox_rect>()).run(rect_cx);
  CHECK(r.results.rows.back().name == "E-step labels, annotation known");
  using seg = wsss::methods::em_deeplab<wsss::em::bbox_seg<>>;
  auto seg_config = tiny_config<wsss::em::bbox_seg<>>();
  seg_config.crf_holdout = 0;  // the engine's own parameters: the labels are crf::bbox_seg's defaults
  wsss::methods::run_context seg_cx(wsss_test::quiet_run(tmp / "data", tmp / "seg"));
  seg(seg_config).run(seg_cx);
  CHECK_FALSE(fs::exists(tmp / "seg" / "box_crf_search.txt"));
  for (std::size_t i = 0; i < train.size(); ++i) {
    INFO(train.id(i));
    const auto img = train.image(i);
    const auto boxes = train.boxes(i);
    // Bbox-Rect: the boxes rasterised at the image's pixels, the smallest box on top.
    CHECK(wsss::io::read_label_png(tmp / "rect" / "labels" / "estep" / (train.id(i) + ".png")) ==
          wsss::em::rasterize_boxes(boxes, img.height(), img.width(), img.height(), img.width(), 11));
    // Bbox-Seg: the box-clamped CRF's labels on the full image.
    CHECK(wsss::io::read_label_png(tmp / "seg" / "labels" / "estep" / (train.id(i) + ".png")) ==
          wsss::crf::bbox_seg(img, std::span<const wsss::box>(boxes), 11, 0.2f));
  }
  CHECK(bytes_of(tmp / "rect" / "nets" / "segmentation" / "weights.safetensors") !=
        bytes_of(tmp / "seg" / "nets" / "segmentation" / "weights.safetensors"));

  // With held-out images, Bbox-Seg's CRF is cross-validated first (2 x 2 grid points) on how
  // well the val boxes' labels recover the val masks; the labels hold background and the
  // classes of the boxes only.
  wsss::methods::run_context cv_cx(wsss_test::quiet_run(tmp / "data", tmp / "seg_cv"));
  seg(tiny_config<wsss::em::bbox_seg<>>()).run(cv_cx);
  const std::string search = bytes_of(tmp / "seg_cv" / "box_crf_search.txt");
  CHECK(std::count(search.begin(), search.end(), '\n') == 2 + 4);
  for (std::size_t i = 0; i < train.size(); ++i) {
    std::set<int> allowed{0};
    for (const auto& b : train.boxes(i)) allowed.insert(b.label);
    const auto labels = wsss::io::read_label_png(tmp / "seg_cv" / "labels" / "estep" / (train.id(i) + ".png"));
    for (wsss::index_t u = 0; u < labels.pixels(); ++u) CHECK(allowed.count(labels[u]) == 1);
  }

  // Bbox-EM-Fixed labels the train images on line; outside every box only background.
  using bfixed = wsss::methods::em_deeplab<wsss::em::bbox_fixed>;
  wsss::methods::run_context f_cx(wsss_test::quiet_run(tmp / "data", tmp / "bfixed"));
  bfixed(tiny_config<wsss::em::bbox_fixed>()).run(f_cx);
  for (std::size_t i = 0; i < train.size(); ++i) {
    const auto img = train.image(i);
    const auto inside = wsss::em::rasterize_boxes(train.boxes(i), img.height(), img.width(), img.height(), img.width(), 11);
    const auto labels = wsss::io::read_label_png(tmp / "bfixed" / "labels" / "estep" / (train.id(i) + ".png"));
    for (wsss::index_t u = 0; u < labels.pixels(); ++u)
      if (inside[u] == 0) CHECK(labels[u] == 0);
  }
}

TEST_CASE("em: mixed batches hold a fixed number of strong images, cycling through them") {
  wsss::methods::mixed_batches mix{.weak = {0, 2, 3, 5, 6, 8, 9}, .strong = {1, 4, 7}, .weak_per_batch = 3, .strong_per_batch = 2};
  CHECK(mix.per_epoch() == 3);
  std::vector<std::size_t> strong_seen;
  for (int e = 0; e < 3; ++e) {
    const auto batches = mix.epoch(e, 11);
    REQUIRE(batches.size() == 3);
    std::multiset<std::size_t> weak_seen;
    for (std::size_t b = 0; b < batches.size(); ++b) {
      const auto& batch = batches[b];
      CHECK(batch.size() == (b < 2 ? 5u : 3u));  // 7 weak = 3 + 3 + 1, each with 2 strong
      for (std::size_t j = 0; j < batch.size(); ++j) {
        const bool is_strong = std::find(mix.strong.begin(), mix.strong.end(), batch[j]) != mix.strong.end();
        CHECK(is_strong == (j < 2));
        if (is_strong) strong_seen.push_back(batch[j]);
        else weak_seen.insert(batch[j]);
      }
    }
    CHECK(weak_seen == std::multiset<std::size_t>(mix.weak.begin(), mix.weak.end()));  // every weak once per epoch
    CHECK(batches == mix.epoch(e, 11));  // a function of (seed, epoch): resumable
  }
  // Every consecutive run of 3 strong draws starting at a multiple of 3 is a permutation of them.
  REQUIRE(strong_seen.size() == 18);
  for (std::size_t p = 0; p + 3 <= strong_seen.size(); p += 3) {
    std::vector<std::size_t> pass(strong_seen.begin() + static_cast<std::ptrdiff_t>(p), strong_seen.begin() + static_cast<std::ptrdiff_t>(p + 3));
    std::sort(pass.begin(), pass.end());
    CHECK(pass == mix.strong);
  }
  const wsss::methods::mixed_batches no_strong{.weak = {0}, .strong = {}};
  CHECK_THROWS_AS(no_strong.epoch(0, 1), wsss::value_error);
  // shuffled_batches: every example once per epoch, the last batch shorter.
  const auto plain = wsss::methods::shuffled_batches{7, 3}.epoch(0, 5);
  REQUIRE(plain.size() == 3);
  CHECK(plain[2].size() == 1);
  std::vector<std::size_t> all;
  for (const auto& b : plain) all.insert(all.end(), b.begin(), b.end());
  std::sort(all.begin(), all.end());
  CHECK(all == std::vector<std::size_t>{0, 1, 2, 3, 4, 5, 6});
}

TEST_CASE("em: the semi-supervised run trains its strong images on their masks") {
  wsss_test::temp_dir tmp;
  wsss_test::make_tiny_scenes(tmp / "data");
  using method = wsss::methods::em_deeplab<wsss::em::fixed>;
  auto c = tiny_config<wsss::em::fixed>();
  c.test_crf = false;
  wsss::methods::run_context weak_cx(wsss_test::quiet_run(tmp / "data", tmp / "weak"));
  method(c).run(weak_cx);
  c.strong = 1;
  wsss::methods::run_context semi_cx(wsss_test::quiet_run(tmp / "data", tmp / "semi"));
  const method semi(c);
  const auto strong = semi.strong_images(semi_cx);
  // The first id of strong.txt that is in train.
  const auto list = wsss::io::read_voc_split(tmp / "data" / "ImageSets" / "Segmentation" / "strong.txt");
  const auto train = tiny_train(tmp / "data");
  REQUIRE(std::count(strong.begin(), strong.end(), true) == 1);
  CHECK(train.id(static_cast<std::size_t>(std::find(strong.begin(), strong.end(), true) - strong.begin())) == list.front());
  semi.run(semi_cx);
  CHECK(bytes_of(tmp / "semi" / "nets" / "segmentation" / "weights.safetensors") !=
        bytes_of(tmp / "weak" / "nets" / "segmentation" / "weights.safetensors"));
  // 5 weak images in batches of 2 weak + 1 strong: 3 steps an epoch (a weak-only run takes 2).
  std::ifstream log(tmp / "semi" / "nets" / "segmentation" / "log.csv");
  std::string line;
  int rows = -1;
  while (std::getline(log, line)) ++rows;
  CHECK(rows == 2 * 3);

  // The Strong baseline: the strong image alone, for as many steps as the weak-only run (2 x 2).
  c.weak = false;
  wsss::methods::run_context strong_cx(wsss_test::quiet_run(tmp / "data", tmp / "strong"));
  method(c).run(strong_cx);
  std::ifstream strong_log(tmp / "strong" / "nets" / "segmentation" / "log.csv");
  rows = -1;
  while (std::getline(strong_log, line)) ++rows;
  CHECK(rows == 2 * 2);
  c.weak = true;

  // Asking for more strong images than the list has names the list.
  c.strong = 100;
  wsss::methods::run_context many_cx(wsss_test::quiet_run(tmp / "data", tmp / "many"));
  CHECK_THROWS_WITH_AS(method(c).run(many_cx), doctest::Contains("strong.txt"), wsss::value_error);
}

TEST_CASE("em: configuration errors name the method") {
  auto c = tiny_config();
  c.strong = 2;
  c.strong_per_batch = 3;  // no room for weak images in batches of 3
  CHECK_THROWS_WITH_AS((void)wsss::methods::em_deeplab<>(c), doctest::Contains("[wsss.value] em"), wsss::value_error);
  c = tiny_config();
  c.weak = false;  // no weak and no strong images: nothing to train on
  CHECK_THROWS_AS((void)wsss::methods::em_deeplab<>(c), wsss::value_error);
  c = tiny_config();
  c.crf_clip = 0.0f;
  CHECK_THROWS_AS((void)wsss::methods::em_deeplab<>(c), wsss::value_error);
  CHECK_THROWS_AS((void)wsss::em::bbox_seg<>({.alpha = 1.5f}), wsss::value_error);

  // A dataset without box annotations: the box variants name the missing file.
  wsss_test::temp_dir tmp;
  wsss_test::make_tiny_scenes(tmp / "data");
  fs::remove_all(tmp / "data" / "Annotations");
  using rect = wsss::methods::em_deeplab<wsss::em::bbox_rect>;
  wsss::methods::run_context cx(wsss_test::quiet_run(tmp / "data", tmp / "w"));
  CHECK_THROWS_WITH_AS(rect(tiny_config<wsss::em::bbox_rect>()).run(cx), doctest::Contains(".xml"), wsss::io_error);
}
