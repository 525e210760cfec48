// SPDX-License-Identifier: MIT
// tests/methods/attention.test.cpp — attention + CRF-RNN as users run it: every stage on a tiny
// VOC-layout dataset, a run stopped inside training and inside prediction resumes to identical
// artifacts, eq. 13's log, Table 1's baselines each changing what they say, the CRF-RNN on a device,
// and config errors
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include "io/temp_dir.hpp"
#include "methods/tiny_run.hpp"
#include "wsss/attention/projected_gradient.hpp"
#include "wsss/io/label_png.hpp"
#include "wsss/io/safetensors.hpp"
#include "wsss/io/voc.hpp"
#include "wsss/backend/thrust/for_each_index.hpp"
#include "wsss/crf/device_crf_rnn.hpp"
#include "wsss/methods/attention_crf.hpp"
#include "wsss/opencl.hpp"

namespace {

namespace fs = std::filesystem;
using wsss_test::artifacts;
using wsss_test::bytes_of;
using wsss_test::run_until;
using method = wsss::methods::attention_crf<>;

template <class M = method>
typename M::config tiny_config() {
  auto c = M::config::scenes();
  c.net.width = 1.0 / 32;
  c.net.fc6_dilation = 1;
  c.input_size = 32;
  c.training = {.epochs = 2, .batch_size = 3, .update = wsss::methods::optimizer::adam, .lr = 1e-3f};
  return c;
}

wsss::methods::run_summary run_in(const fs::path& data, const fs::path& work, const method::config& c) {
  wsss::methods::run_context cx(wsss_test::quiet_run(data, work));
  return method(c).run(cx);
}

}  // namespace

TEST_CASE("attention: a run stopped inside training and inside prediction resumes to identical artifacts") {
  wsss_test::temp_dir tmp;
  wsss_test::make_tiny_scenes(tmp / "data");
  const method m(tiny_config());
  const auto whole = run_in(tmp / "data", tmp / "whole", tiny_config());
  REQUIRE(whole.results.rows.size() == 3);
  CHECK(whole.results.rows[0].name == "w/o att inference (B6)");
  CHECK(whole.results.rows[1].name == "Attention + CRF-RNN");
  CHECK(whole.results.rows[1].split == "val");
  CHECK(whole.results.rows[2].split == "train");
  for (const auto& r : whole.results.rows) CHECK(r.miou >= 0.0);
  const auto expected = artifacts(tmp / "whole");

  const fs::path work = tmp / "resumed";
  run_until(m, tmp / "data", work, "model", 1);
  run_until(m, tmp / "data", work, "predict (val)", 1);
  wsss::methods::run_context cx(wsss_test::quiet_run(tmp / "data", work));
  const auto resumed = m.run(cx);
  wsss_test::check_same_artifacts(expected, work);
  for (std::size_t r = 0; r < whole.results.rows.size(); ++r) CHECK(resumed.results.rows[r].miou == whole.results.rows[r].miou);

  // Eq. 13 in the log: loss = Delta^C + 1.5 Delta^S, both positive.
  const auto head = wsss_test::read_log_head(tmp / "whole" / "nets" / "model" / "log.csv");
  CHECK(head.header == "epoch,step,loss,classification,segmentation,lr,seconds");
  const auto& v = head.first;
  REQUIRE(v.size() == 7);
  CHECK(v[3] > 0.0);
  CHECK(v[4] > 0.0);
  CHECK(v[2] == doctest::Approx(v[3] + 1.5 * v[4]).epsilon(1e-5));

  // Pseudo-labels of tagged images use background and the tags only.
  const wsss::io::voc_dataset train(tmp / "data", "train", {.num_classes = 11, .labels_file = "cls_labels.txt"});
  for (std::size_t i = 0; i < train.size(); ++i) {
    const auto l = wsss::io::read_label_png(tmp / "whole" / "labels" / "pseudo" / (train.id(i) + ".png"));
    const auto& tags = train.tags(i);
    for (wsss::index_t u = 0; u < l.pixels(); ++u) CHECK((l[u] == 0 || std::binary_search(tags.begin(), tags.end(), int(l[u]))));
  }
}

