// SPDX-License-Identifier: MIT
// wsss/graph/bilateral.hpp — fully connected bilateral graph (Roy & Todorovic CVPR 2017, eq. 8)
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string_view>
#include <utility>

#include "wsss/backend/for_each_index.hpp"
#include "wsss/core/batch.hpp"
#include "wsss/core/config.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/core/image.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/graph/concepts.hpp"
#include "wsss/graph/csr.hpp"

namespace wsss::graph {

/// Per-node HSV colour histograms r_i of eq. 8: the image is split into an H x W grid of
/// cells (cell (y, x) covers image rows [y*Hi/H, (y+1)*Hi/H) and likewise for columns), and
/// each cell's pixels are counted into `bins` bins per channel of H (hue, [0, 360)), S and V
/// ([0, 1]). Output: (3 * bins) x H x W raw counts (not normalised: sigma_r = 30 is on the
/// count scale; with unit-sum histograms eq. 8's colour term would be constant).
inline tensor hsv_histograms(const rgb_image& img, index_t height, index_t width, int bins = 8) {
  constexpr std::string_view comp = "graph::hsv_histograms";
  if (bins <= 0) throw_value(comp, "bins must be positive, got ", bins);
  if (height <= 0 || width <= 0 || height > img.height() || width > img.width())
    throw_shape(comp, "grid ", height, "x", width, " must be non-empty and no larger than the image ", img.height(),
                "x", img.width());
  tensor r({3 * static_cast<index_t>(bins), height, width});
  const index_t hw = height * width;
  auto bin = [bins](double v) { return std::min(bins - 1, static_cast<int>(v * bins)); };  // v in [0, 1]
  for (index_t py = 0; py < img.height(); ++py)
    for (index_t px = 0; px < img.width(); ++px) {
      const double rr = img(py, px, 0) / 255.0, gg = img(py, px, 1) / 255.0, bb = img(py, px, 2) / 255.0;
      const double mx = std::max({rr, gg, bb}), mn = std::min({rr, gg, bb}), c = mx - mn;
      double hue = 0;
      if (c > 0) {
        if (mx == rr) hue = std::fmod((gg - bb) / c + 6.0, 6.0);
        else if (mx == gg) hue = (bb - rr) / c + 2.0;
        else hue = (rr - gg) / c + 4.0;
      }
      const double sat = mx > 0 ? c / mx : 0.0;
      const index_t node = (py * height / img.height()) * width + px * width / img.width();
      r[bin(hue / 6.0) * hw + node] += 1;
      r[(bins + bin(sat)) * hw + node] += 1;
      r[(2 * bins + bin(mx)) * hw + node] += 1;
    }
  return r;
}

namespace detail {

/// Eq. 8 for the edges of row i (positions from the node ids, descriptors D x n plane-major).
struct bilateral_kernel {
  const float* r;
  const index_t* row_ptr;
  const std::int32_t* col;
  float* weight;
  std::int64_t nodes, dims, width;
  double iz, ir;  // stride^2 / sigma_z^2 and 1 / sigma_r^2
  WSSS_HD void operator()(std::int64_t i) const {
    for (index_t k = row_ptr[i]; k < row_ptr[i + 1]; ++k) {
      const std::int64_t j = col[k];
      const double dy = static_cast<double>(i / width - j / width), dx = static_cast<double>(i % width - j % width);
      double dr = 0;
      for (std::int64_t c = 0; c < dims; ++c) {
        const double t = static_cast<double>(r[c * nodes + i]) - r[c * nodes + j];
        dr += t * t;
      }
      weight[k] = static_cast<float>(std::exp(-(dy * dy + dx * dx) * iz - dr * ir));
    }
  }
};

}  // namespace detail

/// Fully connected bilateral graph (eq. 8): every ordered pair i != j with weight
/// w_ij = exp(-||z_i - z_j||^2 / sigma_z^2) * exp(-||r_i - r_j||^2 / sigma_r^2), z the node's
/// grid position times `stride` (image pixels per node), r its descriptor (hsv_histograms of
/// the batch's image, computed in prepare). w_ii = 1 is the transition's unit diagonal, and
/// eq. 9's normalised delta_ii' = w_ii' / sum_i' w_ii' - 1 is walk::make_transition(g, {1})
/// minus one (docs/graph.md). n^2 - n stored edges: meant for the coarse maps the paper uses
/// it on (pool-4 neurons), not for full images.
struct bilateral_full {
  static constexpr std::string_view name = "graph::bilateral_full";
  static constexpr weighting weights = weighting::fixed;
  struct config {
    double sigma_z = 10.0;  ///< position sensitivity (paper section 3.2)
    double sigma_r = 30.0;  ///< colour-histogram sensitivity
    double stride = 1.0;    ///< distance between neighbouring nodes in the units of sigma_z
    int bins = 8;           ///< histogram bins per HSV channel (the paper does not say)
  };
  struct plan : structure_plan {
    tensor descriptors;  ///< D x H x W per-node descriptors r_i
  };
  config cfg{};

