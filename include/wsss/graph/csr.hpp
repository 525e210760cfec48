// SPDX-License-Identifier: MIT
// wsss/graph/csr.hpp — sparse graph in CSR form on an H x W grid (AffinityNet, eq. 4 and 11)
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "wsss/core/error.hpp"
#include "wsss/core/shape.hpp"
#include "wsss/core/tensor.hpp"

namespace wsss::graph {

/// Directed edge list (from[e] -> to[e]) over the nodes of an H x W grid, node = y * W + x.
/// The AffinityNet loss and the affinity op read pairs in exactly this order.
struct pair_list {
  index_t height = 0, width = 0;
  std::vector<std::int32_t> from, to;

  index_t nodes() const noexcept { return height * width; }
  index_t size() const noexcept { return static_cast<index_t>(from.size()); }
};

/// Compressed sparse rows over nodes() = height * width vertices (node = y * width + x; a
/// graph over K regions is laid out as a 1 x K grid). Row i lists the out-neighbours of i in
/// ascending order, without i itself (self-loops are added by the transition, eq. 11's
/// "diagonal elements are 1"). `weight` is empty for a structure-only graph, else one value
/// per stored edge.
struct csr_graph {
  index_t height = 0, width = 0;
  std::vector<index_t> row_ptr{0};
  std::vector<std::int32_t> col;
  std::vector<float> weight;

  index_t nodes() const noexcept { return height * width; }
  index_t edges() const noexcept { return static_cast<index_t>(col.size()); }
  bool weighted() const noexcept { return !weight.empty(); }
  index_t degree(index_t i) const noexcept {
    return row_ptr[static_cast<std::size_t>(i + 1)] - row_ptr[static_cast<std::size_t>(i)];
  }
  /// Bytes held by the arrays (for the benchmarks' memory counters).
  std::size_t bytes() const noexcept {
    return row_ptr.size() * sizeof(index_t) + col.size() * sizeof(std::int32_t) + weight.size() * sizeof(float);
  }

  /// Throws unless the structure is well formed: row_ptr of size n + 1, non-decreasing, ending
  /// at edges(); columns in [0, n), strictly increasing per row, no self-loop; weights (if any)
  /// one per edge, finite and >= 0.
  void validate(std::string_view component = "graph::csr_graph") const {
    if (height < 0 || width < 0) throw_shape(component, "grid must be non-negative, got ", height, "x", width);
    const index_t n = nodes();
    if (static_cast<index_t>(row_ptr.size()) != n + 1)
      throw_shape(component, "row_ptr must hold nodes + 1 = ", n + 1, " entries, got ", row_ptr.size());
    if (row_ptr.front() != 0 || row_ptr.back() != edges())
      throw_shape(component, "row_ptr must run from 0 to edges = ", edges(), ", got ", row_ptr.front(), "..",
                  row_ptr.back());
    for (index_t i = 0; i < n; ++i) {
      const index_t b = row_ptr[static_cast<std::size_t>(i)], e = row_ptr[static_cast<std::size_t>(i + 1)];
      if (e < b) throw_value(component, "row_ptr decreases at row ", i);
      for (index_t k = b; k < e; ++k) {
        const index_t j = col[static_cast<std::size_t>(k)];
        if (j < 0 || j >= n) throw_value(component, "column ", j, " of row ", i, " is outside [0, ", n, ")");
        if (j == i) throw_value(component, "self-loop at node ", i, " (the transition adds the diagonal)");
        if (k > b && col[static_cast<std::size_t>(k - 1)] >= j)
          throw_value(component, "columns of row ", i, " are not strictly increasing");
      }
    }
    if (weighted()) {
      if (weight.size() != col.size())
        throw_shape(component, "weights must number the edges (", col.size(), "), got ", weight.size());
      for (std::size_t k = 0; k < weight.size(); ++k)
        if (!std::isfinite(weight[k]) || weight[k] < 0)
          throw_value(component, "edge weight ", weight[k], " at edge ", k, " is not finite and >= 0");
    }
  }

  /// Position of edge i -> j in col/weight, or -1 when absent (binary search in row i).
  index_t find(index_t i, index_t j) const noexcept {
    const auto b = col.begin() + row_ptr[static_cast<std::size_t>(i)];
    const auto e = col.begin() + row_ptr[static_cast<std::size_t>(i + 1)];
    const auto it = std::lower_bound(b, e, static_cast<std::int32_t>(j));
    return (it != e && *it == j) ? static_cast<index_t>(it - col.begin()) : -1;
  }

