// The top-down pass (sec. 4): eq. 8-9's lateral problem against a direct evaluation, the pass
// without neighbours against a hand-chained Markov chain, the D = -I limit, KKT at every QP,
// and eq. 4's normalisation.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "wsss/attention/multiplicative.hpp"
#include "wsss/attention/projected_gradient.hpp"
#include "wsss/attention/top_down.hpp"
#include "wsss/core/random.hpp"

using namespace wsss;
namespace at = wsss::attention;

namespace {

rgb_image random_image(index_t h, index_t w, std::uint64_t seed) {
  rng g(seed);
  rgb_image img(h, w);
  for (index_t y = 0; y < h; ++y)
    for (index_t x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c)
        img(y, x, c) = static_cast<std::uint8_t>(x < w / 2 ? 40 + 30 * c + 20 * g.uniform() : 200 - 50 * c + 20 * g.uniform());
  return img;
}

/// A small trained-looking DeepLab-LargeFOV: random weights, 40 x 40 input -> 5 x 5 scores.
struct fixture {
  rng g{5};
  nn::deeplab_largefov net{{.width = 1.0 / 16, .classes = 3, .fc6_dilation = 2, .dropout = 0.0f}, g};
  rgb_image img = random_image(40, 40, 6);
  at::layer_chain chain = at::deeplab_chain(net);
  std::vector<tensor> acts;
  tensor fcl;
  fixture() {
    tensor x({1, 3, 40, 40});
    for (index_t y = 0; y < 40; ++y)
      for (index_t xx = 0; xx < 40; ++xx)
        for (int c = 0; c < 3; ++c) x[(c * 40 + y) * 40 + xx] = img(y, xx, c) / 255.0f - 0.5f;
    ad::tape t;
    t.set_training(false);
    ad::no_grad ng(t);
    acts = chain.forward(net.pool3(t, t.leaf(x)).value());
    const index_t hw = acts.back().dim(2) * acts.back().dim(3);
    fcl = tensor({3, hw});
    for (index_t i = 0; i < fcl.numel(); ++i) fcl[i] = static_cast<float>(g.uniform(-0.2, 1.0));
    // Scores with positive parts for every class, as a trained network's present classes have.
    for (index_t i = 0; i < acts.back().numel(); ++i) acts.back()[i] = std::abs(acts.back()[i]) + 0.01f * static_cast<float>(i % 7);
  }
  index_t side() const { return acts.back().dim(2); }
};

}  // namespace

TEST_CASE("lateral_problem is eq. 8-9: bilateral weights of cell centres and HSV histograms, row-normalised") {
  const rgb_image img = random_image(12, 16, 1);
  const at::lateral_config c{.sigma_z = 6.0, .sigma_r = 20.0, .bins = 4};
  const at::qp q = at::lateral_problem(img, 3, 4, c);
  const tensor r = graph::hsv_histograms(img, 3, 4, 4);
  const index_t n = 12;
  REQUIRE(q.lateral.rows() == n);
  // Direct evaluation: centres 4 pixels apart, w_ii = 1, R = w / rowsum, S = (R + R^T) / 2.
  Eigen::MatrixXd w(n, n);
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < n; ++j) {
      const double dy = 4.0 * static_cast<double>(i / 4 - j / 4), dx = 4.0 * static_cast<double>(i % 4 - j % 4);
      double dr = 0;
      for (index_t k = 0; k < r.dim(0); ++k) dr += std::pow(r[k * n + i] - r[k * n + j], 2);
      w(i, j) = std::exp(-(dy * dy + dx * dx) / 36.0) * std::exp(-dr / 400.0);
    }
  for (index_t i = 0; i < n; ++i) w.row(i) /= w.row(i).sum();
  const Eigen::MatrixXd s = 0.5 * (w + w.transpose());
  CHECK((q.lateral - s).cwiseAbs().maxCoeff() < 1e-6);
  CHECK(q.rank_one == 0.0);
  CHECK(q.self == 2.0);
  const at::qp literal = at::lateral_problem(img, 3, 4, {.inhibition = 1.0, .precision = 0.0});
  CHECK(literal.rank_one == 1.0);
  CHECK(literal.self == 0.0);
  CHECK_THROWS_AS((void)at::lateral_problem(img, 3, 4, {.sigma_z = 0.0}), value_error);
  CHECK_THROWS_AS((void)at::lateral_problem(img, 3, 4, {.precision = -1.0}), value_error);
}

