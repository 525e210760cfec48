// SPDX-License-Identifier: MIT
// tests/losses/sec.test.cpp — SEC's floor softmax, seeding loss (eq. 2) and expansion loss (eq. 4
// with GWRP, GMP and GAP) against naive float64 loops, grad_check and their errors
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include <wsss/autodiff.hpp>
#include <wsss/autodiff/grad_check.hpp>
#include <wsss/core/batch.hpp>
#include <wsss/core/exec.hpp>
#include <wsss/core/label_map.hpp>
#include <wsss/losses/sec.hpp>
#include <wsss/pool/gap.hpp>
#include <wsss/pool/gmp.hpp>
#include <wsss/pool/gwrp.hpp>
#include <wsss/opencl.hpp>
#include <wsss/pool/device.hpp>
#if __has_include(<thrust/for_each.h>) && defined(THRUST_DEVICE_SYSTEM)
#include <wsss/backend/thrust/for_each_index.hpp>
#define WSSS_TEST_THRUST 1
#endif

using namespace wsss;

namespace {

bool close(double got, double want, double rtol, double atol) { return std::abs(got - want) <= atol + rtol * std::abs(want); }

bool has_tag(const tag_set& t, int c) { return std::find(t.begin(), t.end(), c) != t.end(); }

// ---- floor softmax ---------------------------------------------------------------------------

// p = (softmax(z) + floor) / (1 + C floor) over axis 1, in float64.
std::vector<double> naive_floor_softmax(const tensor& z, double floor) {
  const index_t B = z.dim(0), C = z.dim(1), hw = z.numel() / (B * C);
  std::vector<double> p(static_cast<std::size_t>(z.numel()));
  for (index_t n = 0; n < B; ++n)
    for (index_t u = 0; u < hw; ++u) {
      double mx = -1e300;
      for (index_t c = 0; c < C; ++c) mx = std::max(mx, static_cast<double>(z[(n * C + c) * hw + u]));
      double s = 0;
      for (index_t c = 0; c < C; ++c) s += std::exp(static_cast<double>(z[(n * C + c) * hw + u]) - mx);
      for (index_t c = 0; c < C; ++c) {
        const index_t i = (n * C + c) * hw + u;
        p[static_cast<std::size_t>(i)] = (std::exp(static_cast<double>(z[i]) - mx) / s + floor) / (1.0 + static_cast<double>(C) * floor);
      }
    }
  return p;
}

// ---- seeding loss ----------------------------------------------------------------------------

// Random cue maps: each pixel has no cue with probability 1/2, else a random class in [0, C).
std::vector<label_map> random_cues(index_t B, index_t C, index_t h, index_t w, rng& g) {
  std::vector<label_map> out;
  for (index_t n = 0; n < B; ++n) {
    label_map m(h, w, ignore_label);
    for (index_t u = 0; u < h * w; ++u)
      if (g.uniform() < 0.5) m[u] = static_cast<std::uint8_t>(g.below(static_cast<std::uint64_t>(C)));
    out.push_back(m);
  }
  return out;
}

// SEC eq. 2 pixel by pixel in float64: (1/B) sum_n -(1/count_n) sum_{cue pixels u, class c} log p[n,c,u].
double naive_seed(const tensor& p, const std::vector<label_map>& cues, const std::vector<tag_set>* tags) {
  const index_t B = p.dim(0), h = p.dim(2), w = p.dim(3);
  double total = 0;
  for (index_t n = 0; n < B; ++n) {
    double s = 0;
    int count = 0;
    for (index_t y = 0; y < h; ++y)
      for (index_t x = 0; x < w; ++x) {
        const int c = cues[static_cast<std::size_t>(n)](y, x);
        if (c == 255) continue;
        if (tags && c != 0 && !has_tag((*tags)[static_cast<std::size_t>(n)], c)) continue;
        s += std::log(static_cast<double>(p(n, c, y, x)));
        ++count;
      }
    if (count > 0) total += -s / count;
  }
  return total / static_cast<double>(B);
}

// dL/dp of eq. 2 in float64: -1 / (B count_n p) at every kept cue pixel, 0 elsewhere.
std::vector<double> naive_seed_grad(const tensor& p, const std::vector<label_map>& cues, const std::vector<tag_set>* tags) {
  const index_t B = p.dim(0), C = p.dim(1), h = p.dim(2), w = p.dim(3);
  std::vector<double> g(static_cast<std::size_t>(p.numel()), 0.0);
  for (index_t n = 0; n < B; ++n) {
    auto kept = [&](int c) { return c != 255 && !(tags && c != 0 && !has_tag((*tags)[static_cast<std::size_t>(n)], c)); };
    int count = 0;
    for (index_t y = 0; y < h; ++y)
      for (index_t x = 0; x < w; ++x) count += kept(cues[static_cast<std::size_t>(n)](y, x)) ? 1 : 0;
    for (index_t y = 0; y < h; ++y)
      for (index_t x = 0; x < w; ++x) {
        const int c = cues[static_cast<std::size_t>(n)](y, x);
        if (!kept(c)) continue;
        const index_t i = ((n * C + c) * h + y) * w + x;
        g[static_cast<std::size_t>(i)] = -1.0 / (static_cast<double>(B) * count * static_cast<double>(p[i]));
      }
  }
  return g;
}

ad::var seed_of(ad::tape& t, const ad::var& probs, const std::vector<label_map>& cues, const std::vector<tag_set>* tags) {
  const losses::seed loss;
  batch b{.labels = cues};
  if (tags) b.tags = *tags;
  const auto plan = loss.prepare(exec<>{}, b, probs.value().shape());
  return loss.record(t, plan, probs);
}

// ---- expansion loss --------------------------------------------------------------------------

// Per plane: GWRP with decay d over all n positions, sorted descending, in float64.
double naive_gwrp(std::vector<double> f, double d) {
  std::sort(f.begin(), f.end(), std::greater<>());
  double num = 0, den = 0, dj = 1;
  for (double v : f) {
    num += dj * v;
    den += dj;
    dj *= d;
  }
  return num / den;
}
double naive_max(const std::vector<double>& f) { return *std::max_element(f.begin(), f.end()); }
double naive_mean(const std::vector<double>& f) { return std::accumulate(f.begin(), f.end(), 0.0) / static_cast<double>(f.size()); }

enum class pooling { gwrp, gmp, gap };

struct naive_pooler {
  pooling kind = pooling::gwrp;
  double d_fg = 0.996, d_bg = 0.999;  // gwrp only
  double present(const std::vector<double>& f) const {
    return kind == pooling::gwrp ? naive_gwrp(f, d_fg) : kind == pooling::gmp ? naive_max(f) : naive_mean(f);
  }
  double background(const std::vector<double>& f) const {
    return kind == pooling::gwrp ? naive_gwrp(f, d_bg) : kind == pooling::gmp ? naive_max(f) : naive_mean(f);
  }
};

// SEC eq. 4 in float64 on probabilities held as doubles (B x C x h x w, row-major).
double naive_expand(const std::vector<double>& p, index_t B, index_t C, index_t hw, const std::vector<tag_set>& tags,
                    const naive_pooler& pool) {
  double total = 0;
  for (index_t n = 0; n < B; ++n) {
    const tag_set& t = tags[static_cast<std::size_t>(n)];
    double fg = 0, neg = 0, bg = 0;
    int nfg = 0, nneg = 0;
    for (index_t c = 0; c < C; ++c) {
      std::vector<double> plane(static_cast<std::size_t>(hw));
      for (index_t u = 0; u < hw; ++u) plane[static_cast<std::size_t>(u)] = p[static_cast<std::size_t>((n * C + c) * hw + u)];
      if (c == 0) {
        bg = -std::log(pool.background(plane));
      } else if (has_tag(t, static_cast<int>(c))) {
        fg -= std::log(pool.present(plane));
        ++nfg;
      } else {
        neg -= std::log(1.0 - naive_max(plane));
        ++nneg;
      }
    }
    total += (nfg ? fg / nfg : 0.0) + (nneg ? neg / nneg : 0.0) + bg;
  }
  return total / static_cast<double>(B);
}

std::vector<double> as_double(const tensor& t) { return std::vector<double>(t.begin(), t.end()); }

// Probabilities whose values within each (image, class) plane are distinct and at least
// 0.6 * 0.9 / hw apart (a jittered random permutation of a grid in [0.05, 0.95]), so a small
// finite-difference step never changes the sort order GWRP and GMP route the gradient through.
tensor spread_probabilities(const shape& s, rng& g) {
  tensor p(s);
  const index_t planes = s[0] * s[1], hw = s[2] * s[3];
  const double step = 0.9 / static_cast<double>(hw);
  std::vector<index_t> perm(static_cast<std::size_t>(hw));
  for (index_t k = 0; k < planes; ++k) {
    std::iota(perm.begin(), perm.end(), index_t{0});
    for (index_t i = hw - 1; i > 0; --i) std::swap(perm[static_cast<std::size_t>(i)], perm[g.below(static_cast<std::uint64_t>(i + 1))]);
    for (index_t u = 0; u < hw; ++u)
      p[k * hw + u] = static_cast<float>(0.05 + step * (static_cast<double>(perm[static_cast<std::size_t>(u)]) + 0.2 + 0.6 * g.uniform()));
  }
  return p;
}

template <class P>
ad::var expand_of(ad::tape& t, const ad::var& probs, const std::vector<tag_set>& tags, const losses::expand<P>& loss) {
  auto plan = loss.prepare(exec<>{}, batch{.tags = tags}, probs.value().shape());
  return loss.record(t, plan, probs);
}

struct expand_case {
  index_t B, C, h, w;
  std::vector<tag_set> tags;
};

// Batches with a partial tag set, an empty one (no present term) and a full one (no absent term).
std::vector<expand_case> expand_cases() {
  return {{3, 5, 6, 6, {{1, 3}, {}, {1, 2, 3, 4}}},
          {2, 4, 5, 7, {{2}, {1, 2, 3}}},
          {3, 5, 7, 5, {{4}, {1, 2, 3, 4}, {2, 3}}},
          {2, 4, 6, 5, {{}, {1}}}};
}

// Compares the tape gradient of f at x with central differences of the float64 function ref.
void check_gradient_against(const std::function<ad::var(ad::tape&, const ad::var&)>& f, const tensor& x,
                            const std::function<double(const std::vector<double>&)>& ref, double rtol, double atol) {
  ad::tape t;
  const ad::var v = t.leaf(x, true);
  const ad::var l = f(t, v);
  t.backward(l);
  const tensor* g = t.grad(v);
  REQUIRE(g != nullptr);
  std::vector<double> xd = as_double(x);
  int bad = 0;
  for (index_t i = 0; i < x.numel(); ++i) {
    const double orig = xd[static_cast<std::size_t>(i)], h = 1e-6;
    xd[static_cast<std::size_t>(i)] = orig + h;
    const double lp = ref(xd);
    xd[static_cast<std::size_t>(i)] = orig - h;
    const double lm = ref(xd);
    xd[static_cast<std::size_t>(i)] = orig;
    const double want = (lp - lm) / (2 * h), got = (*g)[i];
    if (!close(got, want, rtol, atol) && ++bad <= 5)
      FAIL_CHECK("flat " << i << ": tape gradient " << got << ", float64 finite difference " << want);
  }
  CHECK(bad == 0);
}

// grad_check (float32 central differences, a step well inside the gap between sorted values)
// and the tape gradient at every coordinate against float64 differences of naive_expand.
template <class P>
void check_expand_gradient(const tensor& p, const expand_case& ec, const losses::expand<P>& loss, const naive_pooler& np) {
  const index_t hw = ec.h * ec.w;
  const std::vector<tag_set>& tags = ec.tags;
  const auto f = [&](ad::tape& t, const ad::var& v) { return expand_of(t, v, tags, loss); };
  const auto r = ad::grad_check([&](ad::tape& t, std::span<const ad::var> v) { return f(t, v[0]); }, {p},
                                {.eps = 4e-3, .rtol = 2e-2, .atol = 2e-4, .max_coords = 1000});
  CHECK_MESSAGE(r.ok, r.log);
  CHECK(r.checked == p.numel());
  check_gradient_against(f, p, [&](const std::vector<double>& x) { return naive_expand(x, ec.B, ec.C, hw, tags, np); }, 1e-4, 1e-7);
}

}  // namespace

