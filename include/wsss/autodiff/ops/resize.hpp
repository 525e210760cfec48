// SPDX-License-Identifier: MIT
// wsss/autodiff/ops/resize.hpp — differentiable bilinear resize of (..., H, W): the forward
// is core's resize_bilinear, the backward its exact adjoint resize_bilinear_adjoint
#pragma once

#include <span>

#include "wsss/autodiff/ops/common.hpp"
#include "wsss/core/resize.hpp"

namespace wsss::ad {

namespace detail {

struct resize_bilinear_op {
  static constexpr std::string_view name = "resize_bilinear";
  index_t out_h = 1, out_w = 1;
  resize_mode mode = resize_mode::half_pixel;
  struct saved {};

  tensor forward(saved&, const tensor& x) const { return wsss::resize_bilinear(x, out_h, out_w, mode); }
  void backward(const saved&, const tensor&, const tensor& gy, std::span<const tensor* const>,
                std::span<tensor* const> gx) const {
    if (gx[0]) resize_bilinear_adjoint(gy, *gx[0], mode);
  }
};
static_assert(Op<resize_bilinear_op>);

}  // namespace detail

/// Bilinear resize of the two trailing axes to h x w. half_pixel is PyTorch's
/// align_corners=False (the reference nets' upsampling); align_corners is Caffe's Interp.
inline var resize_bilinear(var x, index_t h, index_t w, resize_mode mode = resize_mode::half_pixel) {
  return apply(detail::tape_of(x, "ad::resize_bilinear"), detail::resize_bilinear_op{h, w, mode}, x);
}

}  // namespace wsss::ad
