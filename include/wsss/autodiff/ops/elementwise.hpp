// SPDX-License-Identifier: MIT
// wsss/autodiff/ops/elementwise.hpp — binary elementwise ops (add, sub, mul, div) with
// NumPy-style broadcasting, and the per-channel bias add of NCHW feature maps
#pragma once

#include <algorithm>
#include <array>
#include <span>

#include "wsss/autodiff/ops/common.hpp"
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

/// Calls f(iy, ia, ib) for every output element, with the flat offsets of its operands.
/// Serial: backward uses it to accumulate into stretched operands.
template <class F>
void broadcast_for_each(const broadcast_plan& p, F&& f) {
  const int r = p.out.rank();
  const index_t n = p.out.numel();
  if (n == 0) return;
  const index_t inner = p.out[r - 1];
  const index_t sa = p.sa[static_cast<std::size_t>(r - 1)], sb = p.sb[static_cast<std::size_t>(r - 1)];
  std::array<index_t, shape::max_rank> idx{};
  index_t oa = 0, ob = 0;
  for (index_t iy = 0; iy < n; iy += inner) {
    for (index_t k = 0; k < inner; ++k) f(iy + k, oa + k * sa, ob + k * sb);
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

enum class binary_kind { add, sub, mul, div };

/// y = a (+ - * /) b with broadcasting.
struct binary_op {
  static constexpr std::string_view name = "elementwise";
  binary_kind kind = binary_kind::add;
  struct saved {
    broadcast_plan plan;
  };

  static float eval(binary_kind k, float a, float b) noexcept {
    switch (k) {
      case binary_kind::add: return a + b;
      case binary_kind::sub: return a - b;
      case binary_kind::mul: return a * b;
      case binary_kind::div: return a / b;
    }
    return 0.0f;
  }

  tensor forward(saved& s, const tensor& a, const tensor& b) const {
    s.plan = make_broadcast(a.shape(), b.shape(), component());
    tensor y = tensor::uninitialized(s.plan.out);
    if (s.plan.same) {
      auto ya = as_array(y);
      auto xa = as_array(a);
      auto xb = as_array(b);
      switch (kind) {
        case binary_kind::add: ya = xa + xb; break;
        case binary_kind::sub: ya = xa - xb; break;
        case binary_kind::mul: ya = xa * xb; break;
        case binary_kind::div: ya = xa / xb; break;
      }
    } else {
      const float* pa = a.data();
      const float* pb = b.data();
      float* py = y.data();
      const binary_kind k = kind;
      broadcast_for_each(s.plan, [&](index_t iy, index_t ia, index_t ib) { py[iy] = eval(k, pa[ia], pb[ib]); });
    }
    return y;
  }

  void backward(const saved& s, const tensor& y, const tensor& gy, std::span<const tensor* const> x,
                std::span<tensor* const> gx) const {
    const tensor& a = *x[0];
    const tensor& b = *x[1];
    if (s.plan.same) {
      auto g = as_array(gy);
      if (gx[0]) {
        auto ga = as_array(*gx[0]);
        switch (kind) {
          case binary_kind::add:
          case binary_kind::sub: ga += g; break;
          case binary_kind::mul: ga += g * as_array(b); break;
          case binary_kind::div: ga += g / as_array(b); break;
        }
      }
      if (gx[1]) {
        auto gb = as_array(*gx[1]);
        switch (kind) {
          case binary_kind::add: gb += g; break;
          case binary_kind::sub: gb -= g; break;
          case binary_kind::mul: gb += g * as_array(a); break;
          case binary_kind::div: gb -= g * as_array(y) / as_array(b); break;
        }
      }
      return;
    }
    const float* pa = a.data();
    const float* pb = b.data();
    const float* py = y.data();
    const float* pg = gy.data();
    float* ga = gx[0] ? gx[0]->data() : nullptr;
    float* gb = gx[1] ? gx[1]->data() : nullptr;
    const binary_kind k = kind;
    broadcast_for_each(s.plan, [&](index_t iy, index_t ia, index_t ib) {
      const float g = pg[iy];
      switch (k) {
        case binary_kind::add:
          if (ga) ga[ia] += g;
          if (gb) gb[ib] += g;
          break;
        case binary_kind::sub:
          if (ga) ga[ia] += g;
          if (gb) gb[ib] -= g;
          break;
        case binary_kind::mul:
          if (ga) ga[ia] += g * pb[ib];
          if (gb) gb[ib] += g * pa[ia];
          break;
        case binary_kind::div:
          if (ga) ga[ia] += g / pb[ib];
          if (gb) gb[ib] -= g * py[iy] / pb[ib];
          break;
      }
    });
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
};
static_assert(Op<binary_op>);

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
                std::span<tensor* const> gx) const {
    const index_t c = gy.dim(1), n = gy.dim(0), inner = gy.numel() / std::max<index_t>(n * c, 1);
    if (gx[0]) as_array(*gx[0]) += as_array(gy);
    if (gx[1]) {
      float* gb = gx[1]->data();
      for (index_t p = 0; p < n * c; ++p)
        gb[p % c] += const_vector_map<float>(gy.data() + p * inner, inner).sum();
    }
  }
};
static_assert(Op<channel_bias_op>);

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
