// SPDX-License-Identifier: MIT
// tests/graph/affinity.test.cpp — affinity op (eq. 3) and AffinityNet loss (eq. 7-10): naive formulas and grad_check
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include <wsss/autodiff.hpp>
#include <wsss/core.hpp>
#include <wsss/graph.hpp>
#include <wsss/losses/affinity.hpp>

using namespace wsss;

TEST_CASE("affinity op matches exp(-d) for the mean (reference) and sum (paper) L1 distances") {
  rng g(21);
  const tensor f = random_normal({5, 6, 7}, g);
  const auto pairs = graph::half_plane_pairs(6, 7, 2.5);
  for (auto dist : {graph::distance::mean_l1, graph::distance::sum_l1}) {
    const tensor a = graph::affinities(f, pairs, {dist});
    REQUIRE(a.shape() == shape{pairs.size()});
    for (index_t e = 0; e < pairs.size(); ++e) {
      double d = 0;
      for (index_t c = 0; c < 5; ++c) d += std::abs(double(f[c * 42 + pairs.from[e]]) - f[c * 42 + pairs.to[e]]);
      if (dist == graph::distance::mean_l1) d /= 5.0;
      CHECK(a[e] == doctest::Approx(std::exp(-d)).epsilon(1e-5));
    }
  }
}

TEST_CASE("the radius builder's weighted graph (eq. 3 in one run) is symmetric, one weight per CSR edge") {
  rng g(2);
  const tensor f = random_normal({8, 5, 6}, g);
  const auto base = graph::build(graph::radius{{3.0}}, {5, 6});
  const auto w = graph::build(graph::radius{{3.0}}, f.shape(), f);
  CHECK(w.symmetric(0.0f));  // |a - b| == |b - a| exactly: bitwise symmetric
  CHECK(w.weight.size() == base.col.size());
  for (float v : w.weight) CHECK((v > 0.0f && v <= 1.0f));
}

namespace {

// Features whose values are pairwise >= 0.03 apart, so that the central differences of
// grad_check (eps 1e-3) never straddle the kink of |f_i - f_j|.
tensor spaced_features(const shape& s, rng& g) {
  tensor f(s);
  for (index_t k = 0; k < f.numel(); ++k) f[k] = 0.03f * static_cast<float>(k) - 0.015f * static_cast<float>(f.numel());
  for (index_t k = f.numel() - 1; k > 0; --k) std::swap(f[k], f[static_cast<index_t>(g.below(static_cast<std::uint64_t>(k + 1)))]);
  return f;
}

}  // namespace

TEST_CASE("affinity op gradient passes grad_check (single image and batch, both distances)") {
  rng g(8);
  const auto pairs = graph::half_plane_pairs(4, 5, 2.0);
  for (auto dist : {graph::distance::mean_l1, graph::distance::sum_l1}) {
    for (bool batch : {false, true}) {
      INFO("dist " << int(dist) << " batch " << batch);
      const tensor f = batch ? spaced_features({2, 3, 4, 5}, g) : spaced_features({3, 4, 5}, g);
      const graph::affinity_op op{&pairs, {dist}};
      auto r = ad::grad_check([&](ad::tape& t, std::span<const ad::var> x) { return ad::apply(t, op, x[0]); }, {f},
                              {.eps = 1e-3, .rtol = 2e-2, .atol = 2e-3, .max_coords = 60});
      CHECK_MESSAGE(r.ok, r.log);
    }
  }
}

TEST_CASE("affinity op uses the zero subgradient where f_i == f_j") {
  const graph::pair_list p{1, 2, {0}, {1}};
  tensor f({2, 1, 2});
  f[0] = 0.5f, f[1] = 0.5f;  // channel 0 equal: no gradient
  f[2] = 1.0f, f[3] = 0.0f;  // channel 1: |1 - 0|, d = 1/2 (mean)
  ad::tape t;
  const ad::var x = t.leaf(f, true);
  const ad::var a = ad::apply(t, graph::affinity_op{&p}, x);
  t.backward(a, tensor({1}, 1.0f));
  const tensor& gx = *t.grad(x);
  const float w = std::exp(-0.5f);
  CHECK(gx[0] == 0.0f);
  CHECK(gx[1] == 0.0f);
  CHECK(gx[2] == doctest::Approx(-0.5 * w));
  CHECK(gx[3] == doctest::Approx(0.5 * w));
}