TEST_CASE("losses::floor_softmax (SEC) is (softmax + floor) / (1 + C floor) over the class axis") {
  rng g(2016);
  const tensor z = random_normal({2, 4, 3, 5}, g, 0.0, 2.0);
  for (float floor : {0.0f, 1e-4f, 0.05f, 0.5f}) {
    CAPTURE(floor);
    ad::tape t;
    const tensor p = losses::floor_softmax(t.leaf(z), floor).value();
    REQUIRE(p.shape() == z.shape());
    const std::vector<double> want = naive_floor_softmax(z, floor);
    int bad = 0;
    for (index_t i = 0; i < p.numel(); ++i) bad += close(p[i], want[static_cast<std::size_t>(i)], 1e-5, 1e-7) ? 0 : 1;
    CHECK(bad == 0);
    // Each pixel's probabilities still sum to 1: (1 + C floor) / (1 + C floor).
    for (index_t n = 0; n < 2; ++n)
      for (index_t u = 0; u < 15; ++u) {
        double s = 0;
        for (index_t c = 0; c < 4; ++c) s += p[(n * 4 + c) * 15 + u];
        CHECK(s == doctest::Approx(1.0).epsilon(1e-5));
      }
  }
  // Saturated logits: the losing classes sit exactly at the lower bound floor / (1 + C floor) > 0.
  ad::tape t;
  const tensor big = tensor::from({1, 3, 1, 1}, std::vector<float>{200, -200, -150});
  const tensor p = losses::floor_softmax(t.leaf(big), 1e-4f).value();
  const double lower = 1e-4 / (1 + 3e-4);
  CHECK(p[1] == doctest::Approx(lower).epsilon(1e-5));
  CHECK(p[2] == doctest::Approx(lower).epsilon(1e-5));
  CHECK(p[0] == doctest::Approx((1 + 1e-4) / (1 + 3e-4)).epsilon(1e-6));
  // Rank-2 logits (N x C) are accepted as well.
  const tensor z2 = random_normal({3, 4}, g);
  const tensor p2 = losses::floor_softmax(t.leaf(z2), 0.1f).value();
  const std::vector<double> want2 = naive_floor_softmax(z2, 0.1f);
  for (index_t i = 0; i < p2.numel(); ++i) CHECK(p2[i] == doctest::Approx(want2[static_cast<std::size_t>(i)]).epsilon(1e-5));
}

