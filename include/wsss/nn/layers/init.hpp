// SPDX-License-Identifier: MIT
// wsss/nn/layers/init.hpp — weight initialisers (PyTorch's defaults, Glorot & Bengio 2010,
// He et al. 2015), drawn from wsss::rng so that a seed fixes a network
#pragma once

#include <cmath>

#include "wsss/core/random.hpp"
#include "wsss/core/tensor.hpp"

namespace wsss::nn::init {

/// PyTorch's default for Linear/Conv2d weights and biases: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
/// (kaiming_uniform with a = sqrt(5) reduces to this bound).
inline void torch_default(tensor& t, index_t fan_in, rng& g) {
  require(fan_in > 0, "nn::init::torch_default", "fan_in must be positive, got ", fan_in);
  const double b = 1.0 / std::sqrt(static_cast<double>(fan_in));
  fill_uniform(t, g, -b, b);
}

/// Glorot/Xavier uniform: U(-a, a), a = gain sqrt(6 / (fan_in + fan_out)) (psa's fc8 init).
inline void xavier_uniform(tensor& t, index_t fan_in, index_t fan_out, rng& g, double gain = 1.0) {
  require(fan_in + fan_out > 0, "nn::init::xavier_uniform", "fan_in + fan_out must be positive");
  const double a = gain * std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
  fill_uniform(t, g, -a, a);
}

/// He/Kaiming normal for ReLU nets: N(0, 2 / fan), fan = fan_in (or fan_out, as torchvision's VGG).
inline void kaiming_normal(tensor& t, index_t fan, rng& g) {
  require(fan > 0, "nn::init::kaiming_normal", "fan must be positive, got ", fan);
  fill_normal(t, g, 0.0, std::sqrt(2.0 / static_cast<double>(fan)));
}

/// N(0, stddev^2), e.g. DeepLab's fc8 (0.01).
inline void normal(tensor& t, double stddev, rng& g) { fill_normal(t, g, 0.0, stddev); }

}  // namespace wsss::nn::init
