// SPDX-License-Identifier: MIT
// tests/methods/affinitynet.test.cpp — AffinityNet as users run it: every stage on a tiny
// VOC-layout dataset, a run stopped part-way (inside a training stage, inside a per-image stage,
// between stages) and resumed gives byte-identical artifacts, nothing is ever half-written,
// a work folder of another configuration is refused, and `label` reproduces the run's labels
#include <doctest/doctest.h>

#include <map>
#include <set>
#include <string>

#include "io/temp_dir.hpp"
#include "methods/tiny_run.hpp"
#include "support/label_folders.hpp"
#include "wsss/backend/thrust/for_each_index.hpp"
#include "wsss/data/scenes.hpp"
#include "wsss/io/voc.hpp"
#include "wsss/methods/affinitynet.hpp"
#include "wsss/opencl.hpp"

namespace {

namespace fs = std::filesystem;
using wsss_test::artifacts;
using wsss_test::check_no_partial_files;
using wsss_test::run_until;
using method = wsss::methods::affinitynet<>;


// Every stage at its smallest: a 1/32-wide backbone, one or two epochs, one CAM scale.
method tiny_method() {
  method::config c = method::config::scenes();
  c.width = 1.0 / 32;
  c.classifier = {.epochs = 2, .batch_size = 3, .update = wsss::methods::optimizer::adam, .lr = 1e-3f};
  c.affinity = {.epochs = 2, .batch_size = 3, .update = wsss::methods::optimizer::adam, .lr = 1e-3f};
  c.segmentation = {.epochs = 1, .batch_size = 3, .update = wsss::methods::optimizer::adam, .lr = 1e-3f};
  c.classifier_augment.crop = 32;
  c.segmentation_augment.crop = 32;
  c.cams.scales = {1.0, 0.5};
  c.seg_dilation = 1;
  return method(c);
}





}  // namespace

TEST_CASE("affinitynet: a run stopped inside and between stages resumes to identical artifacts") {
  wsss_test::temp_dir tmp;
  wsss_test::make_tiny_scenes(tmp / "data");
  const method m = tiny_method();

  wsss::methods::run_context whole_cx(wsss_test::quiet_run(tmp / "data", tmp / "whole"));
  const auto whole = m.run(whole_cx);
  REQUIRE(whole.results.rows.size() == 4);
  CHECK(whole.results.seed == m.cfg.seed);
  CHECK(m.cfg.seed != 0);  // so a seed left unset in results.json would show
  CHECK(whole.results.rows[0].name == "CAM");
  CHECK(whole.results.rows[3].split == "val");
  for (const auto& r : whole.results.rows) CHECK(r.miou >= 0.0);
  CHECK(fs::exists(whole.report_html));
  CHECK(fs::exists(tmp / "whole" / "nets" / "classifier" / "log.csv"));
  const auto expected = artifacts(tmp / "whole");
  // Every image of the split has its labels of every kind.
  for (const char* kind : {"cam", "confident", "affinity_labels", "rw", "rw_crf"})
    for (int i = 0; i < 6; ++i)
      CHECK(expected.count(std::string("labels/") + kind + "/train_0000" + std::to_string(i) + ".png") == 1);

  const fs::path work = tmp / "resumed";
  run_until(m, tmp / "data", work, "classifier", 1);  // inside a training stage (after epoch 1 of 2)
  CHECK(fs::exists(work / "nets" / "classifier" / "checkpoint.safetensors"));
  CHECK_FALSE(fs::exists(work / "nets" / "classifier" / "weights.safetensors"));
  run_until(m, tmp / "data", work, "CAMs", 4);        // inside a per-image stage
  run_until(m, tmp / "data", work, "CAMs", 6);        // between stages: CAMs done, nothing after
  run_until(m, tmp / "data", work, "affinity", 1);    // inside the second training stage
  wsss::methods::run_context cx(wsss_test::quiet_run(tmp / "data", work));
  const auto resumed = m.run(cx);

  wsss_test::check_same_artifacts(expected, work);
  for (std::size_t r = 0; r < whole.results.rows.size(); ++r)
    CHECK(resumed.results.rows[r].miou == whole.results.rows[r].miou);
  // The resumed classifier log holds each step once.
  std::ifstream log(work / "nets" / "classifier" / "log.csv");
  std::set<std::string> steps;
  std::size_t lines = 0;
  for (std::string line; std::getline(log, line); ++lines)
    if (lines > 0) steps.insert(line.substr(0, line.find(',', line.find(',') + 1)));
  CHECK(steps.size() == lines - 1);
  CHECK(lines - 1 == 4);  // 2 epochs x 2 steps
}