TEST_CASE("affinity op rejects bad input with named exceptions") {
  const auto pairs = graph::half_plane_pairs(4, 5, 2.0);
  tensor f({3, 4, 6});
  CHECK_THROWS_WITH_AS(graph::affinities(f, pairs), doctest::Contains("[wsss.shape] graph::affinity"), wsss::shape_error);
  tensor h({3, 4, 5});
  h[7] = INFINITY;
  CHECK_THROWS_WITH_AS(graph::affinities(h, pairs), doctest::Contains("[wsss.value] graph::affinity"), wsss::value_error);
  CHECK_THROWS_WITH_AS(graph::affinities(tensor({4, 5}), pairs), doctest::Contains("C x H x W"), wsss::shape_error);
}

namespace {

label_map random_labels(index_t h, index_t w, rng& g) {
  label_map l(h, w);
  for (index_t i = 0; i < h * w; ++i) {
    const auto u = g.below(10);
    l[i] = u < 3 ? 0 : u < 5 ? 3 : u < 7 ? 7 : static_cast<std::uint8_t>(255);
  }
  return l;
}

}  // namespace

TEST_CASE("extract_pair_labels follows the reference's subset rules") {
  rng g(4);
  const label_map l = random_labels(9, 12, g);
  const auto pairs = graph::reference_pairs(9, 12, 3.0);
  const auto lab = losses::extract_pair_labels(l, pairs);
  REQUIRE(lab.bg_pos.shape() == shape{pairs.size()});
  index_t nb = 0, nf = 0, nn = 0;
  for (index_t e = 0; e < pairs.size(); ++e) {
    const int a = l[pairs.from[e]], b = l[pairs.to[e]];
    const bool ignore = a == 255 || b == 255;
    const float bg = (!ignore && a == 0 && b == 0) ? 1.f : 0.f;
    const float fg = (!ignore && a == b && a != 0) ? 1.f : 0.f;
    const float ng = (!ignore && a != b) ? 1.f : 0.f;
    CHECK(lab.bg_pos[e] == bg);
    CHECK(lab.fg_pos[e] == fg);
    CHECK(lab.neg[e] == ng);
    nb += bg > 0, nf += fg > 0, nn += ng > 0;
  }
  CHECK(nb > 0);
  CHECK(nf > 0);
  CHECK(nn > 0);
}

namespace {

// The policy's loss value: prepare from the batch's label maps, record on a tape.
float policy_loss(const losses::affinity_loss& loss, std::span<const label_map> maps, const graph::pair_list& pairs,
                  const tensor& a) {
  auto pl = loss.prepare(exec<cpu_t>{}, batch{.labels = maps}, pairs);
  ad::tape t;
  return t.value(loss.record(t, pl, t.leaf(a, false)))[0];
}

}  // namespace

TEST_CASE("AffinityNet loss equals the reference formula over the whole batch") {
  rng g(9);
  const auto pairs = graph::reference_pairs(8, 10, 3.0);
  const std::vector<label_map> maps{random_labels(8, 10, g), random_labels(8, 10, g)};
  const auto lab = losses::extract_pair_labels(maps, pairs);
  const tensor a = random_uniform({2, pairs.size()}, g, 0.01, 0.99);
  for (auto cfg : {losses::affinity_loss::config{}, losses::affinity_loss::config::paper()}) {
    const float got = policy_loss(losses::affinity_loss{cfg}, maps, pairs, a);
    double sb = 0, sf = 0, sn = 0, cb = 0, cf = 0, cn = 0;
    for (index_t k = 0; k < a.numel(); ++k) {
      sb -= lab.bg_pos[k] * std::log(a[k] + 1e-5), cb += lab.bg_pos[k];
      sf -= lab.fg_pos[k] * std::log(a[k] + 1e-5), cf += lab.fg_pos[k];
      sn -= lab.neg[k] * std::log(1 + 1e-5 - a[k]), cn += lab.neg[k];
    }
    const double want = cfg.w_bg * sb / (cb + 1e-5) + cfg.w_fg * sf / (cf + 1e-5) + cfg.w_neg * sn / (cn + 1e-5);
    CHECK(got == doctest::Approx(want).epsilon(1e-5));
  }
  // The paper's weights are 4x the code's (same ratios).
  CHECK(policy_loss(losses::affinity_loss{losses::affinity_loss::config::paper()}, maps, pairs, a) ==
        doctest::Approx(4.0 * policy_loss(losses::affinity_loss{}, maps, pairs, a)).epsilon(1e-5));
}

