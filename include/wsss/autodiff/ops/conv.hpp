// SPDX-License-Identifier: MIT
// wsss/autodiff/ops/conv.hpp — 2-D convolution with stride, zero padding, dilation (atrous,
// DeepLab eq. 1: y[i] = sum_k x[i + r k] w[k]) and optional bias; NCHW input, OIHW weights as torch.
#pragma once

#include <span>
#include <string_view>

#include "wsss/autodiff/op.hpp"
#include "wsss/autodiff/ops/detail/gemm.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/tensor.hpp"

namespace wsss::ad {

/// Stride, symmetric zero padding and dilation per spatial axis (torch's Conv2d arguments).
struct conv2d_config {
  index_t stride_h = 1, stride_w = 1;
  index_t pad_h = 0, pad_w = 0;
  index_t dilation_h = 1, dilation_w = 1;

  /// The same stride, padding and dilation on both axes.
  static constexpr conv2d_config square(index_t stride, index_t pad, index_t dilation = 1) {
    return {stride, stride, pad, pad, dilation, dilation};
  }
};

namespace detail {

/// Checks x (N x C x H x W), w (O x C x KH x KW) and b ({O} or empty) and returns the lowering
/// geometry of one image: out = floor((H + 2 pad - dil (K - 1) - 1) / stride) + 1.
inline conv_geometry conv2d_geometry(const tensor& x, const tensor& w, const tensor* b, const conv2d_config& c,
                                     std::string_view who) {
  expect_rank(x, 4, who, "input", "N x C x H x W");
  expect_rank(w, 4, who, "weight", "O x C x KH x KW");
  if (c.stride_h < 1 || c.stride_w < 1 || c.dilation_h < 1 || c.dilation_w < 1 || c.pad_h < 0 || c.pad_w < 0)
    throw_value(who, "stride and dilation must be >= 1 and padding >= 0, got stride ", c.stride_h, "x", c.stride_w,
                " pad ", c.pad_h, "x", c.pad_w, " dilation ", c.dilation_h, "x", c.dilation_w);
  if (x.empty() || w.empty())
    throw_shape(who, "input and weight must be non-empty (at least one image, channel and output channel), got input ",
                x.shape(), " and weight ", w.shape());
  if (w.dim(1) != x.dim(1))
    throw_shape(who, "weight expects ", w.dim(1), " input channels (", w.shape(), "), input has ", x.dim(1), " (",
                x.shape(), ")");
  if (b && !b->empty() && b->shape() != wsss::shape{w.dim(0)})
    throw_shape(who, "bias must be ", wsss::shape{w.dim(0)}, " (one per output channel), got ", b->shape());
  conv_geometry g{x.dim(1), x.dim(2), x.dim(3), w.dim(2), w.dim(3), c.stride_h, c.stride_w,
                  c.pad_h,  c.pad_w,  c.dilation_h, c.dilation_w, 0, 0};
  const index_t eh = g.h + 2 * g.ph - g.dh * (g.kh - 1) - 1;
  const index_t ew = g.w + 2 * g.pw - g.dw * (g.kw - 1) - 1;
  if (eh < 0 || ew < 0)
    throw_shape(who, "the dilated ", g.kh, "x", g.kw, " kernel (dilation ", g.dh, "x", g.dw,
                ") does not fit the padded input ", x.shape(), " (pad ", g.ph, "x", g.pw, ")");
  g.oh = eh / g.sh + 1;
  g.ow = ew / g.sw + 1;
  return g;
}

}  // namespace detail

/// y = conv(x, w) + b without a tape (inference); b may be null or empty.
inline tensor conv2d_forward(const tensor& x, const tensor& w, const tensor* b, const conv2d_config& cfg = {}) {
  const detail::conv_geometry g = detail::conv2d_geometry(x, w, b, cfg, "ad::conv2d");
  const index_t n = x.dim(0), o = w.dim(0);
  const float* bias = b && !b->empty() ? b->data() : nullptr;
  tensor y = tensor::uninitialized({n, o, g.oh, g.ow});  // either path writes every output, bias included
  if (detail::conv_direct(g)) {
    detail::direct_conv_forward(g, w.data(), o, x.data(), n, bias, y.data());
  } else {
    detail::conv_forward(g, w.data(), o, x.data(), n, y.data(), bias, false);
  }
  return y;
}

/// The conv2d op: inputs x, w and optionally b. Backward recomputes the lowering chunk by chunk
/// rather than keeping it (it would be 9 x the input per 3x3 layer).
struct conv2d_op {
  static constexpr std::string_view name = "conv2d";
  struct saved {};
  conv2d_config cfg;

  tensor forward(saved&, std::span<const tensor* const> xs) const {
    return conv2d_forward(*xs[0], *xs[1], xs.size() > 2 ? xs[2] : nullptr, cfg);
  }

  void backward(const saved&, const tensor&, const tensor& gy, std::span<const tensor* const> xs,
                std::span<tensor* const> gxs) const {
    const tensor& x = *xs[0];
    const tensor& w = *xs[1];
    const detail::conv_geometry g = detail::conv2d_geometry(x, w, nullptr, cfg, "ad::conv2d");
    const index_t n = x.dim(0), o = w.dim(0);
    if (gxs.size() > 2 && gxs[2]) detail::sum_channel_grad(gy.data(), gxs[2]->data(), n, o, g.cols());
    if (gxs[1]) detail::conv_backward_weight(g, x.data(), gy.data(), n, o, gxs[1]->data());
    if (gxs[0]) detail::conv_backward_data(g, w.data(), o, gy.data(), n, gxs[0]->data());
  }
};
static_assert(Op<conv2d_op>);

/// Records y = conv2d(x, w) + b on x's tape. x: N x C x H x W, w: O x C x KH x KW (torch OIHW),
/// b: {O} or an empty var for no bias. y: N x O x OH x OW with
/// OH = floor((H + 2 pad_h - dilation_h (KH - 1) - 1) / stride_h) + 1 (likewise OW).
inline var conv2d(const var& x, const var& w, const var& b = var{}, const conv2d_config& cfg = {}) {
  if (!x.valid() || !w.valid()) throw_value("ad::conv2d", "input and weight must be valid vars");
  if (b.valid()) return apply(x.owner(), conv2d_op{cfg}, x, w, b);
  return apply(x.owner(), conv2d_op{cfg}, x, w);
}

}  // namespace wsss::ad