TEST_CASE("losses::floor_softmax (SEC) passes grad_check and rejects bad input") {
  rng g(2017);
  const tensor z = random_normal({2, 3, 2, 3}, g);
  for (float floor : {1e-4f, 0.2f}) {
    CAPTURE(floor);
    const auto r = ad::grad_check([&](ad::tape&, std::span<const ad::var> v) { return losses::floor_softmax(v[0], floor); },
                                  {z}, {.eps = 1e-2, .rtol = 1e-2, .atol = 1e-4, .max_coords = 64});
    CHECK_MESSAGE(r.ok, r.log);
    CHECK(r.checked == z.numel());
  }
  ad::tape t;
  CHECK_THROWS_AS(losses::floor_softmax(t.leaf(tensor({4})), 1e-4f), shape_error);
  CHECK_THROWS_AS(losses::floor_softmax(t.leaf(tensor({1, 3, 2, 2})), -1e-3f), value_error);
  CHECK_THROWS_AS(losses::floor_softmax(t.leaf(tensor({1, 3, 2, 2})), NAN), value_error);
}

TEST_CASE("losses::seed is SEC eq. 2: per-image mean of -log p over the cue pixels, batch mean") {
  rng g(2);
  const index_t B = 3, C = 4, h = 5, w = 6;
  ad::tape t;
  const tensor p = losses::floor_softmax(t.leaf(random_normal({B, C, h, w}, g, 0.0, 2.0)), 1e-4f).value();
  std::vector<label_map> cues = random_cues(B, C, h, w, g);
  cues[2] = label_map(h, w, ignore_label);  // an image without cues: contributes 0, still counts in B
  cues[0](0, 0) = 2;                        // a cue of a class image 0 is not tagged with
  const std::vector<tag_set> tags{{1, 3}, {2}, {1}};

  SUBCASE("with tags: cues of untagged foreground classes are dropped, background kept") {
    const double want = naive_seed(p, cues, &tags);
    CHECK(want != doctest::Approx(naive_seed(p, cues, nullptr)));  // the tags matter for this data
    CHECK(seed_of(t, t.leaf(p), cues, &tags).value()[0] == doctest::Approx(want).epsilon(1e-5));
  }
  SUBCASE("without tags every cue pixel counts") {
    CHECK(seed_of(t, t.leaf(p), cues, nullptr).value()[0] == doctest::Approx(naive_seed(p, cues, nullptr)).epsilon(1e-5));
  }
  SUBCASE("closed forms") {
    // One cue pixel per image: L = -(log p_a + log p_b) / 2, the empty image counting in B = 3.
    std::vector<label_map> one(3, label_map(h, w, ignore_label));
    one[0](1, 2) = 0;
    one[1](4, 5) = 3;
    const double want = -(std::log(static_cast<double>(p(0, 0, 1, 2))) + std::log(static_cast<double>(p(1, 3, 4, 5)))) / 3;
    CHECK(seed_of(t, t.leaf(p), one, nullptr).value()[0] == doctest::Approx(want).epsilon(1e-6));
    // Image 1's only cue (class 3) is not among its tags {2}: nothing is left of it.
    const double want_tagged = -std::log(static_cast<double>(p(0, 0, 1, 2))) / 3;
    CHECK(seed_of(t, t.leaf(p), one, &tags).value()[0] == doctest::Approx(want_tagged).epsilon(1e-6));
    // No cue anywhere: exactly 0 (no division by 0).
    const std::vector<label_map> none(3, label_map(h, w, ignore_label));
    const ad::var l = seed_of(t, t.leaf(p), none, &tags);
    CHECK(l.value()[0] == 0.0f);
    CHECK(std::isfinite(l.value()[0]));
    // Uniform probabilities 1/C everywhere: L = log C whatever the cues (all images have some).
    const tensor uni({B, C, h, w}, 0.25f);
    std::vector<label_map> all = random_cues(B, C, h, w, g);
    for (auto& m : all) m(0, 0) = 0;
    CHECK(seed_of(t, t.leaf(uni), all, &tags).value()[0] == doctest::Approx(std::log(4.0)).epsilon(1e-6));
  }
}

