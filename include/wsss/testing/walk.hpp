// SPDX-License-Identifier: MIT
// wsss/testing/walk.hpp — contract checker for propagators (public, like dlib's test_layer):
// shapes, agreement with dense_power, zero channels, determinism, backend parity, named errors
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <type_traits>

#include "wsss/core/batch.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/testing/graph.hpp"
#include "wsss/walk/concepts.hpp"
#include "wsss/walk/dense_power.hpp"
#include "wsss/walk/transition.hpp"

namespace wsss::testing {

namespace gw_detail {

inline bool same_bits(const tensor& a, const tensor& b) {
  return a.shape() == b.shape() && std::equal(a.begin(), a.end(), b.begin());
}

inline double max_abs_diff(const tensor& a, const tensor& b) {
  if (a.shape() != b.shape()) return std::numeric_limits<double>::infinity();
  double m = 0;
  for (index_t i = 0; i < a.numel(); ++i) m = std::max(m, std::abs(double(a[i]) - b[i]));
  return m;
}

}  // namespace gw_detail

/// Checks a Propagator against its contract (walk/concepts.hpp):
///   ex      the exec under test: every result is also compared bitwise with exec<cpu_t>
///           (for a policy bound to a backend, with a fresh exec of that backend)
///   T, cam  a transition and CAMs C x H x W on its grid (C >= 2, scores in [0, 1])
///   bad     a config the constructor must reject with a value_error naming the propagator
/// Properties: the name; out has cam's shape, is finite, cam is untouched; agreement with
/// dense_power of the same t to 1e-4 in max-norm (skipped when t is not a power of two, which
/// dense_power cannot do); determinism (same plan and out, fresh plan, exec<cpu_t>); C x n
/// CAMs give the C x H x W bits; all-zero channels stay exactly zero; named errors.
template <walk::Propagator P, backend::Backend Tag>
graph_walk_check_result check_propagator(const P& p, const exec<Tag>& ex, const walk::transition& T,
                                         const tensor& cam, std::optional<typename P::config> bad = std::nullopt) {
  gw_detail::checklist c;
  gw_detail::check_name(c, P::name, "walk::");
  auto walk_once = [&](const auto& exc, const tensor& in) {
    typename P::plan pl = p.prepare(exc, batch{}, in.shape());
    tensor out;
    p.run(exc, pl, T, in, out);
    return out;
  };
  const tensor before = cam;
  tensor out;
  typename P::plan pl;
  if (!c.no_throw([&] {
        pl = p.prepare(ex, batch{}, cam.shape());
        p.run(ex, pl, T, cam, out);
      }, "prepare and run"))
    return c.result();
  c.expect(out.shape() == cam.shape(), "out is ", out.shape(), ", cam ", cam.shape());
  c.expect(gw_detail::same_bits(cam, before), "run modified cam");
  c.expect(out.all_finite(), "out is not finite");

  if constexpr (requires { p.cfg.t; }) {
    const index_t t = p.cfg.t;
    if (t >= 1 && (t & (t - 1)) == 0) {
      const double d = gw_detail::max_abs_diff(out, walk::propagate(walk::dense_power{{t}}, T, cam, exec<cpu_t>{}));
      c.expect(d <= 1e-4, "differs from dense_power by ", d, " (max-norm) > 1e-4");
    }
  }

  // Determinism: the same plan again, into the same out, and a fresh plan.
  tensor again = out;
  p.run(ex, pl, T, cam, again);
  c.expect(gw_detail::same_bits(again, out), "a second run with the same plan gave other bits");
  c.expect(gw_detail::same_bits(walk_once(ex, cam), out), "a fresh plan gave other bits");
  if constexpr (!std::is_same_v<Tag, cpu_t>)
    // A policy bound to a backend runs there whatever the caller's exec (policy_exec).
    c.expect(gw_detail::same_bits(walk_once(policy_exec(p, exec<cpu_t>{}), cam), out), "exec<", Tag::name,
             "> and exec<cpu> differ");

  // The C x n form gives the same bits.
  const index_t channels = cam.dim(0), n = T.nodes();
  c.expect(gw_detail::same_bits(walk_once(ex, cam.reshaped({channels, n})).reshaped(cam.shape()), out),
           "C x n CAMs give other bits than C x H x W");

  // Absent classes: all-zero channels stay exactly zero, and an all-zero map stays zero.
  tensor sparse_cam = cam;
  for (index_t k = 0; k < channels; k += 2) std::fill_n(sparse_cam.data() + k * n, n, 0.0f);
  const tensor z = walk_once(ex, sparse_cam);
  for (index_t k = 0; k < channels; k += 2)
    c.expect(std::all_of(z.data() + k * n, z.data() + (k + 1) * n, [](float v) { return v == 0.0f; }),
             "all-zero channel ", k, " did not stay zero");
  const tensor zeros = walk_once(ex, tensor(cam.shape()));
  c.expect(std::all_of(zeros.begin(), zeros.end(), [](float v) { return v == 0.0f; }), "all-zero CAMs did not stay zero");

  // Named errors.
  c.expect_throws<shape_error>([&] { (void)walk_once(ex, tensor({channels, T.height + 1, T.width})); }, "shape",
                               P::name, "CAMs on another grid");
  c.expect_throws<shape_error>(
      [&] {
        tensor x;
        p.run(ex, pl, T, tensor({channels + 1, T.height, T.width}), x);
      },
      "shape", P::name, "CAMs of another shape than the plan's");
  tensor nan_cam = cam;
  nan_cam[n / 2] = std::numeric_limits<float>::quiet_NaN();
  c.expect_throws<value_error>([&] { (void)walk_once(ex, nan_cam); }, "value", P::name, "a non-finite score");
  c.expect_throws<shape_error>([&] { (void)p.prepare(ex, batch{}, shape{n}); }, "shape", P::name,
                               "prepare on a rank-1 shape");
  gw_detail::check_config<P>(c, bad);
  return c.result();
}

}  // namespace wsss::testing
