// SPDX-License-Identifier: MIT
// wsss/superpixel/segmentation.hpp — a superpixel label image (labels 0..count-1, -1 = no
// superpixel) with the resampling SPN's multi-scale input needs (pad to square, nearest resize)
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "wsss/core/error.hpp"
#include "wsss/core/tensor.hpp"

namespace wsss::superpixel {

using label_tensor = basic_tensor<std::int32_t>;

/// H x W superpixel labels. Every label in [0, count) names one superpixel; -1 marks pixels
/// that belong to none (padding). slic() returns every label present and connected.
struct segmentation {
  label_tensor labels;    ///< H x W, row-major
  std::int32_t count = 0; ///< number of superpixels K

  index_t height() const { return labels.rank() == 2 ? labels.dim(0) : 0; }
  index_t width() const { return labels.rank() == 2 ? labels.dim(1) : 0; }
  std::int32_t operator()(index_t y, index_t x) const noexcept { return labels[y * labels.dim(1) + x]; }

  /// Pixels per label (size count).
  std::vector<index_t> sizes() const {
    std::vector<index_t> n(static_cast<std::size_t>(count), 0);
    for (std::int32_t l : labels)
      if (l >= 0) ++n[static_cast<std::size_t>(l)];
    return n;
  }
};

/// Throws unless seg is a non-empty H x W map whose labels lie in [-1, count).
inline void validate(const segmentation& seg, std::string_view component) {
  if (seg.labels.rank() != 2 || seg.labels.numel() == 0)
    throw_shape(component, "superpixel map must be a non-empty H x W label image, got ", seg.labels.shape());
  if (seg.count < 0) throw_value(component, "superpixel count must be >= 0, got ", seg.count);
  for (index_t i = 0; i < seg.labels.numel(); ++i)
    if (seg.labels[i] < -1 || seg.labels[i] >= seg.count)
      throw_value(component, "superpixel label ", seg.labels[i], " at flat index ", i, " outside [-1, ", seg.count, ")");
}

/// Pads the shorter side at the bottom / right with -1 to a square (SPN: "make images square
/// by padding zeros to its shorter dimension"; padded pixels belong to no superpixel).
inline segmentation pad_to_square(const segmentation& seg) {
  validate(seg, "superpixel::pad_to_square");
  const index_t H = seg.height(), W = seg.width(), S = H > W ? H : W;
  segmentation out;
  out.count = seg.count;
  out.labels = label_tensor(shape{S, S}, -1);
  for (index_t y = 0; y < H; ++y)
    for (index_t x = 0; x < W; ++x) out.labels[y * S + x] = seg.labels[y * W + x];
  return out;
}

/// Nearest-neighbour resize with pixel-centre sampling: output pixel (y, x) reads input pixel
/// (floor((y + 0.5) H / H'), floor((x + 0.5) W / W')). Small superpixels may vanish.
inline segmentation resize_nearest(const segmentation& seg, index_t height, index_t width) {
  validate(seg, "superpixel::resize_nearest");
  if (height <= 0 || width <= 0) throw_value("superpixel::resize_nearest", "target size must be positive, got ", height, "x", width);
  const index_t H = seg.height(), W = seg.width();
  std::vector<index_t> sx(static_cast<std::size_t>(width));
  for (index_t x = 0; x < width; ++x) sx[static_cast<std::size_t>(x)] = ((2 * x + 1) * W) / (2 * width);
  segmentation out;
  out.count = seg.count;
  out.labels = label_tensor::uninitialized(shape{height, width});
  for (index_t y = 0; y < height; ++y) {
    const index_t syy = ((2 * y + 1) * H) / (2 * height);
    for (index_t x = 0; x < width; ++x) out.labels[y * width + x] = seg.labels[syy * W + sx[static_cast<std::size_t>(x)]];
  }
  return out;
}

}  // namespace wsss::superpixel
