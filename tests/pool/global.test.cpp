// SPDX-License-Identifier: MIT
// tests/pool/global.test.cpp — GAP, GMP, GWRP (SEC eq. 3), LSE and FCL against naive float64
// references, finite-difference gradients, the GWRP limits and the error messages
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <tuple>
#include <vector>

#include "wsss/autodiff/grad_check.hpp"
#include "wsss/core/random.hpp"
#include "wsss/nn/module.hpp"
#include "wsss/pool.hpp"

using wsss::index_t;
using wsss::tensor;
namespace pool = wsss::pool;
namespace ad = wsss::ad;

namespace {

/// Scores whose values in every plane are a random permutation of well separated levels plus
/// jitter, so a finite-difference step (1e-2) never reorders them.
tensor separated_scores(index_t N, index_t C, index_t H, index_t W, std::uint64_t seed) {
  wsss::rng g(seed);
  tensor s({N, C, H, W});
  const index_t hw = H * W;
  std::vector<index_t> perm(static_cast<std::size_t>(hw));
  for (index_t k = 0; k < N * C; ++k) {
    std::iota(perm.begin(), perm.end(), index_t{0});
    for (index_t i = hw - 1; i > 0; --i) std::swap(perm[static_cast<std::size_t>(i)], perm[g.below(static_cast<std::uint64_t>(i + 1))]);
    for (index_t i = 0; i < hw; ++i)
      s[k * hw + i] = static_cast<float>(-1.0 + 0.1 * static_cast<double>(perm[static_cast<std::size_t>(i)]) + 0.02 * g.uniform());
  }
  return s;
}

tensor random_normal_seeded(const wsss::shape& sh, std::uint64_t seed) {
  wsss::rng g(seed);
  return wsss::random_normal(sh, g);
}

/// Plane k of s as float64 values.
std::vector<double> plane(const tensor& s, index_t k) {
  const index_t hw = s.dim(2) * s.dim(3);
  return std::vector<double>(s.data() + k * hw, s.data() + (k + 1) * hw);
}

/// The reference ExpandLossLayer's GWRP (reference-semantics 2.4): sort ascending, weights
/// [q^(n-1), ..., q^1, q^0], divided by Z = sum_j q^j.
double sec_reference_gwrp(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  double num = 0, z = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double w = std::pow(q, static_cast<double>(n - 1 - i));
    num += w * v[i];
    z += w;
  }
  return num / z;
}

template <class P>
tensor run_forward(const P& p, const tensor& s, const wsss::batch& b = {}) {
  return pool::run(p, s, b);
}

/// A GWRP config whose decays need no image tags (bg_class d_bg, every other class d_fg).
pool::gwrp::config untagged(pool::gwrp::config c) {
  c.use_tags = false;
  return c;
}

}  // namespace

TEST_CASE("gap, gmp and lse equal their float64 definitions") {
  const tensor s = random_normal_seeded({2, 3, 5, 7}, 11);
  const tensor ga = run_forward(pool::gap{}, s);
  const tensor gm = run_forward(pool::gmp{}, s);
  const float r = 3.0f;
  const tensor ls = run_forward(pool::lse{{r}}, s);
  REQUIRE(ga.shape() == wsss::shape{2, 3});
  for (index_t k = 0; k < 6; ++k) {
    const auto v = plane(s, k);
    double mean = 0, mx = -1e300, se = 0;
    for (double x : v) {
      mean += x / static_cast<double>(v.size());
      mx = std::max(mx, x);
      se += std::exp(r * x);
    }
    const double lse_ref = std::log(se / static_cast<double>(v.size())) / r;
    CHECK(ga[k] == doctest::Approx(mean).epsilon(1e-6));
    CHECK(gm[k] == static_cast<float>(mx));
    CHECK(ls[k] == doctest::Approx(lse_ref).epsilon(1e-5));
  }
}

