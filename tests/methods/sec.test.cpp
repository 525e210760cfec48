// SPDX-License-Identifier: MIT
// tests/methods/sec.test.cpp — SEC as users run it: every stage on a tiny VOC-layout dataset, a
// run stopped part-way and resumed gives byte-identical artifacts, the cue files a run writes
// drive another run to the same network (and other cues to another one), the loss ablations,
// pretraining, and configuration errors
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <vector>
#include <map>
#include <string>
#include <type_traits>

#include "io/temp_dir.hpp"
#include "methods/tiny_run.hpp"
#include "support/label_folders.hpp"
#include "wsss/data/scenes.hpp"
#include "wsss/io/label_png.hpp"
#include "wsss/io/voc.hpp"
#include "wsss/backend/thrust/for_each_index.hpp"
#include "wsss/crf/device_mean_field.hpp"
#include "wsss/methods/sec.hpp"
#include "wsss/opencl.hpp"
#include "wsss/pool/device.hpp"
#include "wsss/pool/gap.hpp"
#include "wsss/pool/gwrp.hpp"

namespace {

namespace fs = std::filesystem;
using wsss_test::artifacts;
using wsss_test::bytes_of;
using wsss_test::run_until;
using method = wsss::methods::sec<>;

template <class M = method>
typename M::config tiny_config() {
  auto c = M::config::scenes();
  c.net.width = 1.0 / 32;
  c.net.fc6_dilation = 1;
  c.input_size = 32;
  c.localisation = {.epochs = 2, .batch_size = 3, .update = wsss::methods::optimizer::adam, .lr = 1e-3f};
  c.localisation_augment.crop = 32;
  c.segmentation = {.epochs = 2, .batch_size = 3, .update = wsss::methods::optimizer::adam, .lr = 1e-3f};
  return c;
}





}  // namespace

TEST_CASE("sec: the score size follows DeepLab-LargeFOV's pools") {
  CHECK(wsss::nn::deeplab_largefov::output_size(321) == 41);
  CHECK(wsss::nn::deeplab_largefov::output_size(128) == 17);
  CHECK(wsss::nn::deeplab_largefov::output_size(32) == 5);
  wsss::rng g(3);
  for (wsss::index_t side : {19, 32, 45}) {
    wsss::nn::deeplab_largefov net({.width = 1.0 / 32, .classes = 3, .fc6_dilation = 2, .batch_norm = true}, g);
    wsss::ad::tape t;
    const auto y = net(t, t.leaf(wsss::tensor({1, 3, side, side + 3}, 0.5f)));
    CHECK(y.value().dim(2) == wsss::nn::deeplab_largefov::output_size(side));
    CHECK(y.value().dim(3) == wsss::nn::deeplab_largefov::output_size(side + 3));
  }
}

