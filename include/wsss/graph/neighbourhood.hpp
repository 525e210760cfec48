// SPDX-License-Identifier: MIT
// wsss/graph/neighbourhood.hpp — radius-gamma and 4/8-connected grid graphs with learned weights (AffinityNet, eq. 3-4)
#pragma once

#include <cmath>
#include <cstdint>
#include <string_view>
#include <vector>

#include "wsss/core/error.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/graph/affinity.hpp"
#include "wsss/graph/concepts.hpp"
#include "wsss/graph/csr.hpp"

namespace wsss::graph {

/// A grid displacement (dy, dx): the neighbour of (y, x) is (y + dy, x + dx).
struct offset {
  int dy = 0, dx = 0;
  friend bool operator==(const offset&, const offset&) = default;
};

/// The half-plane of displacements with Euclidean length < gamma, each unordered pair once,
/// in the public AffinityNet code's order: (0, 1..r) first, then dy = 1..r with dx ascending
/// from -r to r (r = ceil(gamma) - 1). For gamma = 5 these are the reference's 34 offsets
/// (0,1)..(0,4), (1,-4)..(1,4), (2,-4)..(2,4), (3,-3)..(3,3), (4,-2)..(4,2).
inline std::vector<offset> half_plane_offsets(double gamma) {
  if (!(gamma >= 1.0) || !std::isfinite(gamma))
    throw_value("graph::half_plane_offsets", "radius gamma must be finite and >= 1, got ", gamma);
  const int r = static_cast<int>(std::ceil(gamma)) - 1;
  const double g2 = gamma * gamma;
  std::vector<offset> out;
  for (int dx = 1; dx <= r; ++dx)
    if (dx * dx < g2) out.push_back({0, dx});
  for (int dy = 1; dy <= r; ++dy)
    for (int dx = -r; dx <= r; ++dx)
      if (dx * dx + dy * dy < g2) out.push_back({dy, dx});
  return out;
}

/// Both orientations of half_plane_offsets, sorted by (dy, dx): the full disc of eq. 4 minus
/// the centre. Sorted so that a row of the CSR graph comes out with ascending columns.
inline std::vector<offset> disc_offsets(double gamma) {
  const auto half = half_plane_offsets(gamma);
  std::vector<offset> out;
  for (auto it = half.rbegin(); it != half.rend(); ++it) out.push_back({-it->dy, -it->dx});
  for (const offset& o : half) out.push_back(o);
  return out;
}

/// CSR graph on an H x W grid joining each node to the in-bounds nodes at the given
/// displacements. `offsets` must be sorted by (dy, dx) and must not contain (0, 0).
inline csr_graph offset_graph(index_t height, index_t width, const std::vector<offset>& offsets,
                              std::string_view component = "graph::offset_graph") {
  if (height <= 0 || width <= 0) throw_value(component, "grid must be non-empty, got ", height, "x", width);
  if (height * width > INT32_MAX) throw_value(component, "grid ", height, "x", width, " exceeds int32 node ids");
  csr_graph g;
  g.height = height;
  g.width = width;
  g.row_ptr.assign(static_cast<std::size_t>(height * width + 1), 0);
  g.col.reserve(static_cast<std::size_t>(height * width) * offsets.size());
  for (index_t y = 0; y < height; ++y)
    for (index_t x = 0; x < width; ++x) {
      for (const offset& o : offsets) {
        const index_t yy = y + o.dy, xx = x + o.dx;
        if (yy >= 0 && yy < height && xx >= 0 && xx < width) g.col.push_back(static_cast<std::int32_t>(yy * width + xx));
      }
      g.row_ptr[static_cast<std::size_t>(y * width + x + 1)] = static_cast<index_t>(g.col.size());
    }
  return g;
}

namespace detail {

/// Everything a learned grid builder does besides choosing its offsets: the plan is the
/// offset graph on the prepared grid, run weights it by eq. 3 (affinity.hpp).
template <class Self>
struct learned_grid {
  template <class Tag>
  structure_plan prepare(const exec<Tag>&, const batch&, const shape& s) const {
    const Self& self = static_cast<const Self&>(*this);
    const auto [h, w] = grid_of(s, Self::name);
    structure_plan pl;
    pl.assign(offset_graph(h, w, self.offsets(), Self::name));
    pl.pair_up();  // run computes eq. 3 once per unordered pair
    return pl;
  }
  template <class Tag>
  void run(const exec<Tag>& ex, structure_plan& pl, const tensor& features, csr_graph& out) const {
    require_backend<Self, Tag>();
    learned_weights(ex, pl, features, static_cast<const Self&>(*this).cfg.dist, out, Self::name);
  }
};

}  // namespace detail

/// Radius-gamma neighbourhood (eq. 4): i ~ j iff 0 < ||(x_i, y_i) - (x_j, y_j)||_2 < gamma,
/// both orientations, every node of the grid (unlike the reference's inference graph, which
/// drops the pairs among the bottom 4 rows and the left/right 4 columns; see docs/graph.md),
/// weighted by eq. 3 from the features given to run: with them, one run is psa's affinity
/// graph.
struct radius : detail::learned_grid<radius> {
  static constexpr std::string_view name = "graph::radius";
  static constexpr weighting weights = weighting::learned;
  struct config {
    double gamma = 5.0;                ///< AffinityNet's gamma (README and paper section 4.1)
    distance dist = distance::mean_l1;  ///< d of eq. 3 (sum_l1: the paper's)
  };
  using plan = structure_plan;
  config cfg{};

