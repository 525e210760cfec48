// SPDX-License-Identifier: MIT
// wsss/autodiff/ops/pointwise.hpp — unary elementwise ops: relu, elu, sigmoid, tanh, exp,
// log, sqrt, pow, scale, add_scalar (one op template, one inlined functor per function)
#pragma once

#include <cmath>
#include <span>

#include "wsss/autodiff/ops/common.hpp"

namespace wsss::ad {

namespace detail {

/// A pointwise function F provides name, f(x) and df(x, y) = dy/dx given x and y = f(x);
/// pointwise_op<F> runs it over a tensor in one (OpenMP, vectorisable) loop: no per-element
/// indirect call. F may declare `static constexpr bool unit_slope = true` when df == 1.
template <class F>
struct pointwise_op {
  static constexpr std::string_view name = F::name;
  F fn;
  struct saved {};

  tensor forward(saved&, const tensor& x) const {
    tensor y = tensor::uninitialized(x.shape());
    const float* in = x.data();
    float* out = y.data();
    const index_t n = x.numel();
    const F f = fn;
#pragma omp parallel for simd schedule(static) if (n > parallel_grain)
    for (index_t i = 0; i < n; ++i) out[i] = f.f(in[i]);
    return y;
  }

  /// dx = gy * df(x, y), written into an overwrite slot or added to an accumulate one.
  void backward(const saved&, const tensor& y, const tensor& gy, std::span<const tensor* const> x,
                std::span<tensor* const> gx, std::span<const grad_slot> mode) const {
    if (!gx[0]) return;
    const float* in = x[0]->data();
    const float* out = y.data();
    const float* g = gy.data();
    float* gi = gx[0]->data();
    const index_t n = gy.numel();
    const F f = fn;
    by_mode(mode_of(mode, 0), [=](auto ow) {  // restrict locals: see binary_op::forward
      float* __restrict d = gi;
      const float *__restrict u = in, *__restrict v = out, *__restrict w = g;
#pragma omp parallel for simd schedule(static) if (n > parallel_grain)
      for (index_t i = 0; i < n; ++i) put<decltype(ow)::value>(d[i], w[i] * f.df(u[i], v[i]));
    });
  }