TEST_CASE("affinitynet: a work folder of another configuration is refused, label reproduces the run") {
  wsss_test::temp_dir tmp;
  wsss_test::make_tiny_scenes(tmp / "data");
  const method m = tiny_method();
  wsss::methods::run_context cx(wsss_test::quiet_run(tmp / "data", tmp / "work"));
  m.run(cx);

  method::config other = m.cfg;
  other.beta = 4.0f;
  wsss::methods::run_context cx2(wsss_test::quiet_run(tmp / "data", tmp / "work"));
  CHECK_THROWS_WITH_AS(method(other).run(cx2), doctest::Contains("another configuration"), wsss::value_error);

  // `wsss label` from the run's networks gives the run's final pseudo-labels.
  const wsss::io::voc_dataset train(tmp / "data", "train", {.num_classes = 11, .labels_file = "cls_labels.txt"});
  m.label(tmp / "work", train, tmp / "labels", true);
  for (std::size_t i = 0; i < train.size(); ++i)
    CHECK(wsss::io::read_label_png(tmp / "labels" / (train.id(i) + ".png")) ==
          wsss::io::read_label_png(tmp / "work" / "labels" / "rw_crf" / (train.id(i) + ".png")));
  // The same run labelled with eq. 3, the walk and the dense CRF on a device (affinitynet_on<Tag>: one
  // configuration type, the device slots record the host policies they reproduce, so the run
  // folder is accepted): thrust_omp runs the CUDA kernel bodies on the CPU, OpenCL runs on
  // PoCL. Their scores differ from the host engines' by float rounding only (the CRF by
  // <= 6.1e-6, the walk by <= 2.4e-7 in tests/backend), so the labels may differ at ties alone.
  auto check_like_host = [&](const char* dir) {
    const auto d = wsss_test::compare_label_folders(tmp / "work" / "labels" / "rw_crf", tmp / dir);
    MESSAGE(std::string(dir), ": ", d.differ, " of ", d.pixels, " pixels differ from the host engines' labels");
    CHECK(d.pixels > 0);
    CHECK(d.differ * 1000 <= d.pixels);  // at most 0.1% (ties); 0 on this data with gcc -O3
  };
  {
    // example-begin affinitynet-device
    using namespace wsss;
    // The affinity graph's eq. 3, the random walk and both dense CRFs on the default OpenCL
    // device, the networks on the host; m.cfg is the host run's configuration, so its work
    // folder is accepted.
    const methods::affinitynet_on<opencl_t> on_device(m.cfg);
    on_device.label(tmp / "work", train, tmp / "labels_opencl", /*quiet=*/true);
    // example-end
  }
  check_like_host("labels_opencl");
  wsss::methods::affinitynet_on<wsss::thrust_omp_t>(m.cfg).label(tmp / "work", train, tmp / "labels_thrust", true);
  check_like_host("labels_thrust");
  CHECK_THROWS_WITH_AS(method(other).label(tmp / "work", train, tmp / "labels2", true),
                       doctest::Contains("another configuration"), wsss::value_error);
  CHECK_THROWS_WITH_AS(m.label(tmp / "nowhere", train, tmp / "labels3", true), doctest::Contains("no config.txt"),
                       wsss::io_error);
}

TEST_CASE("affinitynet: pretrain writes a backbone that a run starts all three networks from") {
  wsss_test::temp_dir tmp;
  wsss_test::make_tiny_scenes(tmp / "data");
  const method m = tiny_method();
  const fs::path backbone = tmp / "backbone.safetensors";
  wsss::methods::run_context cx(wsss_test::quiet_run(tmp / "data", tmp / "pre"));
  const double top1 = m.pretrain(cx, backbone);
  CHECK(top1 >= -1.0);
  CHECK(top1 <= 1.0);
  check_no_partial_files(tmp / "pre");

  // The file holds exactly a backbone of the method's width, trained (not the random start).
  wsss::rng init(wsss::methods::mix_seed(m.cfg.seed, 10));
  auto fresh = m.make_classifier(11, init);
  const auto before = wsss::nn::state_dict(fresh.backbone);
  wsss::nn::load_weights(fresh.backbone, backbone, {.allow_missing = false, .allow_unexpected = false});
  const auto after = wsss::nn::state_dict(fresh.backbone);
  REQUIRE(after.size() == before.size());
  bool changed = false;
  for (const auto& [name, t] : after)
    for (wsss::index_t i = 0; i < t.numel() && !changed; ++i) changed = t.data()[i] != before.at(name).data()[i];
  CHECK(changed);
  // Of another width it does not load, and pretraining refuses to start from it.
  method::config wider = m.cfg;
  wider.width = 1.0 / 16;
  auto other = method(wider).make_classifier(11, init);
  CHECK_THROWS_AS(wsss::nn::load_weights(other.backbone, backbone), wsss::error);
  method::config from = m.cfg;
  from.backbone_weights = backbone;
  wsss::methods::run_context cx2(wsss_test::quiet_run(tmp / "data", tmp / "pre2"));
  CHECK_THROWS_WITH_AS(method(from).pretrain(cx2, tmp / "b2.safetensors"), doctest::Contains("random weights"),
                       wsss::value_error);

  // A run from it: every stage completes; a rerun of pretrain resumes to the same bytes.
  wsss::methods::run_context run_cx(wsss_test::quiet_run(tmp / "data", tmp / "run"));
  CHECK(method(from).run(run_cx).results.rows.size() == 4);
  std::ifstream a(backbone, std::ios::binary);
  const std::string first(std::istreambuf_iterator<char>(a), {});
  wsss::methods::run_context cx3(wsss_test::quiet_run(tmp / "data", tmp / "pre"));
  m.pretrain(cx3, tmp / "again.safetensors");
  std::ifstream b(tmp / "again.safetensors", std::ios::binary);
  CHECK(std::string(std::istreambuf_iterator<char>(b), {}) == first);
}

TEST_CASE("affinitynet: configuration errors name the method") {
  method::config c;
  c.width = 0;
  CHECK_THROWS_WITH_AS(method{c}, doctest::Contains("[wsss.value] affinitynet"), wsss::value_error);
  c = {};
  c.confident.low_alpha = 30.0f;
  CHECK_THROWS_WITH_AS(method{c}, doctest::Contains("low alpha"), wsss::value_error);
  c = {};
  c.affinity_augment.crop = 64;
  CHECK_THROWS_WITH_AS(method{c}, doctest::Contains("whole images"), wsss::value_error);
  wsss::methods::run_options o;
  o.data = "/nonexistent-wsss-data";
  o.work = "/tmp/x";
  CHECK_THROWS_WITH_AS(wsss::methods::run_context{o}, doctest::Contains("dataset folder not found"), wsss::io_error);
}
