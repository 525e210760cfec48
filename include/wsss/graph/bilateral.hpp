// SPDX-License-Identifier: MIT
// wsss/graph/bilateral.hpp — fully connected bilateral graph (Roy & Todorovic CVPR 2017, eq. 8)
#pragma once

#include <algorithm>
#include <cmath>
#include <memory>
#include <string_view>

#include "wsss/core/error.hpp"
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

/// Fully connected bilateral graph (eq. 8): every ordered pair i != j with weight
/// w_ij = exp(-||z_i - z_j||^2 / sigma_z^2) * exp(-||r_i - r_j||^2 / sigma_r^2), z the node's
/// grid position times `stride` (image pixels per node), r its descriptor (hsv_histograms).
/// w_ii = 1 is the transition's unit diagonal. n^2 - n stored edges: meant for the coarse
/// maps the paper uses it on (pool-4 neurons), not for full images.
struct bilateral_full {
  static constexpr std::string_view name = "graph::bilateral_full";
  struct config {
    double sigma_z = 10.0;  ///< position sensitivity (paper section 3.2)
    double sigma_r = 30.0;  ///< colour-histogram sensitivity
    double stride = 1.0;    ///< distance between neighbouring nodes in the units of sigma_z
  };
  config cfg{};
  std::shared_ptr<const tensor> descriptors;  ///< D x H x W per-node descriptors r_i

  bilateral_full() = default;
  explicit bilateral_full(tensor r) : bilateral_full(std::move(r), config{}) {}
  bilateral_full(tensor r, config c) : cfg(c), descriptors(std::make_shared<const tensor>(std::move(r))) {
    if (!(cfg.sigma_z > 0) || !(cfg.sigma_r > 0) || !(cfg.stride > 0))
      throw_value(name, "sigma_z, sigma_r and stride must be positive, got ", cfg.sigma_z, ", ", cfg.sigma_r, ", ",
                  cfg.stride);
    expect_rank(*descriptors, 3, name, "descriptors", "D x H x W");
    expect_finite(*descriptors, name, "descriptors");
  }

  csr_graph build(index_t height, index_t width) const {
    if (!descriptors) throw_value(name, "no descriptors given");
    const tensor& r = *descriptors;
    if (r.dim(1) != height || r.dim(2) != width)
      throw_shape(name, "descriptors are ", r.shape(), " but the grid is ", height, "x", width);
    const index_t n = height * width, d = r.dim(0);
    csr_graph g;
    g.height = height;
    g.width = width;
    g.row_ptr.resize(static_cast<std::size_t>(n + 1));
    g.col.resize(static_cast<std::size_t>(n * (n - 1)));
    g.weight.resize(g.col.size());
    const double iz = cfg.stride * cfg.stride / (cfg.sigma_z * cfg.sigma_z), ir = 1.0 / (cfg.sigma_r * cfg.sigma_r);
#pragma omp parallel for schedule(static) if (n > 256)
    for (index_t i = 0; i < n; ++i) {
      std::size_t k = static_cast<std::size_t>(i * (n - 1));
      g.row_ptr[static_cast<std::size_t>(i + 1)] = static_cast<index_t>(k + static_cast<std::size_t>(n - 1));
      for (index_t j = 0; j < n; ++j) {
        if (j == i) continue;
        const double dy = static_cast<double>(i / width - j / width), dx = static_cast<double>(i % width - j % width);
        double dr = 0;
        for (index_t c = 0; c < d; ++c) {
          const double t = static_cast<double>(r[c * n + i]) - r[c * n + j];
          dr += t * t;
        }
        g.col[k] = static_cast<std::int32_t>(j);
        g.weight[k++] = static_cast<float>(std::exp(-(dy * dy + dx * dx) * iz - dr * ir));
      }
    }
    return g;
  }
};
static_assert(GraphBuilder<bilateral_full>);

}  // namespace wsss::graph