TEST_CASE("lse is stable for large scores and tends to gmp / gap") {
  tensor s({1, 1, 2, 2});
  s[0] = 1000.0f; s[1] = 999.0f; s[2] = -1000.0f; s[3] = 0.0f;
  const tensor y = run_forward(pool::lse{{1.0f}}, s);
  // log((e^1000 + e^999 + ...)/4) = 1000 + log((1 + e^-1)/4)
  CHECK(y[0] == doctest::Approx(1000.0 + std::log((1.0 + std::exp(-1.0)) / 4.0)).epsilon(1e-6));
  const tensor t = separated_scores(1, 2, 4, 4, 3);
  const tensor sharp = run_forward(pool::lse{{200.0f}}, t), flat = run_forward(pool::lse{{1e-4f}}, t);
  const tensor mx = run_forward(pool::gmp{}, t), mean = run_forward(pool::gap{}, t);
  for (index_t k = 0; k < 2; ++k) {
    CHECK(sharp[k] == doctest::Approx(mx[k]).epsilon(0.02));
    CHECK(flat[k] == doctest::Approx(mean[k]).epsilon(1e-3));
  }
}

TEST_CASE("gwrp matches the SEC reference formula with q_fg 0.996 and q_bg 0.999") {
  wsss::rng g(5);
  const tensor s = wsss::random_uniform({2, 4, 41, 41}, g);  // probabilities, the paper's 41 x 41
  tensor labels({2, 4});
  labels(0, 1) = 1.0f;  // image 0: class 1 present, 2 and 3 absent
  labels(1, 2) = 1.0f;
  labels(1, 3) = 1.0f;
  const std::vector<wsss::tag_set> tags{{1}, {2, 3}};  // the present classes of `labels`
  const pool::gwrp gw{};
  const tensor y = run_forward(gw, s, {.tags = tags});
  for (index_t n = 0; n < 2; ++n)
    for (index_t c = 0; c < 4; ++c) {
      INFO("n=" << n << " c=" << c);
      const auto v = plane(s, n * 4 + c);
      const double expect = c == 0 ? sec_reference_gwrp(v, 0.999)
                          : labels(n, c) != 0.0f ? sec_reference_gwrp(v, 0.996)
                                                 : *std::max_element(v.begin(), v.end());
      CHECK(y(n, c) == doctest::Approx(expect).epsilon(1e-5));
    }
  // Z(0.996) and Z(0.999) over 1681 positions, as quoted in the reference notes.
  CHECK((1.0 - std::pow(0.996, 1681)) / 0.004 == doctest::Approx(249.70).epsilon(1e-4));
  CHECK((1.0 - std::pow(0.999, 1681)) / 0.001 == doctest::Approx(813.97).epsilon(1e-4));
}

TEST_CASE("gwrp is gmp at d = 0 and gap at d = 1, values and gradients") {
  const tensor s = separated_scores(2, 3, 6, 5, 9);
  wsss::rng g(2);
  const tensor gy = wsss::random_normal({2, 3}, g);
  auto fwd_bwd = [&](auto p) {
    const wsss::exec<> ex;
    auto pl = p.prepare(ex, {}, s.shape());
    tensor out, gin;
    p.run(ex, pl, s, out);
    p.backward(ex, pl, gy, gin);
    return std::pair{out, gin};
  };
  const auto [y0, g0] = fwd_bwd(pool::gwrp{untagged({0.0f, 0.0f, 0.0f})});
  const auto [ym, gm] = fwd_bwd(pool::gmp{});
  const auto [y1, g1] = fwd_bwd(pool::gwrp{untagged({1.0f, 1.0f, 1.0f})});
  const auto [ya, ga] = fwd_bwd(pool::gap{});
  for (index_t k = 0; k < y0.numel(); ++k) {
    CHECK(y0[k] == ym[k]);
    CHECK(y1[k] == doctest::Approx(ya[k]).epsilon(1e-6));
  }
  for (index_t k = 0; k < g0.numel(); ++k) {
    CHECK(g0[k] == gm[k]);
    CHECK(g1[k] == doctest::Approx(ga[k]).epsilon(1e-6));
  }
}

