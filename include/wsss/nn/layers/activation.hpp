// SPDX-License-Identifier: MIT
// wsss/nn/layers/activation.hpp — parameter-free activation layers (ReLU, ELU, sigmoid)
#pragma once

#include "wsss/autodiff/ops/pointwise.hpp"
#include "wsss/nn/concepts.hpp"

namespace wsss::nn {

/// y = max(x, 0).
struct relu {
  static constexpr std::string_view name = "relu";
  ad::var operator()(ad::tape&, ad::var x) { return ad::relu(x); }
  template <class F>
  void visit_params(F&&) {}
};
static_assert(Layer<relu>);

/// y = x for x > 0, alpha (e^x - 1) otherwise.
struct elu {
  static constexpr std::string_view name = "elu";
  float alpha = 1.0f;
  ad::var operator()(ad::tape&, ad::var x) { return ad::elu(x, alpha); }
  template <class F>
  void visit_params(F&&) {}
};
static_assert(Layer<elu>);

/// y = 1 / (1 + e^-x).
struct sigmoid {
  static constexpr std::string_view name = "sigmoid";
  ad::var operator()(ad::tape&, ad::var x) { return ad::sigmoid(x); }
  template <class F>
  void visit_params(F&&) {}
};
static_assert(Layer<sigmoid>);

}  // namespace wsss::nn