TEST_CASE("attention: Table 1's baselines each switch off what they name") {
  wsss_test::temp_dir tmp;
  wsss_test::make_tiny_scenes(tmp / "data");
  const auto full = run_in(tmp / "data", tmp / "full", tiny_config());
  const auto weights = [&](const char* run) { return bytes_of(tmp / run / "nets" / "model" / "weights.safetensors"); };
  const auto seg_column = [&](const char* run) {
    return wsss_test::read_log_head(tmp / run / "nets" / "model" / "log.csv").first.at(4);
  };

  auto b1 = tiny_config();  // w/o attention: Delta^C only, no B6 row
  b1.use.attention = false;
  const auto r1 = run_in(tmp / "data", tmp / "b1", b1);
  CHECK(seg_column("b1") == 0.0);
  CHECK(r1.results.rows.size() == 2);

  auto b2 = tiny_config();  // w/o seg loss: attention in the unary only
  b2.use.seg_loss = false;
  (void)run_in(tmp / "data", tmp / "b2", b2);
  CHECK(seg_column("b2") == 0.0);
  CHECK(weights("b2") != weights("b1"));  // the attention unary changes the training

  auto b3 = tiny_config();  // w/o att unary: attention through the loss only
  b3.use.att_unary = false;
  const auto r3 = run_in(tmp / "data", tmp / "b3", b3);
  CHECK(seg_column("b3") > 0.0);
  CHECK(r3.results.rows.size() == 2);

  auto b4 = tiny_config();  // w/o neighbour: the Markov chain
  b4.use.neighbor = false;
  (void)run_in(tmp / "data", tmp / "b4", b4);
  CHECK(weights("b4") != weights("full"));

  auto b5 = tiny_config();  // w/o CRF-RNN: its compatibility never trains
  b5.use.crf_rnn = false;
  (void)run_in(tmp / "data", tmp / "b5", b5);
  const auto compat = [&](const char* run) {
    return wsss::io::load_safetensors(tmp / run / "nets" / "model" / "weights.safetensors").at("crf.compat");
  };
  const wsss::tensor c5 = compat("b5"), cf = compat("full");
  bool potts = true, moved = false;
  for (wsss::index_t i = 0; i < c5.dim(0); ++i)
    for (wsss::index_t j = 0; j < c5.dim(1); ++j) {
      potts = potts && c5(i, j) == (i == j ? -1.0f : 0.0f);
      moved = moved || cf(i, j) != (i == j ? -1.0f : 0.0f);
    }
  CHECK(potts);
  CHECK(moved);
  CHECK(full.results.rows.size() == 3);
}

TEST_CASE("attention: another solver slot trains the same way") {
  wsss_test::temp_dir tmp;
  wsss_test::make_tiny_scenes(tmp / "data");
  using pg = wsss::methods::attention_crf<wsss::attention::projected_gradient>;
  wsss::methods::run_context cx(wsss_test::quiet_run(tmp / "data", tmp / "pg"));
  const auto r = pg(tiny_config<pg>()).run(cx);
  CHECK(r.results.rows.size() == 3);
  CHECK(wsss_test::bytes_of(tmp / "pg" / "config.txt").find("slots = attention::projected_gradient") != std::string::npos);
}

TEST_CASE("attention: with the CRF-RNN on a device it trains and labels like the host engine") {
  // attention_crf<Solver, crf::device_crf_rnn<Tag>>: the CRF-RNN's iterations in training
  // (forward and backward, into mu) and at test time on Tag: thrust_omp (the CUDA bodies on the
  // CPU) and OpenCL (PoCL). Q differs from the host engine's by float rounding only.
  wsss_test::temp_dir tmp;
  wsss_test::make_tiny_scenes(tmp / "data");
  run_in(tmp / "data", tmp / "host", tiny_config());
  auto check_device = [&](auto device_method, const std::string& name) {
    using M = typename decltype(device_method)::type;
    wsss_test::check_device_run<M>(tmp / "data", tmp / "host", tmp / name, tiny_config<M>(), "model", {"attention", "pseudo"});
  };
  using wsss::crf::device_crf_rnn;
  check_device(std::type_identity<wsss::methods::attention_crf<wsss::attention::coordinate_ascent, device_crf_rnn<wsss::thrust_omp_t>>>{},
               "thrust_omp");
  check_device(std::type_identity<wsss::methods::attention_crf<wsss::attention::coordinate_ascent, device_crf_rnn<wsss::opencl_t>>>{},
               "opencl");
}

TEST_CASE("attention: configuration errors name the field") {
  auto c = tiny_config();
  c.lambda = -1.0f;
  CHECK_THROWS_AS((void)method(c), wsss::value_error);
  c = tiny_config();
  c.class_threshold = 1.0f;
  CHECK_THROWS_AS((void)method(c), wsss::value_error);
  c = tiny_config();
  c.crf.iterations = 0;
  CHECK_THROWS_AS((void)method(c), wsss::value_error);
  c = tiny_config();
  c.lateral.sigma_r = 0.0;
  CHECK_THROWS_AS((void)method(c), wsss::value_error);
  c = tiny_config();
  c.top_down.target = "conv9_9";
  wsss_test::temp_dir tmp;
  wsss_test::make_tiny_scenes(tmp / "data");
  wsss::methods::run_context cx(wsss_test::quiet_run(tmp / "data", tmp / "bad"));
  CHECK_THROWS_AS((void)method(c).run(cx), wsss::value_error);
}
