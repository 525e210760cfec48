// SPDX-License-Identifier: MIT
// tests/methods/spn.test.cpp — SPN as users run it: its networks' geometry, the linear identity
// that makes per-cell scores SP-CAM, the bridge's saliency against finite differences, every
// stage on a tiny VOC-layout dataset, a run stopped part-way and resumed to identical artifacts,
// the ablations, and configuration errors
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "io/temp_dir.hpp"
#include "methods/tiny_run.hpp"
#include "wsss/io/label_png.hpp"
#include "wsss/io/voc.hpp"
#include "wsss/methods/spn.hpp"
#include "wsss/superpixel/slic.hpp"

namespace {

namespace fs = std::filesystem;
using wsss_test::artifacts;
using wsss_test::run_until;
using method = wsss::methods::spn<>;
using wsss::index_t;

template <class M = method>
typename M::config tiny_config() {
  auto c = M::config::scenes();
  c.net.width = 1.0 / 32;
  c.sizes = {24, 32};
  c.spn_training = {.epochs = 2, .batch_size = 3, .update = wsss::methods::optimizer::adam, .lr = 1e-3f};
  c.decoupled_size = 32;
  c.decoupled = {.epochs = 2, .batch_size = 3, .update = wsss::methods::optimizer::adam, .lr = 1e-3f};
  return c;
}

method tiny_method(method::config c = tiny_config()) {
  wsss::superpixel::slic_method slic;
  slic.cfg.superpixels = 12;
  return method(std::move(c), slic);
}

}  // namespace

TEST_CASE("spn: the networks' grids, and the upsampler's exact factor") {
  wsss::rng g(5);
  wsss::nn::spn_net net({.width = 1.0 / 32, .classes = 4, .up_stride = 2, .batch_norm = true}, g);
  for (index_t side : {24, 32, 45}) {
    wsss::ad::tape t;
    t.set_training(false);
    const auto e = net.encode(t, t.leaf(wsss::tensor({2, 3, side, side}, 0.3f)));
    const auto m = net.heads(t, e);
    CHECK(m.cam.value().dim(2) == wsss::nn::spn_net::z_size(side));
    CHECK(m.sp.value().dim(2) == net.sp_size(side));
    CHECK(m.sp.value().dim(2) == 4 * m.cam.value().dim(2));
    CHECK(m.sp.value().dim(1) == 4);
    CHECK(net.gap_scores(t, e.pool5).shape() == wsss::shape{2, 4});
  }
  wsss::nn::decoupled_segmenter seg({.channels = net.features.out_channels(), .up_stride = 2}, g);
  wsss::ad::tape t;
  const auto e = net.encode(t, t.leaf(wsss::tensor({1, 3, 32, 32}, 0.1f)));
  const auto y = seg(t, e.pool5, e.pool5, e.switches);
  CHECK(y.shape() == wsss::shape{1, 2, 4 * wsss::nn::spn_net::z_size(32), 4 * wsss::nn::spn_net::z_size(32)});
  CHECK_THROWS_WITH_AS(wsss::nn::deconv_upsampler("u", {.in = 4, .channels = 4, .stride = 3}, g),
                       doctest::Contains("stride must be 1 or even"), wsss::value_error);
}

TEST_CASE("spn: a wide image is padded at the bottom to a square, and maps come back cropped") {
  // 2 x 4 image / labels / superpixels: padded to 4 x 4 (zeros, 255, no superpixel), resized to 4 x 4 = as is.
  wsss::rgb_image img(2, 4, 200);
  const wsss::rgb_image sq = method::sized(img, 4);
  REQUIRE(sq.height() == 4);
  for (index_t y = 0; y < 4; ++y)
    for (index_t x = 0; x < 4; ++x) CHECK(int(sq.data()[(y * 4 + x) * 3]) == (y < 2 ? 200 : 0));
  wsss::label_map l(2, 4, 3);
  const wsss::label_map lsq = method::sized(l, 4);
  for (index_t y = 0; y < 4; ++y) CHECK(int(lsq[y * 4 + 1]) == (y < 2 ? 3 : 255));
  wsss::superpixel::segmentation seg;
  seg.labels = wsss::superpixel::label_tensor(wsss::shape{2, 4}, 1);
  seg.count = 2;
  const auto ssq = method::sized(seg, 4);
  for (index_t y = 0; y < 4; ++y) CHECK(ssq.labels[y * 4 + 2] == (y < 2 ? 1 : -1));
  // A 1 x 2 x 4 x 4 map whose row y holds y: back on the 2 x 4 image it keeps rows 0 and 1.
  wsss::tensor maps({1, 2, 4, 4});
  for (index_t k = 0; k < 2; ++k)
    for (index_t y = 0; y < 4; ++y)
      for (index_t x = 0; x < 4; ++x) maps[(k * 4 + y) * 4 + x] = static_cast<float>(y + 10 * k);
  const wsss::tensor back = method::on_image(maps, 2, 4);
  REQUIRE(back.shape() == wsss::shape{2, 2, 4});
  for (index_t k = 0; k < 2; ++k)
    for (index_t y = 0; y < 2; ++y)
      for (index_t x = 0; x < 4; ++x) CHECK(back[(k * 2 + y) * 4 + x] == doctest::Approx(y + 10 * k));
}