  /// dx = gy exactly for functions with unit slope (add_scalar): the tape may hand gy over.
  bool passes_gradient(const saved&, std::size_t) const noexcept {
    if constexpr (requires { F::unit_slope; }) {
      return F::unit_slope;
    } else {
      return false;
    }
  }
};

struct relu_fn {
  static constexpr std::string_view name = "relu";
  float f(float x) const noexcept { return x > 0.0f ? x : 0.0f; }
  float df(float x, float) const noexcept { return x > 0.0f ? 1.0f : 0.0f; }
};
struct elu_fn {
  static constexpr std::string_view name = "elu";
  float alpha = 1.0f;
  float f(float x) const noexcept { return x > 0.0f ? x : alpha * std::expm1(x); }
  float df(float x, float y) const noexcept { return x > 0.0f ? 1.0f : y + alpha; }
};
struct sigmoid_fn {
  static constexpr std::string_view name = "sigmoid";
  float f(float x) const noexcept {
    // Split by sign so exp never overflows.
    if (x >= 0.0f) return 1.0f / (1.0f + std::exp(-x));
    const float e = std::exp(x);
    return e / (1.0f + e);
  }
  float df(float, float y) const noexcept { return y * (1.0f - y); }
};
struct tanh_fn {
  static constexpr std::string_view name = "tanh";
  float f(float x) const noexcept { return std::tanh(x); }
  float df(float, float y) const noexcept { return 1.0f - y * y; }
};
struct exp_fn {
  static constexpr std::string_view name = "exp";
  float f(float x) const noexcept { return std::exp(x); }
  float df(float, float y) const noexcept { return y; }
};
struct log_fn {
  static constexpr std::string_view name = "log";
  float f(float x) const noexcept { return std::log(x); }
  float df(float x, float) const noexcept { return 1.0f / x; }
};
struct sqrt_fn {
  static constexpr std::string_view name = "sqrt";
  float f(float x) const noexcept { return std::sqrt(x); }
  // The derivative is unbounded at 0; there (sqrt after ReLU in VGG's CAM head) it is taken
  // as 0 so that gradients stay finite.
  float df(float, float y) const noexcept { return y > 0.0f ? 0.5f / y : 0.0f; }
};
struct pow_fn {
  static constexpr std::string_view name = "pow";
  float p = 1.0f;
  float f(float x) const noexcept { return std::pow(x, p); }
  float df(float x, float) const noexcept { return p * std::pow(x, p - 1.0f); }
};
struct scale_fn {
  static constexpr std::string_view name = "scale";
  float s = 1.0f;
  float f(float x) const noexcept { return s * x; }
  float df(float, float) const noexcept { return s; }
};
struct add_scalar_fn {
  static constexpr std::string_view name = "add_scalar";
  static constexpr bool unit_slope = true;
  float s = 0.0f;
  float f(float x) const noexcept { return x + s; }
  float df(float, float) const noexcept { return 1.0f; }
};
static_assert(OverwritingOp<pointwise_op<relu_fn>> && PassThroughOp<pointwise_op<add_scalar_fn>>);

template <class F>
var pointwise(var x, F f, std::string_view component) {
  return apply(tape_of(x, component), pointwise_op<F>{f}, x);
}

/// Throws value_error naming the first element of x that fails pred.
template <class P>
void require_domain(const var& x, P pred, std::string_view component, std::string_view domain) {
  const tensor& v = tape_of(x, component).value(x);
  for (index_t i = 0; i < v.numel(); ++i)
    if (!pred(v[i])) throw_value(component, "input must be ", domain, ", got ", v[i], " at flat index ", i);
}

}  // namespace detail

/// y = max(x, 0); dy/dx = 1 where x > 0, else 0 (the subgradient at 0 is 0, as in PyTorch).
inline var relu(var x) { return detail::pointwise(x, detail::relu_fn{}, "ad::relu"); }
/// y = x for x > 0, alpha (e^x - 1) otherwise (Clevert et al. 2016).
inline var elu(var x, float alpha = 1.0f) { return detail::pointwise(x, detail::elu_fn{alpha}, "ad::elu"); }
/// y = 1 / (1 + e^-x), evaluated without overflow for any x.
inline var sigmoid(var x) { return detail::pointwise(x, detail::sigmoid_fn{}, "ad::sigmoid"); }
/// y = tanh(x).
inline var tanh(var x) { return detail::pointwise(x, detail::tanh_fn{}, "ad::tanh"); }
/// y = e^x.
inline var exp(var x) { return detail::pointwise(x, detail::exp_fn{}, "ad::exp"); }
/// y = ln x; every element must be > 0 (value_error otherwise).
inline var log(var x) {
  detail::require_domain(x, [](float v) { return v > 0.0f; }, "ad::log", "> 0");
  return detail::pointwise(x, detail::log_fn{}, "ad::log");
}
/// y = sqrt(x); every element must be >= 0 (dy/dx at 0 is taken as 0).
inline var sqrt(var x) {
  detail::require_domain(x, [](float v) { return v >= 0.0f; }, "ad::sqrt", ">= 0");
  return detail::pointwise(x, detail::sqrt_fn{}, "ad::sqrt");
}
/// y = x^p; for non-integer p every element must be >= 0.
inline var pow(var x, float p) {
  if (p != std::floor(p)) detail::require_domain(x, [](float v) { return v >= 0.0f; }, "ad::pow", ">= 0 for a non-integer power");
  return detail::pointwise(x, detail::pow_fn{p}, "ad::pow");
}
/// y = s x.
inline var scale(var x, float s) { return detail::pointwise(x, detail::scale_fn{s}, "ad::scale"); }
/// y = x + s.
inline var add_scalar(var x, float s) { return detail::pointwise(x, detail::add_scalar_fn{s}, "ad::add_scalar"); }

}  // namespace wsss::ad
