// SPDX-License-Identifier: MIT
// wsss/nn/nets/resnet38.hpp — ResNet-38 "Model A1" (Wu, Shen & van den Hengel, "Wider or deeper",
// 2019, Fig. 3/Table 1) as the AffinityNet code uses it: pre-activation wide residual units,
// atrous last levels, output stride 8, frozen BN; names as psa's resnet38d ("b4_3.conv_branch2a.weight")
#pragma once

#include <string>
#include <string_view>

#include "wsss/autodiff/ops/elementwise.hpp"
#include "wsss/autodiff/ops/pointwise.hpp"
#include "wsss/nn/concepts.hpp"
#include "wsss/nn/layers/batch_norm.hpp"
#include "wsss/nn/layers/conv2d.hpp"
#include "wsss/nn/layers/dropout.hpp"
#include "wsss/nn/module.hpp"
#include "wsss/nn/nets/common.hpp"

namespace wsss::nn {

namespace detail {
inline batch_norm2d resnet_bn(const std::string& name, index_t channels, bool frozen) {
  batch_norm2d::config c;
  c.channels = channels;
  c.frozen = frozen;
  return batch_norm2d(name, c);
}
}  // namespace detail

/// Basic wide unit (psa's ResBlock): a = relu(bn_branch2a(x)),
/// branch2 = conv_branch2b1(relu(bn_branch2b1(conv_branch2a(a)))) with two 3x3 convs,
/// shortcut = conv_branch1(a) (1x1, stride) when the shape changes, else x; out = shortcut + branch2.
/// All convs bias-free, padding = dilation; the first conv may use its own dilation.
struct res_block {
  static constexpr std::string_view name = "res_block";
  struct output {
    ad::var out;        ///< the unit's output
    ad::var x_bn_relu;  ///< relu(bn_branch2a(x)), the tap psa calls conv4/conv5
  };
  bool same_shape = true;
  batch_norm2d bn_branch2a, bn_branch2b1;
  conv2d conv_branch2a, conv_branch2b1, conv_branch1;

  res_block() = default;
  res_block(const std::string& prefix, index_t in, index_t mid, index_t out, index_t stride, index_t first_dilation,
            index_t dilation, bool frozen_bn, rng& g, conv_init init = conv_init::kaiming_fan_in)
      : same_shape(in == out && stride == 1),
        bn_branch2a(detail::resnet_bn(prefix + ".bn_branch2a", in, frozen_bn)),
        bn_branch2b1(detail::resnet_bn(prefix + ".bn_branch2b1", mid, frozen_bn)),
        conv_branch2a(prefix + ".conv_branch2a",
                      conv_config(in, mid, 3, stride, first_dilation, first_dilation, false, init), g),
        conv_branch2b1(prefix + ".conv_branch2b1",
                       conv_config(mid, out, 3, 1, dilation, dilation, false, init), g) {
    if (!same_shape)
      conv_branch1 = conv2d(prefix + ".conv_branch1", conv_config(in, out, 1, stride, 0, 1, false, init), g);
  }

  output forward(ad::tape& t, ad::var x) {
    const ad::var a = ad::relu(bn_branch2a(t, x));
    const ad::var shortcut = same_shape ? x : conv_branch1(t, a);
    ad::var b = conv_branch2a(t, a);
    b = conv_branch2b1(t, ad::relu(bn_branch2b1(t, b)));
    return {ad::add(shortcut, b), a};
  }
  ad::var operator()(ad::tape& t, ad::var x) { return forward(t, x).out; }

  template <class F>
  void visit_params(F&& f) {
    bn_branch2a.visit_params(f);
    conv_branch2a.visit_params(f);
    bn_branch2b1.visit_params(f);
    conv_branch2b1.visit_params(f);
    if (!same_shape) conv_branch1.visit_params(f);
  }
  template <class F>
  void visit_buffers(F&& f) {
    bn_branch2a.visit_buffers(f);
    bn_branch2b1.visit_buffers(f);
  }
};
static_assert(Layer<res_block> && HasBuffers<res_block>);

/// Bottleneck unit (psa's ResBlock_bot): a = relu(bn_branch2a(x)); shortcut = conv_branch1(a)
/// (1x1); branch2 = 1x1 (out/4) -> bn, relu, Dropout2d -> 3x3 dilated (out/2) -> bn, relu,
/// Dropout2d -> 1x1 (out); out = shortcut + branch2.
struct res_block_bot {
  static constexpr std::string_view name = "res_block_bot";
  using output = res_block::output;
  batch_norm2d bn_branch2a, bn_branch2b1, bn_branch2b2;
  conv2d conv_branch2a, conv_branch2b1, conv_branch2b2, conv_branch1;
  dropout2d dropout_2b1, dropout_2b2;

