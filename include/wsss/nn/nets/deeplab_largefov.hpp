// SPDX-License-Identifier: MIT
// wsss/nn/nets/deeplab_largefov.hpp — DeepLab-LargeFOV (Chen et al. ICLR 2015, sec. 4.1 and
// Table 2: VGG16 with atrous conv5 and a 3x3 rate-12 fc6 of 1024 channels), as SEC trains it
#pragma once

#include <string_view>

#include "wsss/autodiff/ops/pointwise.hpp"
#include "wsss/autodiff/ops/pool.hpp"
#include "wsss/nn/concepts.hpp"
#include "wsss/nn/layers/conv2d.hpp"
#include "wsss/nn/layers/dropout.hpp"
#include "wsss/nn/nets/vgg16.hpp"

namespace wsss::nn {

/// Layer table (SEC's train.prototxt, reference-semantics 2.1):
///   conv1..conv3 + max pool 3x3 s2 p1 (Caffe's ceil rounding), conv4 + max pool 3x3 s1 p1,
///   conv5 (dilation 2) + max pool 3x3 s1 p1 + avg pool 3x3 s1 p1 (pool5a),
///   fc6 3x3 dilation 12 -> 1024, ReLU, dropout 0.5, fc7 1x1 -> 1024, ReLU, dropout 0.5,
///   fc8 1x1 -> classes (N(0, 0.01^2), lr x10 / bias x20).
/// N x 3 x 321 x 321 -> N x classes x 41 x 41 (output stride 8). Convolutions carry
/// "features.<i>" names (torchvision's VGG16 loads into them); fc6, fc7, fc8 keep their own.
/// Biases use Caffe's lr x2 and no weight decay, as DeepLab's prototxts do.
struct deeplab_largefov {
  static constexpr std::string_view name = "deeplab_largefov";
  static constexpr ad::pool2d_config down_pool{3, 2, 1, true}, keep_pool{3, 1, 1, false};
  struct config {
    double width = 1.0;        ///< channel multiplier of conv1..fc7 (1 = published, ~20.5M parameters)
    index_t classes = 21;      ///< fc8 outputs (VOC: 20 classes + background)
    index_t fc6_dilation = 12; ///< the large field of view (rate 12, padding 12)
    float dropout = 0.5f;
    bool random_init = true;   ///< false: zero weights, to be loaded (load_weights)
    bool batch_norm = false;   ///< BatchNorm after every VGG16 convolution (vgg16_bn; not the published net)
  };
  config cfg;
  vgg16_features features;
  conv2d fc6, fc7, fc8;

  deeplab_largefov() = default;
  deeplab_largefov(const config& c, rng& g)
      : cfg(c), features(c.width, 2, g, init_or_none(c.random_init, conv_init::kaiming_fan_out), c.batch_norm) {
    require(c.classes > 0, "nn::deeplab_largefov", "classes must be positive, got ", c.classes);
    const index_t fc = scale_channels(1024, c.width);
    const conv_init he = init_or_none(c.random_init, conv_init::kaiming_fan_out);
    fc6 = conv2d("fc6", conv_config(features.out_channels(), fc, 3, 1, c.fc6_dilation, c.fc6_dilation, true, he), g);
    fc7 = conv2d("fc7", conv_config(fc, fc, 1, 1, 0, 1, true, he), g);
    auto c8 = conv_config(fc, c.classes, 1, 1, 0, 1, true, init_or_none(c.random_init, conv_init::gaussian));
    c8.stddev = 0.01;
    fc8 = conv2d("fc8", c8, g);
    visit_params([](ad::parameter& p) {
      if (p.value.rank() == 1) {
        p.lr_mult = 2.0f;
        p.decay_mult = 0.0f;
      }
    });
    fc8.weight.lr_mult = 10.0f;
    fc8.bias.lr_mult = 20.0f;
  }

  /// Scores before fc8's softmax: N x classes x h x w.
  ad::var operator()(ad::tape& t, ad::var x) { return fc8(t, head_features(t, x)); }

  /// fc7's output after ReLU and dropout (the input of fc8), N x 1024w x h x w.
  ad::var head_features(ad::tape& t, ad::var x) { return from_pool3(t, pool3(t, x)); }

  /// conv1..conv3 with their pools: the input of conv4_1 (output stride 8), N x 256w x h x w.
  /// SEC's background cues differentiate the class scores with respect to it.
  ad::var pool3(ad::tape& t, ad::var x) {
    for (int s = 1; s <= 3; ++s) x = ad::max_pool2d(features.stage(t, x, s), down_pool);
    return x;
  }
  /// conv4_1 .. fc7 (ReLU, dropout) from pool3's output.
  ad::var from_pool3(ad::tape& t, ad::var x) {
    x = ad::max_pool2d(features.stage(t, x, 4), keep_pool);
    x = ad::max_pool2d(features.stage(t, x, 5), keep_pool);
    x = ad::avg_pool2d(x, keep_pool);
    x = dropout{cfg.dropout}(t, ad::relu(fc6(t, x)));
    return dropout{cfg.dropout}(t, ad::relu(fc7(t, x)));
  }

  /// The score map's side for an input side (the three stride-2 pools): 321 -> 41, 128 -> 17.
  static index_t output_size(index_t input) {
    for (int s = 0; s < 3; ++s) input = ad::detail::pool_out_extent(input, down_pool, "nn::deeplab_largefov");
    return input;
  }

  template <class F>
  void visit_params(F&& f) {
    features.visit_params(f);
    fc6.visit_params(f);
    fc7.visit_params(f);
    fc8.visit_params(f);
  }
  template <class F>
  void visit_buffers(F&& f) {
    features.visit_buffers(f);
  }
};
static_assert(Layer<deeplab_largefov>);

}  // namespace wsss::nn
