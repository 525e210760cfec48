// SPDX-License-Identifier: MIT
// wsss/nn/nets/vgg16.hpp — VGG16's convolutional part (Simonyan & Zisserman 2015, config D),
// parameters named as torchvision's vgg16 ("features.<index>.weight")
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "wsss/autodiff/ops/pointwise.hpp"
#include "wsss/autodiff/ops/pool.hpp"
#include "wsss/nn/concepts.hpp"
#include "wsss/nn/layers/batch_norm.hpp"
#include "wsss/nn/layers/conv2d.hpp"
#include "wsss/nn/module.hpp"
#include "wsss/nn/nets/common.hpp"

namespace wsss::nn {

/// The 13 3x3 convolutions of VGG16, named conv<stage>_<k> here and "features.<i>.*" in
/// checkpoints, i being the index in torchvision's nn.Sequential (ReLUs and pools take the
/// other indices). The owner decides the pooling between stages; `stage5_dilation` turns
/// conv5_* atrous (DeepLab-LargeFOV: 2, padding equal to the dilation). With batch_norm, a
/// BatchNorm2d follows every convolution (torchvision's vgg16_bn and its indices): the
/// published VGG16 has none; we use it where the network trains from random weights (the
/// scenes presets), BN's usual remedy for a deep plain network's slow start.
struct vgg16_features {
  static constexpr std::array<index_t, 13> torch_index{0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28};
  static constexpr std::array<index_t, 13> torch_index_bn{0, 3, 7, 10, 14, 17, 20, 24, 27, 30, 34, 37, 40};
  static constexpr std::array<index_t, 13> channels{64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512};
  static constexpr std::array<int, 5> convs_per_stage{2, 2, 3, 3, 3};

  conv2d conv1_1, conv1_2, conv2_1, conv2_2, conv3_1, conv3_2, conv3_3, conv4_1, conv4_2, conv4_3, conv5_1, conv5_2,
      conv5_3;
  std::vector<batch_norm2d> bn;  ///< one per convolution with batch_norm, else empty

  vgg16_features() = default;
  /// init: torchvision's (kaiming normal, fan_out, zero bias) unless told otherwise.
  vgg16_features(double width, index_t stage5_dilation, rng& g, conv_init init = conv_init::kaiming_fan_out,
                 bool batch_norm = false) {
    index_t in = 3;
    std::size_t k = 0;
    each_conv([&](conv2d& c, int stage) {
      const index_t out = scale_channels(channels[k], width);
      const index_t d = stage == 5 ? stage5_dilation : 1;
      const index_t at = batch_norm ? torch_index_bn[k] : torch_index[k];
      c = conv2d("features." + std::to_string(at), conv_config(in, out, 3, 1, d, d, true, init), g);
      if (batch_norm) bn.emplace_back("features." + std::to_string(at + 1), batch_norm2d::config{.channels = out});
      in = out;
      ++k;
    });
  }

  /// Output channels of conv5_3.
  index_t out_channels() const { return conv5_3.cfg.out; }

  /// conv + ReLU for every convolution of stage s (1..5).
  ad::var stage(ad::tape& t, ad::var x, int s) {
    std::size_t k = 0;
    each_conv([&](conv2d& c, int st) {
      if (st == s) x = ad::relu(bn.empty() ? c(t, x) : bn[k](t, c(t, x)));
      ++k;
    });
    return x;
  }

  template <class F>
  void each_conv(F&& f) {
    f(conv1_1, 1), f(conv1_2, 1);
    f(conv2_1, 2), f(conv2_2, 2);
    f(conv3_1, 3), f(conv3_2, 3), f(conv3_3, 3);
    f(conv4_1, 4), f(conv4_2, 4), f(conv4_3, 4);
    f(conv5_1, 5), f(conv5_2, 5), f(conv5_3, 5);
  }
  template <class F>
  void visit_params(F&& f) {
    each_conv([&](conv2d& c, int) { c.visit_params(f); });
    for (auto& b : bn) b.visit_params(f);
  }
  template <class F>
  void visit_buffers(F&& f) {
    for (auto& b : bn) b.visit_buffers(f);
  }
};

/// VGG16's conv part as torchvision's `features`: five stages of 3x3 conv + ReLU, each followed
/// by 2x2 max pooling with stride 2. N x 3 x H x W -> N x 512w x floor(H / 32) x floor(W / 32).
/// Input: BGR-mean-subtracted for Caffe weights, ImageNet-normalised RGB for torchvision's
/// (see nn/preprocess.hpp).
struct vgg16 {
  static constexpr std::string_view name = "vgg16";
  struct config {
    double width = 1.0;        ///< channel multiplier (1 = the published net, 14,714,688 parameters)
    bool random_init = true;   ///< false: zero weights, to be loaded (load_weights)
  };
  config cfg;
  vgg16_features features;

  vgg16() = default;
  vgg16(const config& c, rng& g)
      : cfg(c), features(c.width, 1, g, init_or_none(c.random_init, conv_init::kaiming_fan_out)) {}

  /// Runs stages 1..5 with their pools; `through` stops after that stage's pool.
  ad::var operator()(ad::tape& t, ad::var x, int through = 5) {
    const ad::pool2d_config pool{2, 2, 0, false};
    for (int s = 1; s <= through; ++s) x = ad::max_pool2d(features.stage(t, x, s), pool);
    return x;
  }
  template <class F>
  void visit_params(F&& f) {
    features.visit_params(f);
  }
};
static_assert(Layer<vgg16>);

}  // namespace wsss::nn