  res_block_bot() = default;
  res_block_bot(const std::string& prefix, index_t in, index_t out, index_t dilation, float drop, bool frozen_bn, rng& g,
                conv_init init = conv_init::kaiming_fan_in)
      : bn_branch2a(detail::resnet_bn(prefix + ".bn_branch2a", in, frozen_bn)),
        bn_branch2b1(detail::resnet_bn(prefix + ".bn_branch2b1", std::max<index_t>(1, out / 4), frozen_bn)),
        bn_branch2b2(detail::resnet_bn(prefix + ".bn_branch2b2", std::max<index_t>(1, out / 2), frozen_bn)),
        conv_branch2a(prefix + ".conv_branch2a",
                      conv_config(in, std::max<index_t>(1, out / 4), 1, 1, 0, 1, false, init), g),
        conv_branch2b1(prefix + ".conv_branch2b1",
                       conv_config(std::max<index_t>(1, out / 4), std::max<index_t>(1, out / 2), 3, 1, dilation, dilation,
                                   false, init), g),
        conv_branch2b2(prefix + ".conv_branch2b2",
                       conv_config(std::max<index_t>(1, out / 2), out, 1, 1, 0, 1, false, init), g),
        conv_branch1(prefix + ".conv_branch1", conv_config(in, out, 1, 1, 0, 1, false, init), g),
        dropout_2b1{drop},
        dropout_2b2{drop} {}

  output forward(ad::tape& t, ad::var x) {
    const ad::var a = ad::relu(bn_branch2a(t, x));
    const ad::var shortcut = conv_branch1(t, a);
    ad::var b = conv_branch2a(t, a);
    b = conv_branch2b1(t, dropout_2b1(t, ad::relu(bn_branch2b1(t, b))));
    b = conv_branch2b2(t, dropout_2b2(t, ad::relu(bn_branch2b2(t, b))));
    return {ad::add(shortcut, b), a};
  }
  ad::var operator()(ad::tape& t, ad::var x) { return forward(t, x).out; }

  template <class F>
  void visit_params(F&& f) {
    bn_branch2a.visit_params(f);
    conv_branch2a.visit_params(f);
    bn_branch2b1.visit_params(f);
    conv_branch2b1.visit_params(f);
    bn_branch2b2.visit_params(f);
    conv_branch2b2.visit_params(f);
    conv_branch1.visit_params(f);
  }
  template <class F>
  void visit_buffers(F&& f) {
    bn_branch2a.visit_buffers(f);
    bn_branch2b1.visit_buffers(f);
    bn_branch2b2.visit_buffers(f);
  }
};
static_assert(Layer<res_block_bot> && HasBuffers<res_block_bot>);

/// ResNet-38 Model A1 backbone (reference-semantics 1.1):
///   conv1a 3x3 3->64; b2 x3 (->128, first stride 2); b3 x3 (->256, s2); b4 x6 (->512, s2);
///   b5 x3 (->1024, mid 512, dilation 2; b5's first conv dilation 1); b6 bottleneck ->2048
///   (dilation 4, Dropout2d 0.3); b7 bottleneck ->4096 (dilation 4, Dropout2d 0.5); bn7 + ReLU.
/// N x 3 x H x W -> N x 4096w x ceil(H/8) x ceil(W/8). As psa trains it, every BN is frozen
/// (running statistics, no gradient) and conv1a and the b2 stage get no gradient.
struct resnet38 {
  static constexpr std::string_view name = "resnet38";
  struct config {
    double width = 1.0;       ///< channel multiplier (1 = published)
    bool frozen_bn = true;    ///< psa: all BN in eval mode with fixed gamma/beta
    bool freeze_b2 = true;    ///< psa's cls/aff nets: conv1a, b2, b2_1, b2_2 not trained
    bool random_init = true;  ///< false: zero weights, to be loaded (load_weights)
    float drop6 = 0.3f;       ///< Dropout2d inside b6 (psa)
    float drop7 = 0.5f;       ///< Dropout2d inside b7 (psa)
  };
  /// The taps of psa's forward_as_dict, all at stride 8.
  struct features {
    ad::var conv4;  ///< relu(bn(b5's input)): 512w channels
    ad::var conv5;  ///< relu(bn(b6's input)): 1024w channels
    ad::var conv6;  ///< relu(bn7(b7's output)): 4096w channels
  };

  config cfg;
  conv2d conv1a;
  res_block b2, b2_1, b2_2, b3, b3_1, b3_2, b4, b4_1, b4_2, b4_3, b4_4, b4_5, b5, b5_1, b5_2;
  res_block_bot b6, b7;
  batch_norm2d bn7;

