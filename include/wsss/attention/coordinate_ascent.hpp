// SPDX-License-Identifier: MIT
// wsss/attention/coordinate_ascent.hpp — cyclic coordinate ascent on the attention QP, each
// coordinate set to its closed-form maximiser (monotone)
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <string_view>

#include "wsss/attention/concepts.hpp"
#include "wsss/attention/qp.hpp"
#include "wsss/core/error.hpp"

namespace wsss::attention {

/// One iteration is a sweep i = 0..n-1 of p_i <- max(0, p_i - g_i / D_ii), the exact maximiser
/// of f along coordinate i, so f never decreases. Needs D_ii < 0 for every i (value_error
/// otherwise: f is then not bounded above along that coordinate, or not strictly concave).
/// The gradient is kept up to date incrementally: a change delta of p_i costs one axpy with
/// column i of S (skipped when delta == 0, the common case for the many p_i held at zero), so a
/// sweep costs at most one product with S; the rank-one part is added back once per sweep.
struct coordinate_ascent {
  static constexpr std::string_view name = "attention::coordinate_ascent";
  struct config : solve_config {};
  config cfg{};

  coordinate_ascent() = default;
  explicit coordinate_ascent(config c) : cfg(c) {}

  solve_report solve(const qp& q, Eigen::VectorXd& p) const {
    detail::start(q, p, cfg, name);
    const index_t n = q.size();
    Eigen::VectorXd diag(n);
    for (index_t i = 0; i < n; ++i) {
      diag(i) = q.diagonal(i);
      require(diag(i) < 0, name, "needs D_ii < 0 for every i, but D_ii = ", diag(i), " at i = ", i);
    }
    const bool lateral = q.lateral.size() != 0;
    const double c = q.rank_one;
    Eigen::VectorXd g;
    q.gradient(p, g);
    return detail::iterate(q, p, g, cfg, name, [&] {
      // g holds D p + b + c sum(p) 1 during the sweep: the rank-one part is folded into total.
      double total = p.sum();
      g.array() += c * total;
      for (index_t i = 0; i < n; ++i) {
        const double next = std::max(0.0, p(i) - (g(i) - c * total) / diag(i));
        const double delta = next - p(i);
        if (delta == 0) continue;
        p(i) = next;
        total += delta;
        if (lateral) g += delta * q.lateral.col(i);
        g(i) -= q.self * delta;
      }
      g.array() -= c * total;
      return false;  // incremental: rounding accumulates, so convergence is re-checked exactly
    });
  }
};

static_assert(AttentionSolver<coordinate_ascent>);

}  // namespace wsss::attention
