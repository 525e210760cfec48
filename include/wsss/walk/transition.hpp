// SPDX-License-Identifier: MIT
// wsss/walk/transition.hpp — random-walk transition T = D^-1 W^(o beta) with unit diagonal (AffinityNet, eq. 11)
#pragma once

#include <cmath>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "wsss/core/config.hpp"
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

namespace detail {

/// T's sparsity from W's: row i is W's row i with the unit diagonal in its sorted place;
/// edge[e] is the W edge behind entry e, -1 for the diagonal. It depends on W's structure
/// only, so a device walk builds it once per grid and computes T's values where W's are.
struct transition_layout {
  std::vector<index_t> row_ptr{0};
  std::vector<std::int32_t> col;
  std::vector<index_t> edge;

  /// The layout of W, or of the disjoint union of `copies` copies of W (a batch of images on
  /// one grid walked at once): copy b's node i is b n + i and its W edge k is b edges + k, so
  /// copy b's rows are copy 0's shifted, after copy b - 1's.
  explicit transition_layout(const graph::csr_graph& w, index_t copies = 1) {
    const index_t n = w.nodes(), edges = w.edges();
    row_ptr.assign(static_cast<std::size_t>(copies * n + 1), 0);
    col.reserve(static_cast<std::size_t>(copies * (edges + n)));
    edge.reserve(static_cast<std::size_t>(copies * (edges + n)));
    for (index_t b = 0; b < copies; ++b)
      for (index_t i = 0; i < n; ++i) {
        bool diag = false;
        const auto self = static_cast<std::int32_t>(b * n + i);
        for (index_t k = w.row_ptr[static_cast<std::size_t>(i)]; k < w.row_ptr[static_cast<std::size_t>(i + 1)]; ++k) {
          const index_t j = w.col[static_cast<std::size_t>(k)];
          if (!diag && j > i) {
            col.push_back(self);
            edge.push_back(-1);
            diag = true;
          }
          col.push_back(static_cast<std::int32_t>(b * n + j));
          edge.push_back(b * edges + k);
        }
        if (!diag) {
          col.push_back(self);
          edge.push_back(-1);
        }
        row_ptr[static_cast<std::size_t>(b * n + i + 1)] = static_cast<index_t>(col.size());
      }
  }
};

/// a_k = W_k^beta in double (1 for a structure-only graph, weight == null), one edge per index.
struct edge_power_kernel {
  const float* weight;
  double* a;
  double beta;
  WSSS_HD void operator()(std::int64_t k) const { a[k] = weight ? pow(static_cast<double>(weight[k]), beta) : 1.0; }
};

/// d_i = 1 + sum_j a_ij in W's row order (double: the degrees sum up to ~100 terms).
struct degree_kernel {
  const index_t* row_ptr;
  const double* a;
  double* degree;
  WSSS_HD void operator()(std::int64_t i) const {
    double d = 1.0;
    for (index_t k = row_ptr[i]; k < row_ptr[i + 1]; ++k) d += a[k];
    degree[i] = d;
  }
};

/// Row i of the step operator: a_ij / d_i (average) or a_ij / d_j (diffuse), a_ii = 1.
struct step_row_kernel {
  const index_t* row_ptr;  // T's
  const std::int32_t* col;
  const index_t* edge;
  const double* a;
  const double* degree;
  float* val;
  int average;
  WSSS_HD void operator()(std::int64_t i) const {
    for (index_t e = row_ptr[i]; e < row_ptr[i + 1]; ++e) {
      const double aij = edge[e] < 0 ? 1.0 : a[edge[e]];
      val[e] = static_cast<float>(aij / (average ? degree[i] : degree[col[e]]));
    }
  }
};

/// Nodes per partial sum of sum_i d_i: every walk, host or device, sums the degrees in these
/// chunks and then the chunks in order, so all back ends get the same bits.
inline constexpr std::int64_t degree_chunk = 256;

/// partial[c] = the sum of the degrees of chunk c. A batch's graphs lie side by side (n nodes
/// each, the walk's disjoint union): image b's chunks follow image b - 1's and never cross
/// into it, so an image's sums are the same bits alone or in a batch. One chunk per index.
struct degree_partial_kernel {
  const double* degree;
  double* partial;
  std::int64_t n;  // nodes per image
  WSSS_HD void operator()(std::int64_t c) const {
    const std::int64_t per = (n + degree_chunk - 1) / degree_chunk, img = c / per, local = c - img * per;
    const std::int64_t end = (local + 1) * degree_chunk < n ? (local + 1) * degree_chunk : n;
    const double* d = degree + img * n;
    double s = 0;
    for (std::int64_t i = local * degree_chunk; i < end; ++i) s += d[i];
    partial[c] = s;
  }
};

/// Throws value_error naming `component` unless beta is finite and > 0.
inline void check_beta(float beta, std::string_view component) {
  if (!(beta > 0) || !std::isfinite(beta)) throw_value(component, "beta must be finite and > 0, got ", beta);
}

}  // namespace detail

/// Builds the step operator from a symmetric weighted graph W (a structure-only graph means
/// W_ij = 1 on its edges): A = W^(o beta) + I, d = A 1, and P = D^-1 A or Q = A D^-1.
/// Throws value_error for a non-finite or negative weight, an asymmetric W, or beta <= 0.
/// The values come from the kernels above, which device walks run where W is.
inline transition make_transition(const graph::csr_graph& w, transition_config cfg = {}) {
  constexpr std::string_view comp = "walk::make_transition";
  detail::check_beta(cfg.beta, comp);
  for (std::size_t k = 0; k < w.weight.size(); ++k)
    if (!std::isfinite(w.weight[k])) throw_value(comp, "non-finite affinity ", w.weight[k], " at edge ", k);
  w.validate(comp);
  if (!w.symmetric()) throw_value(comp, "the affinity graph must be symmetric (W_ij == W_ji on every edge)");
  detail::transition_layout layout(w);
  transition t;
  t.height = w.height;
  t.width = w.width;
  t.cfg = cfg;
  t.row_ptr = std::move(layout.row_ptr);
  t.col = std::move(layout.col);
  t.val.resize(t.col.size());
  t.degree.resize(static_cast<std::size_t>(w.nodes()));
  std::vector<double> a(static_cast<std::size_t>(w.edges()));
  const detail::edge_power_kernel power{w.weighted() ? w.weight.data() : nullptr, a.data(), static_cast<double>(cfg.beta)};
  for (index_t k = 0; k < w.edges(); ++k) power(k);
  const detail::degree_kernel degree{w.row_ptr.data(), a.data(), t.degree.data()};
  const detail::step_row_kernel row{t.row_ptr.data(), t.col.data(), layout.edge.data(), a.data(), t.degree.data(),
                                    t.val.data(), cfg.mode == orientation::average};
  for (index_t i = 0; i < w.nodes(); ++i) degree(i);
  for (index_t i = 0; i < w.nodes(); ++i) row(i);
  return t;
}

}  // namespace wsss::walk
