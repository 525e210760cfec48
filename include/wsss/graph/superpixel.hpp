// SPDX-License-Identifier: MIT
// wsss/graph/superpixel.hpp — region adjacency graph of a superpixel segmentation
#pragma once

#include <cstdint>
#include <string_view>

#include "wsss/core/batch.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/graph/concepts.hpp"
#include "wsss/graph/csr.hpp"
#include "wsss/superpixel/segmentation.hpp"

namespace wsss::graph {

/// Superpixel adjacency: one node per superpixel k in [0, K) of the batch's segmentation
/// (K = its count; ids no pixel carries become isolated nodes), and an edge between two
/// regions iff some pair of 4-adjacent pixels carries their ids (pixels labelled -1 belong
/// to no superpixel and join nothing). The result is a 1 x K graph, structure only.
struct superpixel_adjacency {
  static constexpr std::string_view name = "graph::superpixel_adjacency";
  static constexpr weighting weights = weighting::none;
  struct config {};
  using plan = structure_plan;
  config cfg{};

  superpixel_adjacency() = default;
  explicit superpixel_adjacency(config c) : cfg(c) {}

  /// s: the segmentation's H x W (or F x H x W); the batch holds one superpixel map.
  template <class Tag>
  plan prepare(const exec<Tag>&, const batch& b, const shape& s) const {
    const auto [height, width] = detail::grid_of(s, name);
    const superpixel::segmentation& seg = detail::single_item(b, b.superpixels, name, "a superpixel map");
    superpixel::validate(seg, name);
    if (seg.height() != height || seg.width() != width)
      throw_shape(name, "superpixel map is ", seg.height(), "x", seg.width(), " but the grid is ", height, "x", width);
    pair_list p;
    p.height = 1;
    p.width = seg.count;
    auto add = [&](std::int32_t a, std::int32_t b) {
      if (a == b || a < 0 || b < 0) return;
      p.from.push_back(a);
      p.to.push_back(b);
      p.from.push_back(b);
      p.to.push_back(a);
    };
    for (index_t y = 0; y < height; ++y)
      for (index_t x = 0; x < width; ++x) {
        if (x + 1 < width) add(seg(y, x), seg(y, x + 1));
        if (y + 1 < height) add(seg(y, x), seg(y + 1, x));
      }
    plan pl;
    pl.assign(from_pairs(p));
    return pl;
  }

  /// The region graph (features are ignored: the nodes are regions, not grid cells).
  template <class Tag>
  void run(const exec<Tag>&, plan& pl, const tensor&, csr_graph& out) const {
    require_backend<superpixel_adjacency, Tag>();
    pl.copy_structure(out);
  }
};
static_assert(GraphBuilder<superpixel_adjacency>);

}  // namespace wsss::graph
