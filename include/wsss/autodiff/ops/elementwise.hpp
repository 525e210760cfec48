// SPDX-License-Identifier: MIT
// wsss/autodiff/ops/elementwise.hpp — binary elementwise ops (add, sub, mul, div) with
// NumPy-style broadcasting, and the per-channel bias add of NCHW feature maps
#pragma once

#include <algorithm>
#include <array>
#include <span>
#include <type_traits>
#include <vector>

#include "wsss/autodiff/ops/common.hpp"
#include "wsss/backend/for_each_index.hpp"
#include "wsss/core/view.hpp"

namespace wsss::ad {

namespace detail {

/// Broadcast geometry of y = f(a, b): shapes right-aligned, an extent-1 axis stretches.
/// Strides are in elements of a and b along y's axes (0 on stretched axes).
struct broadcast_plan {
  shape out;
  std::array<index_t, shape::max_rank> sa{}, sb{};
  bool same = false;  ///< a, b and y share one shape: a flat loop suffices
};

inline broadcast_plan make_broadcast(const shape& a, const shape& b, std::string_view component) {
  broadcast_plan p;
  if (a == b) {
    p.out = a;
    p.same = true;
    return p;
  }
  const int r = std::max({a.rank(), b.rank(), 1});
  std::array<index_t, shape::max_rank> da{}, db{};
  for (int i = 0; i < r; ++i) {
    const int ia = i - (r - a.rank()), ib = i - (r - b.rank());
    da[static_cast<std::size_t>(i)] = ia >= 0 ? a[ia] : 1;
    db[static_cast<std::size_t>(i)] = ib >= 0 ? b[ib] : 1;
  }
  for (int i = 0; i < r; ++i) {
    const index_t x = da[static_cast<std::size_t>(i)], y = db[static_cast<std::size_t>(i)];
    if (x != y && x != 1 && y != 1)
      throw_shape(component, "shapes ", a, " and ", b, " do not broadcast (axis ", i, " of the aligned shapes: ", x,
                  " vs ", y, ")");
    p.out.push_back(x == 1 ? y : x);
  }
  index_t ka = 1, kb = 1;
  for (int i = r - 1; i >= 0; --i) {
    const auto u = static_cast<std::size_t>(i);
    p.sa[u] = da[u] == 1 ? 0 : ka;
    p.sb[u] = db[u] == 1 ? 0 : kb;
    ka *= da[u];
    kb *= db[u];
  }
  return p;
}

/// Calls f(iy, ia, ib, len, sa, sb) for each output row in [r0, r1), a row being one run of
/// the innermost axis: iy, ia, ib are the flat offsets of its first element in y, a and b,
/// len its length, sa and sb the innermost strides of a and b (0 where stretched).
template <class F>
void broadcast_rows(const broadcast_plan& p, index_t r0, index_t r1, F&& f) {
  const int r = p.out.rank();
  const auto last = static_cast<std::size_t>(r - 1);
  const index_t inner = p.out[r - 1];
  std::array<index_t, shape::max_rank> idx{};
  index_t oa = 0, ob = 0;
  index_t q = r0;  // row r0 as a multi-index over the outer axes
  for (int d = r - 2; d >= 0; --d) {
    const auto u = static_cast<std::size_t>(d);
    idx[u] = q % p.out[d];
    q /= p.out[d];
    oa += idx[u] * p.sa[u];
    ob += idx[u] * p.sb[u];
  }
  for (index_t row = r0; row < r1; ++row) {
    f(row * inner, oa, ob, inner, p.sa[last], p.sb[last]);
    for (int d = r - 2; d >= 0; --d) {
      const auto u = static_cast<std::size_t>(d);
      ++idx[u];
      oa += p.sa[u];
      ob += p.sb[u];
      if (idx[u] < p.out[d]) break;
      oa -= p.sa[u] * idx[u];
      ob -= p.sb[u] * idx[u];
      idx[u] = 0;
    }
  }
}

/// broadcast_rows over all rows, the rows cut into one contiguous share per OpenMP thread
/// when the output is large. f must only write output-shaped memory at the offsets it gets.
template <class F>
void broadcast_rows_parallel(const broadcast_plan& p, const F& f) {
  const index_t n = p.out.numel();
  if (n == 0) return;
  const index_t rows = n / p.out[p.out.rank() - 1];
  const index_t parts = n > parallel_grain ? std::min<index_t>(backend::max_threads(), rows) : 1;
#pragma omp parallel for schedule(static) if (parts > 1)
  for (index_t t = 0; t < parts; ++t) broadcast_rows(p, rows * t / parts, rows * (t + 1) / parts, f);
}

enum class binary_kind { add, sub, mul, div };

/// y = a (+ - * /) b with broadcasting.
struct binary_op {
  static constexpr std::string_view name = "elementwise";
  binary_kind kind = binary_kind::add;
  struct saved {
    broadcast_plan plan;
  };

