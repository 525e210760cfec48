// SPDX-License-Identifier: MIT
// wsss/testing/crf.hpp — contract checkers for CrfEngine and DifferentiableCrf models (public,
// like dlib's test_layer): shapes, Q rows summing to 1, write-not-add, determinism, plan reuse,
// clamps, backend parity, finite differences of record, config validation, a non-empty name
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <exception>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "wsss/autodiff/grad_check.hpp"
#include "wsss/core/batch.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/core/image.hpp"
#include "wsss/core/label_map.hpp"
#include "wsss/core/policy.hpp"
#include "wsss/core/random.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/crf/concepts.hpp"

namespace wsss::testing {

/// What a contract checker found: ok, and one line per violated clause.
struct crf_check_result {
  bool ok = true;
  std::string log;

  /// Records a failure unless cond holds.
  template <class... A>
  void expect(bool cond, const A&... what) {
    if (cond) return;
    ok = false;
    std::ostringstream os;
    (os << ... << what);
    log += os.str() + "\n";
  }
  /// Runs f, which must throw E whose message contains `needle`.
  template <class E, class F>
  void expect_throw(F&& f, std::string_view needle, std::string_view clause) {
    try {
      f();
    } catch (const E& e) {
      expect(std::string_view(e.what()).find(needle) != std::string_view::npos, clause, ": the error \"", e.what(),
             "\" does not name ", needle);
      return;
    } catch (const std::exception& e) {
      expect(false, clause, ": threw the wrong error type: ", e.what());
      return;
    }
    expect(false, clause, ": did not throw");
  }
  void merge(const crf_check_result& other) {
    ok = ok && other.ok;
    log += other.log;
  }
};

/// Inputs of the CRF checks: n noisy two-region images h x w and k labels.
struct crf_check_options {
  index_t n = 2, k = 3, h = 9, w = 11;
  std::uint64_t seed = 1;
  double row_sum_tol = 1e-4;       ///< |Σ_l Q_l - 1| per pixel
  double record_vs_run_tol = 1e-4; ///< |record's Q - run's Q| (the two take different update forms)
  ad::grad_check_options grad{.eps = 3e-3, .rtol = 2e-2, .atol = 2e-4, .max_coords = 24};
};

namespace crf_detail {

/// True when a and b hold the same shape and the same bits.
inline bool same_bits(const tensor& a, const tensor& b) {
  if (a.shape() != b.shape()) return false;
  for (index_t i = 0; i < a.numel(); ++i)
    if (std::bit_cast<std::uint32_t>(a[i]) != std::bit_cast<std::uint32_t>(b[i])) return false;
  return true;
}

inline std::vector<rgb_image> crf_check_images(const crf_check_options& o, std::uint64_t seed) {
  rng g(seed);
  std::vector<rgb_image> imgs;
  for (index_t i = 0; i < o.n; ++i) {
    rgb_image im(o.h, o.w);
    for (index_t y = 0; y < o.h; ++y)
      for (index_t x = 0; x < o.w; ++x)
        for (int c = 0; c < 3; ++c) {
          const double base = (x + i < o.w / 2 ? 60.0 : 190.0) + 15.0 * c;
          im(y, x, c) = static_cast<std::uint8_t>(std::clamp(base + 20.0 * g.normal(), 0.0, 255.0));
        }
    imgs.push_back(std::move(im));
  }
  return imgs;
}

}  // namespace crf_detail

/// Checks the CrfEngine contract of `e` (and record's, when it is a DifferentiableCrf) on
/// small synthetic images; exec<Tag> is the backend it runs on (compare backends with
/// check_crf_backends). Pass an engine whose kernels suit o.h x o.w images (a spatial_scale of
/// about 10) and a few iterations.
template <crf::CrfEngine E, class Tag = omp_t>
crf_check_result check_crf_engine(E& e, const crf_check_options& o = {}, const exec<Tag>& ex = {}) {
  crf_check_result r;
  r.expect(!E::name.empty(), "name: empty");
  const std::vector<rgb_image> imgs = crf_detail::crf_check_images(o, o.seed), other = crf_detail::crf_check_images(o, o.seed + 1);
  rng g(o.seed + 2);
  const tensor u = random_uniform({o.n, o.k, o.h, o.w}, g, 0.0, 3.0);
  const shape s = u.shape();
  const index_t px = o.h * o.w;

  // Shapes and distributions.
  auto pl = e.prepare(ex, images_only(imgs), s);
  tensor q;
  e.run(ex, pl, u, q);
  r.expect(q.shape() == s, "run: Q is ", q.shape(), ", the unaries ", s);
  if (q.shape() != s) return r;
  double worst = 0;
  bool in_range = true;
  for (index_t i = 0; i < o.n; ++i)
    for (index_t p = 0; p < px; ++p) {
      double sum = 0;
      for (index_t l = 0; l < o.k; ++l) {
        const float v = q[(i * o.k + l) * px + p];
        in_range = in_range && v >= 0.0f && v <= 1.0f;
        sum += v;
      }
      worst = std::max(worst, std::abs(sum - 1.0));
    }
  r.expect(in_range, "run: a Q value outside [0, 1]");
  r.expect(worst <= o.row_sum_tol, "run: a pixel's Q sums to 1 +- ", worst);

  // run writes q (whatever it held), and the same plan gives the same bits again.
  tensor q2(s, 7.0f);
  e.run(ex, pl, u, q2);
  r.expect(crf_detail::same_bits(q, q2), "run: adds into q or is not deterministic");

  // A plan prepared again (for other images, then these) gives the same result as a fresh one;
  // in place too, where the engine can prepare into an existing plan (buffer reuse).
  pl = e.prepare(ex, images_only(other), s);
  e.run(ex, pl, u, q2);
  pl = e.prepare(ex, images_only(imgs), s);
  e.run(ex, pl, u, q2);
  r.expect(crf_detail::same_bits(q, q2), "prepare: a re-prepared plan changes Q");
  if constexpr (requires { e.prepare(ex, images_only(imgs), s, pl); }) {
    e.prepare(ex, images_only(other), s, pl);
    e.run(ex, pl, u, q2);
    e.prepare(ex, images_only(imgs), s, pl);
    e.run(ex, pl, u, q2);
    r.expect(crf_detail::same_bits(q, q2), "prepare: a plan prepared in place again changes Q");
  }

  // Clamps (batch.labels, 255 = free) fix a pixel's Q to its label.
  std::vector<label_map> clamps(static_cast<std::size_t>(o.n), label_map(o.h, o.w, ignore_label));
  for (index_t i = 0; i < o.n; ++i) clamps[static_cast<std::size_t>(i)](1, 2) = static_cast<std::uint8_t>(i % o.k);
  auto pc = e.prepare(ex, batch{.images = imgs, .labels = clamps}, s);
  e.run(ex, pc, u, q2);
  for (index_t i = 0; i < o.n; ++i)
    r.expect(q2[(i * o.k + i % o.k) * px + 1 * o.w + 2] == 1.0f, "clamps: item ", i, "'s clamped pixel is not one-hot");

  // Errors name the engine.
  const std::string name(E::name);
  r.expect_throw<shape_error>([&] { (void)e.prepare(ex, images_only(imgs), shape{o.n + 1, o.k, o.h, o.w}); }, name,
                              "prepare: more unaries than images");
  r.expect_throw<shape_error>([&] { e.run(ex, pl, tensor({o.n, o.k, o.h, o.w + 1}), q2); }, name,
                              "run: unaries of another shape than prepared");
  tensor bad = u;
  bad[3] = std::nanf("");
  r.expect_throw<value_error>([&] { e.run(ex, pl, bad, q2); }, name, "run: a non-finite unary");
  if constexpr (requires(typename E::config c) { c.kernels.appearance.sfeat; E(c); }) {
    typename E::config c = e.cfg;
    c.kernels.appearance.sfeat = 0;
    r.expect_throw<value_error>([&] { (void)E{c}; }, name, "config: a zero deviation is accepted");
  }
  if constexpr (requires(typename E::config c) { c.iterations = -1; E(c); }) {
    typename E::config c = e.cfg;
    c.iterations = -1;
    r.expect_throw<value_error>([&] { (void)E{c}; }, name, "config: negative iterations are accepted");
  }

  if constexpr (crf::DifferentiableCrf<E>) {
    // record's Q is run's, and its gradient in the unaries passes finite differences.
    ad::tape t;
    const ad::var qv = e.record(t, pl, t.leaf(u));
    double diff = 0;
    for (index_t i = 0; i < q.numel(); ++i) diff = std::max(diff, static_cast<double>(std::abs(qv.value()[i] - q[i])));
    r.expect(diff <= o.record_vs_run_tol, "record: Q differs from run's by ", diff);
    const auto gc = ad::grad_check([&](ad::tape& tt, std::span<const ad::var> x) { return e.record(tt, pl, x[0]); },
                                   {u}, o.grad);
    r.expect(gc.ok, "record: finite differences disagree\n", gc.log);
  }
  if constexpr (Trainable<E>) {
    std::vector<std::string> names;
    e.visit_params([&](ad::parameter& p) {
      names.push_back(p.name);
      p.zero_grad();
    });
    r.expect(!names.empty(), "visit_params: no parameter visited");
    for (std::size_t i = 0; i < names.size(); ++i) {
      r.expect(!names[i].empty(), "visit_params: a parameter without a name");
      for (std::size_t j = 0; j < i; ++j) r.expect(names[i] != names[j], "visit_params: two parameters named ", names[i]);
    }
    if constexpr (crf::DifferentiableCrf<E>) {
      ad::tape t;
      const ad::var qv = e.record(t, pl, t.leaf(u));
      tensor seed(qv.shape());
      for (index_t i = 0; i < seed.numel(); ++i) seed[i] = static_cast<float>(i % 5) - 2.0f;
      t.backward(qv, seed);
      e.visit_params([&](ad::parameter& p) {
        double mag = 0;
        for (float v : p.grad) mag += std::abs(v);
        r.expect(mag > 0, "record: parameter ", p.name, " received no gradient");
      });
    }
  }
  return r;
}

/// Runs e on exec<cpu_t> and on every further tag given (omp, thrust_omp, ...; each needs its
/// launcher included) and expects the same bits from every one.
template <crf::CrfEngine E, class... Tags>
crf_check_result check_crf_backends(const E& e, const crf_check_options& o, const Tags&... tags) {
  crf_check_result r;
  const std::vector<rgb_image> imgs = crf_detail::crf_check_images(o, o.seed);
  rng g(o.seed + 2);
  const tensor u = random_uniform({o.n, o.k, o.h, o.w}, g, 0.0, 3.0);
  const exec<cpu_t> serial;
  auto pl = e.prepare(serial, images_only(imgs), u.shape());
  tensor ref;
  e.run(serial, pl, u, ref);
  auto one = [&]<class Tag>(const Tag& tag) {
    const exec<Tag> ex{tag};
    auto p = e.prepare(ex, images_only(imgs), u.shape());
    tensor q;
    e.run(ex, p, u, q);
    double diff = q.shape() == ref.shape() ? 0.0 : 1.0;
    for (index_t i = 0; diff < 1.0 && i < q.numel(); ++i) diff = std::max(diff, static_cast<double>(std::abs(q[i] - ref[i])));
    r.expect(crf_detail::same_bits(ref, q), "backend ", Tag::name, ": Q differs from cpu's (max |dQ| ", diff, ")");
  };
  (one(tags), ...);
  return r;
}

}  // namespace wsss::testing
