// SPDX-License-Identifier: MIT
// wsss/autodiff/ops/shape_ops.hpp — concat along an axis (AffinityNet's multi-level
// features), reshape, and slice (the inverse of concat)
#pragma once

#include <cstring>
#include <span>
#include <vector>

#include "wsss/autodiff/ops/common.hpp"
#include "wsss/core/view.hpp"

namespace wsss::ad {

namespace detail {

/// y = [x_0, x_1, ...] along `axis`; all other extents must agree.
struct concat_op {
  static constexpr std::string_view name = "concat";
  int axis = 1;
  struct saved {};

  tensor forward(saved&, std::span<const tensor* const> xs) const {
    if (xs.empty()) throw_value("ad::concat", "needs at least one input");
    const tensor& x0 = *xs[0];
    const int ax = normalize_axis(axis, x0.rank(), "ad::concat");
    shape s = x0.shape();
    index_t total = 0;
    for (std::size_t k = 0; k < xs.size(); ++k) {
      const tensor& x = *xs[k];
      bool ok = x.rank() == x0.rank();
      for (int i = 0; ok && i < x.rank(); ++i) ok = i == ax || x.dim(i) == x0.dim(i);
      if (!ok)
        throw_shape("ad::concat", "input ", k, " has shape ", x.shape(), ", incompatible with ", x0.shape(),
                    " along axis ", axis);
      total += x.dim(ax);
    }
    s[ax] = total;
    tensor y = tensor::uninitialized(s);
    const axis_split out = split_at(s, ax);
    index_t off = 0;
    for (const tensor* x : xs) {
      const axis_split in = split_at(x->shape(), ax);
      const index_t block = in.mid * in.inner;
      for (index_t o = 0; o < out.outer; ++o)
        if (block)
          std::memcpy(y.data() + (o * out.mid + off) * out.inner, x->data() + o * block,
                      static_cast<std::size_t>(block) * sizeof(float));
      off += in.mid;
    }
    return y;
  }

  void backward(const saved&, const tensor& y, const tensor& gy, std::span<const tensor* const> xs,
                std::span<tensor* const> gx) const {
    const int ax = normalize_axis(axis, y.rank(), "ad::concat");
    const axis_split out = split_at(y.shape(), ax);
    index_t off = 0;
    for (std::size_t k = 0; k < xs.size(); ++k) {
      const axis_split in = split_at(xs[k]->shape(), ax);
      const index_t block = in.mid * in.inner;
      if (gx[k])
        for (index_t o = 0; o < out.outer; ++o) {
          const float* g = gy.data() + (o * out.mid + off) * out.inner;
          float* d = gx[k]->data() + o * block;
          for (index_t i = 0; i < block; ++i) d[i] += g[i];
        }
      off += in.mid;
    }
  }
};
static_assert(Op<concat_op>);

/// y = x viewed with a new shape of equal element count (a copy: tape values are owned).
struct reshape_op {
  static constexpr std::string_view name = "reshape";
  shape to;
  struct saved {};

  tensor forward(saved&, const tensor& x) const {
    if (to.numel() != x.numel())
      throw_shape("ad::reshape", "cannot reshape ", x.shape(), " (", x.numel(), " elements) to ", to, " (",
                  to.numel(), " elements)");
    return x.reshaped(to);
  }
  void backward(const saved&, const tensor&, const tensor& gy, std::span<const tensor* const>,
                std::span<tensor* const> gx) const {
    if (gx[0]) as_array(*gx[0]) += as_array(gy);
  }
};
static_assert(Op<reshape_op>);

/// y = x[..., start : start + length, ...] along `axis`.
struct slice_op {
  static constexpr std::string_view name = "slice";
  int axis = 1;
  index_t start = 0, length = 0;
  struct saved {};

  tensor forward(saved&, const tensor& x) const {
    const int ax = normalize_axis(axis, x.rank(), "ad::slice");
    if (start < 0 || length < 0 || start + length > x.dim(ax))
      throw_shape("ad::slice", "range [", start, ", ", start + length, ") out of bounds for axis ", axis,
                  " of extent ", x.dim(ax), " (shape ", x.shape(), ")");
    shape s = x.shape();
    s[ax] = length;
    tensor y = tensor::uninitialized(s);
    const axis_split in = split_at(x.shape(), ax);
    const index_t block = length * in.inner;
    for (index_t o = 0; o < in.outer; ++o)
      if (block)
        std::memcpy(y.data() + o * block, x.data() + (o * in.mid + start) * in.inner,
                    static_cast<std::size_t>(block) * sizeof(float));
    return y;
  }
  void backward(const saved&, const tensor&, const tensor& gy, std::span<const tensor* const> x,
                std::span<tensor* const> gx) const {
    if (!gx[0]) return;
    const int ax = normalize_axis(axis, x[0]->rank(), "ad::slice");
    const axis_split in = split_at(x[0]->shape(), ax);
    const index_t block = length * in.inner;
    for (index_t o = 0; o < in.outer; ++o) {
      const float* g = gy.data() + o * block;
      float* d = gx[0]->data() + (o * in.mid + start) * in.inner;
      for (index_t i = 0; i < block; ++i) d[i] += g[i];
    }
  }
};
static_assert(Op<slice_op>);

}  // namespace detail

/// Concatenation along `axis` (default: channels of NCHW); every other extent must agree.
inline var concat(std::span<const var> xs, int axis = 1) {
  if (xs.empty()) throw_value("ad::concat", "needs at least one input");
  tape& t = detail::tape_of(xs[0], "ad::concat");
  for (const var& v : xs) detail::tape_of(xs[0], v, "ad::concat");
  return apply(t, detail::concat_op{axis}, xs);
}
/// Same elements, new shape (row-major order kept).
inline var reshape(var x, shape s) { return apply(detail::tape_of(x, "ad::reshape"), detail::reshape_op{s}, x); }
/// The sub-range [start, start + length) of `axis`.
inline var slice(var x, int axis, index_t start, index_t length) {
  return apply(detail::tape_of(x, "ad::slice"), detail::slice_op{axis, start, length}, x);
}

}  // namespace wsss::ad
