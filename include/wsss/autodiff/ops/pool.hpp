// SPDX-License-Identifier: MIT
// wsss/autodiff/ops/pool.hpp — 2-D max pooling with switches, unpooling through them (SPN's
// upsampler, Noh et al. 2015), average pooling and global average pooling, all NCHW
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <span>

#include "wsss/autodiff/ops/common.hpp"

namespace wsss::ad {

/// Square window of a 2-D pooling. Output extent: floor((in + 2 pad - kernel) / stride) + 1,
/// or the ceiling with ceil_mode (Caffe's pooling; a last window that would start inside the
/// bottom/right padding is dropped, as PyTorch does).
struct pool2d_config {
  index_t kernel = 2, stride = 2, pad = 0;
  bool ceil_mode = false;
};

/// Where each max-pooling output took its value: the flat offset h * W + w inside its
/// input plane, one per output element (N x C x OH x OW), plus the input shape.
struct pool_switches {
  basic_tensor<std::int32_t> index;
  shape input_shape;
};

namespace detail {

inline index_t pool_out_extent(index_t in, const pool2d_config& c, std::string_view component) {
  if (c.kernel <= 0 || c.stride <= 0 || c.pad < 0)
    throw_value(component, "kernel and stride must be positive and pad >= 0, got kernel ", c.kernel, " stride ",
                c.stride, " pad ", c.pad);
  if (2 * c.pad > c.kernel) throw_value(component, "pad ", c.pad, " exceeds half the kernel ", c.kernel);
  const index_t span = in + 2 * c.pad - c.kernel;
  if (span < 0) throw_shape(component, "input extent ", in, " (+ 2 x pad ", c.pad, ") is smaller than the kernel ", c.kernel);
  index_t out = (c.ceil_mode ? (span + c.stride - 1) / c.stride : span / c.stride) + 1;
  if (c.ceil_mode && (out - 1) * c.stride >= in + c.pad) --out;
  return out;
}

struct pool_geometry {
  index_t n, c, h, w, oh, ow;
};

inline pool_geometry pool_geom(const tensor& x, const pool2d_config& cfg, std::string_view component) {
  expect_rank(x, 4, component, "input", "N x C x H x W");
  return {x.dim(0), x.dim(1), x.dim(2), x.dim(3), pool_out_extent(x.dim(2), cfg, component),
          pool_out_extent(x.dim(3), cfg, component)};
}

/// y = max over each window; records the argmax of every output (first maximum wins) in
/// `switches`, which backward routes the gradient through.
struct max_pool2d_op {
  static constexpr std::string_view name = "max_pool2d";
  pool2d_config cfg;
  std::shared_ptr<pool_switches> switches;
  struct saved {};

  tensor forward(saved&, const tensor& x) const {
    const pool_geometry g = pool_geom(x, cfg, "ad::max_pool2d");
    tensor y = tensor::uninitialized({g.n, g.c, g.oh, g.ow});
    switches->index = basic_tensor<std::int32_t>::uninitialized(y.shape());
    switches->input_shape = x.shape();
    const pool2d_config c = cfg;
#pragma omp parallel for schedule(static) if (x.numel() > parallel_grain)
    for (index_t p = 0; p < g.n * g.c; ++p) {
      const float* in = x.data() + p * g.h * g.w;
      float* out = y.data() + p * g.oh * g.ow;
      std::int32_t* sw = switches->index.data() + p * g.oh * g.ow;
      for (index_t oy = 0; oy < g.oh; ++oy) {
        const index_t y0 = std::max<index_t>(oy * c.stride - c.pad, 0), y1 = std::min(oy * c.stride - c.pad + c.kernel, g.h);
        for (index_t ox = 0; ox < g.ow; ++ox) {
          const index_t x0 = std::max<index_t>(ox * c.stride - c.pad, 0), x1 = std::min(ox * c.stride - c.pad + c.kernel, g.w);
          float best = -std::numeric_limits<float>::infinity();
          index_t arg = y0 * g.w + x0;
          for (index_t yy = y0; yy < y1; ++yy)
            for (index_t xx = x0; xx < x1; ++xx)
              if (in[yy * g.w + xx] > best) {
                best = in[yy * g.w + xx];
                arg = yy * g.w + xx;
              }
          out[oy * g.ow + ox] = best;
          sw[oy * g.ow + ox] = static_cast<std::int32_t>(arg);
        }
      }
    }
    return y;
  }