  template <binary_kind K>
  static float eval(float a, float b) noexcept {
    if constexpr (K == binary_kind::add) return a + b;
    if constexpr (K == binary_kind::sub) return a - b;
    if constexpr (K == binary_kind::mul) return a * b;
    if constexpr (K == binary_kind::div) return a / b;
  }
  /// d(loss)/da (Side 0) or d(loss)/db (Side 1) at one element, given g = dL/dy and y.
  template <binary_kind K, int Side>
  static float partial(float g, float a, float b, float y) noexcept {
    if constexpr (K == binary_kind::add) return g;
    if constexpr (K == binary_kind::sub) return Side == 0 ? g : -g;
    if constexpr (K == binary_kind::mul) return Side == 0 ? g * b : g * a;
    if constexpr (K == binary_kind::div) return Side == 0 ? g / b : -g * y / b;
  }
  /// Calls f(std::integral_constant<binary_kind, kind>{}).
  template <class F>
  void by_kind(F&& f) const {
    switch (kind) {
      case binary_kind::add: f(std::integral_constant<binary_kind, binary_kind::add>{}); break;
      case binary_kind::sub: f(std::integral_constant<binary_kind, binary_kind::sub>{}); break;
      case binary_kind::mul: f(std::integral_constant<binary_kind, binary_kind::mul>{}); break;
      case binary_kind::div: f(std::integral_constant<binary_kind, binary_kind::div>{}); break;
    }
  }

  tensor forward(saved& s, const tensor& a, const tensor& b) const {
    s.plan = make_broadcast(a.shape(), b.shape(), component());
    tensor y = tensor::uninitialized(s.plan.out);
    const float* pa = a.data();
    const float* pb = b.data();
    float* py = y.data();
    by_kind([&](auto k) {
      constexpr binary_kind K = decltype(k)::value;
      // Kernels read through local restrict copies of the pointers: through the lambda's
      // captures GCC neither vectorises nor keeps them in registers (4x slower).
      if (s.plan.same) {
        const index_t n = y.numel();
        float* __restrict o = py;
        const float* __restrict u = pa;
        const float* __restrict v = pb;
#pragma omp parallel for simd schedule(static) if (n > parallel_grain)
        for (index_t i = 0; i < n; ++i) o[i] = eval<K>(u[i], v[i]);
        return;
      }
      broadcast_rows_parallel(s.plan, [=](index_t iy, index_t ia, index_t ib, index_t len, index_t sa, index_t sb) {
        float* __restrict o = py + iy;
        const float* __restrict u = pa + ia;
        const float* __restrict v = pb + ib;
        for (index_t j = 0; j < len; ++j) o[j] = eval<K>(u[j * sa], v[j * sb]);
      });
    });
    return y;
  }

  /// Same shapes: one flat loop per operand. Broadcasting: an operand of y's size takes its
  /// partials row by row in parallel; a stretched operand sums them, each thread into its
  /// own copy of the operand's gradient when the output is large, the copies added at the end.
  void backward(const saved& s, const tensor& y, const tensor& gy, std::span<const tensor* const> x,
                std::span<tensor* const> gx, std::span<const grad_slot> mode) const {
    const float* pa = x[0]->data();
    const float* pb = x[1]->data();
    const float* py = y.data();
    const float* pg = gy.data();
    by_kind([&](auto k) {
      constexpr binary_kind K = decltype(k)::value;
      if (gx[0]) side<K, 0>(s.plan, pa, pb, py, pg, *gx[0], mode_of(mode, 0));
      if (gx[1]) side<K, 1>(s.plan, pa, pb, py, pg, *gx[1], mode_of(mode, 1));
    });
  }

