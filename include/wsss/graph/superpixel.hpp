// SPDX-License-Identifier: MIT
// wsss/graph/superpixel.hpp — region adjacency graph of a superpixel label map
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "wsss/core/error.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/graph/concepts.hpp"
#include "wsss/graph/csr.hpp"

namespace wsss::graph {

using int_map = basic_tensor<std::int32_t>;

/// Superpixel adjacency: one node per region id k in [0, K) of an H x W integer label map
/// (K = max id + 1; unused ids become isolated nodes), and an edge between two regions iff
/// some pair of 4-adjacent pixels carries their ids. The result is a 1 x K graph.
struct superpixel_adjacency {
  static constexpr std::string_view name = "graph::superpixel_adjacency";
  struct config {};
  config cfg{};
  std::shared_ptr<const int_map> labels;  ///< H x W region ids, shared (cheap to copy)

  superpixel_adjacency() = default;
  explicit superpixel_adjacency(int_map regions) : labels(std::make_shared<const int_map>(std::move(regions))) {
    expect_rank(*labels, 2, name, "superpixel label map", "H x W");
    for (index_t i = 0; i < labels->numel(); ++i)
      if ((*labels)[i] < 0) throw_value(name, "region id ", (*labels)[i], " at pixel ", i, " is negative");
  }

  /// Number of regions K (max id + 1).
  index_t regions() const {
    if (!labels || labels->numel() == 0) return 0;
    return static_cast<index_t>(*std::max_element(labels->begin(), labels->end())) + 1;
  }

  csr_graph build(index_t height, index_t width) const {
    if (!labels) throw_value(name, "no label map given");
    if (labels->dim(0) != height || labels->dim(1) != width)
      throw_shape(name, "label map is ", labels->shape(), " but the grid is ", height, "x", width);
    const int_map& l = *labels;
    pair_list p;
    p.height = 1;
    p.width = regions();
    auto add = [&](std::int32_t a, std::int32_t b) {
      if (a == b) return;
      p.from.push_back(a);
      p.to.push_back(b);
      p.from.push_back(b);
      p.to.push_back(a);
    };
    for (index_t y = 0; y < height; ++y)
      for (index_t x = 0; x < width; ++x) {
        if (x + 1 < width) add(l(y, x), l(y, x + 1));
        if (y + 1 < height) add(l(y, x), l(y + 1, x));
      }
    return from_pairs(p);
  }
};
static_assert(GraphBuilder<superpixel_adjacency>);

}  // namespace wsss::graph
