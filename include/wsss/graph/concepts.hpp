// SPDX-License-Identifier: MIT
// wsss/graph/concepts.hpp — the GraphBuilder concept (AffinityNet eq. 3-4; attention paper eq. 8)
#pragma once

#include <concepts>
#include <string_view>
#include <utility>

#include "wsss/core/batch.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/core/policy.hpp"
#include "wsss/core/shape.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/graph/csr.hpp"

namespace wsss::graph {

/// Where a builder's edge weights come from.
enum class weighting {
  none,     ///< structure only (superpixel adjacency)
  learned,  ///< eq. 3 from the features given to run (radius, connectivity); none without features
  fixed,    ///< from the plan, whatever the features (the bilateral graph's eq. 8)
};

/*  GraphBuilder contract (a wsss::Policy)
      static constexpr std::string_view name;        // "graph::radius"
      static constexpr weighting weights;            // where the weights come from
      struct config { ... };  config cfg;            // the paper's defaults (gamma, sigmas, distance)
      struct plan : structure_plan { ... };          // plan.graph, plan.pairs (+ per-image data)
      plan prepare(const exec<Tag>&, const batch&, const shape& s) const;
      void run(const exec<Tag>&, plan&, const tensor& features, csr_graph& out) const;
    prepare: s is the grid H x W, or the features' F x H x W or N x F x H x W (the last two
      extents are used: a batch of feature maps on one grid shares the plan).
      It builds the structure once per grid: plan.graph (CSR) and plan.pairs = its edges in
      CSR order. Builders of per-image graphs read the batch, which must then hold exactly one
      item (prepare one plan per image: batch.slice(i, 1)): superpixel adjacency reads
      batch.superpixels, the bilateral graph computes its descriptors from batch.images. A
      missing batch entry is a value_error, a map whose extent disagrees with s a shape_error.
    run (const) overwrites out with the plan's structure and weights it:
      - learned: W_e = exp(-d(f_i, f_j)) (eq. 3) from features F x H x W on the plan's grid,
        d = the config's distance (mean_l1 by default, sum_l1 the paper's); empty features
        give the structure only;
      - fixed: the plan's weights (features ignored); none: no weights (features ignored).
      Kernels launch on ex.tag: cpu, omp and thrust_omp give the same bits. A builder bound
      to a device backend (backend_type: graph::device_radius<cuda_t>) takes an exec of that
      backend; callers reach it through wsss::policy_exec.
    Guarantees: out passes csr_graph::validate() (sorted rows, no duplicates, no self-loops:
    the transition of eq. 11 adds the unit diagonal itself) and is symmetric (i -> j iff
    j -> i, equal weights): every builder here describes an undirected neighbourhood. Grid
    builders have nodes() == H * W; region builders (superpixel adjacency) a 1 x K graph over
    the K regions. Configuration out of range (gamma < 1, sigma <= 0) is a value_error raised
    at construction.                                                                         */
template <class B>
concept GraphBuilder = Policy<B> && std::copy_constructible<B> &&
                       requires(const B& b, typename B::plan& pl, const exec<backend_of_t<B>>& ex, const batch& bt,
                                const shape& s, const tensor& features, csr_graph& out) {
                         { B::weights } -> std::convertible_to<weighting>;
                         { b.prepare(ex, bt, s) } -> std::same_as<typename B::plan>;
                         b.run(ex, pl, features, out);
                         { pl.graph } -> std::convertible_to<const csr_graph&>;
                         { pl.pairs } -> std::convertible_to<const pair_list&>;
                       };

/// One call: prepare on s (H x W or (N x) F x H x W) and run with the features (empty: structure
/// only), on a default exec unless one is given. For one graph; keep the plan (prepare, then
/// run per image) when many images share a grid.
template <GraphBuilder B, backend::Backend Tag = omp_t>
csr_graph build(const B& builder, const shape& s, const tensor& features = {}, const batch& b = {},
                const exec<Tag>& ex = {}) {
  const auto bex = policy_exec(builder, ex);  // a device builder's own backend, else ex
  typename B::plan pl = builder.prepare(bex, b, s);
  csr_graph out;
  builder.run(bex, pl, features, out);
  return out;
}

namespace detail {

/// The grid (H, W) of a prepare shape H x W, F x H x W or N x F x H x W.
inline std::pair<index_t, index_t> grid_of(const shape& s, std::string_view component) {
  if (s.rank() < 2 || s.rank() > 4)
    throw_shape(component, "prepare needs the grid H x W or the features' (N x) F x H x W, got ", s);
  const index_t h = s.dim(-2), w = s.dim(-1);
  if (h <= 0 || w <= 0) throw_value(component, "grid must be non-empty, got ", h, "x", w);
  return {h, w};
}

/// The one entry of a per-image batch span (value_error when not given, shape_error when the
/// batch holds other than one item).
template <class T>
const T& single_item(const batch& b, std::span<const T> s, std::string_view component, std::string_view what) {
  b.validate(component);
  batch::need(s, component, what);
  if (s.size() != 1)
    throw_shape(component, "a plan is per image: give a batch of one item (batch.slice(i, 1)), got ", s.size());
  return s.front();
}

}  // namespace detail
}  // namespace wsss::graph