  /// dL/da == gy for add (either operand) and for sub's first operand.
  bool passes_gradient(const saved&, std::size_t i) const noexcept {
    return kind == binary_kind::add || (kind == binary_kind::sub && i == 0);
  }

  std::string_view component() const noexcept {
    switch (kind) {
      case binary_kind::add: return "ad::add";
      case binary_kind::sub: return "ad::sub";
      case binary_kind::mul: return "ad::mul";
      case binary_kind::div: return "ad::div";
    }
    return "ad::elementwise";
  }

 private:
  template <binary_kind K, int Side>
  static void side(const broadcast_plan& p, const float* pa, const float* pb, const float* py, const float* pg,
                   tensor& gx, grad_slot m) {
    float* d = gx.data();
    const index_t n = p.out.numel();
    if (n == 0) {  // an extent-0 axis: nothing flows back
      if (m == grad_slot::overwrite) gx.fill(0.0f);
      return;
    }
    if (p.same) {
      by_mode(m, [=](auto ow) {
        float* __restrict o = d;
        const float *__restrict g = pg, *__restrict u = pa, *__restrict v = pb, *__restrict w = py;
#pragma omp parallel for simd schedule(static) if (n > parallel_grain)
        for (index_t i = 0; i < n; ++i) put<decltype(ow)::value>(o[i], partial<K, Side>(g[i], u[i], v[i], w[i]));
      });
      return;
    }
    if (gx.numel() == n) {  // this operand is not stretched: its offsets are y's
      by_mode(m, [=](auto ow) {
        broadcast_rows_parallel(p, [=](index_t iy, index_t ia, index_t ib, index_t len, index_t sa, index_t sb) {
          float* __restrict o = d + iy;
          const float *__restrict g = pg + iy, *__restrict u = pa + ia, *__restrict v = pb + ib,
                                  *__restrict w = py + iy;
          for (index_t j = 0; j < len; ++j)
            put<decltype(ow)::value>(o[j], partial<K, Side>(g[j], u[j * sa], v[j * sb], w[j]));
        });
      });
      return;
    }
    if (m == grad_slot::overwrite) gx.fill(0.0f);
    const index_t rows = n / p.out[p.out.rank() - 1];
    const index_t parts =
        n > parallel_grain ? std::min<index_t>({backend::max_threads(), rows, n / std::max<index_t>(gx.numel(), 1)}) : 1;
    // Each part sums into its own buffer (part 0 straight into the gradient).
    std::vector<tensor> partial_sums(static_cast<std::size_t>(std::max<index_t>(parts - 1, 0)));
    for (auto& t : partial_sums) t = tensor(gx.shape());
#pragma omp parallel for schedule(static) if (parts > 1)
    for (index_t t = 0; t < parts; ++t) {
      float* acc = t == 0 ? d : partial_sums[static_cast<std::size_t>(t - 1)].data();
      broadcast_rows(p, rows * t / parts, rows * (t + 1) / parts,
                     [&](index_t iy, index_t ia, index_t ib, index_t len, index_t sa, index_t sb) {
                       const index_t off = Side == 0 ? ia : ib;
                       const index_t step = Side == 0 ? sa : sb;
                       if (step == 0) {  // stretched along the row: one sum per row
                         float r = 0.0f;
                         for (index_t j = 0; j < len; ++j)
                           r += partial<K, Side>(pg[iy + j], pa[ia + j * sa], pb[ib + j * sb], py[iy + j]);
                         acc[off] += r;
                       } else {
                         for (index_t j = 0; j < len; ++j)
                           acc[off + j * step] += partial<K, Side>(pg[iy + j], pa[ia + j * sa], pb[ib + j * sb], py[iy + j]);
                       }
                     });
    }
    for (const tensor& t : partial_sums) as_array(gx) += as_array(t);
  }
};
static_assert(OverwritingOp<binary_op> && PassThroughOp<binary_op>);

inline var binary(var a, var b, binary_kind k) {
  const binary_op op{k};
  tape& t = tape_of(a, b, op.component());
  return apply(t, op, a, b);
}

/// y[n, c, ...] = x[n, c, ...] + b[c]: the bias of a convolution or a 1x1 classifier.
struct channel_bias_op {
  static constexpr std::string_view name = "add_channel_bias";
  struct saved {};

