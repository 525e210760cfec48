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
    computed beyond them (masks, switches, sort orders, normalisers).                        */
template <class O>
concept Op = std::copy_constructible<O> && std::default_initializable<typename O::saved> &&
             requires(const O& op, const typename O::saved& s, const tensor& t,
                      std::span<const tensor* const> xs, std::span<tensor* const> gxs) {
               { O::name } -> std::convertible_to<std::string_view>;
               op.backward(s, t, t, xs, gxs);
             };

namespace detail {

template <Op O>
struct op_step final : backward_step {
  O op;
  typename O::saved saved;
  op_step(const O& o, typename O::saved&& s) : op(o), saved(std::move(s)) {}
  std::string_view name() const noexcept override { return O::name; }
  void run(const tensor& y, const tensor& gy, std::span<const tensor* const> x,
           std::span<tensor* const> gx) override {
    op.backward(saved, y, gy, x, gx);
  }
};

template <class O>
std::unique_ptr<backward_step> make_step(tape& t, const O& op, typename O::saved&& s) {
  if (!t.grad_enabled()) return nullptr;
  return std::make_unique<op_step<O>>(op, std::move(s));
}

}  // namespace detail

/// Runs a fixed-arity op forward on the inputs' values and records it: y = op(x0, x1, ...).
template <Op O, std::same_as<var>... V>
var apply(tape& t, const O& op, const V&... xs) {
  typename O::saved s{};
  tensor y;
  if constexpr (requires { op.forward(s, xs.value()...); }) {
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
