// SPDX-License-Identifier: MIT
// wsss/attention/qp.hpp — the rectified-Gaussian attention QP (attention paper eq. 2-3), its KKT
// residuals, and the start / iterate / finish steps every attention solver shares
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <string_view>
#include <vector>

#include "wsss/core/error.hpp"
#include "wsss/core/shape.hpp"

namespace wsss::attention {

/*  maximise f(p) = 1/2 p^T D p + b^T p  subject to p >= 0,  D = S - c 1 1^T - s I.
    S (lateral) is dense and symmetric; the rank-one and identity parts are never formed, so
    D p = S p - c sum(p) 1 - s p costs one dense matrix-vector product. With S >= 0 and c = 1,
    s = 0 this is the paper's eq. 9 (delta_ii' = w_ii'/sum w - 1) up to the symmetrisation of
    the row-normalised W. D may be indefinite: the solvers then stop at a KKT point (a local
    maximum), which -D copositive keeps bounded.                                                */
struct qp {
  Eigen::MatrixXd lateral;  ///< S, symmetric n x n; empty means the zero matrix
  double rank_one = 0;      ///< c >= 0
  double self = 0;          ///< s >= 0
  Eigen::VectorXd b;        ///< linear term; its size is n

  index_t size() const { return b.size(); }

  /// out = D p. out is resized to n (no allocation when it already has that size) and must
  /// not alias p.
  void product(const Eigen::VectorXd& p, Eigen::VectorXd& out) const {
    check_argument(p);
    if (lateral.size() != 0) out.noalias() = lateral * p;
    else out.setZero(p.size());
    out.array() -= rank_one * p.sum();
    out -= self * p;
  }
  Eigen::VectorXd product(const Eigen::VectorXd& p) const {
    Eigen::VectorXd out;
    product(p, out);
    return out;
  }

  /// out = D p + b, the gradient of f; same aliasing rule as product.
  void gradient(const Eigen::VectorXd& p, Eigen::VectorXd& out) const {
    product(p, out);
    out += b;
  }
  Eigen::VectorXd gradient(const Eigen::VectorXd& p) const {
    Eigen::VectorXd out;
    gradient(p, out);
    return out;
  }

  double objective(const Eigen::VectorXd& p) const { return 0.5 * p.dot(product(p)) + b.dot(p); }

  /// D_ii = S_ii - c - s.
  double diagonal(index_t i) const { return (lateral.size() != 0 ? lateral(i, i) : 0.0) - rank_one - self; }

  /// Throws shape_error when n == 0 or S is neither empty nor n x n; value_error when S, b, c or
  /// s is not finite, c < 0, s < 0, or max |S - S^T| > 1e-9 max |S|. O(n^2).
  void validate(std::string_view who) const {
    const index_t n = size();
    if (n == 0) throw_shape(who, "the QP is empty (b has size 0)");
    if (lateral.size() != 0 && (lateral.rows() != n || lateral.cols() != n))
      throw_shape(who, "S is ", lateral.rows(), "x", lateral.cols(), " but b has size ", n, " (S must be ", n,
                  "x", n, " or empty)");
    require(b.allFinite(), who, "b has a non-finite entry");
    require(std::isfinite(rank_one) && rank_one >= 0, who, "the rank-one weight c must be finite and >= 0, got ",
            rank_one);
    require(std::isfinite(self) && self >= 0, who, "the self weight s must be finite and >= 0, got ", self);
    if (lateral.size() == 0) return;
    require(lateral.allFinite(), who, "S has a non-finite entry");
    const double asym = asymmetry(), scale = lateral.cwiseAbs().maxCoeff();
    require(asym <= 1e-9 * scale, who, "S is not symmetric: max |S - S^T| = ", asym, " > 1e-9 * max |S| = ",
            1e-9 * scale);
  }