TEST_CASE("sec: a run stopped inside and between stages resumes to identical artifacts") {
  wsss_test::temp_dir tmp;
  wsss_test::make_tiny_scenes(tmp / "data");
  const method m(tiny_config());

  wsss::methods::run_context whole_cx(wsss_test::quiet_run(tmp / "data", tmp / "whole"));
  const auto whole = m.run(whole_cx);
  REQUIRE(whole.results.rows.size() == 3);
  CHECK(whole.results.rows[0].split == "val");
  CHECK(whole.results.rows[2].split == "train");
  for (const auto& r : whole.results.rows) CHECK(r.miou >= 0.0);
  const auto expected = artifacts(tmp / "whole");
  const wsss::io::voc_dataset train(tmp / "data", "train", {.num_classes = 11, .labels_file = "cls_labels.txt"});
  for (std::size_t i = 0; i < train.size(); ++i) {
    // One cue map per image at the score size; only its tags and background appear.
    const auto cues = wsss::io::read_label_png(tmp / "whole" / "cues" / (train.id(i) + ".png"));
    CHECK(cues.height() == 5);
    CHECK(cues.width() == 5);
    for (wsss::index_t u = 0; u < cues.pixels(); ++u) {
      const int c = cues[u];
      const auto& tags = train.tags(i);
      CHECK((c == 0 || c == 255 || std::binary_search(tags.begin(), tags.end(), c)));
    }
    CHECK(expected.count("labels/pseudo/" + train.id(i) + ".png") == 1);
  }

  const fs::path work = tmp / "resumed";
  run_until(m, tmp / "data", work, "localisation", 1);        // inside a training stage
  run_until(m, tmp / "data", work, "localisation cues", 4);   // inside a per-image stage
  run_until(m, tmp / "data", work, "segmentation", 1);        // inside the SEC training
  run_until(m, tmp / "data", work, "predict (val)", 2);
  wsss::methods::run_context cx(wsss_test::quiet_run(tmp / "data", work));
  const auto resumed = m.run(cx);
  wsss_test::check_same_artifacts(expected, work);
  for (std::size_t r = 0; r < whole.results.rows.size(); ++r)
    CHECK(resumed.results.rows[r].miou == whole.results.rows[r].miou);

  // The training log names the three terms, and each is positive.
  const auto head = wsss_test::read_log_head(tmp / "whole" / "nets" / "segmentation" / "log.csv");
  CHECK(head.header == "epoch,step,loss,seed,expand,constrain,lr,seconds");
  const auto& v = head.first;
  REQUIRE(v.size() == 8);
  CHECK(v[3] > 0.0);
  CHECK(v[4] > 0.0);
  CHECK(v[5] > 0.0);
  CHECK(v[2] == doctest::Approx(v[3] + v[4] + v[5]).epsilon(1e-5));
}

TEST_CASE("sec: given cue files drive training, a run's own cues reproduce it") {
  wsss_test::temp_dir tmp;
  wsss_test::make_tiny_scenes(tmp / "data");
  auto c = tiny_config();
  wsss::methods::run_context a_cx(wsss_test::quiet_run(tmp / "data", tmp / "a"));
  method(c).run(a_cx);

  // The cues of run a, given as files: the same segmentation network, byte for byte.
  c.cues_dir = tmp / "a" / "cues";
  wsss::methods::run_context b_cx(wsss_test::quiet_run(tmp / "data", tmp / "b"));
  method(c).run(b_cx);
  CHECK_FALSE(fs::exists(tmp / "b" / "nets" / "localisation"));
  CHECK_FALSE(fs::exists(tmp / "b" / "cues"));
  const auto weights = [&](const char* run) { return bytes_of(tmp / run / "nets" / "segmentation" / "weights.safetensors"); };
  CHECK(weights("b") == weights("a"));

  // A user's cues at another resolution (full-size, all background but one tagged class
  // block) train another network; they are read at the score size.
  const wsss::io::voc_dataset train(tmp / "data", "train", {.num_classes = 11, .labels_file = "cls_labels.txt"});
  fs::create_directories(tmp / "mine");
  for (std::size_t i = 0; i < train.size(); ++i) {
    wsss::label_map l(32, 32, 0);
    for (wsss::index_t y = 8; y < 24; ++y)
      for (wsss::index_t x = 8; x < 24; ++x) l(y, x) = static_cast<std::uint8_t>(train.tags(i).front());
    wsss::io::write_label_png(tmp / "mine" / (train.id(i) + ".png"), l);
  }
  c.cues_dir = tmp / "mine";
  wsss::methods::run_context d_cx(wsss_test::quiet_run(tmp / "data", tmp / "d"));
  method(c).run(d_cx);
  CHECK(weights("d") != weights("a"));
  const auto small = method(c).load_cues(d_cx, train.id(0));
  CHECK(small.height() == 5);
  CHECK(small(2, 2) == train.tags(0).front());
  CHECK(small(0, 0) == 0);

  // A missing cue file is an io_error naming it.
  fs::remove(tmp / "mine" / (train.id(3) + ".png"));
  wsss::methods::run_context e_cx(wsss_test::quiet_run(tmp / "data", tmp / "e"));
  CHECK_THROWS_WITH_AS(method(c).run(e_cx), doctest::Contains((train.id(3) + ".png").c_str()), wsss::io_error);
}