TEST_CASE("without neighbours and the feed-forward term the pass is Zhang et al.'s Markov chain") {
  fixture f;
  at::top_down<> td{{.target = "pool4", .neighbors = false, .feedforward = false}};
  const std::vector<int> classes{0, 2};
  const tensor got = td(f.chain, f.acts, f.fcl, at::qp{}, classes);
  const index_t hw = f.side() * f.side();
  REQUIRE(got.shape() == shape{2, f.side(), f.side()});
  // By hand: the FCL step (w+ a+ normalised over class y's map), then eq. 6 layer by layer.
  const std::size_t levels = f.chain.layers.size();
  for (std::size_t j = 0; j < classes.size(); ++j) {
    const int y = classes[j];
    tensor p({1, 3, f.side(), f.side()});
    double z = 0;
    for (index_t i = 0; i < hw; ++i) z += std::max(f.fcl[y * hw + i], 0.0f) * f.acts.back()[y * hw + i];
    for (index_t i = 0; i < hw; ++i) p[y * hw + i] = static_cast<float>(std::max(f.fcl[y * hw + i], 0.0f) * f.acts.back()[y * hw + i] / z);
    std::size_t l = levels;
    for (; at::layer_name(f.chain.layers[l - 1]) != "pool4"; --l) p = at::transition(f.chain.layers[l - 1], f.acts[l - 1], p);
    double total = 0;
    for (index_t i = 0; i < p.numel(); ++i) total += p[i];
    CHECK(total == doctest::Approx(1.0).epsilon(1e-4));  // mass is conserved on the way down
    for (index_t i = 0; i < hw; ++i) {
      double want = 0;
      for (index_t c = 0; c < p.dim(1); ++c) want += p[c * hw + i];
      CHECK(got[static_cast<index_t>(j) * hw + i] == doctest::Approx(want).epsilon(1e-4).scale(1e-3));
    }
  }
}

TEST_CASE("with D = -I (the Gaussian's precision alone) every solver's pass equals the Markov chain") {
  fixture f;
  at::qp unit;
  const index_t hw = f.side() * f.side();
  unit.lateral = Eigen::MatrixXd::Zero(hw, hw);
  unit.self = 1.0;
  const std::vector<int> classes{0, 1, 2};
  const tensor chain = at::top_down<>{{.neighbors = false}}(f.chain, f.acts, f.fcl, unit, classes);
  auto same = [&](const tensor& got) {
    for (index_t i = 0; i < chain.numel(); ++i) CHECK(got[i] == doctest::Approx(chain[i]).epsilon(1e-5).scale(1e-4));
  };
  same(at::top_down<at::coordinate_ascent>{{}}(f.chain, f.acts, f.fcl, unit, classes));
  same(at::top_down<at::projected_gradient>{{}}(f.chain, f.acts, f.fcl, unit, classes));
  same(at::top_down<at::multiplicative>{{}}(f.chain, f.acts, f.fcl, unit, classes));
}

TEST_CASE("with neighbours every layer's QP reaches KKT, and each map is a distribution over pool4's positions") {
  fixture f;
  const std::vector<int> classes{0, 1, 2};
  for (double inhibition : {0.0, 1.0}) {
    CAPTURE(inhibition);
    const at::qp lateral = at::lateral_problem(f.img, f.side(), f.side(), {.inhibition = inhibition, .precision = inhibition > 0 ? 0.0 : 2.0});
    at::pass_stats st;
    at::top_down<> td{{.target = "pool4"}};
    const tensor maps = td(f.chain, f.acts, f.fcl, lateral, classes, &st);
    // fc8, fc7, fc6, pool5a, pool5, conv5_3, conv5_2, conv5_1, pool4: nine layers, three classes.
    CHECK(st.solves == 27);
    CHECK(st.unconverged == 0);
    CHECK(st.max_residual <= td.solver.cfg.tolerance);
    const index_t hw = f.side() * f.side();
    for (index_t j = 0; j < 3; ++j) {
      double s = 0;
      for (index_t i = 0; i < hw; ++i) {
        CHECK(maps[j * hw + i] >= 0.0f);
        s += maps[j * hw + i];
      }
      CHECK(s == doctest::Approx(1.0).epsilon(1e-4));
    }
    // Only at the target: one QP per class.
    at::pass_stats once;
    (void)at::top_down<>{{.every_layer = false}}(f.chain, f.acts, f.fcl, lateral, classes, &once);
    CHECK(once.solves == 3);
  }
  CHECK_THROWS_AS((void)at::top_down<>{{.target = "conv9"}}(f.chain, f.acts, f.fcl, at::qp{}, classes), value_error);
  CHECK_THROWS_AS((void)at::top_down<>{{}}(f.chain, f.acts, tensor({3, 7}), at::qp{}, classes), shape_error);
}

TEST_CASE("eq. 4: upscaled, normalised over the classes, uniform where no class attends") {
  tensor maps({2, 2, 2});
  maps[0] = 1.0f, maps[4] = 3.0f;  // pixel 0: 1 : 3
  maps[1] = 0.5f;                  // pixel 1: class 0 only
  const tensor a = at::class_attention(maps, 2, 2);
  CHECK(a[0] == doctest::Approx(0.25));
  CHECK(a[4] == doctest::Approx(0.75));
  CHECK(a[1] == 1.0f);
  CHECK(a[5] == 0.0f);
  CHECK(a[3] == 0.5f);  // no class
  CHECK(a[7] == 0.5f);
  const tensor up = at::class_attention(maps, 6, 6);
  REQUIRE(up.shape() == shape{2, 6, 6});
  for (index_t i = 0; i < 36; ++i) CHECK(up[i] + up[36 + i] == doctest::Approx(1.0));
}
