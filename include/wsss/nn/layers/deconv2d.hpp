// SPDX-License-Identifier: MIT
// wsss/nn/layers/deconv2d.hpp — transposed convolution ("deconvolution") layer with torch's
// ConvTranspose2d layout and names ("<prefix>.weight" Cin x Cout x KH x KW, "<prefix>.bias" Cout)
#pragma once

#include <cmath>
#include <string>
#include <string_view>

#include "wsss/autodiff/ops/deconv.hpp"
#include "wsss/autodiff/parameter.hpp"
#include "wsss/nn/concepts.hpp"
#include "wsss/nn/layers/conv2d.hpp"
#include "wsss/nn/module.hpp"

namespace wsss::nn {

/// y = conv_transpose2d(x, W) + b with stride, padding, output_padding and dilation from cfg.conv.
struct deconv2d {
  static constexpr std::string_view name = "deconv2d";
  struct config {
    index_t in = 1, out = 1;
    index_t kernel_h = 4, kernel_w = 4;
    ad::conv_transpose2d_config conv = ad::conv_transpose2d_config::square(2, 1);
    bool bias = true;
    conv_init init = conv_init::torch_default;
    double gain = 1.0;
    double stddev = 0.01;
    /// Start as bilinear interpolation (FCN's upsampling init; needs in == out): channel c maps
    /// to channel c with the separable tent f(i) f(j), f(i) = 1 - |i - centre| / factor.
    bool bilinear = false;
  };
  config cfg;
  ad::parameter weight, bias;

  deconv2d() = default;
  deconv2d(const std::string& prefix, const config& c, rng& g) : cfg(c) {
    require(c.in > 0 && c.out > 0 && c.kernel_h > 0 && c.kernel_w > 0, "nn::deconv2d",
            "channels and kernel must be positive, got in ", c.in, " out ", c.out, " kernel ", c.kernel_h, "x", c.kernel_w);
    const index_t kk = c.kernel_h * c.kernel_w;
    weight = ad::parameter(join_name(prefix, "weight"), tensor({c.in, c.out, c.kernel_h, c.kernel_w}));
    if (c.bilinear) {
      require(c.in == c.out, "nn::deconv2d", "bilinear init needs in == out, got ", c.in, " and ", c.out);
      fill_bilinear();
    } else {
      // torch computes a transposed conv's fan_in from weight.size(1) (= out) times the kernel.
      init_conv_weight(weight.value, c.init, c.out * kk, c.in * kk, c.gain, c.stddev, g);
    }
    if (c.bias) {
      bias = ad::parameter(join_name(prefix, "bias"), tensor({c.out}));
      if (c.init == conv_init::torch_default && !c.bilinear) init::torch_default(bias.value, c.out * kk, g);
    }
  }

  ad::var operator()(ad::tape& t, ad::var x) {
    return ad::conv_transpose2d(x, t.param(weight), cfg.bias ? t.param(bias) : ad::var{}, cfg.conv);
  }
  template <class F>
  void visit_params(F&& f) {
    f(weight);
    if (cfg.bias) f(bias);
  }

 private:
  static double tent(index_t i, index_t k) {
    const double factor = static_cast<double>((k + 1) / 2);
    const double centre = k % 2 == 1 ? factor - 1 : factor - 0.5;
    return 1.0 - std::abs(static_cast<double>(i) - centre) / factor;
  }
  void fill_bilinear() {
    tensor& w = weight.value;
    w.fill(0.0f);
    for (index_t c = 0; c < cfg.in; ++c)
      for (index_t i = 0; i < cfg.kernel_h; ++i)
        for (index_t j = 0; j < cfg.kernel_w; ++j)
          w(c, c, i, j) = static_cast<float>(tent(i, cfg.kernel_h) * tent(j, cfg.kernel_w));
  }
};
static_assert(Layer<deconv2d>);

}  // namespace wsss::nn