TEST_CASE("affinity_loss policy: the op's numbers, labels from the batch, a graph plan's pairs, named errors") {
  rng g(14);
  const graph::radius builder{{3.0}};
  auto gp = builder.prepare(exec<cpu_t>{}, {}, {7, 9});
  const label_map l = random_labels(7, 9, g);
  const losses::affinity_loss loss;
  auto pl = loss.prepare(exec<cpu_t>{}, batch{.labels = {&l, 1}}, gp.pairs);
  const auto lab = losses::extract_pair_labels(l, gp.pairs);
  CHECK(std::equal(lab.neg.begin(), lab.neg.end(), pl.labels.neg.begin(), pl.labels.neg.end()));
  // One image's E affinities straight from the builder's weighted graph.
  tensor f = spaced_features({4, 7, 9}, g);
  as_array(f) *= 0.2f;
  graph::csr_graph w;
  builder.run(exec<cpu_t>{}, gp, f, w);
  const tensor a = tensor::from({gp.pairs.size()}, w.weight);
  ad::tape t;
  const float got = t.value(loss.record(t, pl, t.leaf(a, false)))[0];
  losses::affinity_loss_op::saved s;
  CHECK(got == losses::affinity_loss_op{&lab}.forward(s, a)[0]);
  // Gradient through the affinity op on the plan's pairs, as a training step records it.
  auto r = ad::grad_check(
      [&](ad::tape& tt, std::span<const ad::var> x) {
        return loss.record(tt, pl, ad::apply(tt, graph::affinity_op{&gp.pairs}, x[0]));
      },
      {f}, {.eps = 1e-3, .rtol = 3e-2, .atol = 1e-4, .max_coords = 60});
  CHECK_MESSAGE(r.ok, r.log);
  CHECK_THROWS_WITH_AS(loss.prepare(exec<cpu_t>{}, batch{}, gp.pairs),
                       doctest::Contains("[wsss.value] losses::affinity_loss"), wsss::value_error);
  CHECK_THROWS_WITH_AS(losses::affinity_loss({-1.0f, 0.25f, 0.5f, 1e-5f}),
                       doctest::Contains("[wsss.value] losses::affinity_loss"), wsss::value_error);
  CHECK_THROWS_WITH_AS(losses::affinity_loss({0.25f, 0.25f, 0.5f, 0.0f}), doctest::Contains("eps"), wsss::value_error);
}

TEST_CASE("AffinityNet loss gradient passes grad_check, alone and through the affinity op") {
  rng g(10);
  const auto pairs = graph::reference_pairs(7, 9, 3.0);
  const label_map l = random_labels(7, 9, g);
  const auto lab = losses::extract_pair_labels(l, pairs);
  const tensor a = random_uniform({pairs.size()}, g, 0.05, 0.95);
  auto r = ad::grad_check(
      [&](ad::tape& t, std::span<const ad::var> x) { return ad::apply(t, losses::affinity_loss_op{&lab}, x[0]); }, {a},
      {.eps = 1e-3, .rtol = 2e-2, .atol = 1e-4, .max_coords = 80});
  CHECK_MESSAGE(r.ok, r.log);
  tensor f = spaced_features({4, 7, 9}, g);
  as_array(f) *= 0.2f;  // affinities well inside (0, 1)
  auto r2 = ad::grad_check(
      [&](ad::tape& t, std::span<const ad::var> x) {
        const ad::var aff = ad::apply(t, graph::affinity_op{&pairs}, x[0]);
        return ad::apply(t, losses::affinity_loss_op{&lab}, aff);
      },
      {f}, {.eps = 1e-3, .rtol = 3e-2, .atol = 1e-4, .max_coords = 60});
  CHECK_MESSAGE(r2.ok, r2.log);
}

TEST_CASE("AffinityNet loss rejects bad input") {
  const auto pairs = graph::reference_pairs(7, 9, 3.0);
  const label_map l(7, 9, 0);
  const auto lab = losses::extract_pair_labels(l, pairs);
  losses::affinity_loss_op::saved s;
  CHECK_THROWS_WITH_AS(losses::affinity_loss_op{&lab}.forward(s, tensor({3})),
                       doctest::Contains("[wsss.shape] losses::affinity"), wsss::shape_error);
  tensor a({pairs.size()}, 0.5f);
  a[2] = 1.5f;
  CHECK_THROWS_WITH_AS(losses::affinity_loss_op{&lab}.forward(s, a), doctest::Contains("[wsss.value] losses::affinity"),
                       wsss::value_error);
  CHECK_THROWS_WITH_AS(losses::extract_pair_labels(label_map(6, 9), pairs),
                       doctest::Contains("[wsss.shape] losses::extract_pair_labels"), wsss::shape_error);
}