TEST_CASE("spn: pooling per-cell class scores over superpixels equals classifying the pooled features") {
  // SP-CAM scores the SP layer's features (eq. 1) with the FC layer; the net scores every cell
  // and pools: the same, since h_i^j sums to 1 over j. Check on random features and a SLIC map.
  wsss::rng g(9);
  wsss::nn::spn_net net({.width = 1.0 / 32, .classes = 3}, g);
  const index_t k = net.features.out_channels(), side = 12;
  wsss::tensor feat({1, k, side, side});
  for (auto& v : feat) v = static_cast<float>(g.uniform() - 0.5);
  wsss::rgb_image img(48, 48);
  for (index_t p = 0; p < img.pixels() * 3; ++p) img.data()[p] = static_cast<std::uint8_t>(g.below(256));
  const auto seg = wsss::superpixel::slic(img, {.superpixels = 20});
  wsss::ad::tape t;
  t.set_training(false);
  const wsss::tensor scores = net.cls_sp(t, t.leaf(feat)).value();
  const wsss::pool::sp_layer sp;
  const auto pl = sp.prepare(wsss::exec<>{}, wsss::batch{.superpixels = std::span(&seg, 1)}, scores.shape());
  const wsss::tensor pooled_scores = sp.superpixel_features(pl, scores).front();          // 3 x K
  const wsss::tensor pooled_feat = sp.superpixel_features(pl, feat).front();              // k x K
  const auto sizes = seg.sizes();
  for (index_t i = 0; i < seg.count; ++i) {
    if (sizes[static_cast<std::size_t>(i)] == 0) continue;
    for (index_t c = 0; c < 3; ++c) {
      double expect = net.cls_sp.bias.value[c];
      for (index_t q = 0; q < k; ++q) expect += double(net.cls_sp.weight.value[c * k + q]) * pooled_feat[q * seg.count + i];
      CHECK(pooled_scores[c * seg.count + i] == doctest::Approx(expect).epsilon(1e-4));
    }
  }
}

TEST_CASE("spn: the bridge's saliency is d score_c / d pool5 (a naive float64 derivation), scaled to max 1") {
  // score_c = b_c + (1 / hw) sum_{q, o} W_cq relu(conv6(pool5))_{q, o}; its derivative with
  // respect to pool5[i, y, x] sums W_cq / hw * conv6.w[q, i, dy, dx] over the active outputs.
  wsss::rng g(13);
  wsss::nn::spn_net net({.width = 1.0 / 32, .classes = 3}, g);
  const index_t k = net.features.out_channels(), side = 4, hw = side * side;
  wsss::tensor pool5({2, k, side, side});
  for (auto& v : pool5) v = static_cast<float>(g.uniform() - 0.3);
  const int classes[2] = {2, 3};
  const wsss::tensor s = method::saliency(net, pool5, classes);
  const wsss::tensor& w6 = net.conv6.weight.value;  // k x k x 3 x 3
  const wsss::tensor& b6 = net.conv6.bias.value;
  const wsss::tensor& wc = net.cls_gap.weight.value;  // 3 x k x 1 x 1
  const index_t per = k * hw;
  for (index_t n = 0; n < 2; ++n) {
    const float* x = pool5.data() + n * per;
    std::vector<double> grad(static_cast<std::size_t>(per), 0.0);
    for (index_t q = 0; q < k; ++q)
      for (index_t oy = 0; oy < side; ++oy)
        for (index_t ox = 0; ox < side; ++ox) {
          double pre = b6[q];
          for (index_t i = 0; i < k; ++i)
            for (index_t dy = 0; dy < 3; ++dy)
              for (index_t dx = 0; dx < 3; ++dx) {
                const index_t y = oy + dy - 1, xx = ox + dx - 1;
                if (y >= 0 && y < side && xx >= 0 && xx < side) pre += double(w6[((q * k + i) * 3 + dy) * 3 + dx]) * x[(i * side + y) * side + xx];
              }
          if (pre <= 0) continue;
          const double up = double(wc[(classes[n] - 1) * k + q]) / double(hw);
          for (index_t i = 0; i < k; ++i)
            for (index_t dy = 0; dy < 3; ++dy)
              for (index_t dx = 0; dx < 3; ++dx) {
                const index_t y = oy + dy - 1, xx = ox + dx - 1;
                if (y >= 0 && y < side && xx >= 0 && xx < side)
                  grad[static_cast<std::size_t>((i * side + y) * side + xx)] += up * w6[((q * k + i) * 3 + dy) * 3 + dx];
              }
        }
    double top = 0;
    for (double v : grad) top = std::max(top, std::abs(v));
    REQUIRE(top > 0);
    for (index_t u = 0; u < per; ++u)
      CHECK(s[n * per + u] == doctest::Approx(grad[static_cast<std::size_t>(u)] / top).epsilon(1e-4).scale(1.0));
  }
}

