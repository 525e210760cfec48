// SPDX-License-Identifier: MIT
// wsss/autodiff/parameter.hpp — a trainable tensor owned by a layer, outside any tape
#pragma once

#include <string>
#include <utility>

#include "wsss/core/tensor.hpp"

namespace wsss::ad {

/// A named weight with its gradient and per-parameter optimiser multipliers (the papers
/// train new classifiers at 10x the base learning rate, biases at 2x without decay).
struct parameter {
  std::string name;        ///< checkpoint key, e.g. "conv1_1.weight"
  tensor value;
  tensor grad;             ///< accumulated by backward(); same shape as value once touched
  float lr_mult = 1.0f;    ///< multiplies the optimiser's learning rate
  float decay_mult = 1.0f; ///< multiplies the optimiser's weight decay
  bool trainable = true;   ///< false: used as a constant (frozen BN, frozen stages)

  parameter() = default;
  parameter(std::string n, tensor v, float lr = 1.0f, float decay = 1.0f)
      : name(std::move(n)), value(std::move(v)), lr_mult(lr), decay_mult(decay) {}

  /// Zeroes the gradient (keeps its storage).
  void zero_grad() {
    if (grad.shape() != value.shape()) grad = tensor(value.shape());
    else grad.fill(0.0f);
  }
};

/// What the Layer and Trainable concepts visit parameters with: a named type rather than a
/// lambda, since nvcc's front end rejects lambdas inside a requires-expression (the concepts
/// then fail in every .cu file that includes a network).
struct parameter_visitor {
  void operator()(parameter&) const noexcept {}
};

}  // namespace wsss::ad