  void backward(const saved&, const tensor&, const tensor& gy, std::span<const tensor* const>,
                std::span<tensor* const> gx) const {
    if (!gx[0]) return;
    const shape& in = switches->input_shape;
    const index_t planes = in[0] * in[1], hw = in[2] * in[3], ohw = gy.dim(2) * gy.dim(3);
#pragma omp parallel for schedule(static) if (gy.numel() > parallel_grain)
    for (index_t p = 0; p < planes; ++p) {
      const std::int32_t* sw = switches->index.data() + p * ohw;
      const float* g = gy.data() + p * ohw;
      float* d = gx[0]->data() + p * hw;
      for (index_t i = 0; i < ohw; ++i) d[sw[i]] += g[i];
    }
  }
};
static_assert(Op<max_pool2d_op>);

/// The transpose of max pooling's switch gather: y (N x C x OH x OW) is scattered to the
/// recorded argmax positions of a zero N x C x H x W map (values sharing a position add up).
struct max_unpool2d_op {
  static constexpr std::string_view name = "max_unpool2d";
  std::shared_ptr<const pool_switches> switches;
  struct saved {};

  tensor forward(saved&, const tensor& y) const {
    if (y.shape() != switches->index.shape())
      throw_shape("ad::max_unpool2d", "input must have the pooled shape ", switches->index.shape(), ", got ",
                  y.shape());
    const shape& in = switches->input_shape;
    tensor x(in);
    const index_t planes = in[0] * in[1], hw = in[2] * in[3], ohw = y.dim(2) * y.dim(3);
#pragma omp parallel for schedule(static) if (x.numel() > parallel_grain)
    for (index_t p = 0; p < planes; ++p) {
      const std::int32_t* sw = switches->index.data() + p * ohw;
      const float* v = y.data() + p * ohw;
      float* d = x.data() + p * hw;
      for (index_t i = 0; i < ohw; ++i) d[sw[i]] += v[i];
    }
    return x;
  }

  void backward(const saved&, const tensor&, const tensor& gy, std::span<const tensor* const> xs,
                std::span<tensor* const> gx) const {
    if (!gx[0]) return;
    const shape& in = switches->input_shape;
    const index_t planes = in[0] * in[1], hw = in[2] * in[3], ohw = xs[0]->dim(2) * xs[0]->dim(3);
#pragma omp parallel for schedule(static) if (gy.numel() > parallel_grain)
    for (index_t p = 0; p < planes; ++p) {
      const std::int32_t* sw = switches->index.data() + p * ohw;
      const float* g = gy.data() + p * hw;
      float* d = gx[0]->data() + p * ohw;
      for (index_t i = 0; i < ohw; ++i) d[i] += g[sw[i]];
    }
  }
};
static_assert(Op<max_unpool2d_op>);

/// y = mean over each window. With count_include_pad the divisor is the window's area
/// clipped to the padded input (PyTorch's rule), otherwise the number of real pixels.
struct avg_pool2d_op {
  static constexpr std::string_view name = "avg_pool2d";
  pool2d_config cfg;
  bool count_include_pad = true;
  struct saved {};

  template <class F>
  void for_each_window(const pool_geometry& g, F&& f) const {
    const pool2d_config c = cfg;
#pragma omp parallel for schedule(static) if (g.n * g.c * g.h * g.w > parallel_grain)
    for (index_t p = 0; p < g.n * g.c; ++p)
      for (index_t oy = 0; oy < g.oh; ++oy) {
        const index_t ys = oy * c.stride - c.pad, ye = std::min(ys + c.kernel, g.h + c.pad);
        const index_t y0 = std::max<index_t>(ys, 0), y1 = std::min(ye, g.h);
        for (index_t ox = 0; ox < g.ow; ++ox) {
          const index_t xs = ox * c.stride - c.pad, xe = std::min(xs + c.kernel, g.w + c.pad);
          const index_t x0 = std::max<index_t>(xs, 0), x1 = std::min(xe, g.w);
          const index_t area = count_include_pad ? (ye - ys) * (xe - xs) : (y1 - y0) * (x1 - x0);
          f(p, oy * g.ow + ox, y0, y1, x0, x1, 1.0f / static_cast<float>(std::max<index_t>(area, 1)));
        }
      }
  }

  tensor forward(saved&, const tensor& x) const {
    const pool_geometry g = pool_geom(x, cfg, "ad::avg_pool2d");
    tensor y = tensor::uninitialized({g.n, g.c, g.oh, g.ow});
    for_each_window(g, [&](index_t p, index_t o, index_t y0, index_t y1, index_t x0, index_t x1, float inv) {
      const float* in = x.data() + p * g.h * g.w;
      float s = 0;
      for (index_t yy = y0; yy < y1; ++yy)
        for (index_t xx = x0; xx < x1; ++xx) s += in[yy * g.w + xx];
      y[p * g.oh * g.ow + o] = s * inv;
    });
    return y;
  }

