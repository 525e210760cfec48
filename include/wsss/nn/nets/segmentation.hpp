// SPDX-License-Identifier: MIT
// wsss/nn/nets/segmentation.hpp — the segmentation network of AffinityNet sec. 4.2 ("Ours-ResNet38",
// after Wu et al.): the ResNet38 backbone and two atrous 3x3 convolutions (512 then C channels)
#pragma once

#include <string_view>

#include "wsss/autodiff/ops/pointwise.hpp"
#include "wsss/nn/layers/conv2d.hpp"
#include "wsss/nn/layers/dropout.hpp"
#include "wsss/nn/nets/common.hpp"
#include "wsss/nn/nets/resnet38.hpp"

namespace wsss::nn {

/// Backbone conv6 -> fc8_seg_1 (3x3, dilation d, 512w, ReLU, dropout) -> fc8_seg_2 (3x3,
/// dilation d, classes). Scores N x classes x ceil(H/8) x ceil(W/8); the new layers train at
/// 10x the learning rate (biases 20x without decay), as psa's from-scratch layers.
struct resnet38_seg {
  static constexpr std::string_view name = "resnet38_seg";
  struct config {
    resnet38::config backbone{};
    index_t classes = 21;
    index_t dilation = 12;  ///< both atrous layers (paper: 12 at 448-pixel crops)
    float dropout = 0.5f;
  };
  config cfg;
  resnet38 backbone;
  conv2d fc8_seg_1, fc8_seg_2;

  resnet38_seg() = default;
  resnet38_seg(const config& c, rng& g) : cfg(c), backbone(c.backbone, g) {
    require(c.classes >= 2 && c.dilation >= 1, name, "needs classes >= 2 and dilation >= 1, got ", c.classes, " and ", c.dilation);
    const index_t mid = scale_channels(512, c.backbone.width), d = c.dilation;
    fc8_seg_1 = conv2d("fc8_seg_1", conv_config(backbone.conv6_channels(), mid, 3, 1, d, d, true, conv_init::kaiming_fan_in), g);
    fc8_seg_2 = conv2d("fc8_seg_2", conv_config(mid, c.classes, 3, 1, d, d, true, conv_init::xavier_uniform), g);
    for (conv2d* l : {&fc8_seg_1, &fc8_seg_2}) {
      l->weight.lr_mult = 10.0f;
      l->bias.lr_mult = 20.0f;
      l->bias.decay_mult = 0.0f;
    }
  }

  /// Class scores (logits) at stride 8.
  ad::var operator()(ad::tape& t, ad::var x) {
    const ad::var h = dropout2d{cfg.dropout}(t, ad::relu(fc8_seg_1(t, backbone(t, x))));
    return fc8_seg_2(t, h);
  }

  template <class F>
  void visit_params(F&& f) {
    backbone.visit_params(f);
    fc8_seg_1.visit_params(f);
    fc8_seg_2.visit_params(f);
  }
  template <class F>
  void visit_buffers(F&& f) {
    backbone.visit_buffers(f);
  }
};
static_assert(Layer<resnet38_seg> && HasBuffers<resnet38_seg>);

}  // namespace wsss::nn
