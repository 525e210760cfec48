// SPDX-License-Identifier: MIT
// wsss/crf/kernels.hpp — the dense CRF's Gaussian edge kernels and their feature maps
// (Krähenbühl & Koltun 2011, eq. 3; reference defaults of pydensecrf as called by psa and SEC)
#pragma once

#include <cmath>
#include <cstdint>
#include <span>
#include <string_view>

#include "wsss/core/error.hpp"
#include "wsss/core/image.hpp"
#include "wsss/core/tensor.hpp"

namespace wsss::crf {

/// How a filter's raw Gaussian sum K is normalised, with n = K·1 (self term included):
///  symmetric: D K D, D = diag(1/sqrt(n)) (pydensecrf's default, psa and SEC);
///  before:    K diag(1/n);  after: diag(1/n) K (NIPS 2011);  none: K.
enum class normalization { symmetric, before, after, none };

inline std::string_view to_string(normalization n) noexcept {
  switch (n) {
    case normalization::symmetric: return "symmetric";
    case normalization::before: return "before";
    case normalization::after: return "after";
    case normalization::none: return "none";
  }
  return "?";
}

/// Smoothness kernel w·exp(-|p_i - p_j|² / (2 sxy²)): position only.
struct smoothness_kernel {
  float sxy = 3.0f;     ///< spatial standard deviation in pixels (reference: 3)
  float weight = 3.0f;  ///< Potts weight w (reference: 3)
};

/// Appearance kernel w·exp(-|p_i - p_j|² / (2 sxy²) - |I_i - I_j|² / (2 sfeat²)): position
/// plus any per-pixel feature (RGB 0..255 by default; depth, Lab, ... of any dimension).
struct appearance_kernel {
  float sxy = 80.0f;     ///< spatial standard deviation in pixels (reference: 80)
  float sfeat = 13.0f;   ///< feature standard deviation (reference srgb: 13, raw 0..255 values)
  float weight = 10.0f;  ///< Potts weight w (reference: 10)
};

/// The two kernels of the dense CRF and the spatial scale factor for downscaled inputs: the
/// spatial deviations are divided by `spatial_scale` (SEC's loss: 12 at 41x41).
struct kernel_config {
  smoothness_kernel smoothness{};
  appearance_kernel appearance{};
  float spatial_scale = 1.0f;
  normalization norm = normalization::symmetric;

  void validate(std::string_view component) const {
    require(smoothness.sxy > 0 && appearance.sxy > 0 && appearance.sfeat > 0 && spatial_scale > 0, component,
            "kernel deviations and spatial_scale must be > 0, got smoothness.sxy ", smoothness.sxy,
            ", appearance.sxy ", appearance.sxy, ", appearance.sfeat ", appearance.sfeat, ", spatial_scale ",
            spatial_scale);
    require(std::isfinite(smoothness.weight) && std::isfinite(appearance.weight), component,
            "kernel weights must be finite, got ", smoothness.weight, " and ", appearance.weight);
  }
};

namespace detail {
/// Writes the position features (x / sxy, y / sxy) of an H x W grid into dst[0, 2·H·W).
inline void fill_position(float* dst, index_t height, index_t width, float sxy) {
  const index_t n = height * width;
  for (index_t y = 0; y < height; ++y)
    for (index_t x = 0; x < width; ++x) {
      dst[y * width + x] = static_cast<float>(x) / sxy;
      dst[n + y * width + x] = static_cast<float>(y) / sxy;
    }
}
}  // namespace detail

/// Position features 2 x (H·W): (x / sxy, y / sxy) with integer 0-based x, y; pixel n = y·W + x.
inline tensor position_features(index_t height, index_t width, float sxy) {
  require(sxy > 0, "crf::position_features", "sxy must be > 0, got ", sxy);
  tensor f = tensor::uninitialized({2, height * width});
  detail::fill_position(f.data(), height, width, sxy);
  return f;
}

/// Appearance features (2 + F) x (H·W): (x / sxy, y / sxy, g_1 / sfeat, ..., g_F / sfeat) from a
/// guide tensor F x H x W (or 1 x F x H x W).
inline tensor appearance_features(const tensor& guide, float sxy, float sfeat) {
  if (guide.rank() != 3 && !(guide.rank() == 4 && guide.dim(0) == 1))
    throw_shape("crf::appearance_features", "guide must be F x H x W, got ", guide.shape());
  require(sxy > 0 && sfeat > 0, "crf::appearance_features", "sxy and sfeat must be > 0, got ", sxy, " and ", sfeat);
  const index_t c = guide.dim(-3), h = guide.dim(-2), w = guide.dim(-1), n = h * w;
  tensor f = tensor::uninitialized({2 + c, n});
  detail::fill_position(f.data(), h, w, sxy);
  const float* g = guide.data();
  float* fg = f.data() + 2 * n;
  for (index_t k = 0; k < c * n; ++k) fg[k] = g[k] / sfeat;
  return f;
}

/// The reference's RGB guide: 3 x H x W raw 0..255 values.
inline tensor rgb_guide(const rgb_image& img) { return img.to_tensor(1.0f); }

}  // namespace wsss::crf
