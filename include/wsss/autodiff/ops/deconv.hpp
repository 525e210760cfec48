// SPDX-License-Identifier: MIT
// wsss/autodiff/ops/deconv.hpp — transposed convolution ("deconvolution", the adjoint of conv2d
// in x), torch ConvTranspose2d semantics incl. output_padding; weights Cin x Cout x KH x KW.
#pragma once

#include <algorithm>
#include <span>
#include <string_view>

#include "wsss/autodiff/op.hpp"
#include "wsss/autodiff/ops/detail/gemm.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/tensor.hpp"

namespace wsss::ad {

/// torch's ConvTranspose2d arguments: stride, padding, output_padding (extra rows/columns on the
/// bottom/right, < max(stride, dilation)) and dilation per axis.
struct conv_transpose2d_config {
  index_t stride_h = 1, stride_w = 1;
  index_t pad_h = 0, pad_w = 0;
  index_t output_padding_h = 0, output_padding_w = 0;
  index_t dilation_h = 1, dilation_w = 1;

  /// The same numbers on both axes.
  static constexpr conv_transpose2d_config square(index_t stride, index_t pad, index_t output_padding = 0,
                                                  index_t dilation = 1) {
    return {stride, stride, pad, pad, output_padding, output_padding, dilation, dilation};
  }
};

namespace detail {

/// Checks x (N x Cin x H x W), w (Cin x Cout x KH x KW), b ({Cout} or empty) and returns the
/// geometry of the conv2d whose data-adjoint this is: the image is the output,
/// OH = (H - 1) stride - 2 pad + dil (KH - 1) + output_padding + 1, and the column grid is H x W.
inline conv_geometry deconv2d_geometry(const tensor& x, const tensor& w, const tensor* b,
                                       const conv_transpose2d_config& c, std::string_view who) {
  expect_rank(x, 4, who, "input", "N x Cin x H x W");
  expect_rank(w, 4, who, "weight", "Cin x Cout x KH x KW");
  if (c.stride_h < 1 || c.stride_w < 1 || c.dilation_h < 1 || c.dilation_w < 1 || c.pad_h < 0 || c.pad_w < 0 ||
      c.output_padding_h < 0 || c.output_padding_w < 0)
    throw_value(who, "stride and dilation must be >= 1, padding and output_padding >= 0, got stride ", c.stride_h,
                "x", c.stride_w, " pad ", c.pad_h, "x", c.pad_w, " output_padding ", c.output_padding_h, "x",
                c.output_padding_w, " dilation ", c.dilation_h, "x", c.dilation_w);
  if (c.output_padding_h >= std::max(c.stride_h, c.dilation_h) || c.output_padding_w >= std::max(c.stride_w, c.dilation_w))
    throw_value(who, "output_padding ", c.output_padding_h, "x", c.output_padding_w,
                " must be smaller than max(stride, dilation) on each axis (stride ", c.stride_h, "x", c.stride_w,
                ", dilation ", c.dilation_h, "x", c.dilation_w, ")");
  if (w.dim(0) != x.dim(1))
    throw_shape(who, "weight expects ", w.dim(0), " input channels (", w.shape(), "), input has ", x.dim(1), " (",
                x.shape(), ")");
  if (b && !b->empty() && b->shape() != wsss::shape{w.dim(1)})
    throw_shape(who, "bias must be ", wsss::shape{w.dim(1)}, " (one per output channel), got ", b->shape());
  const index_t oh = (x.dim(2) - 1) * c.stride_h - 2 * c.pad_h + c.dilation_h * (w.dim(2) - 1) + c.output_padding_h + 1;
  const index_t ow = (x.dim(3) - 1) * c.stride_w - 2 * c.pad_w + c.dilation_w * (w.dim(3) - 1) + c.output_padding_w + 1;
  if (oh < 1 || ow < 1)
    throw_shape(who, "padding ", c.pad_h, "x", c.pad_w, " leaves no output for input ", x.shape(), " and kernel ",
                w.dim(2), "x", w.dim(3));
  return conv_geometry{w.dim(1), oh,         ow,         w.dim(2),     w.dim(3),     c.stride_h, c.stride_w,
                       c.pad_h,  c.pad_w,    c.dilation_h, c.dilation_w, x.dim(2),     x.dim(3)};
}

}  // namespace detail

/// y = conv_transpose2d(x, w) + b without a tape; b may be null or empty.
inline tensor conv_transpose2d_forward(const tensor& x, const tensor& w, const tensor* b,
                                       const conv_transpose2d_config& cfg = {}) {
  const detail::conv_geometry g = detail::deconv2d_geometry(x, w, b, cfg, "ad::conv_transpose2d");
  const index_t n = x.dim(0), cin = x.dim(1);
  tensor y({n, g.c, g.h, g.w});
  detail::conv_backward_data(g, w.data(), cin, x.data(), n, y.data());
  if (b && !b->empty()) detail::add_channel_bias(y.data(), b->data(), n, g.c, g.image_size());
  return y;
}

/// The conv_transpose2d op: inputs x, w and optionally b.
struct conv_transpose2d_op {
  static constexpr std::string_view name = "conv_transpose2d";
  struct saved {};
  conv_transpose2d_config cfg;

  tensor forward(saved&, std::span<const tensor* const> xs) const {
    return conv_transpose2d_forward(*xs[0], *xs[1], xs.size() > 2 ? xs[2] : nullptr, cfg);
  }

  void backward(const saved&, const tensor&, const tensor& gy, std::span<const tensor* const> xs,
                std::span<tensor* const> gxs) const {
    const tensor& x = *xs[0];
    const tensor& w = *xs[1];
    const detail::conv_geometry g = detail::deconv2d_geometry(x, w, nullptr, cfg, "ad::conv_transpose2d");
    const index_t n = x.dim(0), cin = x.dim(1);
    if (gxs.size() > 2 && gxs[2]) detail::sum_channel_grad(gy.data(), gxs[2]->data(), n, g.c, g.image_size());
    // The data gradient of a transposed convolution is the forward convolution of gy, and its
    // weight gradient is conv2d's weight gradient with the roles of x and gy swapped.
    if (gxs[0]) detail::conv_forward(g, w.data(), cin, gy.data(), n, gxs[0]->data());
    if (gxs[1]) detail::conv_backward_weight(g, gy.data(), x.data(), n, cin, gxs[1]->data());
  }
};
static_assert(Op<conv_transpose2d_op>);

/// Records y = conv_transpose2d(x, w) + b on x's tape. x: N x Cin x H x W, w: Cin x Cout x KH x KW
/// (torch layout), b: {Cout} or an empty var. y: N x Cout x OH x OW with
/// OH = (H - 1) stride_h - 2 pad_h + dilation_h (KH - 1) + output_padding_h + 1 (likewise OW).
inline var conv_transpose2d(const var& x, const var& w, const var& b = var{}, const conv_transpose2d_config& cfg = {}) {
  if (!x.valid() || !w.valid()) throw_value("ad::conv_transpose2d", "input and weight must be valid vars");
  if (b.valid()) return apply(x.owner(), conv_transpose2d_op{cfg}, x, w, b);
  return apply(x.owner(), conv_transpose2d_op{cfg}, x, w);
}

}  // namespace wsss::ad