TEST_CASE("sec: the loss ablations and the pooler slot train and differ") {
  wsss_test::temp_dir tmp;
  wsss_test::make_tiny_scenes(tmp / "data");
  auto c = tiny_config();
  c.segmentation.epochs = 1;
  c.test_crf = false;
  wsss::methods::run_context full_cx(wsss_test::quiet_run(tmp / "data", tmp / "full"));
  method(c).run(full_cx);
  const auto weights = [&](const fs::path& run) { return bytes_of(run / "nets" / "segmentation" / "weights.safetensors"); };
  c.cues_dir = tmp / "full" / "cues";
  for (const char* drop : {"seed", "expand", "constrain"}) {
    auto d = c;
    (std::string(drop) == "seed" ? d.terms.seed : std::string(drop) == "expand" ? d.terms.expand : d.terms.constrain) = false;
    wsss::methods::run_context cx(wsss_test::quiet_run(tmp / "data", tmp / drop));
    const auto s = method(d).run(cx);
    CHECK(s.results.rows.size() == 2);  // no CRF row
    CHECK(weights(tmp / drop) != weights(tmp / "full"));
    const int col = std::string(drop) == "seed" ? 3 : std::string(drop) == "expand" ? 4 : 5;
    const auto head = wsss_test::read_log_head(tmp / drop / "nets" / "segmentation" / "log.csv");
    REQUIRE(head.first.size() == 8);
    CHECK(head.first[static_cast<std::size_t>(col)] == 0.0);  // the dropped term is not computed
  }
  // The gradient through the CRF's mean-field iterations (not only d/dp of KL(Q || p)).
  auto through = c;
  through.constrain.through_crf = true;
  wsss::methods::run_context through_cx(wsss_test::quiet_run(tmp / "data", tmp / "through"));
  method(through).run(through_cx);
  CHECK(weights(tmp / "through") != weights(tmp / "full"));
  CHECK(bytes_of(tmp / "through" / "config.txt").find("through crf 1") != std::string::npos);

  using gap_sec = wsss::methods::sec<wsss::pool::gap>;
  auto g = tiny_config<gap_sec>();
  g.segmentation.epochs = 1;
  g.test_crf = false;
  g.cues_dir = tmp / "full" / "cues";
  wsss::methods::run_context gap_cx(wsss_test::quiet_run(tmp / "data", tmp / "gap"));
  gap_sec(g).run(gap_cx);
  CHECK(weights(tmp / "gap") != weights(tmp / "full"));
  CHECK(bytes_of(tmp / "gap" / "config.txt").find("pool::gap") != std::string::npos);
}

TEST_CASE("sec: with the constrain loss's and the test-time CRF on a device it trains and labels like the host engine") {
  // sec<P, crf::device_mean_field<Tag>>: the loss's CRF (through its mean-field iterations too)
  // and the test-time dCRF on Tag: thrust_omp (the CUDA bodies on the CPU) with the host GWRP,
  // and OpenCL (PoCL) with the device GWRP too (the expansion loss's pooling, the CRF's forward
  // and backward: every SEC loss on the device). Their Q differs from the host engine's by float
  // rounding only, so the runs' losses agree to that and the configuration text is the host run's.
  wsss_test::temp_dir tmp;
  wsss_test::make_tiny_scenes(tmp / "data");
  auto setup = [&](auto c) {
    c.segmentation.epochs = 1;
    c.constrain.through_crf = true;
    return c;
  };
  wsss::methods::run_context host_cx(wsss_test::quiet_run(tmp / "data", tmp / "host"));
  method(setup(tiny_config())).run(host_cx);
  CHECK(wsss_test::read_log_head(tmp / "host" / "nets" / "segmentation" / "log.csv").first[5] > 0.0);  // constrain term
  auto check_device = [&](auto device_method, const std::string& name) {
    using M = typename decltype(device_method)::type;
    wsss_test::check_device_run<M>(tmp / "data", tmp / "host", tmp / name, setup(tiny_config<M>()), "segmentation",
                                   {"sec_crf"});
  };
  using wsss::crf::device_mean_field;
  check_device(std::type_identity<wsss::methods::sec<wsss::pool::gwrp, device_mean_field<wsss::thrust_omp_t>>>{}, "thrust_omp");
  check_device(std::type_identity<wsss::methods::sec<wsss::pool::device_gwrp<wsss::opencl_t>, device_mean_field<wsss::opencl_t>>>{},
               "opencl");
}

