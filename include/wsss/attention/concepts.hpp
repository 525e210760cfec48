// SPDX-License-Identifier: MIT
// wsss/attention/concepts.hpp — the AttentionSolver concept: a method for the attention QP
// max 1/2 p^T D p + b^T p s.t. p >= 0 (attention paper eq. 3)
#pragma once

#include <Eigen/Core>
#include <concepts>
#include <string_view>
#include <type_traits>

#include "wsss/attention/qp.hpp"

namespace wsss::attention {

/*  AttentionSolver contract
      static constexpr std::string_view name;   // "attention::coordinate_ascent": logs, errors
      struct config : solve_config { ... };      // tolerance, max_iterations, trace (+ its own)
      config cfg;
      solve_report solve(const qp& q, Eigen::VectorXd& p) const;
    solve: q is validated (qp::validate). p is the warm start in and the solution out: an empty p
      starts from max(b, 0); otherwise p must have size n (shape_error naming the solver and both
      sizes) and finite entries (value_error), and negative entries are clipped to 0. Convergence
      is tested before every iteration: the solver stops when relative_residual(q, p) <=
      cfg.tolerance (converged = true; a warm start that already satisfies this costs no
      iteration) or after cfg.max_iterations iterations (converged = false). The report is always
      filled: iterations, converged, residual (relative natural residual), objective, the kkt
      conditions at the returned p, and with cfg.trace f after each iteration.
    Solutions: with D negative definite the maximiser is unique and every solver reaches it; with
      D indefinite (-D copositive) a solver reaches a KKT point, a local maximum that depends on
      the solver and the start. A solver documented as monotone never decreases f from one
      iteration to the next (up to rounding); the built-in three all are.
    Errors: shape_error / value_error whose text starts with "[wsss.shape] <name>" /
      "[wsss.value] <name>", also when the iterates diverge (an unbounded problem).
    A solver is a value: solve is const, all state is local to the call, so one object serves
    every thread.                                                                              */
template <class S>
concept AttentionSolver = requires(const S& s, const qp& q, Eigen::VectorXd& p) {
  { S::name } -> std::convertible_to<std::string_view>;
  typename S::config;
  requires std::derived_from<typename S::config, solve_config>;
  requires std::same_as<std::remove_cvref_t<decltype(s.cfg)>, typename S::config>;
  { s.solve(q, p) } -> std::same_as<solve_report>;
};

}  // namespace wsss::attention