  bilateral_full() = default;
  explicit bilateral_full(config c) : cfg(c) {
    if (!(cfg.sigma_z > 0) || !(cfg.sigma_r > 0) || !(cfg.stride > 0))
      throw_value(name, "sigma_z, sigma_r and stride must be positive, got ", cfg.sigma_z, ", ", cfg.sigma_r, ", ",
                  cfg.stride);
    if (cfg.bins <= 0) throw_value(name, "bins must be positive, got ", cfg.bins);
  }

  /// s: the grid H x W (or F x H x W); the batch holds one image, at least H x W pixels.
  template <class Tag>
  plan prepare(const exec<Tag>&, const batch& b, const shape& s) const {
    const auto [height, width] = detail::grid_of(s, name);
    const rgb_image& img = detail::single_item(b, b.images, name, "an image");
    return with_descriptors(hsv_histograms(img, height, width, cfg.bins));
  }

  /// The plan for given descriptors r (D x H x W) instead of an image's histograms.
  plan with_descriptors(tensor r) const {
    expect_rank(r, 3, name, "descriptors", "D x H x W");
    expect_finite(r, name, "descriptors");
    const index_t height = r.dim(1), width = r.dim(2), n = height * width;
    if (n <= 0) throw_value(name, "grid must be non-empty, got ", height, "x", width);
    csr_graph g;
    g.height = height;
    g.width = width;
    g.row_ptr.resize(static_cast<std::size_t>(n + 1));
    g.col.resize(static_cast<std::size_t>(n * (n - 1)));
    for (index_t i = 0; i < n; ++i) {
      std::size_t k = static_cast<std::size_t>(i * (n - 1));
      g.row_ptr[static_cast<std::size_t>(i + 1)] = static_cast<index_t>(k + static_cast<std::size_t>(n - 1));
      for (index_t j = 0; j < n; ++j)
        if (j != i) g.col[k++] = static_cast<std::int32_t>(j);
    }
    plan pl;
    pl.assign(std::move(g));
    pl.descriptors = std::move(r);
    return pl;
  }

  /// Overwrites out with the plan's graph weighted by eq. 8 (features are ignored).
  template <class Tag>
  void run(const exec<Tag>& ex, plan& pl, const tensor&, csr_graph& out) const {
    require_backend<bilateral_full, Tag>();
    pl.copy_structure(out);
    out.weight.resize(out.col.size());
    const tensor& r = pl.descriptors;
    backend::for_each_index(ex.tag, pl.graph.nodes(),
                            detail::bilateral_kernel{r.data(), out.row_ptr.data(), out.col.data(), out.weight.data(),
                                                     pl.graph.nodes(), r.dim(0), pl.graph.width,
                                                     cfg.stride * cfg.stride / (cfg.sigma_z * cfg.sigma_z),
                                                     1.0 / (cfg.sigma_r * cfg.sigma_r)});
  }
};
static_assert(GraphBuilder<bilateral_full>);

}  // namespace wsss::graph
