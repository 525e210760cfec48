// SPDX-License-Identifier: MIT
// wsss/core/resize.hpp — bilinear resampling of (..., H, W) tensors and its adjoint; the one
// implementation behind the autodiff op, CAM upsampling and label-map downscaling
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "wsss/core/config.hpp"
#include "wsss/core/tensor.hpp"

namespace wsss {

/// How output pixel centres map to input coordinates.
///  half_pixel (PyTorch align_corners=False, the reference nets' default):
///     src = (dst + 0.5) * in / out - 0.5, clamped at 0;
///  align_corners (PyTorch align_corners=True, Caffe's Interp layer):
///     src = dst * (in - 1) / (out - 1).
enum class resize_mode { half_pixel, align_corners };

namespace detail {

/// One output coordinate's two input neighbours and the second one's weight.
struct lerp_point {
  index_t i0, i1;
  float w1;  // weight of i1; i0 gets 1 - w1
};

/// Where output coordinate d of `out` falls among `in` inputs (the mode's mapping, in double).
/// WSSS_HD: the device label-synthesis kernels compute it per pixel instead of uploading axes.
WSSS_HD inline lerp_point lerp_at(index_t d, index_t in, index_t out, resize_mode mode) {
  double src;
  if (mode == resize_mode::align_corners) {
    src = out > 1 ? static_cast<double>(d) * static_cast<double>(in - 1) / static_cast<double>(out - 1) : 0.0;
  } else {
    src = (static_cast<double>(d) + 0.5) * static_cast<double>(in) / static_cast<double>(out) - 0.5;
    src = 0.0 < src ? src : 0.0;
  }
  const auto f = static_cast<index_t>(floor(src));
  const index_t lo = f < in - 1 ? f : in - 1;
  return {lo, lo + 1 < in - 1 ? lo + 1 : in - 1, static_cast<float>(src - static_cast<double>(lo))};
}

/// The bilinear value of the four neighbours (row 0: a0 a1, row 1: b0 b1) at weights wx, wy:
/// the expression every resize in wsss evaluates, so all of them give the same bits.
WSSS_HD inline float bilerp(float a0, float a1, float b0, float b1, float wx, float wy) {
  const float top = a0 + wx * (a1 - a0);
  const float bot = b0 + wx * (b1 - b0);
  return top + wy * (bot - top);
}

struct lerp_axis {
  std::vector<index_t> i0, i1;
  std::vector<float> w1;  // weight of i1; i0 gets 1 - w1
};

inline lerp_axis make_lerp_axis(index_t in, index_t out, resize_mode mode) {
  lerp_axis a;
  a.i0.resize(static_cast<std::size_t>(out));
  a.i1.resize(static_cast<std::size_t>(out));
  a.w1.resize(static_cast<std::size_t>(out));
  for (index_t d = 0; d < out; ++d) {
    const lerp_point p = lerp_at(d, in, out, mode);
    const auto k = static_cast<std::size_t>(d);
    a.i0[k] = p.i0;
    a.i1[k] = p.i1;
    a.w1[k] = p.w1;
  }
  return a;
}

inline void check_resize(const tensor& x, index_t out_h, index_t out_w, std::string_view component) {
  if (x.rank() < 2) throw_shape(component, "input must have rank >= 2 (..., H, W), got ", x.shape());
  if (out_h <= 0 || out_w <= 0) throw_value(component, "output size must be positive, got ", out_h, "x", out_w);
  if (x.dim(-1) == 0 || x.dim(-2) == 0) throw_shape(component, "input has an empty spatial extent ", x.shape());
}

}  // namespace detail

/// Bilinear resize of the two trailing axes: (..., H, W) -> (..., out_h, out_w).
inline tensor resize_bilinear(const tensor& x, index_t out_h, index_t out_w,
                              resize_mode mode = resize_mode::half_pixel) {
  detail::check_resize(x, out_h, out_w, "resize_bilinear");
  const index_t h = x.dim(-2), w = x.dim(-1), planes = x.numel() / (h * w);
  const auto ay = detail::make_lerp_axis(h, out_h, mode), ax = detail::make_lerp_axis(w, out_w, mode);
  shape s = x.shape();
  s[s.rank() - 2] = out_h;
  s[s.rank() - 1] = out_w;
  tensor y = tensor::uninitialized(s);
#pragma omp parallel for schedule(static) if (planes * out_h * out_w > 32768)
  for (index_t p = 0; p < planes; ++p) {
    const float* in = x.data() + p * h * w;
    float* out = y.data() + p * out_h * out_w;
    for (index_t oy = 0; oy < out_h; ++oy) {
      const auto ky = static_cast<std::size_t>(oy);
      const float* r0 = in + ay.i0[ky] * w;
      const float* r1 = in + ay.i1[ky] * w;
      const float wy = ay.w1[ky];
      for (index_t ox = 0; ox < out_w; ++ox) {
        const auto kx = static_cast<std::size_t>(ox);
        const float wx = ax.w1[kx];
        out[oy * out_w + ox] = detail::bilerp(r0[ax.i0[kx]], r0[ax.i1[kx]], r1[ax.i0[kx]], r1[ax.i1[kx]], wx, wy);
      }
    }
  }
  return y;
}

/// Adjoint of resize_bilinear: scatters g (..., out_h, out_w) back onto (..., in_h, in_w) and
/// ADDS into gx. This is the exact transpose of the forward linear map (its gradient).
inline void resize_bilinear_adjoint(const tensor& g, tensor& gx, resize_mode mode = resize_mode::half_pixel) {
  detail::check_resize(gx, g.dim(-2), g.dim(-1), "resize_bilinear_adjoint");
  const index_t h = gx.dim(-2), w = gx.dim(-1), out_h = g.dim(-2), out_w = g.dim(-1);
  const index_t planes = gx.numel() / (h * w);
  if (g.numel() != planes * out_h * out_w)
    throw_shape("resize_bilinear_adjoint", "gradient ", g.shape(), " does not match input ", gx.shape());
  const auto ay = detail::make_lerp_axis(h, out_h, mode), ax = detail::make_lerp_axis(w, out_w, mode);
#pragma omp parallel for schedule(static) if (planes * out_h * out_w > 32768)
  for (index_t p = 0; p < planes; ++p) {
    const float* gin = g.data() + p * out_h * out_w;
    float* out = gx.data() + p * h * w;
    for (index_t oy = 0; oy < out_h; ++oy) {
      const auto ky = static_cast<std::size_t>(oy);
      const float wy = ay.w1[ky];
      float* r0 = out + ay.i0[ky] * w;
      float* r1 = out + ay.i1[ky] * w;
      for (index_t ox = 0; ox < out_w; ++ox) {
        const auto kx = static_cast<std::size_t>(ox);
        const float wx = ax.w1[kx], v = gin[oy * out_w + ox];
        r0[ax.i0[kx]] += (1 - wy) * (1 - wx) * v;
        r0[ax.i1[kx]] += (1 - wy) * wx * v;
        r1[ax.i0[kx]] += wy * (1 - wx) * v;
        r1[ax.i1[kx]] += wy * wx * v;
      }
    }
  }
}

/// Block average of the two trailing axes, the input zero-padded right/bottom to multiples of
/// `stride` (psa pools its stride-8 label scores and walk inputs this way):
/// (..., H, W) -> (..., ceil(H/stride), ceil(W/stride)), each output the mean of its
/// stride x stride block with padding counted as 0.
inline tensor block_average(const tensor& x, index_t stride) {
  constexpr std::string_view comp = "block_average";
  if (x.rank() < 2) throw_shape(comp, "needs at least 2 axes, got ", x.shape());
  if (stride < 1) throw_value(comp, "stride must be >= 1, got ", stride);
  const index_t h = x.dim(-2), w = x.dim(-1);
  if (h * w == 0) throw_shape(comp, "input has no pixel: ", x.shape());
  const index_t planes = x.numel() / (h * w), oh = (h + stride - 1) / stride, ow = (w + stride - 1) / stride;
  shape s = x.shape();
  s[s.rank() - 2] = oh;
  s[s.rank() - 1] = ow;
  tensor y(s);
  const float inv = 1.0f / static_cast<float>(stride * stride);
  for (index_t p = 0; p < planes; ++p) {
    const float* in = x.data() + p * h * w;
    float* out = y.data() + p * oh * ow;
    for (index_t r = 0; r < h; ++r)
      for (index_t c = 0; c < w; ++c) out[(r / stride) * ow + c / stride] += in[r * w + c] * inv;
  }
  return y;
}

}  // namespace wsss