TEST_CASE("spn: a run stopped inside and between stages resumes to identical artifacts") {
  wsss_test::temp_dir tmp;
  wsss_test::make_tiny_scenes(tmp / "data");
  const method m = tiny_method();
  const auto whole = wsss_test::run_once(m, tmp / "data", tmp / "whole");
  // CAM, SP-CAM unsanitized, SP-CAM (train); SPN (val); per round: annotations, unsanitized (train), val.
  REQUIRE(whole.results.rows.size() == 10);
  CHECK(whole.results.rows[3].name == "SPN");
  CHECK(whole.results.rows[3].split == "val");
  CHECK(whole.results.rows[9].name == "Round 2 (DecoupledNet)");
  for (const auto& r : whole.results.rows) CHECK(r.miou >= 0.0);
  // Sanitized annotations hold only background and the image's tags.
  const wsss::io::voc_dataset train(tmp / "data", "train", {.num_classes = 11, .labels_file = "cls_labels.txt"});
  for (std::size_t i = 0; i < train.size(); ++i)
    for (const char* kind : {"spcam", "cam", "round1_annotations", "round2_annotations"}) {
      const auto l = wsss::io::read_label_png(tmp / "whole" / "labels" / kind / (train.id(i) + ".png"));
      CHECK(l.height() == 32);
      const auto& tags = train.tags(i);
      for (index_t u = 0; u < l.pixels(); ++u) CHECK((l[u] == 0 || std::binary_search(tags.begin(), tags.end(), int(l[u]))));
    }
  CHECK(fs::exists(tmp / "whole" / "round1_subset.txt"));
  const auto head = wsss_test::read_log_head(tmp / "whole" / "nets" / "spn" / "log.csv");
  CHECK(head.header == "epoch,step,loss,gap,sp,lr,seconds");
  REQUIRE(head.first.size() == 7);
  CHECK(head.first[2] == doctest::Approx(head.first[3] + head.first[4]).epsilon(1e-5));

  const auto expected = artifacts(tmp / "whole");
  const fs::path work = tmp / "resumed";
  run_until(m, tmp / "data", work, "spn", 1);                           // inside SPN's training
  run_until(m, tmp / "data", work, "SP-CAM annotations (train)", 3);    // inside a per-image stage
  run_until(m, tmp / "data", work, "round1", 1);                        // inside a round's training
  run_until(m, tmp / "data", work, "round2 annotations (train)", 2);
  const auto resumed = wsss_test::run_once(m, tmp / "data", work);
  wsss_test::check_same_artifacts(expected, work);
  for (std::size_t r = 0; r < whole.results.rows.size(); ++r) CHECK(resumed.results.rows[r].miou == whole.results.rows[r].miou);
}

TEST_CASE("spn: the ablations change what the rounds train on, zero rounds is SPN alone") {
  wsss_test::temp_dir tmp;
  wsss_test::make_tiny_scenes(tmp / "data");
  auto base = tiny_config();
  base.rounds = 1;
  wsss_test::run_once(tiny_method(base), tmp / "data", tmp / "a");
  auto all = base;
  all.reliable = false;
  wsss_test::run_once(tiny_method(all), tmp / "data", tmp / "b");
  auto raw = base;
  raw.sanitize = false;
  wsss_test::run_once(tiny_method(raw), tmp / "data", tmp / "c");
  const auto weights = [&](const char* run) { return wsss_test::bytes_of(tmp / run / "nets" / "round1" / "weights.safetensors"); };
  // The same SPN in all three (its stage does not depend on the ablations)...
  CHECK(wsss_test::bytes_of(tmp / "a" / "nets" / "spn" / "weights.safetensors") ==
        wsss_test::bytes_of(tmp / "b" / "nets" / "spn" / "weights.safetensors"));
  // ...and three different round-1 networks: fewer examples, other annotations.
  CHECK(weights("a") != weights("b"));
  CHECK(weights("a") != weights("c"));
  const std::string subset = wsss_test::bytes_of(tmp / "a" / "round1_subset.txt"), every = wsss_test::bytes_of(tmp / "b" / "round1_subset.txt");
  CHECK(subset != every);

  auto none = base;
  none.rounds = 0;
  const auto spn_only = wsss_test::run_once(tiny_method(none), tmp / "data", tmp / "d");
  CHECK(spn_only.results.rows.size() == 4);
  // A rerun only evaluates; the run's time sums both invocations (elapsed.txt), not just the last.
  const auto again = wsss_test::run_once(tiny_method(none), tmp / "data", tmp / "d");
  CHECK(again.results.time_s > spn_only.results.time_s);
  CHECK(std::stod(wsss_test::bytes_of(tmp / "d" / "elapsed.txt")) == doctest::Approx(again.results.time_s));
  {
    std::ofstream(tmp / "d" / "elapsed.txt") << "soon";
  }
  CHECK_THROWS_WITH_AS(wsss_test::run_once(tiny_method(none), tmp / "data", tmp / "d"), doctest::Contains("elapsed.txt"),
                       wsss::io_error);
}