TEST_CASE("losses::seed (SEC) gradient: -1 / (B count p) at cue pixels, grad_check w.r.t. p and logits") {
  rng g(3);
  const index_t B = 3, C = 4, h = 4, w = 5;
  std::vector<label_map> cues = random_cues(B, C, h, w, g);
  cues[1] = label_map(h, w, ignore_label);
  cues[0](0, 0) = 3;
  const std::vector<tag_set> tags{{1, 2}, {3}, {1, 2, 3}};
  const tensor p = random_uniform({B, C, h, w}, g, 0.05, 0.95);
  for (const std::vector<tag_set>* tg : {static_cast<const std::vector<tag_set>*>(nullptr), &tags}) {
    CAPTURE(tg != nullptr);
    // Closed form, every coordinate (zeros included: other classes, dropped cues, no-cue image).
    ad::tape t;
    const ad::var pv = t.leaf(p, true);
    t.backward(seed_of(t, pv, cues, tg));
    const tensor* gp = t.grad(pv);
    REQUIRE(gp != nullptr);
    const std::vector<double> want = naive_seed_grad(p, cues, tg);
    int bad = 0;
    for (index_t i = 0; i < p.numel(); ++i) bad += close((*gp)[i], want[static_cast<std::size_t>(i)], 1e-5, 1e-9) ? 0 : 1;
    CHECK(bad == 0);
    // Finite differences w.r.t. p, and w.r.t. the logits through floor_softmax.
    auto r = ad::grad_check([&](ad::tape& tt, std::span<const ad::var> v) { return seed_of(tt, v[0], cues, tg); }, {p},
                            {.eps = 1e-3, .rtol = 1e-2, .atol = 1e-4, .max_coords = 1000});
    CHECK_MESSAGE(r.ok, r.log);
    const tensor z = random_normal({B, C, h, w}, g);
    r = ad::grad_check(
        [&](ad::tape& tt, std::span<const ad::var> v) { return seed_of(tt, losses::floor_softmax(v[0], 1e-2f), cues, tg); }, {z},
        {.eps = 1e-2, .rtol = 1e-2, .atol = 1e-4, .max_coords = 1000});
    CHECK_MESSAGE(r.ok, r.log);
  }
}

