// SPDX-License-Identifier: MIT
// wsss/superpixel/slic.hpp — SLIC superpixels (Achanta et al., TPAMI 2012, Algorithm 1 and
// the connectivity post-processing of sec. 3.2), the segmentation SPN pools over
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <limits>
#include <string_view>
#include <vector>

#include "wsss/core/error.hpp"
#include "wsss/core/image.hpp"
#include "wsss/superpixel/lab.hpp"
#include "wsss/superpixel/segmentation.hpp"

namespace wsss::superpixel {

struct slic_config {
  index_t superpixels = 500;    ///< target count K (grid interval S = sqrt(HW / K))
  float compactness = 10.0f;    ///< m: weight of the spatial distance, D^2 = d_lab^2 + (m/S)^2 d_xy^2
  int iterations = 10;          ///< assignment / update rounds (the paper: 10 suffice)
  float min_size_ratio = 0.25f; ///< connected pieces below ratio * S^2 pixels join a neighbour
  bool perturb_seeds = true;    ///< move each seed to the lowest-gradient pixel of its 3 x 3
};

namespace detail {

/// 4-connected components of the raw cluster map, relabelled 0..K'-1 in raster order;
/// components smaller than min_size join the component of an earlier raster neighbour
/// (Achanta's EnforceLabelConnectivity), so every output label is one connected region.
inline std::int32_t enforce_connectivity(const std::vector<std::int32_t>& raw, index_t H, index_t W, index_t min_size,
                                         std::int32_t* out) {
  const index_t n = H * W;
  std::fill(out, out + n, -1);
  std::vector<index_t> queue(static_cast<std::size_t>(n));
  std::int32_t next = 0;
  for (index_t p0 = 0; p0 < n; ++p0) {
    if (out[p0] >= 0) continue;
    const index_t y0 = p0 / W, x0 = p0 % W;
    std::int32_t adjacent = -1;  // a finished neighbour: left or up (raster order)
    if (x0 > 0) adjacent = out[p0 - 1];
    else if (y0 > 0) adjacent = out[p0 - W];
    const std::int32_t l = raw[static_cast<std::size_t>(p0)];
    index_t head = 0, tail = 0;
    queue[static_cast<std::size_t>(tail++)] = p0;
    out[p0] = next;
    while (head < tail) {
      const index_t p = queue[static_cast<std::size_t>(head++)];
      const index_t y = p / W, x = p % W;
      const index_t nb[4] = {x > 0 ? p - 1 : -1, x + 1 < W ? p + 1 : -1, y > 0 ? p - W : -1, y + 1 < H ? p + W : -1};
      for (index_t q : nb)
        if (q >= 0 && out[q] < 0 && raw[static_cast<std::size_t>(q)] == l) {
          out[q] = next;
          queue[static_cast<std::size_t>(tail++)] = q;
        }
    }
    if (tail < min_size && adjacent >= 0) {
      for (index_t i = 0; i < tail; ++i) out[queue[static_cast<std::size_t>(i)]] = adjacent;
    } else {
      ++next;
    }
  }
  return next;
}

}  // namespace detail

/// SLIC: k-means in (L, a, b, x, y) restricted to a 2S x 2S window around each centre, seeded
/// on a regular grid. Returns labels 0..K'-1, each one 4-connected region; K' is near the
/// target (grid rounding and merged fragments move it by a few percent, see docs/superpixel.md).
inline segmentation slic(const rgb_image& img, const slic_config& cfg = {}) {
  constexpr std::string_view name = "superpixel::slic";
  if (img.empty()) throw_shape(name, "image is empty (", img.height(), "x", img.width(), ")");
  if (cfg.superpixels <= 0) throw_value(name, "superpixels must be positive, got ", cfg.superpixels);
  if (!(cfg.compactness > 0.0f) || !std::isfinite(cfg.compactness))
    throw_value(name, "compactness must be > 0, got ", cfg.compactness);
  if (cfg.iterations < 1) throw_value(name, "iterations must be >= 1, got ", cfg.iterations);
  if (!(cfg.min_size_ratio >= 0.0f && cfg.min_size_ratio < 1.0f))
    throw_value(name, "min_size_ratio must be in [0, 1), got ", cfg.min_size_ratio);
  const index_t H = img.height(), W = img.width(), n = H * W;
  const tensor lab = to_lab(img);
  const float* L = lab.data();
  const float* A = L + n;
  const float* B = A + n;
  const double S = std::sqrt(static_cast<double>(n) / static_cast<double>(std::min(cfg.superpixels, n)));

  // Seeds: a grid of ny x nx cells of side ~S, each seed at its cell centre.
  const index_t nx = std::max<index_t>(1, std::llround(static_cast<double>(W) / S));
  const index_t ny = std::max<index_t>(1, std::llround(static_cast<double>(H) / S));
  struct centre {
    float l, a, b, x, y;
  };
  std::vector<centre> cs;
  cs.reserve(static_cast<std::size_t>(nx * ny));
  auto grad = [&](index_t x, index_t y) {
    const index_t xl = std::max<index_t>(x - 1, 0), xr = std::min(x + 1, W - 1);
    const index_t yu = std::max<index_t>(y - 1, 0), yd = std::min(y + 1, H - 1);
    auto d2 = [&](index_t p, index_t q) {
      const float dl = L[p] - L[q], da = A[p] - A[q], db = B[p] - B[q];
      return dl * dl + da * da + db * db;
    };
    return d2(y * W + xr, y * W + xl) + d2(yd * W + x, yu * W + x);
  };
  for (index_t j = 0; j < ny; ++j)
    for (index_t i = 0; i < nx; ++i) {
      index_t x = std::min(W - 1, ((2 * i + 1) * W) / (2 * nx)), y = std::min(H - 1, ((2 * j + 1) * H) / (2 * ny));
      if (cfg.perturb_seeds) {
        index_t bx = x, by = y;
        float best = grad(x, y);
        for (index_t dy = -1; dy <= 1; ++dy)
          for (index_t dx = -1; dx <= 1; ++dx) {
            const index_t xx = x + dx, yy = y + dy;
            if (xx < 0 || yy < 0 || xx >= W || yy >= H) continue;
            const float g = grad(xx, yy);
            if (g < best) {
              best = g;
              bx = xx;
              by = yy;
            }
          }
        x = bx;
        y = by;
      }
      const index_t p = y * W + x;
      cs.push_back({L[p], A[p], B[p], static_cast<float>(x), static_cast<float>(y)});
    }

  const index_t K = static_cast<index_t>(cs.size());
  const float wxy = static_cast<float>((cfg.compactness / S) * (cfg.compactness / S));
  const index_t win = static_cast<index_t>(std::ceil(S));
  std::vector<std::int32_t> label(static_cast<std::size_t>(n), -1);
  std::vector<float> dist(static_cast<std::size_t>(n));
  std::vector<double> sum(static_cast<std::size_t>(K * 6));
  for (int it = 0; it < cfg.iterations; ++it) {
    std::fill(dist.begin(), dist.end(), std::numeric_limits<float>::max());
    for (index_t k = 0; k < K; ++k) {
      const centre c = cs[static_cast<std::size_t>(k)];
      const index_t cx = std::lround(c.x), cy = std::lround(c.y);
      const index_t x0 = std::max<index_t>(0, cx - win), x1 = std::min(W, cx + win);
      const index_t y0 = std::max<index_t>(0, cy - win), y1 = std::min(H, cy + win);
      for (index_t y = y0; y < y1; ++y) {
        const float dy = static_cast<float>(y) - c.y;
        const float dyy = wxy * dy * dy;
        const index_t row = y * W;
        for (index_t x = x0; x < x1; ++x) {
          const index_t p = row + x;
          const float dl = L[p] - c.l, da = A[p] - c.a, db = B[p] - c.b, dx = static_cast<float>(x) - c.x;
          const float D = dl * dl + da * da + db * db + wxy * dx * dx + dyy;
          if (D < dist[static_cast<std::size_t>(p)]) {
            dist[static_cast<std::size_t>(p)] = D;
            label[static_cast<std::size_t>(p)] = static_cast<std::int32_t>(k);
          }
        }
      }
    }
    std::fill(sum.begin(), sum.end(), 0.0);
    for (index_t y = 0; y < H; ++y)
      for (index_t x = 0; x < W; ++x) {
        const index_t p = y * W + x;
        const std::int32_t k = label[static_cast<std::size_t>(p)];
        if (k < 0) continue;
        double* s = &sum[static_cast<std::size_t>(k) * 6];
        s[0] += L[p];
        s[1] += A[p];
        s[2] += B[p];
        s[3] += static_cast<double>(x);
        s[4] += static_cast<double>(y);
        s[5] += 1.0;
      }
    for (index_t k = 0; k < K; ++k) {
      const double* s = &sum[static_cast<std::size_t>(k) * 6];
      if (s[5] == 0.0) continue;  // an empty cluster keeps its centre
      const double inv = 1.0 / s[5];
      cs[static_cast<std::size_t>(k)] = {static_cast<float>(s[0] * inv), static_cast<float>(s[1] * inv),
                                         static_cast<float>(s[2] * inv), static_cast<float>(s[3] * inv),
                                         static_cast<float>(s[4] * inv)};
    }
  }

  segmentation out;
  out.labels = label_tensor::uninitialized(shape{H, W});
  const index_t min_size = static_cast<index_t>(cfg.min_size_ratio * S * S);
  out.count = detail::enforce_connectivity(label, H, W, min_size, out.labels.data());
  return out;
}

/// A superpixel method (SPN's superpixel slot; the paper used Zitnick & Dollar's edge-box
/// superpixels): its name, and m(img), the image's segmentation at the image's size.
template <class M>
concept SuperpixelMethod = requires(const M& m, const rgb_image& img) {
  { M::name } -> std::convertible_to<std::string_view>;
  { m(img) } -> std::same_as<segmentation>;
};

/// SLIC as a SuperpixelMethod.
struct slic_method {
  static constexpr std::string_view name = "slic";
  slic_config cfg{};
  segmentation operator()(const rgb_image& img) const { return slic(img, cfg); }
};
static_assert(SuperpixelMethod<slic_method>);

}  // namespace wsss::superpixel
