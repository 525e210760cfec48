// SPDX-License-Identifier: MIT
// wsss/nn/layers/dropout.hpp — dropout layers, active only while tape.training()
#pragma once

#include "wsss/autodiff/ops/dropout.hpp"
#include "wsss/nn/concepts.hpp"

namespace wsss::nn {

/// Element dropout with probability p (DeepLab's fc6/fc7 drop7 layers use 0.5).
struct dropout {
  static constexpr std::string_view name = "dropout";
  float p = 0.5f;
  ad::var operator()(ad::tape&, ad::var x) { return ad::dropout(x, p); }
  template <class F>
  void visit_params(F&&) {}
};
static_assert(Layer<dropout>);

/// Channel dropout with probability p (ResNet38's bottleneck units: 0.3 and 0.5).
struct dropout2d {
  static constexpr std::string_view name = "dropout2d";
  float p = 0.5f;
  ad::var operator()(ad::tape&, ad::var x) { return ad::dropout2d(x, p); }
  template <class F>
  void visit_params(F&&) {}
};
static_assert(Layer<dropout2d>);

}  // namespace wsss::nn