namespace {
// A user's superpixel method: square blocks of `side` pixels (`shrink` returns a map too small).
struct blocks {
  static constexpr std::string_view name = "blocks";
  index_t side = 8;
  bool shrink = false;
  wsss::superpixel::segmentation operator()(const wsss::rgb_image& img) const {
    const index_t h = img.height() - (shrink ? 1 : 0), w = img.width(), per_row = (w + side - 1) / side;
    wsss::superpixel::segmentation s;
    s.labels = wsss::superpixel::label_tensor(wsss::shape{h, w});
    for (index_t y = 0; y < h; ++y)
      for (index_t x = 0; x < w; ++x) s.labels[y * w + x] = static_cast<std::int32_t>((y / side) * per_row + x / side);
    s.count = static_cast<std::int32_t>(((h + side - 1) / side) * per_row);
    return s;
  }
};
}  // namespace

TEST_CASE("spn: a user's superpixel method drops into the slot, a wrong-sized map is named") {
  wsss_test::temp_dir tmp;
  wsss_test::make_tiny_scenes(tmp / "data");
  using blocky = wsss::methods::spn<blocks>;
  auto c = tiny_config<blocky>();
  c.rounds = 0;
  const auto good = wsss_test::run_once(blocky(c), tmp / "data", tmp / "blocks");
  REQUIRE(good.results.rows.size() == 4);
  // SP-CAM paints whole 8 x 8 blocks: every block of an annotation holds one label.
  const wsss::io::voc_dataset train(tmp / "data", "train", {.num_classes = 11, .labels_file = "cls_labels.txt"});
  for (std::size_t i = 0; i < train.size(); ++i) {
    const auto l = wsss::io::read_label_png(tmp / "blocks" / "labels" / "spcam" / (train.id(i) + ".png"));
    for (index_t y = 0; y < l.height(); ++y)
      for (index_t x = 0; x < l.width(); ++x) CHECK(l[y * l.width() + x] == l[(y / 8 * 8) * l.width() + x / 8 * 8]);
  }
  CHECK(wsss_test::bytes_of(tmp / "blocks" / "config.txt").find("slots = blocks, pool::sp_layer") != std::string::npos);
  CHECK_THROWS_WITH_AS(wsss_test::run_once(blocky(c, blocks{.side = 8, .shrink = true}), tmp / "data", tmp / "shrunk"),
                       doctest::Contains("'blocks' returned a 31x32 map for a 32x32 image"), wsss::shape_error);
}

TEST_CASE("spn: configuration errors name the method") {
  auto c = tiny_config();
  c.sizes = {};
  CHECK_THROWS_WITH_AS(method{c}, doctest::Contains("[wsss.value] spn"), wsss::value_error);
  c = tiny_config();
  c.sizes = {24, 8};
  CHECK_THROWS_WITH_AS(method{c}, doctest::Contains("input sizes must be >= 16"), wsss::value_error);
  c = tiny_config();
  c.figure = 1.0f;
  CHECK_THROWS_WITH_AS(method{c}, doctest::Contains("figure"), wsss::value_error);
  c = tiny_config();
  c.subset.fraction = 1.5;
  CHECK_THROWS_WITH_AS(method{c}, doctest::Contains("fraction"), wsss::value_error);
  c = tiny_config();
  c.annotation.relative = -0.1f;
  CHECK_THROWS_WITH_AS(method{c}, doctest::Contains("relative"), wsss::value_error);
  // A work folder of another configuration is refused.
  wsss_test::temp_dir tmp;
  wsss_test::make_tiny_scenes(tmp / "data");
  auto one = tiny_config();
  one.rounds = 0;
  wsss_test::run_once(tiny_method(one), tmp / "data", tmp / "w");
  one.sanitize = false;
  wsss::methods::run_context cx2(wsss_test::quiet_run(tmp / "data", tmp / "w"));
  CHECK_THROWS_WITH_AS(tiny_method(one).run(cx2), doctest::Contains("another configuration"), wsss::value_error);
}
