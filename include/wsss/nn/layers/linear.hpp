// SPDX-License-Identifier: MIT
// wsss/nn/layers/linear.hpp — fully connected layer with PyTorch's parameter layout and names
#pragma once

#include <string>

#include "wsss/autodiff/ops/linear.hpp"
#include "wsss/autodiff/parameter.hpp"
#include "wsss/nn/concepts.hpp"
#include "wsss/nn/layers/init.hpp"
#include "wsss/nn/module.hpp"

namespace wsss::nn {

/// y = x W^T + b with W (out x in) named "<prefix>.weight" and b (out) "<prefix>.bias",
/// initialised as PyTorch's nn.Linear.
struct linear {
  static constexpr std::string_view name = "linear";
  struct config {
    index_t in = 1, out = 1;
    bool bias = true;
  };
  config cfg;
  ad::parameter weight, bias;

  linear() = default;
  linear(const std::string& prefix, const config& c, rng& g) : cfg(c) {
    require(c.in > 0 && c.out > 0, "nn::linear", "in and out must be positive, got ", c.in, " and ", c.out);
    weight = ad::parameter(join_name(prefix, "weight"), tensor({c.out, c.in}));
    init::torch_default(weight.value, c.in, g);
    if (c.bias) {
      bias = ad::parameter(join_name(prefix, "bias"), tensor({c.out}));
      init::torch_default(bias.value, c.in, g);
    }
  }

  ad::var operator()(ad::tape& t, ad::var x) {
    return cfg.bias ? ad::linear(x, t.param(weight), t.param(bias)) : ad::linear(x, t.param(weight));
  }
  template <class F>
  void visit_params(F&& f) {
    f(weight);
    if (cfg.bias) f(bias);
  }
};
static_assert(Layer<linear>);

}  // namespace wsss::nn
