// SPDX-License-Identifier: MIT
// wsss/superpixel/lab.hpp — sRGB (D65) to CIELAB, the colour space SLIC clusters in
// (Achanta et al. 2012, sec. 3.1)
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <cmath>

#include "wsss/core/image.hpp"
#include "wsss/core/tensor.hpp"

namespace wsss::superpixel {

namespace detail {
/// Cube root of t in (0, ~1.1]: exponent-thirding bit trick (error < 5%) then two Halley
/// steps (cubic convergence: < 1e-7 relative), branch-free so the pixel loop vectorises.
inline float cbrt_positive(float t) noexcept {
  float y = std::bit_cast<float>(std::bit_cast<std::uint32_t>(t) / 3u + 709921077u);
  for (int k = 0; k < 2; ++k) {
    const float y3 = y * y * y;
    y = y * (y3 + 2.0f * t) / (2.0f * y3 + t);
  }
  return y;
}
}  // namespace detail

/// CIELAB of an 8-bit sRGB image as a 3 x H x W float tensor (L in [0, 100], a, b roughly in
/// [-128, 127]): sRGB gamma removed, XYZ by the sRGB/D65 matrix, normalised by the D65 white
/// (0.950456, 1, 1.088754), f(t) = cbrt(t) above (6/29)^3, t / (3 (6/29)^2) + 4/29 below.
inline tensor to_lab(const rgb_image& img) {
  static const std::array<float, 256> linear = [] {
    std::array<float, 256> t{};
    for (int i = 0; i < 256; ++i) {
      const double c = i / 255.0;
      t[static_cast<std::size_t>(i)] = static_cast<float>(c <= 0.04045 ? c / 12.92 : std::pow((c + 0.055) / 1.055, 2.4));
    }
    return t;
  }();
  const index_t n = img.pixels();
  tensor lab = tensor::uninitialized(shape{3, img.height(), img.width()});
  float* L = lab.data();
  float* A = L + n;
  float* B = A + n;
  const std::uint8_t* p = img.data();
  auto f = [](float t) { return t > 0.008856452f ? detail::cbrt_positive(t) : 7.787037f * t + 0.137931034f; };
  for (index_t i = 0; i < n; ++i) {
    const float r = linear[p[3 * i]], g = linear[p[3 * i + 1]], b = linear[p[3 * i + 2]];
    const float x = (0.4124564f * r + 0.3575761f * g + 0.1804375f * b) * (1.0f / 0.950456f);
    const float y = 0.2126729f * r + 0.7151522f * g + 0.0721750f * b;
    const float z = (0.0193339f * r + 0.1191920f * g + 0.9503041f * b) * (1.0f / 1.088754f);
    const float fx = f(x), fy = f(y), fz = f(z);
    L[i] = 116.0f * fy - 16.0f;
    A[i] = 500.0f * (fx - fy);
    B[i] = 200.0f * (fy - fz);
  }
  return lab;
}

}  // namespace wsss::superpixel
