// SPDX-License-Identifier: MIT
// wsss/autodiff/op.hpp — the Op concept and apply(): how any component (a layer's math, a
// pooler, the CRF, a loss) becomes one differentiable node on the tape.
#pragma once

#include <array>
#include <concepts>
#include <memory>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "wsss/autodiff/tape.hpp"

namespace wsss::ad {

/*  Op contract
    An op is a copyable struct holding its configuration (and pointers to any non-differentiable
    side data it reads, which must outlive backward). It provides
      static constexpr std::string_view name;
      struct saved { ... };                      // state forward keeps for backward (may be empty)
      tensor forward(saved& s, const tensor& x0, const tensor& x1, ...) const;   // fixed arity
        or tensor forward(saved& s, std::span<const tensor* const> xs) const;     // any arity
      void backward(const saved& s, const tensor& y, const tensor& gy,
                    std::span<const tensor* const> xs, std::span<tensor* const> gxs) const;
    backward ADDS dL/dx_i into *gxs[i] (already sized like x_i) and skips null slots: inputs
    that need no gradient. Inputs are read from the tape, so saved holds only what forward
    computed beyond them (masks, switches, sort orders, normalisers).

    Optional capabilities (detected, never required; tape memory is the reason for both):
    - Overwrite: instead of the 5-argument backward, an op may take one more argument,
        std::span<const grad_slot> mode
      where mode[i] == grad_slot::accumulate means "add into *gxs[i]" as above, and
      grad_slot::overwrite means *gxs[i] is uninitialised storage that backward must write
      completely (every element, zeros included). The tape flags a slot overwrite only for an
      input's first contribution and only when that input fills no other slot of this op; an
      op without it gets zero-filled fresh slots, so plain adding ops stay correct.
    - Pass-through: bool passes_gradient(const saved& s, std::size_t i) const returning true
      says dL/dx_i == gy exactly (same shape, factor 1: add, subtract's first operand, bias
      add). Where x_i has no gradient yet, the tape then moves gy's buffer to x_i and passes
      a null slot for i (gy stays readable through the call).                               */
template <class O>
concept Op = std::copy_constructible<O> && std::default_initializable<typename O::saved> &&
             requires(const O& op, const typename O::saved& s, const tensor& t,
                      std::span<const tensor* const> xs, std::span<tensor* const> gxs,
                      std::span<const grad_slot> mode) {
               { O::name } -> std::convertible_to<std::string_view>;
               requires requires { op.backward(s, t, t, xs, gxs); } ||
                            requires { op.backward(s, t, t, xs, gxs, mode); };
             };

/// An op whose backward honours grad_slot::overwrite (the 6-argument form).
template <class O>
concept OverwritingOp = Op<O> && requires(const O& op, const typename O::saved& s, const tensor& t,
                                          std::span<const tensor* const> xs, std::span<tensor* const> gxs,
                                          std::span<const grad_slot> mode) { op.backward(s, t, t, xs, gxs, mode); };

/// An op that can say dL/dx_i == gy (passes_gradient).
template <class O>
concept PassThroughOp = Op<O> && requires(const O& op, const typename O::saved& s, std::size_t i) {
  { op.passes_gradient(s, i) } -> std::convertible_to<bool>;
};

namespace detail {

template <Op O>
struct op_step final : backward_step {
  O op;
  typename O::saved saved;
  op_step(const O& o, typename O::saved&& s) : op(o), saved(std::move(s)) {}
  std::string_view name() const noexcept override { return O::name; }
  bool overwrites() const noexcept override { return OverwritingOp<O>; }
  bool passes_gradient(std::size_t i) const noexcept override {
    if constexpr (PassThroughOp<O>) {
      return op.passes_gradient(saved, i);
    } else {
      return false;
    }
  }
  void run(const tensor& y, const tensor& gy, std::span<const tensor* const> x, std::span<tensor* const> gx,
           std::span<const grad_slot> mode) override {
    if constexpr (OverwritingOp<O>) {
      op.backward(saved, y, gy, x, gx, mode);
    } else {
      op.backward(saved, y, gy, x, gx);
    }
  }
};

template <class O>
std::unique_ptr<backward_step> make_step(tape& t, const O& op, typename O::saved&& s) {
  if (!t.grad_enabled()) return nullptr;
  return std::make_unique<op_step<O>>(op, std::move(s));
}

}  // namespace detail

namespace detail {
/// Whether O's forward takes its inputs one by one (else it takes a span). A named concept
/// rather than a requires-expression over a pack inside apply: nvcc's front end evaluates the
/// latter to false.
template <class O, class... X>
concept fixed_arity_forward = requires(const O& op, typename O::saved& s, const X&... x) { op.forward(s, x...); };
template <class V>
using value_of = tensor;
}  // namespace detail

/// Runs a fixed-arity op forward on the inputs' values and records it: y = op(x0, x1, ...).
template <Op O, std::same_as<var>... V>
var apply(tape& t, const O& op, const V&... xs) {
  typename O::saved s{};
  tensor y;
  if constexpr (detail::fixed_arity_forward<O, detail::value_of<V>...>) {
    y = op.forward(s, xs.value()...);
  } else {
    const std::array<const tensor*, sizeof...(V)> vals{&xs.value()...};
    y = op.forward(s, std::span<const tensor* const>(vals));
  }
  const std::array<var, sizeof...(V)> ins{xs...};
  return t.record(std::move(y), ins, detail::make_step(t, op, std::move(s)));
}

/// Runs a variable-arity op (concat, sum of many) on a list of inputs and records it.
template <Op O>
var apply(tape& t, const O& op, std::span<const var> xs) {
  typename O::saved s{};
  std::vector<const tensor*> vals;
  vals.reserve(xs.size());
  for (const var& v : xs) vals.push_back(&v.value());
  tensor y = op.forward(s, std::span<const tensor* const>(vals));
  return t.record(std::move(y), xs, detail::make_step(t, op, std::move(s)));
}

}  // namespace wsss::ad