TEST_CASE("gwrp ties: the value ignores the order, the gradient follows a stable descending sort") {
  tensor s({1, 1, 1, 5});
  s[0] = 0.5f; s[1] = 2.0f; s[2] = 0.5f; s[3] = 2.0f; s[4] = 1.0f;
  const float d = 0.5f;
  const pool::gwrp p{untagged({d, d, d, -1})};
  const wsss::exec<> ex;
  auto pl = p.prepare(ex, {}, s.shape());
  tensor y, gin;
  p.run(ex, pl, s, y);
  const double Z = 1 + 0.5 + 0.25 + 0.125 + 0.0625;
  CHECK(y[0] == doctest::Approx((2.0 + 0.5 * 2.0 + 0.25 * 1.0 + 0.125 * 0.5 + 0.0625 * 0.5) / Z));
  p.backward(ex, pl, tensor({1, 1}, 1.0f), gin);
  // ranks: pos1 (2.0) 0, pos3 (2.0) 1, pos4 (1.0) 2, pos0 (0.5) 3, pos2 (0.5) 4
  CHECK(gin[1] == doctest::Approx(1.0 / Z));
  CHECK(gin[3] == doctest::Approx(0.5 / Z));
  CHECK(gin[4] == doctest::Approx(0.25 / Z));
  CHECK(gin[0] == doctest::Approx(0.125 / Z));
  CHECK(gin[2] == doctest::Approx(0.0625 / Z));
}

TEST_CASE("gwrp truncation stays within its stated bound on a 321 x 321 plane") {
  wsss::rng g(21);
  const tensor s = wsss::random_normal({1, 2, 321, 321}, g);
  for (float d : {0.996f, 0.999f}) {
    INFO("d=" << d);
    const pool::gwrp cut{untagged({d, d, d, -1})}, full{untagged({d, d, d, -1, 0.0})};
    const index_t m = pool::gwrp::kept_ranks(d, 321 * 321, cut.cfg.tail_tol);
    CHECK(m < 321 * 321 / 4);
    CHECK(pool::gwrp::kept_ranks(d, 321 * 321, 0.0) == 321 * 321);
    const tensor a = run_forward(cut, s), b = run_forward(full, s);
    wsss::workspace shared;  // one workspace (top-k scratch) used by both poolers must not mix them
    const auto ex = wsss::on(wsss::omp, shared);
    auto plan_cut = cut.prepare(ex, {}, s.shape()), plan_full = full.prepare(ex, {}, s.shape());
    tensor a2, b2;
    cut.run(ex, plan_cut, s, a2);
    full.run(ex, plan_full, s, b2);
    CHECK(a2[0] == a[0]);
    CHECK(b2[0] == b[0]);
    for (index_t k = 0; k < 2; ++k) {
      const auto v = plane(s, k);
      const double ref = sec_reference_gwrp(v, d);
      const double maxabs = std::abs(*std::max_element(v.begin(), v.end(), [](double x, double y) { return std::abs(x) < std::abs(y); }));
      CHECK(std::abs(b[k] - ref) <= 1e-6 * maxabs + 1e-6);
      CHECK(std::abs(a[k] - ref) <= cut.cfg.tail_tol * maxabs + 1e-6 * maxabs + 1e-6);
    }
  }
}

TEST_CASE("fcl equals sigmoid(W . f + b) per class, and the logit without sigmoid") {
  pool::fcl p({3, 4, 5, true});
  wsss::rng g(8);
  p.weight.value = wsss::random_normal({3, 20}, g, 0.0, 0.3);
  p.bias.value = wsss::random_normal({3}, g);
  const tensor s = wsss::random_normal({2, 3, 4, 5}, g);
  const tensor y = run_forward(p, s);
  pool::fcl q({3, 4, 5, false});
  q.weight = p.weight;
  q.bias = p.bias;
  const tensor z = run_forward(q, s);
  for (index_t n = 0; n < 2; ++n)
    for (index_t c = 0; c < 3; ++c) {
      double acc = p.bias.value[c];
      for (index_t i = 0; i < 20; ++i) acc += static_cast<double>(p.weight.value(c, i)) * s[(n * 3 + c) * 20 + i];
      CHECK(z(n, c) == doctest::Approx(acc).epsilon(1e-5));
      CHECK(y(n, c) == doctest::Approx(1.0 / (1.0 + std::exp(-acc))).epsilon(1e-5));
    }
  // Initialised as GAP (logit = mean).
  const pool::fcl fresh({3, 4, 5, false});
  const tensor m = run_forward(fresh, s), ga = run_forward(pool::gap{}, s);
  for (index_t k = 0; k < 6; ++k) CHECK(m[k] == doctest::Approx(ga[k]).epsilon(1e-5));
}