  /// True when every edge i -> j has its reverse j -> i, and (if weighted) both weights agree
  /// to a relative tolerance rtol.
  bool symmetric(float rtol = 1e-5f) const noexcept {
    for (index_t i = 0; i < nodes(); ++i)
      for (index_t k = row_ptr[static_cast<std::size_t>(i)]; k < row_ptr[static_cast<std::size_t>(i + 1)]; ++k) {
        const index_t r = find(col[static_cast<std::size_t>(k)], i);
        if (r < 0) return false;
        if (weighted()) {
          const float a = weight[static_cast<std::size_t>(k)], b = weight[static_cast<std::size_t>(r)];
          if (std::abs(a - b) > rtol * std::max(std::abs(a), std::abs(b))) return false;
        }
      }
    return true;
  }
};

/// CSR graph from an unordered set of directed pairs (duplicates merged, self-loops rejected).
inline csr_graph from_pairs(const pair_list& p) {
  if (p.from.size() != p.to.size())
    throw_shape("graph::from_pairs", "from and to differ in length: ", p.from.size(), " vs ", p.to.size());
  csr_graph g;
  g.height = p.height;
  g.width = p.width;
  const index_t n = p.nodes();
  std::vector<std::pair<std::int32_t, std::int32_t>> e(p.from.size());
  for (std::size_t k = 0; k < e.size(); ++k) {
    if (p.from[k] < 0 || p.from[k] >= n || p.to[k] < 0 || p.to[k] >= n)
      throw_value("graph::from_pairs", "pair ", k, " (", p.from[k], " -> ", p.to[k], ") leaves the ", p.height,
                  "x", p.width, " grid");
    if (p.from[k] == p.to[k]) throw_value("graph::from_pairs", "pair ", k, " is a self-loop at node ", p.from[k]);
    e[k] = {p.from[k], p.to[k]};
  }
  std::sort(e.begin(), e.end());
  e.erase(std::unique(e.begin(), e.end()), e.end());
  g.row_ptr.assign(static_cast<std::size_t>(n + 1), 0);
  g.col.resize(e.size());
  for (std::size_t k = 0; k < e.size(); ++k) {
    ++g.row_ptr[static_cast<std::size_t>(e[k].first + 1)];
    g.col[k] = e[k].second;
  }
  for (index_t i = 0; i < n; ++i) g.row_ptr[static_cast<std::size_t>(i + 1)] += g.row_ptr[static_cast<std::size_t>(i)];
  return g;
}

/// The pairs followed by their reverses (to -> from): an undirected graph from a half-plane
/// pair list. from_pairs(both_orientations(reference_pairs(h, w))) is psa's inference graph,
/// border quirk included (docs/graph.md).
inline pair_list both_orientations(pair_list p) {
  const std::size_t m = p.from.size();
  p.from.insert(p.from.end(), p.to.begin(), p.to.begin() + static_cast<std::ptrdiff_t>(m));
  p.to.insert(p.to.end(), p.from.begin(), p.from.begin() + static_cast<std::ptrdiff_t>(m));
  return p;
}

/// The graph's edges as a pair list in CSR order (row-major), so that an op's per-pair output
/// is directly the graph's weight array.
inline pair_list edges_of(const csr_graph& g) {
  pair_list p;
  p.height = g.height;
  p.width = g.width;
  p.from.resize(g.col.size());
  p.to = g.col;
  for (index_t i = 0; i < g.nodes(); ++i)
    for (index_t k = g.row_ptr[static_cast<std::size_t>(i)]; k < g.row_ptr[static_cast<std::size_t>(i + 1)]; ++k)
      p.from[static_cast<std::size_t>(k)] = static_cast<std::int32_t>(i);
  return p;
}

/// Copy of g carrying the given edge weights (a tensor of edges() values, e.g. the output of
/// graph::affinity_op over edges_of(g)). Throws on a size mismatch or a non-finite weight.
inline csr_graph with_weights(csr_graph g, const tensor& w) {
  if (w.numel() != g.edges())
    throw_shape("graph::with_weights", "need one weight per edge (", g.edges(), "), got ", w.numel(), " (",
                w.shape(), ")");
  g.weight.assign(w.begin(), w.end());
  for (std::size_t k = 0; k < g.weight.size(); ++k)
    if (!std::isfinite(g.weight[k]))
      throw_value("graph::with_weights", "non-finite affinity ", g.weight[k], " at edge ", k);
  g.validate("graph::with_weights");
  return g;
}

}  // namespace wsss::graph
