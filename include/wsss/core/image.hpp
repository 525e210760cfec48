// SPDX-License-Identifier: MIT
// wsss/core/image.hpp — 8-bit interleaved RGB image (H x W x 3), the layout codecs and the
// dense CRF's bilateral kernel read
#pragma once

#include <cstdint>
#include <vector>

#include "wsss/core/tensor.hpp"

namespace wsss {

/// Row-major, interleaved RGB: pixel (y, x) channel c at data[(y * width + x) * 3 + c].
class rgb_image {
 public:
  rgb_image() = default;
  rgb_image(index_t height, index_t width, std::uint8_t fill = 0) : h_(height), w_(width) {
    if (height < 0 || width < 0) throw_shape("rgb_image", "negative size ", height, "x", width);
    data_.assign(memory::checked_bytes("rgb_image", {height, width, 3}, 1), fill);
  }
  index_t height() const noexcept { return h_; }
  index_t width() const noexcept { return w_; }
  index_t pixels() const noexcept { return h_ * w_; }
  bool empty() const noexcept { return h_ * w_ == 0; }
  std::uint8_t* data() noexcept { return data_.data(); }
  const std::uint8_t* data() const noexcept { return data_.data(); }
  std::uint8_t& operator()(index_t y, index_t x, int c) noexcept { return data_[static_cast<std::size_t>((y * w_ + x) * 3 + c)]; }
  std::uint8_t operator()(index_t y, index_t x, int c) const noexcept { return data_[static_cast<std::size_t>((y * w_ + x) * 3 + c)]; }

  /// 1 x 3 x H x W float tensor. The default maps 0..255 to 0..1; networks apply their own
  /// normalisation (see nn/preprocess).
  tensor to_tensor(float scale = 1.0f / 255.0f) const {
    tensor t({1, 3, h_, w_});
    for (index_t c = 0; c < 3; ++c)
      for (index_t i = 0; i < h_ * w_; ++i) t[c * h_ * w_ + i] = scale * data_[static_cast<std::size_t>(i * 3 + c)];
    return t;
  }

 private:
  index_t h_ = 0, w_ = 0;
  std::vector<std::uint8_t> data_;
};

}  // namespace wsss