TEST_CASE("losses::seed (SEC) rejects bad cues, missing cues and non-positive probabilities") {
  const losses::seed loss;
  const shape s{2, 3, 4, 4};
  const std::vector<label_map> good(2, label_map(4, 4, 1));
  SUBCASE("cue map of the wrong size") {
    const std::vector<label_map> cues{label_map(4, 4, 1), label_map(4, 5, 1)};
    CHECK_THROWS_AS(loss.prepare(exec<>{}, batch{.labels = cues}, s), shape_error);
    const std::vector<label_map> one{label_map(4, 4, 1)};
    CHECK_THROWS_AS(loss.prepare(exec<>{}, batch{.labels = one}, s), shape_error);  // 1 map for B = 2
  }
  SUBCASE("cue class outside the channels") {
    std::vector<label_map> cues = good;
    cues[1](2, 3) = 3;
    CHECK_THROWS_AS(loss.prepare(exec<>{}, batch{.labels = cues}, s), value_error);
    cues[1](2, 3) = 2;
    CHECK_NOTHROW(loss.prepare(exec<>{}, batch{.labels = cues}, s));
  }
  SUBCASE("no label maps in the batch") {
    const std::vector<tag_set> tags{{1}, {2}};
    CHECK_THROWS_AS(loss.prepare(exec<>{}, batch{.tags = tags}, s), value_error);
    CHECK_THROWS_AS(loss.prepare(exec<>{}, batch{}, s), value_error);
  }
  SUBCASE("probabilities not B x C x h x w") {
    CHECK_THROWS_AS(loss.prepare(exec<>{}, batch{.labels = good}, shape{2, 3, 16}), shape_error);
    CHECK_THROWS_AS(loss.prepare(exec<>{}, batch{.labels = good}, shape{2, 1, 4, 4}), shape_error);
    const auto plan = loss.prepare(exec<>{}, batch{.labels = good}, s);
    ad::tape t;
    CHECK_THROWS_AS(loss.record(t, plan, t.leaf(tensor({2, 3, 4, 5}, 0.5f))), shape_error);
  }
  SUBCASE("invalid tags") {
    const std::vector<tag_set> tags{{1}, {3}};
    CHECK_THROWS_AS(loss.prepare(exec<>{}, batch{.tags = tags, .labels = good}, s), value_error);
  }
  SUBCASE("p <= 0 at a cue pixel") {
    const auto plan = loss.prepare(exec<>{}, batch{.labels = good}, s);
    ad::tape t;
    tensor p(s, 0.5f);
    CHECK_NOTHROW(loss.record(t, plan, t.leaf(p)));
    p(1, 1, 3, 2) = 0.0f;  // class 1 is the cue there
    CHECK_THROWS_AS(loss.record(t, plan, t.leaf(p)), value_error);
    p(1, 1, 3, 2) = -0.5f;
    CHECK_THROWS_AS(loss.record(t, plan, t.leaf(p)), value_error);
    p(1, 1, 3, 2) = 0.5f;
    p(1, 2, 3, 2) = 0.0f;  // not a cue: never read
    CHECK_NOTHROW(loss.record(t, plan, t.leaf(p)));
  }
}

