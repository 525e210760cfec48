// SPDX-License-Identifier: MIT
// wsss/attention/projected_gradient.hpp — projected gradient ascent on the attention QP with
// the safe step 1/L (monotone)
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <string_view>

#include "wsss/attention/concepts.hpp"
#include "wsss/attention/qp.hpp"
#include "wsss/core/error.hpp"

namespace wsss::attention {

/// One iteration is p <- max(0, p + g / L), then one product with D for the new gradient. L is
/// lipschitz(q), an upper bound on ||D||_2 (the Lipschitz constant of the gradient), so by the
/// descent lemma f never decreases, concave or not. D = 0 (L = 0) leaves the linear f = b^T p:
/// value_error when some b_i > 0 (unbounded), else the coordinates with b_i < 0 drop to 0.
struct projected_gradient {
  static constexpr std::string_view name = "attention::projected_gradient";
  struct config : solve_config {};
  config cfg{};

  projected_gradient() = default;
  explicit projected_gradient(config c) : cfg(c) {}

  /// L = max_i sum_j |D_ij| (Gershgorin, >= ||D||_2), O(n^2) without forming D: column j of D
  /// is S_.j - c with s also subtracted on the diagonal (D is symmetric, so rows = columns).
  static double lipschitz(const qp& q) {
    const index_t n = q.size();
    const double c = q.rank_one, s = q.self;
    if (q.lateral.size() == 0) return (n - 1) * c + (c + s);
    double L = 0;
    for (index_t j = 0; j < n; ++j) {
      const auto col = q.lateral.col(j).array();
      L = std::max(L, (col.head(j) - c).abs().sum() + (col.tail(n - j - 1) - c).abs().sum() +
                          std::abs(col(j) - c - s));
    }
    return L;
  }

  solve_report solve(const qp& q, Eigen::VectorXd& p) const {
    detail::start(q, p, cfg, name);
    const double L = lipschitz(q);
    if (L == 0) require(q.b.maxCoeff() <= 0, name, "D = 0 and b has a positive entry: f is unbounded above");
    const double t = L > 0 ? 1 / L : 0;
    Eigen::VectorXd g;
    q.gradient(p, g);
    return detail::iterate(q, p, g, cfg, name, [&] {
      if (L > 0) p = (p + t * g).cwiseMax(0.0);
      else p = (g.array() < 0).select(0.0, p);  // g == b <= 0: an infinite step lands on the optimum
      q.gradient(p, g);
      return true;
    });
  }
};

static_assert(AttentionSolver<projected_gradient>);

}  // namespace wsss::attention
