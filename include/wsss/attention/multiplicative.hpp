// SPDX-License-Identifier: MIT
// wsss/attention/multiplicative.hpp — the multiplicative updates of Sha, Saul & Lee (2003) for
// non-negative quadratic programming on the attention QP (monotone)
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <string_view>

#include "wsss/attention/concepts.hpp"
#include "wsss/attention/qp.hpp"
#include "wsss/core/error.hpp"

namespace wsss::attention {

/*  Sha, Saul & Lee, "Multiplicative updates for nonnegative quadratic programming" (2003):
    minimise F(v) = 1/2 v^T A v - b^T v, v >= 0, with A = -D split into element-wise
    non-negative parts A = A+ - A-,
      A+ = c 1 1^T + s I + max(-S, 0),   A- = max(S, 0),
    and every coordinate updated at once by
      v_i <- v_i (b_i + sqrt(b_i^2 + 4 (A+ v)_i (A- v)_i)) / (2 (A+ v)_i).
    Each update minimises an auxiliary upper bound of F, so F never increases (f never decreases)
    for any symmetric A. One iteration = one update = one product with each of max(S, 0) and
    max(-S, 0) (a part that is all zero, as max(-S, 0) in the paper's S >= 0, is skipped); both
    are formed once per solve (2 n^2 doubles at most), and g = (A- v) - (A+ v) + b comes free.
    Zeros are fixed points of the update, so before the first update the warm start's zero
    entries are raised to floor = 1e-6 max(max_i p_i, ||b||_inf / n), small against the
    solution's scale; a warm start that is already a KKT point is returned untouched.
    A coordinate reaches 0 only when (A- v)_i = 0 and b_i <= 0, where 0 is its minimiser.
    Where (A+ v)_i = 0: with b_i < 0 the update's limit (A- v)_i / (-b_i) applies; with
    b_i = (A- v)_i = 0, F is flat along i and v_i stays; otherwise F decreases without bound
    along e_i and solve throws value_error naming the coordinate. Convergence to zeros is
    linear, so this solver typically needs many more iterations than the other two.            */
struct multiplicative {
  static constexpr std::string_view name = "attention::multiplicative";
  struct config : solve_config {};
  config cfg{};

  multiplicative() = default;
  explicit multiplicative(config c) : cfg(c) {}

  solve_report solve(const qp& q, Eigen::VectorXd& p) const {
    detail::start(q, p, cfg, name);
    const index_t n = q.size();
    const bool lateral = q.lateral.size() != 0;
    const bool use_pos = lateral && (q.lateral.array() > 0).any();
    const bool use_neg = lateral && (q.lateral.array() < 0).any();
    Eigen::MatrixXd pos, neg;  // max(S, 0) = A-, max(-S, 0) = lateral part of A+
    if (use_pos) pos = q.lateral.cwiseMax(0.0);
    if (use_neg) neg = (-q.lateral).cwiseMax(0.0);
    Eigen::VectorXd up(n), down(n), g(n);  // A+ v, A- v, D v + b
    const auto products = [&] {
      if (use_neg) up.noalias() = neg * p;
      else up.setZero();
      up.array() += q.rank_one * p.sum();
      up += q.self * p;
      if (use_pos) down.noalias() = pos * p;
      else down.setZero();
      g = down - up + q.b;
    };
    products();
    bool floored = false;
    return detail::iterate(q, p, g, cfg, name, [&] {
      if (!floored) {
        const double floor = 1e-6 * std::max(p.maxCoeff(), q.b.lpNorm<Eigen::Infinity>() / static_cast<double>(n));
        p = (p.array() > 0).select(p, floor);
        products();
        floored = true;
      }
      for (index_t i = 0; i < n; ++i) {
        if (p(i) == 0) continue;  // a fixed point
        const double bi = q.b(i), a = up(i), m = down(i);
        const double root = std::sqrt(bi * bi + 4 * a * m);
        if (bi < 0) p(i) *= 2 * m / (root - bi);  // rationalised: no cancellation, finite at a = 0
        else if (a > 0) p(i) *= (bi + root) / (2 * a);
        else if (bi != 0 || m != 0)
          throw_value(name, "f is unbounded above along coordinate ", i, " ((A+ v)_i = 0, b_i = ", bi,
                      ", (A- v)_i = ", m, ")");
      }
      products();
      return true;
    });
  }
};

static_assert(AttentionSolver<multiplicative>);

}  // namespace wsss::attention