TEST_CASE("losses::expand (SEC eq. 4) matches a float64 loop with GWRP, GMP and GAP") {
  rng g(4);
  for (const expand_case& ec : expand_cases()) {
    CAPTURE(ec.B);
    CAPTURE(ec.C);
    const tensor p = random_uniform({ec.B, ec.C, ec.h, ec.w}, g, 0.02, 0.98);
    const std::vector<double> pd = as_double(p);
    const index_t hw = ec.h * ec.w;
    ad::tape t;
    const ad::var pv = t.leaf(p);
    const double want_gwrp = naive_expand(pd, ec.B, ec.C, hw, ec.tags, {pooling::gwrp});
    const double want_gmp = naive_expand(pd, ec.B, ec.C, hw, ec.tags, {pooling::gmp});
    const double want_gap = naive_expand(pd, ec.B, ec.C, hw, ec.tags, {pooling::gap});
    CHECK(expand_of(t, pv, ec.tags, losses::expand<>{}).value()[0] == doctest::Approx(want_gwrp).epsilon(1e-5));
    CHECK(expand_of(t, pv, ec.tags, losses::expand<pool::gwrp>{}).value()[0] == doctest::Approx(want_gwrp).epsilon(1e-5));
    CHECK(expand_of(t, pv, ec.tags, losses::expand<pool::gmp>{}).value()[0] == doctest::Approx(want_gmp).epsilon(1e-5));
    CHECK(expand_of(t, pv, ec.tags, losses::expand<pool::gap>{}).value()[0] == doctest::Approx(want_gap).epsilon(1e-5));
    // The three poolers really differ on this data (GMP >= GWRP >= GAP pooled, so the loss orders reverse).
    CHECK(want_gmp < want_gwrp);
    CHECK(want_gwrp < want_gap);
    // A GWRP slot with its own decays.
    pool::gwrp::config pc;
    pc.d_fg = 0.8f;
    pc.d_bg = 0.95f;
    const losses::expand<pool::gwrp> custom({}, pool::gwrp(pc));
    naive_pooler np{pooling::gwrp, 0.8, 0.95};
    CHECK(expand_of(t, pv, ec.tags, custom).value()[0] == doctest::Approx(naive_expand(pd, ec.B, ec.C, hw, ec.tags, np)).epsilon(1e-5));
  }
}