  resnet38() = default;
  resnet38(const config& c, rng& g) : cfg(c) {
    const auto w = [&](index_t ch) { return scale_channels(ch, c.width); };
    const bool fb = c.frozen_bn;
    const conv_init in = init_or_none(c.random_init, conv_init::kaiming_fan_in);
    conv1a = conv2d("conv1a", conv_config(3, w(64), 3, 1, 1, 1, false, in), g);
    b2 = res_block("b2", w(64), w(128), w(128), 2, 1, 1, fb, g, in);
    b2_1 = res_block("b2_1", w(128), w(128), w(128), 1, 1, 1, fb, g, in);
    b2_2 = res_block("b2_2", w(128), w(128), w(128), 1, 1, 1, fb, g, in);
    b3 = res_block("b3", w(128), w(256), w(256), 2, 1, 1, fb, g, in);
    b3_1 = res_block("b3_1", w(256), w(256), w(256), 1, 1, 1, fb, g, in);
    b3_2 = res_block("b3_2", w(256), w(256), w(256), 1, 1, 1, fb, g, in);
    b4 = res_block("b4", w(256), w(512), w(512), 2, 1, 1, fb, g, in);
    b4_1 = res_block("b4_1", w(512), w(512), w(512), 1, 1, 1, fb, g, in);
    b4_2 = res_block("b4_2", w(512), w(512), w(512), 1, 1, 1, fb, g, in);
    b4_3 = res_block("b4_3", w(512), w(512), w(512), 1, 1, 1, fb, g, in);
    b4_4 = res_block("b4_4", w(512), w(512), w(512), 1, 1, 1, fb, g, in);
    b4_5 = res_block("b4_5", w(512), w(512), w(512), 1, 1, 1, fb, g, in);
    b5 = res_block("b5", w(512), w(512), w(1024), 1, 1, 2, fb, g, in);
    b5_1 = res_block("b5_1", w(1024), w(512), w(1024), 1, 2, 2, fb, g, in);
    b5_2 = res_block("b5_2", w(1024), w(512), w(1024), 1, 2, 2, fb, g, in);
    b6 = res_block_bot("b6", w(1024), w(2048), 4, c.drop6, fb, g, in);
    b7 = res_block_bot("b7", w(2048), w(4096), 4, c.drop7, fb, g, in);
    bn7 = detail::resnet_bn("bn7", w(4096), fb);
    if (c.freeze_b2) {
      const auto freeze = [](ad::parameter& p) { p.trainable = false; };
      conv1a.visit_params(freeze);
      b2.visit_params(freeze);
      b2_1.visit_params(freeze);
      b2_2.visit_params(freeze);
    }
  }

  /// Channels of the conv4, conv5 and conv6 taps.
  index_t conv4_channels() const { return b5.bn_branch2a.cfg.channels; }
  index_t conv5_channels() const { return b6.bn_branch2a.cfg.channels; }
  index_t conv6_channels() const { return bn7.cfg.channels; }

  /// psa's forward_as_dict: the three stride-8 taps.
  features forward_as_dict(ad::tape& t, ad::var x) {
    x = conv1a(t, x);
    for (res_block* u : {&b2, &b2_1, &b2_2, &b3, &b3_1, &b3_2, &b4, &b4_1, &b4_2, &b4_3, &b4_4, &b4_5}) x = (*u)(t, x);
    const auto r5 = b5.forward(t, x);
    x = b5_2(t, b5_1(t, r5.out));
    const auto r6 = b6.forward(t, x);
    x = b7(t, r6.out);
    return {r5.x_bn_relu, r6.x_bn_relu, ad::relu(bn7(t, x))};
  }
  /// conv6: N x 4096w x h x w.
  ad::var operator()(ad::tape& t, ad::var x) { return forward_as_dict(t, x).conv6; }

  template <class F>
  void visit_params(F&& f) {
    conv1a.visit_params(f);
    each_unit([&](auto& u) { u.visit_params(f); });
    bn7.visit_params(f);
  }
  template <class F>
  void visit_buffers(F&& f) {
    each_unit([&](auto& u) { u.visit_buffers(f); });
    bn7.visit_buffers(f);
  }

 private:
  template <class F>
  void each_unit(F&& f) {
    for (res_block* u : {&b2, &b2_1, &b2_2, &b3, &b3_1, &b3_2, &b4, &b4_1, &b4_2, &b4_3, &b4_4, &b4_5, &b5, &b5_1, &b5_2})
      f(*u);
    f(b6);
    f(b7);
  }
};
static_assert(Layer<resnet38> && HasBuffers<resnet38>);

}  // namespace wsss::nn
