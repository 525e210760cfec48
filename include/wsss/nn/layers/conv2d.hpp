// SPDX-License-Identifier: MIT
// wsss/nn/layers/conv2d.hpp — 2-D convolution layer (atrous: DeepLab eq. 1) with torch's
// parameter layout and names ("<prefix>.weight" O x C x KH x KW, "<prefix>.bias" O)
#pragma once

#include <string>
#include <string_view>

#include "wsss/autodiff/ops/conv.hpp"
#include "wsss/autodiff/parameter.hpp"
#include "wsss/nn/concepts.hpp"
#include "wsss/nn/layers/init.hpp"
#include "wsss/nn/module.hpp"

namespace wsss::nn {

/// How a convolution's weight is drawn. Biases are zero except for torch_default, which draws
/// them as PyTorch does (U(-1/sqrt(fan_in), 1/sqrt(fan_in))).
enum class conv_init {
  torch_default,   ///< PyTorch's Conv2d default (kaiming_uniform, a = sqrt(5))
  kaiming_fan_in,  ///< N(0, 2 / fan_in): He et al. 2015, torch.nn.init.kaiming_normal_ (psa's f8_*)
  kaiming_fan_out, ///< N(0, 2 / fan_out): torchvision's VGG
  xavier_uniform,  ///< U(-a, a), a = gain sqrt(6 / (fan_in + fan_out)) (psa's fc8, f9 with gain 4)
  gaussian,        ///< N(0, std^2) (DeepLab/SEC's fc8: std 0.01)
  none,            ///< left at zero: for weights about to be loaded from a checkpoint
};

/// Draws w with the given scheme for the fans of a conv weight.
inline void init_conv_weight(tensor& w, conv_init kind, index_t fan_in, index_t fan_out, double gain, double stddev, rng& g) {
  switch (kind) {
    case conv_init::torch_default: init::torch_default(w, fan_in, g); break;
    case conv_init::kaiming_fan_in: init::kaiming_normal(w, fan_in, g); break;
    case conv_init::kaiming_fan_out: init::kaiming_normal(w, fan_out, g); break;
    case conv_init::xavier_uniform: init::xavier_uniform(w, fan_in, fan_out, g, gain); break;
    case conv_init::gaussian: init::normal(w, stddev, g); break;
    case conv_init::none: break;
  }
}

/// y = conv2d(x, W) + b with stride, padding and dilation from cfg.conv.
struct conv2d {
  static constexpr std::string_view name = "conv2d";
  struct config {
    index_t in = 1, out = 1;
    index_t kernel_h = 3, kernel_w = 3;
    ad::conv2d_config conv{};
    bool bias = true;
    conv_init init = conv_init::torch_default;
    double gain = 1.0;     ///< xavier_uniform's gain
    double stddev = 0.01;  ///< gaussian's standard deviation
  };
  config cfg;
  ad::parameter weight, bias;

  conv2d() = default;
  conv2d(const std::string& prefix, const config& c, rng& g) : cfg(c) {
    require(c.in > 0 && c.out > 0 && c.kernel_h > 0 && c.kernel_w > 0, "nn::conv2d",
            "channels and kernel must be positive, got in ", c.in, " out ", c.out, " kernel ", c.kernel_h, "x", c.kernel_w);
    const index_t kk = c.kernel_h * c.kernel_w;
    weight = ad::parameter(join_name(prefix, "weight"), tensor({c.out, c.in, c.kernel_h, c.kernel_w}));
    init_conv_weight(weight.value, c.init, c.in * kk, c.out * kk, c.gain, c.stddev, g);
    if (c.bias) {
      bias = ad::parameter(join_name(prefix, "bias"), tensor({c.out}));
      if (c.init == conv_init::torch_default) init::torch_default(bias.value, c.in * kk, g);
    }
  }

  ad::var operator()(ad::tape& t, ad::var x) {
    return ad::conv2d(x, t.param(weight), cfg.bias ? t.param(bias) : ad::var{}, cfg.conv);
  }
  template <class F>
  void visit_params(F&& f) {
    f(weight);
    if (cfg.bias) f(bias);
  }
};
static_assert(Layer<conv2d>);

/// A square-kernel conv2d config: k x k kernel, the same stride, padding and dilation on both axes.
inline conv2d::config conv_config(index_t in, index_t out, index_t k, index_t stride = 1, index_t pad = 0,
                                  index_t dilation = 1, bool bias = true, conv_init init = conv_init::torch_default) {
  conv2d::config c;
  c.in = in;
  c.out = out;
  c.kernel_h = c.kernel_w = k;
  c.conv = ad::conv2d_config::square(stride, pad, dilation);
  c.bias = bias;
  c.init = init;
  return c;
}

}  // namespace wsss::nn