  void backward(const saved&, const tensor&, const tensor& gy, std::span<const tensor* const> xs,
                std::span<tensor* const> gx) const {
    if (!gx[0]) return;
    const pool_geometry g = pool_geom(*xs[0], cfg, "ad::avg_pool2d");
    for_each_window(g, [&](index_t p, index_t o, index_t y0, index_t y1, index_t x0, index_t x1, float inv) {
      float* d = gx[0]->data() + p * g.h * g.w;
      const float v = gy[p * g.oh * g.ow + o] * inv;
      for (index_t yy = y0; yy < y1; ++yy)
        for (index_t xx = x0; xx < x1; ++xx) d[yy * g.w + xx] += v;
    });
  }
};
static_assert(Op<avg_pool2d_op>);

/// y[n, c] = mean over H x W of x[n, c], shape N x C x 1 x 1.
struct global_avg_pool_op {
  static constexpr std::string_view name = "global_avg_pool";
  struct saved {};

  tensor forward(saved&, const tensor& x) const {
    expect_rank(x, 4, "ad::global_avg_pool", "input", "N x C x H x W");
    const index_t planes = x.dim(0) * x.dim(1), hw = x.dim(2) * x.dim(3);
    if (hw == 0) throw_shape("ad::global_avg_pool", "empty spatial extent in ", x.shape());
    tensor y = tensor::uninitialized({x.dim(0), x.dim(1), 1, 1});
#pragma omp parallel for schedule(static) if (x.numel() > parallel_grain)
    for (index_t p = 0; p < planes; ++p) {
      double s = 0;
      const float* in = x.data() + p * hw;
      for (index_t i = 0; i < hw; ++i) s += in[i];
      y[p] = static_cast<float>(s / static_cast<double>(hw));
    }
    return y;
  }
  void backward(const saved&, const tensor&, const tensor& gy, std::span<const tensor* const> xs,
                std::span<tensor* const> gx) const {
    if (!gx[0]) return;
    const index_t planes = xs[0]->dim(0) * xs[0]->dim(1), hw = xs[0]->dim(2) * xs[0]->dim(3);
    const float inv = 1.0f / static_cast<float>(hw);
#pragma omp parallel for schedule(static) if (gx[0]->numel() > parallel_grain)
    for (index_t p = 0; p < planes; ++p) {
      float* d = gx[0]->data() + p * hw;
      const float v = gy[p] * inv;
      for (index_t i = 0; i < hw; ++i) d[i] += v;
    }
  }
};
static_assert(Op<global_avg_pool_op>);

}  // namespace detail

/// Max pooling of N x C x H x W (see pool2d_config for the output extent).
inline var max_pool2d(var x, const pool2d_config& cfg) {
  return apply(detail::tape_of(x, "ad::max_pool2d"), detail::max_pool2d_op{cfg, std::make_shared<pool_switches>()}, x);
}
/// Max pooling that also hands out its switches (sw_out) for a later max_unpool2d.
inline var max_pool2d(var x, const pool2d_config& cfg, std::shared_ptr<pool_switches>& sw_out) {
  sw_out = std::make_shared<pool_switches>();
  return apply(detail::tape_of(x, "ad::max_pool2d"), detail::max_pool2d_op{cfg, sw_out}, x);
}
/// Unpooling: y goes back to the positions its max pooling took it from; zeros elsewhere.
inline var max_unpool2d(var y, std::shared_ptr<const pool_switches> sw) {
  if (!sw) throw_value("ad::max_unpool2d", "null switches");
  return apply(detail::tape_of(y, "ad::max_unpool2d"), detail::max_unpool2d_op{std::move(sw)}, y);
}
/// Average pooling of N x C x H x W.
inline var avg_pool2d(var x, const pool2d_config& cfg, bool count_include_pad = true) {
  return apply(detail::tape_of(x, "ad::avg_pool2d"), detail::avg_pool2d_op{cfg, count_include_pad}, x);
}
/// N x C x H x W -> N x C x 1 x 1 spatial means.
inline var global_avg_pool(var x) {
  return apply(detail::tape_of(x, "ad::global_avg_pool"), detail::global_avg_pool_op{}, x);
}

}  // namespace wsss::ad