using parameter_free_poolers = std::tuple<pool::gap, pool::gmp, pool::gwrp, pool::lse>;

TEST_CASE_TEMPLATE_DEFINE("a pooler's backward assigns every entry and passes grad_check", P, pooler_contract) {
  const tensor s = separated_scores(2, 3, 4, 5, 31);
  P p{};
  if constexpr (std::is_same_v<P, pool::gwrp>) p = pool::gwrp{untagged({0.7f, 0.0f, 0.9f, 0})};
  const wsss::exec<> ex;
  auto pl = p.prepare(ex, {}, s.shape());
  tensor out, g1, g2({2, 3, 4, 5}, 12345.0f);
  p.run(ex, pl, s, out);
  wsss::rng g(4);
  const tensor gy = wsss::random_normal({2, 3}, g);
  p.backward(ex, pl, gy, g1);
  p.backward(ex, pl, gy, g2);  // pre-filled with garbage: must be overwritten, not added to
  for (index_t k = 0; k < g1.numel(); ++k) CHECK(g1[k] == g2[k]);
  auto plg = p.prepare(ex, {}, s.shape());
  const auto r = ad::grad_check([&](ad::tape& t, std::span<const ad::var> x) { return p.record(t, plg, x[0]); }, {s},
                                {.eps = 1e-2, .rtol = 1e-2, .atol = 1e-4, .max_coords = 120});
  CHECK_MESSAGE(r.ok, r.log);
}
TEST_CASE_TEMPLATE_APPLY(pooler_contract, parameter_free_poolers);

TEST_CASE("gwrp with per-image labels passes grad_check") {
  const tensor s = separated_scores(2, 4, 5, 5, 17);
  tensor labels({2, 4});
  labels(0, 2) = 1.0f;
  labels(1, 1) = 1.0f;
  const std::vector<wsss::tag_set> tags{{2}, {1}};  // the present classes of `labels`
  const pool::gwrp p{{0.8f, 0.0f, 0.95f, 0}};
  auto pl = p.prepare(wsss::exec<>{}, {.tags = tags}, s.shape());
  const auto r = ad::grad_check([&](ad::tape& t, std::span<const ad::var> x) { return p.record(t, pl, x[0]); }, {s},
                                {.max_coords = 200});
  CHECK_MESSAGE(r.ok, r.log);
}

TEST_CASE("fcl: grad_check on scores, weight and bias, standalone backward agrees with the tape") {
  wsss::rng g(12);
  const tensor s = wsss::random_normal({2, 3, 3, 4}, g);
  const tensor w = wsss::random_normal({3, 12}, g, 0.0, 0.3), b = wsss::random_normal({3}, g);
  for (bool sig : {true, false}) {
    INFO("sigmoid=" << sig);
    const pool::fcl::config cfg{3, 3, 4, sig};
    const auto r = ad::grad_check(
        [&](ad::tape& t, std::span<const ad::var> x) { return ad::apply(t, pool::fcl_op{cfg}, x[0], x[1], x[2]); }, {s, w, b});
    CHECK_MESSAGE(r.ok, r.log);

    pool::fcl p(cfg);
    p.weight.value = w;
    p.bias.value = b;
    const tensor gy = wsss::random_normal({2, 3}, g);
    const wsss::exec<> ex;
    auto pl = p.prepare(ex, {}, s.shape());
    tensor y, gin;
    p.run(ex, pl, s, y);
    p.backward(ex, pl, gy, gin);
    pool::fcl q(cfg);
    q.weight.value = w;
    q.bias.value = b;
    ad::tape t;
    const ad::var x = t.leaf(s, true);
    auto plq = q.prepare(ex, {}, s.shape());
    const ad::var yy = q.record(t, plq, x);
    t.backward(yy, gy);
    for (index_t k = 0; k < gin.numel(); ++k) CHECK(gin[k] == doctest::Approx((*t.grad(x))[k]).epsilon(1e-5));
    for (index_t k = 0; k < w.numel(); ++k) CHECK(p.weight.grad[k] == doctest::Approx(q.weight.grad[k]).epsilon(1e-5));
    for (index_t k = 0; k < 3; ++k) CHECK(p.bias.grad[k] == doctest::Approx(q.bias.grad[k]).epsilon(1e-5));
  }
}

