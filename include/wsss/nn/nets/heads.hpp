// SPDX-License-Identifier: MIT
// wsss/nn/nets/heads.hpp — the CAM classification head (Zhou et al. 2016, eq. 2; psa's
// resnet38_cls) and the AffinityNet head (Ahn & Kwak 2018, sec. 3.2; psa's resnet38_aff)
#pragma once

#include <array>
#include <string_view>

#include "wsss/autodiff/ops/pointwise.hpp"
#include "wsss/autodiff/ops/pool.hpp"
#include "wsss/autodiff/ops/shape_ops.hpp"
#include "wsss/nn/layers/conv2d.hpp"
#include "wsss/nn/layers/dropout.hpp"
#include "wsss/nn/nets/common.hpp"

namespace wsss::nn {

/// Training: scores = fc8(GAP(Dropout2d(features))), N x classes (fc8: 1x1 conv, no bias,
/// Xavier uniform, named "fc8.weight"). Inference: CAM = relu(conv1x1(features, fc8.weight)),
/// N x classes x h x w — the classifier applied at every location, before the pooling.
struct cam_head {
  static constexpr std::string_view name = "cam_head";
  struct config {
    index_t in = 4096;
    index_t classes = 20;
    float dropout = 0.5f;
  };
  config cfg;
  conv2d fc8;

  cam_head() = default;
  cam_head(const config& c, rng& g) : cfg(c) {
    require(c.in > 0 && c.classes > 0, "nn::cam_head", "in and classes must be positive, got ", c.in, " and ", c.classes);
    fc8 = conv2d("fc8", conv_config(c.in, c.classes, 1, 1, 0, 1, false, conv_init::xavier_uniform), g);
    fc8.weight.lr_mult = 10.0f;  // psa's from-scratch group: 10x learning rate
  }

  /// Image-level class scores (logits), N x classes.
  ad::var operator()(ad::tape& t, ad::var features) {
    const ad::var x = ad::global_avg_pool(dropout2d{cfg.dropout}(t, features));
    const ad::var s = fc8(t, x);
    return ad::reshape(s, wsss::shape{s.shape().dim(0), cfg.classes});
  }
  /// Class activation maps, N x classes x h x w (no dropout).
  ad::var cam(ad::tape& t, ad::var features) { return ad::relu(fc8(t, features)); }

  template <class F>
  void visit_params(F&& f) {
    fc8.visit_params(f);
  }
};
static_assert(Layer<cam_head>);

/// AffinityNet's feature head as psa's code has it (the paper's 128/256/512 -> 896 became
/// 64/128/256 -> 448 there): f8_3 = elu(1x1(conv4)) 64, f8_4 = elu(1x1(conv5)) 128,
/// f8_5 = elu(1x1(conv6)) 256, f = elu(f9(concat)) 448 -> 448. All bias-free; f8_* Kaiming
/// normal, f9 Xavier uniform with gain 4. Widths scale with the multiplier.
struct affinity_head {
  static constexpr std::string_view name = "affinity_head";
  struct config {
    index_t conv4 = 512, conv5 = 1024, conv6 = 4096;  ///< input channels of the three taps
    double width = 1.0;                                 ///< multiplier of 64/128/256/448
  };
  config cfg;
  conv2d f8_3, f8_4, f8_5, f9;

  affinity_head() = default;
  affinity_head(const config& c, rng& g) : cfg(c) {
    const index_t r3 = scale_channels(64, c.width), r4 = scale_channels(128, c.width), r5 = scale_channels(256, c.width);
    f8_3 = conv2d("f8_3", conv_config(c.conv4, r3, 1, 1, 0, 1, false, conv_init::kaiming_fan_in), g);
    f8_4 = conv2d("f8_4", conv_config(c.conv5, r4, 1, 1, 0, 1, false, conv_init::kaiming_fan_in), g);
    f8_5 = conv2d("f8_5", conv_config(c.conv6, r5, 1, 1, 0, 1, false, conv_init::kaiming_fan_in), g);
    auto c9 = conv_config(r3 + r4 + r5, r3 + r4 + r5, 1, 1, 0, 1, false, conv_init::xavier_uniform);
    c9.gain = 4.0;
    f9 = conv2d("f9", c9, g);
    visit_params([](ad::parameter& p) { p.lr_mult = 10.0f; });  // psa: from-scratch layers at 10x
  }

  /// Output channels (448 at width 1).
  index_t out_channels() const { return f9.cfg.out; }

  /// The affinity feature map f, N x 448w x h x w, from the three taps (same h x w).
  ad::var operator()(ad::tape& t, ad::var conv4, ad::var conv5, ad::var conv6) {
    const std::array<ad::var, 3> parts{ad::elu(f8_3(t, conv4)), ad::elu(f8_4(t, conv5)), ad::elu(f8_5(t, conv6))};
    return ad::elu(f9(t, ad::concat(parts, 1)));
  }

  template <class F>
  void visit_params(F&& f) {
    f8_3.visit_params(f);
    f8_4.visit_params(f);
    f8_5.visit_params(f);
    f9.visit_params(f);
  }
};

}  // namespace wsss::nn