TEST_CASE("losses::expand (SEC) closed forms: dropped terms and constant planes") {
  ad::tape t;
  // Constant planes: every pooler gives the constant, so L = -log q_bg - mean_T log q_c - mean_absent log(1 - q_c).
  const std::vector<float> q{0.6f, 0.3f, 0.2f, 0.1f};
  tensor p({2, 4, 3, 3});
  for (index_t n = 0; n < 2; ++n)
    for (index_t c = 0; c < 4; ++c)
      for (index_t u = 0; u < 9; ++u) p[(n * 4 + c) * 9 + u] = q[static_cast<std::size_t>(c)];
  const std::vector<tag_set> tags{{1, 2, 3}, {}};  // all present: no absent term; none present: no present term
  const double img0 = -std::log(0.6) - (std::log(0.3) + std::log(0.2) + std::log(0.1)) / 3;
  const double img1 = -std::log(0.6) - (std::log(0.7) + std::log(0.8) + std::log(0.9)) / 3;
  const double want = (img0 + img1) / 2;
  const ad::var pv = t.leaf(p);
  CHECK(expand_of(t, pv, tags, losses::expand<>{}).value()[0] == doctest::Approx(want).epsilon(1e-5));
  CHECK(expand_of(t, pv, tags, losses::expand<pool::gmp>{}).value()[0] == doctest::Approx(want).epsilon(1e-5));
  CHECK(expand_of(t, pv, tags, losses::expand<pool::gap>{}).value()[0] == doctest::Approx(want).epsilon(1e-5));
  // Absent classes always use the plain max, whatever the slot: one bright pixel of an absent class.
  tensor p2 = p;
  p2(1, 2, 1, 1) = 0.9f;
  const double img1b = -std::log(0.6) - (std::log(0.7) + std::log(0.1) + std::log(0.9)) / 3;
  CHECK(expand_of(t, t.leaf(p2), tags, losses::expand<pool::gap>{}).value()[0] == doctest::Approx((img0 + img1b) / 2).epsilon(1e-5));
  CHECK(expand_of(t, t.leaf(p2), tags, losses::expand<>{}).value()[0] == doctest::Approx((img0 + img1b) / 2).epsilon(1e-5));
}

TEST_CASE("losses::expand (SEC) gradient: grad_check and float64 finite differences for every pooler") {
  rng g(5);
  for (const expand_case& ec : expand_cases()) {
    CAPTURE(ec.B);
    CAPTURE(ec.C);
    const tensor p = spread_probabilities({ec.B, ec.C, ec.h, ec.w}, g);
    pool::gwrp::config pc;
    pc.d_fg = 0.8f;
    pc.d_bg = 0.95f;
    SUBCASE("gwrp (default decays)") { check_expand_gradient(p, ec, losses::expand<>{}, {pooling::gwrp}); }
    SUBCASE("gwrp (d_fg 0.8, d_bg 0.95)") {
      check_expand_gradient(p, ec, losses::expand<pool::gwrp>({}, pool::gwrp(pc)), {pooling::gwrp, 0.8, 0.95});
    }
    SUBCASE("gmp") { check_expand_gradient(p, ec, losses::expand<pool::gmp>{}, {pooling::gmp}); }
    SUBCASE("gap") { check_expand_gradient(p, ec, losses::expand<pool::gap>{}, {pooling::gap}); }
  }
}

TEST_CASE("losses::expand (SEC) with its GWRP on a device (thrust_omp, OpenCL) gives the host slot's loss and gradient") {
  rng g(6);
  for (const expand_case& ec : expand_cases()) {
    CAPTURE(ec.B);
    const tensor p = spread_probabilities({ec.B, ec.C, ec.h, ec.w}, g);
    auto loss_and_grad = [&](const auto& loss) {
      ad::tape t;
      const ad::var pv = t.leaf(p, true);
      const ad::var l = expand_of(t, pv, ec.tags, loss);
      t.backward(l);
      return std::pair<float, tensor>{l.value()[0], *t.grad(pv)};
    };
    const auto host = loss_and_grad(losses::expand<>{});
    auto check_like_host = [&](const auto& on_device) {
      CHECK(on_device.first == doctest::Approx(host.first).epsilon(1e-6));
      REQUIRE(on_device.second.shape() == host.second.shape());
      for (index_t i = 0; i < p.numel(); ++i) CHECK(on_device.second[i] == host.second[i]);  // the same ranks
    };
#if WSSS_TEST_THRUST
    check_like_host(loss_and_grad(losses::expand<pool::device_gwrp<thrust_omp_t>>{}));
#endif
    check_like_host(loss_and_grad(losses::expand<pool::device_gwrp<opencl_t>>{}));
  }
}