  radius() = default;
  explicit radius(config c) : cfg(c) {
    if (!(cfg.gamma >= 1.0) || !std::isfinite(cfg.gamma))
      throw_value(name, "radius gamma must be finite and >= 1, got ", cfg.gamma);
    check_distance(cfg.dist, name);
  }
  std::vector<offset> offsets() const { return disc_offsets(cfg.gamma); }
};
static_assert(GraphBuilder<radius>);

/// 4- or 8-connected grid graph (N = 4: horizontal and vertical neighbours; N = 8: plus the
/// diagonals), weighted like radius. Equal to radius{1.01} and radius{1.5} respectively.
template <int N>
struct connectivity : detail::learned_grid<connectivity<N>> {
  static_assert(N == 4 || N == 8, "graph::connectivity: N must be 4 or 8");
  static constexpr std::string_view name = N == 4 ? "graph::connectivity<4>" : "graph::connectivity<8>";
  static constexpr weighting weights = weighting::learned;
  struct config {
    distance dist = distance::mean_l1;  ///< d of eq. 3
  };
  using plan = structure_plan;
  config cfg{};

  connectivity() = default;
  explicit connectivity(config c) : cfg(c) { check_distance(cfg.dist, name); }
  std::vector<offset> offsets() const {
    if constexpr (N == 4) return {{-1, 0}, {0, -1}, {0, 1}, {1, 0}};
    else return {{-1, -1}, {-1, 0}, {-1, 1}, {0, -1}, {0, 1}, {1, -1}, {1, 0}, {1, 1}};
  }
};
using four_connected = connectivity<4>;
using eight_connected = connectivity<8>;
static_assert(GraphBuilder<four_connected> && GraphBuilder<eight_connected>);

/// The reference's training pair layout (psa ExtractAffinityLabelInRadius and
/// get_indices_of_pairs): offset-major over half_plane_offsets(gamma); for each offset the
/// "from" pixels are rows [0, H - r), columns [r, W - r) in row-major order (r = ceil(gamma)
/// - 1), "to" = from + offset. For 56 x 56 and gamma 5: 34 x (52 * 48) = 34 x 2496 pairs,
/// pair k = offset (k / 2496), from pixel (k % 2496).
inline pair_list reference_pairs(index_t height, index_t width, double gamma = 5.0) {
  const auto offs = half_plane_offsets(gamma);
  const index_t r = static_cast<index_t>(std::ceil(gamma)) - 1;
  if (height <= r || width <= 2 * r)
    throw_shape("graph::reference_pairs", "grid ", height, "x", width, " is too small for radius ", gamma,
                " (needs more than ", r, " rows and ", 2 * r, " columns)");
  pair_list p;
  p.height = height;
  p.width = width;
  const std::size_t per = static_cast<std::size_t>((height - r) * (width - 2 * r));
  p.from.reserve(per * offs.size());
  p.to.reserve(per * offs.size());
  for (const offset& o : offs)
    for (index_t y = 0; y < height - r; ++y)
      for (index_t x = r; x < width - r; ++x) {
        p.from.push_back(static_cast<std::int32_t>(y * width + x));
        p.to.push_back(static_cast<std::int32_t>((y + o.dy) * width + x + o.dx));
      }
  return p;
}

/// All unordered pairs of eq. 4 once each (half-plane offsets, every in-bounds "from" pixel),
/// offset-major like reference_pairs but without its border restriction.
inline pair_list half_plane_pairs(index_t height, index_t width, double gamma = 5.0) {
  const auto offs = half_plane_offsets(gamma);
  pair_list p;
  p.height = height;
  p.width = width;
  for (const offset& o : offs)
    for (index_t y = 0; y + o.dy < height; ++y)
      for (index_t x = std::max<index_t>(0, -o.dx); x < width && x + o.dx < width; ++x) {
        p.from.push_back(static_cast<std::int32_t>(y * width + x));
        p.to.push_back(static_cast<std::int32_t>((y + o.dy) * width + x + o.dx));
      }
  return p;
}

}  // namespace wsss::graph