TEST_CASE("poolers reject bad shapes and parameters with tagged errors") {
  const tensor rank3({2, 3, 4});
  const wsss::exec<> ex;
  tensor out;
  CHECK_THROWS_WITH_AS(pool::run(pool::gap{}, rank3), doctest::Contains("[wsss.shape] pool::gap: scores must be rank 4"),
                       wsss::shape_error);
  CHECK_THROWS_WITH_AS(pool::run(pool::gwrp{}, rank3), doctest::Contains("[wsss.shape] pool::gwrp"), wsss::shape_error);
  CHECK_THROWS_WITH_AS(pool::gwrp({1.5f, 0.0f, 0.999f}), doctest::Contains("[wsss.value] pool::gwrp: d_fg must be in [0, 1]"),
                       wsss::value_error);
  CHECK_THROWS_WITH_AS(pool::gwrp({0.9f, -0.1f, 0.999f}), doctest::Contains("d_neg must be in [0, 1]"), wsss::value_error);
  CHECK_THROWS_WITH_AS(pool::gwrp({.class_decays = {2.0f, 2.0f, 2.0f}}), doctest::Contains("[wsss.value] pool::gwrp"),
                       wsss::value_error);
  const pool::gwrp five({.class_decays = std::vector<float>(5, 0.5f)});
  CHECK_THROWS_WITH_AS(pool::run(five, tensor({1, 3, 2, 2})), doctest::Contains("[wsss.shape] pool::gwrp: decays are 5"),
                       wsss::shape_error);
  CHECK_THROWS_WITH_AS(pool::lse({0.0f}), doctest::Contains("[wsss.value] pool::lse: sharpness r must be > 0"), wsss::value_error);
  CHECK_THROWS_WITH_AS(pool::lse({-2.0f}), doctest::Contains("[wsss.value] pool::lse"), wsss::value_error);
  pool::fcl f({3, 4, 4, true});
  CHECK_THROWS_WITH_AS(pool::run(f, tensor({1, 3, 5, 4})), doctest::Contains("[wsss.shape] pool::fcl: scores must be N x 3 x 4 x 4"),
                       wsss::shape_error);
  tensor gin;
  pool::gmp::plan mc;
  CHECK_THROWS_WITH_AS(pool::gmp{}.backward(ex, mc, tensor({1, 1}), gin), doctest::Contains("[wsss.value] pool::gmp: backward called before forward"),
                       wsss::value_error);
  mc = pool::gmp{}.prepare(ex, {}, {2, 3, 2, 2});
  pool::gmp{}.run(ex, mc, tensor({2, 3, 2, 2}), out);
  CHECK_THROWS_WITH_AS(pool::gmp{}.backward(ex, mc, tensor({3, 2}), gin), doctest::Contains("[wsss.shape] pool::gmp: gradient must be 2x3"),
                       wsss::shape_error);
}

TEST_CASE("vectorisable reductions: exp for x <= 0, blocked sums and the first arg max") {
  double worst = 0;
  for (int i = 0; i <= 100000; ++i) {
    const float x = -87.0f * static_cast<float>(i) / 100000.0f;
    const double ref = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::abs(pool::detail::exp_nonpositive(x) - ref) / ref);
  }
  CHECK(worst < 1e-6);
  CHECK(pool::detail::exp_nonpositive(-100.0f) == 0.0f);
  CHECK(pool::detail::exp_nonpositive(0.0f) == 1.0f);
  wsss::rng g(1);
  const tensor v = wsss::random_uniform({100003}, g);
  double ref = 0;
  for (float f : v) ref += f;
  CHECK(pool::detail::sum(v.data(), v.numel()) == doctest::Approx(ref).epsilon(1e-6));
  const float row[7] = {1.0f, 3.0f, -2.0f, 3.0f, 0.5f, 3.0f, 2.0f};
  CHECK(pool::detail::first_argmax(row, 7) == 1);
  CHECK(pool::detail::max_of(row, 7) == 3.0f);
}

