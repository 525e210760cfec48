// SPDX-License-Identifier: MIT
// wsss/graph/csr.hpp — sparse graph in CSR form on an H x W grid (AffinityNet, eq. 4 and 11)
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string_view>
#include <utility>
#include <vector>

#include "wsss/core/error.hpp"
#include "wsss/core/shape.hpp"
#include "wsss/core/tensor.hpp"

namespace wsss::graph {

/// Directed edge list (from[e] -> to[e]) over the nodes of an H x W grid, node = y * W + x.
/// The AffinityNet loss and the affinity op read pairs in exactly this order. `weight` is
/// empty for bare pairs, else one value per pair (from_pairs carries it into the graph).
struct pair_list {
  index_t height = 0, width = 0;
  std::vector<std::int32_t> from, to;
  std::vector<float> weight{};  // {}: aggregate initialisers may leave it out without a warning

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

/// CSR graph from an unordered set of directed pairs (self-loops rejected). Duplicates are
/// merged; when the pairs carry weights the graph keeps them, and a duplicate must repeat its
/// weight (a value_error otherwise: there is no right way to merge two affinities).
inline csr_graph from_pairs(const pair_list& p) {
  constexpr std::string_view comp = "graph::from_pairs";
  if (p.from.size() != p.to.size())
    throw_shape(comp, "from and to differ in length: ", p.from.size(), " vs ", p.to.size());
  const bool weighted = !p.weight.empty();
  if (weighted && p.weight.size() != p.from.size())
    throw_shape(comp, "weights must number the pairs (", p.from.size(), "), got ", p.weight.size());
  csr_graph g;
  g.height = p.height;
  g.width = p.width;
  const index_t n = p.nodes();
  for (std::size_t k = 0; k < p.from.size(); ++k) {
    if (p.from[k] < 0 || p.from[k] >= n || p.to[k] < 0 || p.to[k] >= n)
      throw_value(comp, "pair ", k, " (", p.from[k], " -> ", p.to[k], ") leaves the ", p.height, "x", p.width,
                  " grid");
    if (p.from[k] == p.to[k]) throw_value(comp, "pair ", k, " is a self-loop at node ", p.from[k]);
  }
  // Sort an index rather than the pairs, so that the weights follow their pairs.
  std::vector<std::size_t> order(p.from.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return std::pair(p.from[a], p.to[a]) < std::pair(p.from[b], p.to[b]);
  });
  g.row_ptr.assign(static_cast<std::size_t>(n + 1), 0);
  for (std::size_t r = 0; r < order.size(); ++r) {
    const std::size_t k = order[r];
    if (r > 0 && p.from[order[r - 1]] == p.from[k] && p.to[order[r - 1]] == p.to[k]) {
      if (weighted && p.weight[order[r - 1]] != p.weight[k])
        throw_value(comp, "pair ", p.from[k], " -> ", p.to[k], " appears twice with weights ", p.weight[order[r - 1]],
                    " and ", p.weight[k]);
      continue;
    }
    ++g.row_ptr[static_cast<std::size_t>(p.from[k] + 1)];
    g.col.push_back(p.to[k]);
    if (weighted) g.weight.push_back(p.weight[k]);
  }
  for (index_t i = 0; i < n; ++i) g.row_ptr[static_cast<std::size_t>(i + 1)] += g.row_ptr[static_cast<std::size_t>(i)];
  if (weighted) g.validate(comp);
  return g;
}

/// The pairs followed by their reverses (to -> from), weights repeated: an undirected graph
/// from a half-plane pair list. from_pairs(both_orientations(reference_pairs(h, w))) is psa's
/// inference graph, border quirk included (docs/graph.md).
inline pair_list both_orientations(pair_list p) {
  const auto m = static_cast<std::ptrdiff_t>(p.from.size());
  p.from.insert(p.from.end(), p.to.begin(), p.to.begin() + m);
  p.to.insert(p.to.end(), p.from.begin(), p.from.begin() + m);
  if (!p.weight.empty()) p.weight.insert(p.weight.end(), p.weight.begin(), p.weight.begin() + m);
  return p;
}

/// The graph's edges as a pair list in CSR order (row-major), so that an op's per-pair output
/// is directly the graph's weight array (and the weights, if any, come along).
inline pair_list edges_of(const csr_graph& g) {
  pair_list p;
  p.height = g.height;
  p.width = g.width;
  p.from.resize(g.col.size());
  p.to = g.col;
  p.weight = g.weight;
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

/// What every graph builder's plan holds: the structure on the prepared grid and its edges as
/// a pair list in CSR order (pairs.from[e] -> pairs.to[e] is edge e of graph), the layout in
/// which the affinity op and the AffinityNet loss read per-edge values.
struct structure_plan {
  csr_graph graph;
  pair_list pairs;
  /// Each unordered edge once (filled by pair_up, which learned builders call in prepare):
  /// edge upper[k] (i -> j with i < j) and its reverse reverse[k] (j -> i), both positions in
  /// pairs, so that a symmetric weight (eq. 3) is computed once per pair of nodes. Empty when
  /// not paired, or when some edge has no reverse.
  std::vector<index_t> upper, reverse;

  /// Sets the plan from a built graph (its pair list derived in CSR order).
  void assign(csr_graph g) {
    pairs = edges_of(g);
    graph = std::move(g);
    upper.clear();
    reverse.clear();
  }
  /// Pairs every edge with its reverse (upper / reverse above) in one pass over the edges:
  /// rows ascend, so the reverses j -> i (i < j) of row j come first in that row, in the order
  /// in which the rows i < j reach them; a cursor per row finds each one without a search.
  void pair_up() {
    upper.clear();
    reverse.clear();
    const index_t n = graph.nodes();
    std::vector<index_t> next(graph.row_ptr.begin(), graph.row_ptr.end() - 1);
    upper.reserve(graph.col.size() / 2);
    reverse.reserve(graph.col.size() / 2);
    for (index_t i = 0; i < n; ++i)
      for (index_t k = graph.row_ptr[static_cast<std::size_t>(i)]; k < graph.row_ptr[static_cast<std::size_t>(i + 1)]; ++k) {
        const index_t j = graph.col[static_cast<std::size_t>(k)];
        if (j < i) continue;
        index_t& r = next[static_cast<std::size_t>(j)];
        if (r >= graph.row_ptr[static_cast<std::size_t>(j + 1)] || graph.col[static_cast<std::size_t>(r)] != i) {
          upper.clear();  // no reverse where it must be: not symmetric, computed edge by edge
          reverse.clear();
          return;
        }
        upper.push_back(k);
        reverse.push_back(r++);
      }
    if (2 * upper.size() != graph.col.size()) {
      upper.clear();
      reverse.clear();
    }
  }
  /// True when pair_up ran and found every edge's reverse (and pairs still has its edges).
  bool paired() const noexcept { return !upper.empty() && 2 * upper.size() == pairs.from.size(); }
  /// Writes the structure into out, without weights (out's storage is reused).
  void copy_structure(csr_graph& out) const {
    out.height = graph.height;
    out.width = graph.width;
    out.row_ptr = graph.row_ptr;
    out.col = graph.col;
    out.weight.clear();
  }
};

}  // namespace wsss::graph
