// SPDX-License-Identifier: MIT
// wsss/graph/concepts.hpp — the GraphBuilder concept (AffinityNet eq. 4; attention paper eq. 8)
#pragma once

#include <concepts>
#include <string_view>

#include "wsss/core/shape.hpp"
#include "wsss/graph/csr.hpp"

namespace wsss::graph {

/*  GraphBuilder contract
    A graph builder is a policy that turns the geometry of an H x W grid (plus whatever side
    data it was constructed with: a superpixel label map, per-node descriptors) into a
    csr_graph. It provides
      static constexpr std::string_view name;
      struct config { ... };                     // the paper's defaults (radius, sigmas)
      csr_graph build(index_t height, index_t width) const;
    Guarantees of build():
      - the result passes csr_graph::validate(): sorted rows, no duplicates, no self-loops
        (the transition of eq. 11 adds the unit diagonal itself);
      - the result is symmetric (i -> j present iff j -> i, equal weights when weighted):
        every builder here describes an undirected neighbourhood;
      - grid builders return nodes() == height * width; region builders (superpixel
        adjacency) return a 1 x K graph over the K regions of the label map they hold;
      - weights are set only by builders whose paper defines them (the bilateral graph of
        eq. 8); geometric builders return structure only, and graph::affinity_op supplies
        the learned weights of eq. 3.
    Side data whose extent disagrees with (height, width) is a shape_error; configuration
    out of range (radius < 1, sigma <= 0) is a value_error, raised at construction.          */
template <class B>
concept GraphBuilder = std::copy_constructible<B> && requires(const B& b, index_t h, index_t w) {
  { B::name } -> std::convertible_to<std::string_view>;
  typename B::config;
  { b.build(h, w) } -> std::same_as<csr_graph>;
};

}  // namespace wsss::graph