TEST_CASE("gwrp reads its decay groups from batch.tags in prepare") {
  const tensor s = separated_scores(2, 4, 3, 3, 23);
  const std::vector<wsss::tag_set> tags{{2}, {1, 3}};
  const pool::gwrp p{{0.8f, 0.3f, 0.95f, 0}};
  const wsss::exec<> ex;
  const auto pl = p.prepare(ex, {.tags = tags}, s.shape());
  // Image 0: bg 0.95, class 2 present (0.8), classes 1 and 3 absent (0.3); image 1 likewise.
  const float expect[8] = {0.95f, 0.3f, 0.8f, 0.3f, 0.95f, 0.8f, 0.3f, 0.8f};
  for (index_t k = 0; k < 8; ++k) CHECK(pl.tables[static_cast<std::size_t>(pl.table[static_cast<std::size_t>(k)])].d == expect[k]);
  // Explicit per-class decays need no tags.
  const pool::gwrp per_class({.class_decays = {1.0f, 0.0f, 0.5f, 0.5f}});
  const tensor y = run_forward(per_class, s), ga = run_forward(pool::gap{}, s), gm = run_forward(pool::gmp{}, s);
  CHECK(y[0] == doctest::Approx(ga[0]).epsilon(1e-6));
  CHECK(y[1] == gm[1]);
  CHECK_THROWS_WITH_AS(p.prepare(ex, {}, s.shape()), doctest::Contains("[wsss.value] pool::gwrp: needs image tags in the batch"),
                       wsss::value_error);
  const std::vector<wsss::tag_set> one{{1}};
  CHECK_THROWS_WITH_AS(p.prepare(ex, {.tags = one}, s.shape()),
                       doctest::Contains("[wsss.shape] pool::gwrp: batch holds 1 tag sets but scores are 2x4x3x3"), wsss::shape_error);
  const std::vector<wsss::tag_set> outside{{1}, {4}}, background{{0}, {1}};
  CHECK_THROWS_WITH_AS(p.prepare(ex, {.tags = outside}, s.shape()), doctest::Contains("[wsss.value] pool::gwrp: tag 4 is outside [1, 4)"),
                       wsss::value_error);
  CHECK_THROWS_WITH_AS(p.prepare(ex, {.tags = background}, s.shape()), doctest::Contains("tag 0 is outside [1, 4)"), wsss::value_error);
}

TEST_CASE("fcl is trainable: parameters named from its prefix, visited like a layer's") {
  pool::fcl a({3, 4, 5, true}), b({3, 4, 5, true}, "cls.fcl");
  CHECK(a.weight.name == "fcl.weight");
  CHECK(a.bias.name == "fcl.bias");
  const auto ps = wsss::nn::collect_params(b);
  REQUIRE(ps.size() == 2);
  CHECK(ps[0]->name == "cls.fcl.weight");
  CHECK(ps[1]->name == "cls.fcl.bias");
  CHECK(ps[0] == &b.weight);
  CHECK(wsss::nn::count_params(b) == 3 * 20 + 3);
}

TEST_CASE("pool: gwrp::decay_for is SEC's rule of thumb (41 x 41 gives the paper's decays)") {
  // Sec. 4: the top 10% carry half of G -> d+ = 0.996; the top 30% -> d_bg = 0.999.
  CHECK(wsss::pool::gwrp::decay_for(41 * 41, 0.1) == doctest::Approx(0.996).epsilon(2e-4));
  CHECK(wsss::pool::gwrp::decay_for(41 * 41, 0.3) == doctest::Approx(0.999).epsilon(2e-4));
  for (wsss::index_t n : {17 * 17, 41 * 41, 321 * 321}) {
    for (double fraction : {0.1, 0.3}) {
      const double d = wsss::pool::gwrp::decay_for(n, fraction);
      // The share of the top k weights, summed term by term (not the closed form inverted).
      const auto k = static_cast<wsss::index_t>(std::lround(fraction * static_cast<double>(n)));
      double top = 0, all = 0, w = 1;
      for (wsss::index_t j = 0; j < n; ++j, w *= d) (j < k ? top : all) += w;
      // 1e-3: d is a float, and at n = 321^2 one float step of d moves the share by ~3e-4.
      CHECK(top / (top + all) == doctest::Approx(0.5).epsilon(1e-3));
    }
  }
  CHECK_THROWS_AS(wsss::pool::gwrp::decay_for(100, 0.6, 0.5), wsss::value_error);  // mass below k / n
  CHECK_THROWS_AS(wsss::pool::gwrp::decay_for(1, 0.1), wsss::value_error);
}
