// SPDX-License-Identifier: MIT
// wsss/autodiff/ops/reduce.hpp — sum and mean, over all elements or along one axis
#pragma once

#include <span>

#include "wsss/autodiff/ops/common.hpp"
#include "wsss/core/view.hpp"

namespace wsss::ad {

namespace detail {

/// y = s * sum(x) as a 1-element tensor (s = 1 for sum, 1/numel for mean); the sum runs in
/// double so that means over a million pixels keep float precision.
struct reduce_all_op {
  static constexpr std::string_view name = "reduce_all";
  bool mean = false;
  struct saved {};

  tensor forward(saved&, const tensor& x) const {
    if (mean && x.numel() == 0) throw_shape("ad::mean", "mean of an empty tensor");
    double s = 0;
#pragma omp parallel for reduction(+ : s) schedule(static) if (x.numel() > parallel_grain)
    for (index_t i = 0; i < x.numel(); ++i) s += x[i];
    if (mean) s /= static_cast<double>(x.numel());
    return tensor(shape{1}, static_cast<float>(s));
  }
  void backward(const saved&, const tensor&, const tensor& gy, std::span<const tensor* const> x,
                std::span<tensor* const> gx, std::span<const grad_slot> mode) const {
    if (!gx[0]) return;
    const float g = mean ? gy[0] / static_cast<float>(x[0]->numel()) : gy[0];
    if (mode_of(mode, 0) == grad_slot::overwrite) {
      gx[0]->fill(g);
      return;
    }
    float* d = gx[0]->data();
    const index_t n = gx[0]->numel();
#pragma omp parallel for simd schedule(static) if (n > parallel_grain)
    for (index_t i = 0; i < n; ++i) d[i] += g;
  }
};
static_assert(OverwritingOp<reduce_all_op>);

/// y = s * sum of x along `axis` (x viewed as outer x mid x inner -> outer x inner).
struct reduce_axis_op {
  static constexpr std::string_view name = "reduce_axis";
  int axis = 0;
  bool mean = false;
  bool keepdim = false;
  struct saved {};

  tensor forward(saved&, const tensor& x) const {
    const std::string_view comp = mean ? "ad::mean" : "ad::sum";
    const int ax = normalize_axis(axis, x.rank(), comp);
    if (mean && x.dim(ax) == 0) throw_shape(comp, "mean over an empty axis ", axis, " of ", x.shape());
    const axis_split sp = split_at(x.shape(), ax);
    shape s;
    for (int i = 0; i < x.rank(); ++i) {
      if (i != ax) s.push_back(x.dim(i));
      else if (keepdim) s.push_back(1);
    }
    tensor y(s);
    const float k = mean ? 1.0f / static_cast<float>(sp.mid) : 1.0f;
#pragma omp parallel for schedule(static) if (x.numel() > parallel_grain)
    for (index_t o = 0; o < sp.outer; ++o) {
      float* out = y.data() + o * sp.inner;
      for (index_t m = 0; m < sp.mid; ++m) {
        const float* in = x.data() + (o * sp.mid + m) * sp.inner;
        for (index_t i = 0; i < sp.inner; ++i) out[i] += in[i];
      }
      for (index_t i = 0; i < sp.inner; ++i) out[i] *= k;
    }
    return y;
  }
  void backward(const saved&, const tensor&, const tensor& gy, std::span<const tensor* const> x,
                std::span<tensor* const> gx, std::span<const grad_slot> mode) const {
    if (!gx[0]) return;
    by_mode(mode_of(mode, 0), [&](auto ow) { backward_into<decltype(ow)::value>(gy, *x[0], *gx[0]); });
  }

  template <bool Overwrite>
  void backward_into(const tensor& gy, const tensor& x, tensor& gx) const {
    const int ax = normalize_axis(axis, x.rank(), "ad::sum");
    const axis_split sp = split_at(x.shape(), ax);
    const float k = mean ? 1.0f / static_cast<float>(sp.mid) : 1.0f;
#pragma omp parallel for schedule(static) if (gx.numel() > parallel_grain)
    for (index_t o = 0; o < sp.outer; ++o) {
      const float* g = gy.data() + o * sp.inner;
      for (index_t m = 0; m < sp.mid; ++m) {
        float* d = gx.data() + (o * sp.mid + m) * sp.inner;
        for (index_t i = 0; i < sp.inner; ++i) put<Overwrite>(d[i], k * g[i]);
      }
    }
  }
};
static_assert(OverwritingOp<reduce_axis_op>);

}  // namespace detail

/// Sum of all elements, as a 1-element tensor of shape {1}.
inline var sum(var x) { return apply(detail::tape_of(x, "ad::sum"), detail::reduce_all_op{false}, x); }
/// Mean of all elements, shape {1}; throws shape_error on an empty tensor.
inline var mean(var x) { return apply(detail::tape_of(x, "ad::mean"), detail::reduce_all_op{true}, x); }
/// Sum along `axis` (negative counts from the end); keepdim leaves an extent-1 axis.
inline var sum(var x, int axis, bool keepdim) {
  return apply(detail::tape_of(x, "ad::sum"), detail::reduce_axis_op{axis, false, keepdim}, x);
}
/// Mean along `axis`; keepdim leaves an extent-1 axis.
inline var mean(var x, int axis, bool keepdim) {
  return apply(detail::tape_of(x, "ad::mean"), detail::reduce_axis_op{axis, true, keepdim}, x);
}

}  // namespace wsss::ad