 private:
  void check_argument(const Eigen::VectorXd& p) const {
    if (p.size() != size()) throw_shape("attention::qp", "p has size ", p.size(), " but the QP has size ", size());
  }
  /// max |S - S^T| over square tiles, so that the transposed side is read cache-friendly.
  double asymmetry() const {
    constexpr index_t tile = 64;
    const index_t n = lateral.rows();
    double worst = 0;
    for (index_t j0 = 0; j0 < n; j0 += tile)
      for (index_t i0 = 0; i0 <= j0; i0 += tile) {
        const index_t rows = std::min(tile, n - i0), cols = std::min(tile, n - j0);
        worst = std::max(worst, (lateral.block(i0, j0, rows, cols) - lateral.block(j0, i0, cols, rows).transpose())
                                    .cwiseAbs()
                                    .maxCoeff());
      }
    return worst;
  }
};

/// The KKT conditions of max f(p) s.t. p >= 0: g + mu = 0, mu >= 0, p >= 0, p_i mu_i = 0
/// (g = D p + b). Each field is zero at a KKT point.
struct kkt {
  double primal = 0;           ///< max(0, max_i -p_i)
  double dual = 0;             ///< max(0, max_i g_i)
  double complementarity = 0;  ///< max_i |p_i g_i|
  double natural = 0;          ///< max_i |min(p_i, -g_i)|, zero iff KKT holds
};

namespace detail {

/// max_i |min(p_i, -g_i)|, O(n) and allocation-free.
inline double natural_residual(const Eigen::VectorXd& p, const Eigen::VectorXd& g) {
  return p.cwiseMin(-g).cwiseAbs().maxCoeff();
}

inline kkt conditions(const Eigen::VectorXd& p, const Eigen::VectorXd& g) {
  return {.primal = std::max(0.0, -p.minCoeff()),
          .dual = std::max(0.0, g.maxCoeff()),
          .complementarity = p.cwiseProduct(g).cwiseAbs().maxCoeff(),
          .natural = natural_residual(p, g)};
}

/// The scale relative residuals are measured against: p (and so g) scales linearly with b.
inline double residual_scale(const qp& q) { return std::max(q.b.lpNorm<Eigen::Infinity>(), 1e-300); }

/// f from the gradient in O(n): p^T D p = p^T (g - b).
inline double objective_at(const qp& q, const Eigen::VectorXd& p, const Eigen::VectorXd& g) {
  return 0.5 * p.dot(g + q.b);
}

}  // namespace detail

/// The four KKT residuals of p (one product with D). Throws shape_error on a size mismatch.
inline kkt kkt_residual(const qp& q, const Eigen::VectorXd& p) { return detail::conditions(p, q.gradient(p)); }

/// natural residual relative to the scale of b: natural / max(||b||_inf, 1e-300): p scales
/// linearly with b, so tolerances are relative.
inline double relative_residual(const qp& q, const Eigen::VectorXd& p) {
  return kkt_residual(q, p).natural / detail::residual_scale(q);
}

/// What every attention solver takes (its own config derives from this).
struct solve_config {
  double tolerance = 1e-8;    ///< stop when relative_residual <= tolerance
  int max_iterations = 10000;  ///< iterations as the solver defines them (a sweep, a step)
  bool trace = false;          ///< record f after each iteration in solve_report::objectives
};

struct solve_report {
  int iterations = 0;
  bool converged = false;         ///< relative residual <= tolerance at the end
  double residual = 0;            ///< relative natural residual at the end
  double objective = 0;           ///< f at the end
  kkt conditions{};               ///< at the end
  std::vector<double> objectives;  ///< f after each iteration, when trace
};

namespace detail {

/// Validates problem, config and warm start for solver `who`; an empty p becomes max(b, 0),
/// and a warm start is projected onto p >= 0 so that every solver starts feasible.
inline void start(const qp& q, Eigen::VectorXd& p, const solve_config& cfg, std::string_view who) {
  q.validate(who);
  require(cfg.tolerance >= 0, who, "tolerance must be >= 0, got ", cfg.tolerance);
  require(cfg.max_iterations >= 0, who, "max_iterations must be >= 0, got ", cfg.max_iterations);
  if (p.size() == 0) {
    p = q.b.cwiseMax(0.0);
    return;
  }
  if (p.size() != q.size())
    throw_shape(who, "the warm start p has size ", p.size(), " but the QP has size ", q.size());
  require(p.allFinite(), who, "the warm start p has a non-finite entry");
  p = p.cwiseMax(0.0);
}

/// The loop every solver shares. On entry g == gradient(p). step() performs one iteration on p
/// and g (captured) and returns whether it left g exact (false: updated incrementally, so a
/// convergence seen on it is confirmed on a fresh gradient first). Convergence is tested before
/// each iteration, so an exact warm start costs no iteration. A non-finite p means the
/// iterates ran off to infinity: the problem is unbounded above (-D not copositive).
template <class Step>
solve_report iterate(const qp& q, Eigen::VectorXd& p, Eigen::VectorXd& g, const solve_config& cfg,
                     std::string_view who, Step&& step) {
  solve_report r;
  const double scale = residual_scale(q);
  bool exact = true;
  for (;;) {
    if (natural_residual(p, g) <= cfg.tolerance * scale) {
      if (exact) {
        r.converged = true;
        break;
      }
      q.gradient(p, g);
      exact = true;
      continue;
    }
    if (r.iterations >= cfg.max_iterations) break;
    exact = step();
    ++r.iterations;
    if (!p.allFinite())
      throw_value(who, "the iterates diverged after ", r.iterations,
                  " iterations: f is unbounded above on p >= 0 (-D is not copositive)");
    if (cfg.trace) r.objectives.push_back(objective_at(q, p, g));
  }
  if (!exact) q.gradient(p, g);
  r.conditions = conditions(p, g);
  r.residual = r.conditions.natural / scale;
  r.objective = objective_at(q, p, g);
  return r;
}

}  // namespace detail

}  // namespace wsss::attention