TEST_CASE("losses::expand (SEC) rejects missing tags, tags naming the background and bad shapes") {
  const losses::expand<> loss;
  const shape s{2, 4, 3, 3};
  SUBCASE("missing tags") {
    const std::vector<label_map> cues(2, label_map(3, 3, 0));
    CHECK_THROWS_AS(loss.prepare(exec<>{}, batch{}, s), value_error);
    CHECK_THROWS_AS(loss.prepare(exec<>{}, batch{.labels = cues}, s), value_error);
    CHECK_THROWS_AS(losses::expand<pool::gap>{}.prepare(exec<>{}, batch{.labels = cues}, s), value_error);
  }
  SUBCASE("a tag naming channel 0 (background)") {
    const std::vector<tag_set> tags{{0, 2}, {1}};
    CHECK_THROWS_AS(loss.prepare(exec<>{}, batch{.tags = tags}, s), value_error);
    CHECK_THROWS_AS(losses::expand<pool::gmp>{}.prepare(exec<>{}, batch{.tags = tags}, s), value_error);
    // With the background moved to channel 2, naming channel 2 is the error.
    const losses::expand<pool::gmp> moved({.bg_class = 2});
    const std::vector<tag_set> t2{{1, 2}, {1}};
    CHECK_THROWS_WITH_AS(moved.prepare(exec<>{}, batch{.tags = t2}, s), doctest::Contains("background"), value_error);
    const std::vector<tag_set> t3{{1, 3}, {1}};
    CHECK_NOTHROW(moved.prepare(exec<>{}, batch{.tags = t3}, s));
  }
  SUBCASE("other invalid tags and shapes") {
    const std::vector<tag_set> out_of_range{{4}, {1}}, unsorted{{2, 1}, {1}}, one{{1}}, ok{{1}, {2, 3}};
    CHECK_THROWS_AS(loss.prepare(exec<>{}, batch{.tags = out_of_range}, s), value_error);
    CHECK_THROWS_AS(loss.prepare(exec<>{}, batch{.tags = unsorted}, s), value_error);
    CHECK_THROWS_AS(loss.prepare(exec<>{}, batch{.tags = one}, s), shape_error);
    CHECK_THROWS_AS(loss.prepare(exec<>{}, batch{.tags = ok}, shape{2, 4, 9}), shape_error);
    CHECK_THROWS_AS(loss.prepare(exec<>{}, batch{.tags = ok}, shape{2, 1, 3, 3}), shape_error);
    const losses::expand<pool::gmp> bad_bg({.bg_class = 4});
    CHECK_THROWS_AS(bad_bg.prepare(exec<>{}, batch{.tags = ok}, s), value_error);
    CHECK_NOTHROW(loss.prepare(exec<>{}, batch{.tags = ok}, s));
  }
  SUBCASE("probabilities the logs cannot take") {
    const std::vector<tag_set> tags{{1}, {2, 3}};
    ad::tape t;
    tensor p(s, 0.5f);
    CHECK_NOTHROW(expand_of(t, t.leaf(p), tags, loss));
    tensor zero_bg = p;  // background plane all 0: G_bg = 0
    for (index_t u = 0; u < 9; ++u) zero_bg[u] = 0.0f;
    CHECK_THROWS_AS(expand_of(t, t.leaf(zero_bg), tags, loss), value_error);
    tensor one_absent = p;  // image 0, absent class 3 reaches 1: log(1 - 1)
    one_absent(0, 3, 2, 2) = 1.0f;
    CHECK_THROWS_AS(expand_of(t, t.leaf(one_absent), tags, loss), value_error);
  }
}

TEST_CASE("losses: sec expand refuses a gwrp slot whose background channel is not the loss's") {
  wsss::pool::gwrp::config pc;
  pc.bg_class = 2;
  CHECK_THROWS_WITH_AS(wsss::losses::expand<wsss::pool::gwrp>({.bg_class = 0}, wsss::pool::gwrp(pc)),
                       doctest::Contains("background channel 2"), wsss::value_error);
  CHECK_NOTHROW(wsss::losses::expand<wsss::pool::gwrp>({.bg_class = 2}, wsss::pool::gwrp(pc)));
  CHECK_NOTHROW(wsss::losses::expand<wsss::pool::gap>({.bg_class = 2}));  // no background notion in GAP
}
