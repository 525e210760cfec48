// SPDX-License-Identifier: MIT
// wsss/core/label_map.hpp — per-pixel class ids (uint8, 255 = ignore, as in PASCAL VOC)
#pragma once

#include <cstdint>
#include <vector>

#include "wsss/core/tensor.hpp"

namespace wsss {

inline constexpr std::uint8_t ignore_label = 255;

/// Row-major H x W class ids; ignore_label marks pixels excluded from losses and metrics.
class label_map {
 public:
  label_map() = default;
  label_map(index_t height, index_t width, std::uint8_t fill = 0) : h_(height), w_(width) {
    if (height < 0 || width < 0) throw_shape("label_map", "negative size ", height, "x", width);
    data_.assign(memory::checked_bytes("label_map", {height, width}, 1), fill);
  }
  index_t height() const noexcept { return h_; }
  index_t width() const noexcept { return w_; }
  index_t pixels() const noexcept { return h_ * w_; }
  std::uint8_t* data() noexcept { return data_.data(); }
  const std::uint8_t* data() const noexcept { return data_.data(); }
  std::uint8_t& operator()(index_t y, index_t x) noexcept { return data_[static_cast<std::size_t>(y * w_ + x)]; }
  std::uint8_t operator()(index_t y, index_t x) const noexcept { return data_[static_cast<std::size_t>(y * w_ + x)]; }
  std::uint8_t& operator[](index_t i) noexcept { return data_[static_cast<std::size_t>(i)]; }
  std::uint8_t operator[](index_t i) const noexcept { return data_[static_cast<std::size_t>(i)]; }
  friend bool operator==(const label_map&, const label_map&) = default;

  /// Sorted distinct labels present, ignore_label excluded.
  std::vector<int> present() const {
    bool seen[256] = {};
    for (auto v : data_) seen[v] = true;
    std::vector<int> out;
    for (int l = 0; l < 255; ++l)
      if (seen[l]) out.push_back(l);
    return out;
  }

 private:
  index_t h_ = 0, w_ = 0;
  std::vector<std::uint8_t> data_;
};

/// A label map brought to h x w by nearest-neighbour sampling of pixel centres (source pixel
/// floor((2y + 1) H / 2h)): cue files of any resolution to the score grid, masks and box
/// targets to the training targets' grid. The same size is returned as is.
inline label_map resample_labels(const label_map& m, index_t h, index_t w) {
  if (m.height() == h && m.width() == w) return m;
  if (m.pixels() == 0 || h <= 0 || w <= 0)
    throw_shape("resample_labels", "cannot resample a ", m.height(), "x", m.width(), " label map to ", h, "x", w);
  label_map out(h, w);
  for (index_t y = 0; y < h; ++y)
    for (index_t x = 0; x < w; ++x) out(y, x) = m((2 * y + 1) * m.height() / (2 * h), (2 * x + 1) * m.width() / (2 * w));
  return out;
}

/// Per-pixel argmax over the class axis of a C x H x W (or 1 x C x H x W) score tensor;
/// the first maximum wins.
inline label_map argmax_labels(const tensor& scores) {
  if (scores.rank() != 3 && !(scores.rank() == 4 && scores.dim(0) == 1))
    throw_shape("argmax_labels", "scores must be CxHxW or 1xCxHxW, got ", scores.shape());
  const index_t c = scores.dim(-3), h = scores.dim(-2), w = scores.dim(-1);
  if (c > 255) throw_value("argmax_labels", "at most 255 classes fit a label map, got ", c);
  label_map out(h, w);
  for (index_t i = 0; i < h * w; ++i) {
    index_t best = 0;
    for (index_t k = 1; k < c; ++k)
      if (scores[k * h * w + i] > scores[best * h * w + i]) best = k;
    out[i] = static_cast<std::uint8_t>(best);
  }
  return out;
}

}  // namespace wsss
