// SPDX-License-Identifier: MIT
// tests/support/naive_conv.hpp — conv2d and its weight gradient as their definitions, the
// references of the conv tests.
#pragma once

#include "wsss/autodiff/ops/conv.hpp"
#include "wsss/core/tensor.hpp"

namespace wsss_test {

/// The input pixel (iy, ix) that tap (i, j) of output (yy, xx) reads; false where it is padding.
inline bool tap_source(const wsss::ad::conv2d_config& c, wsss::index_t h, wsss::index_t w, wsss::index_t yy,
                       wsss::index_t xx, wsss::index_t i, wsss::index_t j, wsss::index_t& iy, wsss::index_t& ix) {
  iy = yy * c.stride_h - c.pad_h + i * c.dilation_h;
  ix = xx * c.stride_w - c.pad_w + j * c.dilation_w;
  return iy >= 0 && iy < h && ix >= 0 && ix < w;
}

// The definition written out: 7 nested loops, double accumulation.
inline wsss::tensor64 naive_conv(const wsss::tensor& x, const wsss::tensor& w, const wsss::tensor* b,
                                 const wsss::ad::conv2d_config& c) {
  using wsss::index_t;
  const index_t n = x.dim(0), ci = x.dim(1), h = x.dim(2), wd = x.dim(3);
  const index_t o = w.dim(0), kh = w.dim(2), kw = w.dim(3);
  const index_t oh = (h + 2 * c.pad_h - c.dilation_h * (kh - 1) - 1) / c.stride_h + 1;
  const index_t ow = (wd + 2 * c.pad_w - c.dilation_w * (kw - 1) - 1) / c.stride_w + 1;
  wsss::tensor64 y({n, o, oh, ow});
  for (index_t in = 0; in < n; ++in)
    for (index_t oc = 0; oc < o; ++oc)
      for (index_t yy = 0; yy < oh; ++yy)
        for (index_t xx = 0; xx < ow; ++xx) {
          double s = b ? (*b)[oc] : 0.0;
          for (index_t ic = 0; ic < ci; ++ic)
            for (index_t i = 0; i < kh; ++i)
              for (index_t j = 0; j < kw; ++j) {
                index_t iy, ix;
                if (tap_source(c, h, wd, yy, xx, i, j, iy, ix)) s += static_cast<double>(x(in, ic, iy, ix)) * w(oc, ic, i, j);
              }
          y(in, oc, yy, xx) = s;
        }
  return y;
}

// dL/dw for L = sum(gy * conv(x, w)) by the definition: sum over images and outputs of gy times
// the input each tap reads (zero outside the image).
inline wsss::tensor64 naive_weight_grad(const wsss::tensor& x, const wsss::tensor& gy, wsss::index_t kh, wsss::index_t kw,
                                        const wsss::ad::conv2d_config& c) {
  using wsss::index_t;
  const index_t n = x.dim(0), ci = x.dim(1), h = x.dim(2), wd = x.dim(3), o = gy.dim(1);
  wsss::tensor64 gw({o, ci, kh, kw});
  for (index_t oc = 0; oc < o; ++oc)
    for (index_t ic = 0; ic < ci; ++ic)
      for (index_t i = 0; i < kh; ++i)
        for (index_t j = 0; j < kw; ++j) {
          double s = 0;
          for (index_t in = 0; in < n; ++in)
            for (index_t yy = 0; yy < gy.dim(2); ++yy)
              for (index_t xx = 0; xx < gy.dim(3); ++xx) {
                index_t iy, ix;
                if (tap_source(c, h, wd, yy, xx, i, j, iy, ix)) s += static_cast<double>(gy(in, oc, yy, xx)) * x(in, ic, iy, ix);
              }
          gw(oc, ic, i, j) = s;
        }
  return gw;
}

}  // namespace wsss_test