TEST_CASE("sec: pretrain writes a backbone without fc8 that both networks start from") {
  wsss_test::temp_dir tmp;
  wsss_test::make_tiny_scenes(tmp / "data");
  const method m(tiny_config());
  wsss::methods::run_context cx(wsss_test::quiet_run(tmp / "data", tmp / "pre"));
  const double top1 = m.pretrain(cx, tmp / "bb.safetensors");
  CHECK(top1 >= -1.0);
  CHECK(top1 <= 1.0);
  const auto file = wsss::io::load_safetensors(tmp / "bb.safetensors");
  CHECK(file.count("fc7.weight") == 1);
  CHECK(file.count("features.0.weight") == 1);
  CHECK(file.count("features.1.running_mean") == 1);  // vgg16_bn's names
  CHECK(file.count("fc8.weight") == 0);
  auto from = m.cfg;
  from.backbone_weights = tmp / "bb.safetensors";
  wsss::rng g(1);
  auto seg = method(from).make_network(11, g);
  const auto sd = wsss::nn::state_dict(seg);
  for (const auto& entry : file) {
    const auto& name = entry.first;
    INFO(name);
    REQUIRE(sd.count(name) == 1);
    const wsss::tensor& have = sd.at(name);
    REQUIRE(have.shape() == entry.second.shape());
    CHECK(std::equal(have.begin(), have.end(), entry.second.begin()));
  }
  wsss::methods::run_context cx2(wsss_test::quiet_run(tmp / "data", tmp / "pre2"));
  CHECK_THROWS_WITH_AS(method(from).pretrain(cx2, tmp / "b2.safetensors"), doctest::Contains("random weights"),
                       wsss::value_error);
}

TEST_CASE("sec: configuration errors name the method") {
  method::config c;
  c.terms = {.seed = false, .expand = false, .constrain = false};
  CHECK_THROWS_WITH_AS(method{c}, doctest::Contains("[wsss.value] sec"), wsss::value_error);
  c = {};
  c.input_size = 4;
  CHECK_THROWS_WITH_AS(method{c}, doctest::Contains("input_size"), wsss::value_error);
  c = {};
  c.cues.fg_threshold = 1.5f;
  CHECK_THROWS_WITH_AS(method{c}, doctest::Contains("fg_threshold"), wsss::value_error);
  c = {};
  c.cues_dir = "/nonexistent-wsss-cues";
  CHECK_THROWS_WITH_AS(method{c}, doctest::Contains("cue folder not found"), wsss::io_error);
  wsss_test::temp_dir tmp;
  wsss_test::make_tiny_scenes(tmp / "data");
  wsss::methods::run_context cx(wsss_test::quiet_run(tmp / "data", tmp / "w"));
  method(tiny_config()).run(cx);
  auto other = tiny_config();
  other.cues.bg_fraction = 0.2f;
  wsss::methods::run_context cx2(wsss_test::quiet_run(tmp / "data", tmp / "w"));
  CHECK_THROWS_WITH_AS(method(other).run(cx2), doctest::Contains("another configuration"), wsss::value_error);
}
