// SPDX-License-Identifier: MIT
// wsss/testing/pool.hpp — the Pooler contract checker (public, like dlib's test_layer): what the
// concept cannot check — shapes, overwrite vs add, determinism, errors, finite differences
#pragma once

#include <cmath>
#include <cstdint>
#include <exception>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "wsss/autodiff/grad_check.hpp"
#include "wsss/core/batch.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/core/policy.hpp"
#include "wsss/core/random.hpp"
#include "wsss/pool/concepts.hpp"

namespace wsss::testing {

struct pooler_check_options {
  /// For record's finite differences: scores whose plane values are separated by more than
  /// 2 eps keep their order (gmp, gwrp), so the check is valid for the rank-based poolers too.
  ad::grad_check_options grad{.eps = 1e-2, .rtol = 1e-2, .atol = 1e-4, .max_coords = 120};
  std::uint64_t seed = 4;  ///< the random upstream gradient
};

struct pooler_check_result {
  bool ok = true;
  std::string log;  ///< one line per failed property, for CHECK_MESSAGE
};

namespace pool_detail {

inline bool same_values(const tensor& a, const tensor& b) {
  if (a.shape() != b.shape()) return false;
  for (index_t i = 0; i < a.numel(); ++i)
    if (!(a[i] == b[i])) return false;
  return true;
}

inline bool all_finite(const tensor& a) {
  for (index_t i = 0; i < a.numel(); ++i)
    if (!std::isfinite(a[i])) return false;
  return true;
}

/// Runs f, which must throw E with a message starting with "[wsss.<tag>] <name>".
template <class E, class F>
bool throws_tagged(F&& f, const std::string& prefix) {
  try {
    f();
  } catch (const E& e) {
    return std::string(e.what()).rfind(prefix, 0) == 0;
  } catch (...) {
    return false;
  }
  return false;
}

}  // namespace pool_detail

/// Checks pooler p (a copy: parameter gradients land on the copy) on `scores` (N x C x H x W)
/// with batch b (tags, superpixels, ... as the pooler's prepare needs) on exec ex:
/// - the name is non-empty; P(p.cfg) constructs (the config round-trips through validation);
/// - run writes out as N x C, finite, whatever out held before (empty, another shape, garbage);
/// - run and backward are deterministic, on the same plan and on a second plan;
/// - backward writes g_in as N x C x H x W and ASSIGNS it (a garbage-filled g_in gives the
///   same result as an empty one);
/// - record gives run's values and, through tape.backward, backward's gradient (and, for a
///   Trainable pooler, the same parameter gradients);
/// - record passes ad::grad_check;
/// - a rank-3 shape, scores of another shape than prepared and a wrong-shaped gradient throw
///   shape_error tagged "[wsss.shape] <name>".
template <pool::Pooler P, class Tag>
pooler_check_result check_pooler(P p, const exec<Tag>& ex, const tensor& scores, const batch& b = {},
                                 const pooler_check_options& opt = {}) {
  pooler_check_result r;
  std::ostringstream log;
  auto expect = [&](bool cond, const char* what) {
    if (!cond) {
      r.ok = false;
      log << P::name << ": " << what << "\n";
    }
  };
  try {
    expect(!std::string_view(P::name).empty(), "name is empty");
    { P again(p.cfg); }
    const shape s = scores.shape();
    const shape ys{s[0], s[1]};

    typename P::plan pl = p.prepare(ex, b, s);
    tensor y;
    p.run(ex, pl, scores, y);
    expect(y.shape() == ys, "run's output is not N x C");
    expect(pool_detail::all_finite(y), "run's output is not finite");
    tensor y_other({1}, 12345.0f), y_nan(ys, std::nanf(""));
    p.run(ex, pl, scores, y_other);
    p.run(ex, pl, scores, y_nan);
    expect(pool_detail::same_values(y, y_other), "run depends on what out held (another shape) or is not deterministic");
    expect(pool_detail::same_values(y, y_nan), "run depends on what out held (NaN) or is not deterministic");

    rng gen(opt.seed);
    const tensor g = random_normal(ys, gen);
    tensor gin, gin_garbage(s, 12345.0f);
    p.backward(ex, pl, g, gin);
    p.backward(ex, pl, g, gin_garbage);
    expect(gin.shape() == s, "backward's g_in is not N x C x H x W");
    expect(pool_detail::all_finite(gin), "backward's g_in is not finite");
    expect(pool_detail::same_values(gin, gin_garbage), "backward adds into g_in (or is not deterministic) instead of assigning it");

    typename P::plan pl2 = p.prepare(ex, b, s);
    tensor y2, gin2;
    p.run(ex, pl2, scores, y2);
    p.backward(ex, pl2, g, gin2);
    expect(pool_detail::same_values(y, y2) && pool_detail::same_values(gin, gin2), "a second plan gives other results");

    // The tape path: the same values and gradients as run and backward.
    {
      P pa = p, pb = p;
      if constexpr (Trainable<P>) {
        pa.visit_params([](ad::parameter& q) { q.zero_grad(); });
        pb.visit_params([](ad::parameter& q) { q.zero_grad(); });
      }
      typename P::plan pla = pa.prepare(ex, b, s), plb = pb.prepare(ex, b, s);
      tensor ya, ga;
      pa.run(ex, pla, scores, ya);
      pa.backward(ex, pla, g, ga);
      ad::tape t;
      const ad::var x = t.leaf(scores, true);
      const ad::var yt = pb.record(t, plb, x);
      expect(pool_detail::same_values(yt.value(), y), "record's value differs from run's");
      t.backward(yt, g);
      expect(t.grad(x) && pool_detail::same_values(*t.grad(x), ga), "the tape's gradient differs from backward's");
      if constexpr (Trainable<P>) {
        std::vector<const ad::parameter*> qa, qb;
        pa.visit_params([&](ad::parameter& q) { qa.push_back(&q); });
        pb.visit_params([&](ad::parameter& q) { qb.push_back(&q); });
        std::set<std::string> names;
        for (std::size_t i = 0; i < qa.size(); ++i) {
          expect(!qa[i]->name.empty() && names.insert(qa[i]->name).second, "parameter names are empty or repeated");
          expect(!qa[i]->trainable || pool_detail::same_values(qa[i]->grad, qb[i]->grad),
                 "backward's parameter gradients differ from the tape's");
        }
      }
    }

    typename P::plan plg = p.prepare(ex, b, s);
    const ad::grad_check_result gc =
        ad::grad_check([&](ad::tape& t, std::span<const ad::var> x) { return p.record(t, plg, x[0]); }, {scores}, opt.grad);
    if (!gc.ok) {
      r.ok = false;
      log << P::name << ": record fails grad_check:\n" << gc.log;
    }

    const std::string tag = "[wsss.shape] " + std::string(P::name);
    expect(pool_detail::throws_tagged<shape_error>([&] { (void)p.prepare(ex, b, shape{s[0], s[1], s[2]}); }, tag),
           "prepare accepts a rank-3 shape (or its error is not tagged)");
    expect(pool_detail::throws_tagged<shape_error>(
               [&] {
                 tensor wider({s[0], s[1], s[2], s[3] + 1}), o;
                 p.run(ex, pl, wider, o);
               },
               tag),
           "run accepts scores of another shape than prepared (or its error is not tagged)");
    expect(pool_detail::throws_tagged<shape_error>(
               [&] {
                 tensor gt({s[1] + 1, s[0]}), o;
                 p.backward(ex, pl, gt, o);
               },
               tag),
           "backward accepts a wrongly shaped gradient (or its error is not tagged)");
  } catch (const std::exception& e) {
    r.ok = false;
    log << P::name << ": threw " << e.what() << "\n";
  }
  r.log = log.str();
  return r;
}

}  // namespace wsss::testing