  tensor forward(saved&, const tensor& x, const tensor& b) const {
    if (x.rank() < 2) throw_shape("ad::add_channel_bias", "x must be N x C x ..., got ", x.shape());
    if (b.numel() != x.dim(1))
      throw_shape("ad::add_channel_bias", "bias must hold C = ", x.dim(1), " values, got shape ", b.shape());
    const index_t c = x.dim(1), n = x.dim(0), inner = x.numel() / std::max<index_t>(n * c, 1);
    tensor y = tensor::uninitialized(x.shape());
#pragma omp parallel for schedule(static) if (x.numel() > parallel_grain)
    for (index_t p = 0; p < n * c; ++p) {
      const float bv = b[p % c];
      const float* in = x.data() + p * inner;
      float* out = y.data() + p * inner;
      for (index_t i = 0; i < inner; ++i) out[i] = in[i] + bv;
    }
    return y;
  }

  void backward(const saved&, const tensor&, const tensor& gy, std::span<const tensor* const>,
                std::span<tensor* const> gx, std::span<const grad_slot> mode) const {
    const index_t c = gy.dim(1), n = gy.dim(0), inner = gy.numel() / std::max<index_t>(n * c, 1);
    const float* g = gy.data();
    if (gx[0]) {
      float* d = gx[0]->data();
      const index_t total = gy.numel();
      by_mode(mode_of(mode, 0), [=](auto ow) {
        float* __restrict o = d;
        const float* __restrict u = g;
#pragma omp parallel for simd schedule(static) if (total > parallel_grain)
        for (index_t i = 0; i < total; ++i) put<decltype(ow)::value>(o[i], u[i]);
      });
    }
    if (gx[1]) {
      float* gb = gx[1]->data();
      const bool ow = mode_of(mode, 1) == grad_slot::overwrite;
#pragma omp parallel for schedule(static) if (gy.numel() > parallel_grain)
      for (index_t k = 0; k < c; ++k) {
        double sum = 0;
        for (index_t b = 0; b < n; ++b) sum += const_vector_map<float>(g + (b * c + k) * inner, inner).sum();
        gb[k] = (ow ? 0.0f : gb[k]) + static_cast<float>(sum);
      }
    }
  }

  /// dL/dx == gy.
  bool passes_gradient(const saved&, std::size_t i) const noexcept { return i == 0; }
};
static_assert(OverwritingOp<channel_bias_op> && PassThroughOp<channel_bias_op>);

}  // namespace detail

/// y = a + b (NumPy broadcasting: shapes right-aligned, extent-1 axes stretch).
inline var add(var a, var b) { return detail::binary(a, b, detail::binary_kind::add); }
/// y = a - b (broadcasting).
inline var sub(var a, var b) { return detail::binary(a, b, detail::binary_kind::sub); }
/// y = a * b (broadcasting), e.g. N x C x H x W maps times an N x C x 1 x 1 class mask.
inline var mul(var a, var b) { return detail::binary(a, b, detail::binary_kind::mul); }
/// y = a / b (broadcasting); b must be nonzero wherever it is read.
inline var div(var a, var b) { return detail::binary(a, b, detail::binary_kind::div); }

/// y[n, c, ...] = x[n, c, ...] + b[c] for x of rank >= 2 (N x C x ...) and b with C values.
inline var add_channel_bias(var x, var b) {
  return apply(detail::tape_of(x, b, "ad::add_channel_bias"), detail::channel_bias_op{}, x, b);
}

}  // namespace wsss::ad
