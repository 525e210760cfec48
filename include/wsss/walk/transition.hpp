// SPDX-License-Identifier: MIT
// wsss/walk/transition.hpp — random-walk transition T = D^-1 W^(o beta) with unit diagonal (AffinityNet, eq. 11)
#pragma once

#include <cmath>
#include <cstdint>
#include <string_view>
#include <vector>

#include "wsss/core/error.hpp"
#include "wsss/core/shape.hpp"
#include "wsss/graph/csr.hpp"

namespace wsss::walk {

/// Which way the walk moves scores (A = W^(o beta) + I symmetric, d = A 1 its degrees).
enum class orientation {
  /// vec(M*) = P^t vec(M) with P = D^-1 A, rows summing to 1: each step replaces a score by
  /// the affinity-weighted mean of its neighbours'. This is eq. 11-12 of the paper and what
  /// the public code computes (cam . T_ref^t with the column-normalised T_ref = A D^-1 = P^T).
  /// Conserves the degree-weighted mass d^T v; constants are fixed points.
  average,
  /// vec(M*) = Q^t vec(M) with Q = A D^-1 (= T_ref applied from the left), columns summing to
  /// 1: a diffusion that conserves each channel's plain sum 1^T v.
  diffuse,
};

struct transition_config {
  float beta = 8.0f;  ///< Hadamard power of eq. 11 (paper and code: 8)
  orientation mode = orientation::average;
};

/// The sparse operator of one walk step, P (average) or Q (diffuse), in CSR form with the
/// unit diagonal stored: row i of `val` holds the step's coefficients of x_j in y_i.
struct transition {
  index_t height = 0, width = 0;
  std::vector<index_t> row_ptr{0};
  std::vector<std::int32_t> col;
  std::vector<float> val;
  std::vector<double> degree;  ///< d_i = 1 + sum_j W_ij^beta
  transition_config cfg{};

  index_t nodes() const noexcept { return height * width; }
  index_t nonzeros() const noexcept { return static_cast<index_t>(col.size()); }
  std::size_t bytes() const noexcept {
    return row_ptr.size() * sizeof(index_t) + col.size() * sizeof(std::int32_t) + val.size() * sizeof(float) +
           degree.size() * sizeof(double);
  }
};

/// Builds the step operator from a symmetric weighted graph W (a structure-only graph means
/// W_ij = 1 on its edges): A = W^(o beta) + I, d = A 1, and P = D^-1 A or Q = A D^-1.
/// Throws value_error for a non-finite or negative weight, an asymmetric W, or beta <= 0.
inline transition make_transition(const graph::csr_graph& w, transition_config cfg = {}) {
  constexpr std::string_view comp = "walk::make_transition";
  if (!(cfg.beta > 0) || !std::isfinite(cfg.beta)) throw_value(comp, "beta must be finite and > 0, got ", cfg.beta);
  for (std::size_t k = 0; k < w.weight.size(); ++k)
    if (!std::isfinite(w.weight[k])) throw_value(comp, "non-finite affinity ", w.weight[k], " at edge ", k);
  w.validate(comp);
  if (!w.symmetric()) throw_value(comp, "the affinity graph must be symmetric (W_ij == W_ji on every edge)");
  const index_t n = w.nodes();
  transition t;
  t.height = w.height;
  t.width = w.width;
  t.cfg = cfg;
  t.row_ptr.assign(static_cast<std::size_t>(n + 1), 0);
  t.col.reserve(static_cast<std::size_t>(w.edges() + n));
  t.val.reserve(static_cast<std::size_t>(w.edges() + n));
  t.degree.assign(static_cast<std::size_t>(n), 1.0);
  std::vector<double> a;  // W^beta in CSR order (double: the degrees sum up to ~100 terms)
  a.resize(static_cast<std::size_t>(w.edges()));
  for (index_t k = 0; k < w.edges(); ++k)
    a[static_cast<std::size_t>(k)] = w.weighted() ? std::pow(static_cast<double>(w.weight[static_cast<std::size_t>(k)]), static_cast<double>(cfg.beta)) : 1.0;
  for (index_t i = 0; i < n; ++i)
    for (index_t k = w.row_ptr[static_cast<std::size_t>(i)]; k < w.row_ptr[static_cast<std::size_t>(i + 1)]; ++k)
      t.degree[static_cast<std::size_t>(i)] += a[static_cast<std::size_t>(k)];
  for (index_t i = 0; i < n; ++i) {
    const double di = t.degree[static_cast<std::size_t>(i)];
    bool diag = false;
    auto push = [&](index_t j, double aij) {
      const double dn = cfg.mode == orientation::average ? di : t.degree[static_cast<std::size_t>(j)];
      t.col.push_back(static_cast<std::int32_t>(j));
      t.val.push_back(static_cast<float>(aij / dn));
    };
    for (index_t k = w.row_ptr[static_cast<std::size_t>(i)]; k < w.row_ptr[static_cast<std::size_t>(i + 1)]; ++k) {
      const index_t j = w.col[static_cast<std::size_t>(k)];
      if (!diag && j > i) {
        push(i, 1.0);
        diag = true;
      }
      push(j, a[static_cast<std::size_t>(k)]);
    }
    if (!diag) push(i, 1.0);
    t.row_ptr[static_cast<std::size_t>(i + 1)] = static_cast<index_t>(t.col.size());
  }
  return t;
}

}  // namespace wsss::walk
