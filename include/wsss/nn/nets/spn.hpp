// SPDX-License-Identifier: MIT
// wsss/nn/nets/spn.hpp — the networks of SPN (Kwak et al., AAAI 2017, Fig. 1): a VGG16 encoder
// with one more convolution, the upsampling module f_ups (deconvolutions and unpooling through
// the encoder's last pooling switches) and two classifiers; and the class-agnostic segmentation
// network of its DecoupledNet rounds (Hong et al., NIPS 2015): bridge layers over the encoder's
// features and a class's saliency, the same kind of deconvolution decoder, figure / ground out.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <string_view>

#include "wsss/autodiff/ops/pointwise.hpp"
#include "wsss/autodiff/ops/pool.hpp"
#include "wsss/autodiff/ops/shape_ops.hpp"
#include "wsss/nn/layers/batch_norm.hpp"
#include "wsss/nn/layers/conv2d.hpp"
#include "wsss/nn/layers/deconv2d.hpp"
#include "wsss/nn/nets/common.hpp"
#include "wsss/nn/nets/deeplab_largefov.hpp"
#include "wsss/nn/nets/vgg16.hpp"

namespace wsss::nn {

/// f_ups (SPN) and DecoupledNet's decoder: deconv, deconv, unpooling through the encoder's
/// pool5 switches, deconv, deconv; BatchNorm + ReLU after every deconvolution. The first two
/// keep the grid (3x3, stride 1); the last two upsample by `stride` each (kernel 2 stride,
/// padding stride / 2: exactly x stride), so the output grid is stride^2 times the input's.
/// The unpooling needs the encoder's pool5 channel count, so every deconvolution has it.
struct deconv_upsampler {
  static constexpr std::string_view name = "deconv_upsampler";
  struct config {
    index_t in = 512;        ///< input channels
    index_t channels = 512;  ///< channels of every deconvolution (= the encoder's pool5)
    index_t stride = 2;      ///< 1, or an even factor per upsampling deconvolution
  };
  config cfg;
  std::array<deconv2d, 4> deconv;
  std::array<batch_norm2d, 4> bn;

  deconv_upsampler() = default;
  deconv_upsampler(const std::string& prefix, const config& c, rng& g) : cfg(c) {
    require(c.in > 0 && c.channels > 0, "nn::deconv_upsampler", "channels must be positive, got ", c.in, " and ", c.channels);
    require(c.stride == 1 || (c.stride >= 2 && c.stride % 2 == 0), "nn::deconv_upsampler",
            "stride must be 1 or even, got ", c.stride);
    for (std::size_t k = 0; k < 4; ++k) {
      const index_t s = k < 2 ? 1 : c.stride;
      deconv2d::config d{.in = k == 0 ? c.in : c.channels, .out = c.channels, .kernel_h = s == 1 ? 3 : 2 * s,
                         .kernel_w = s == 1 ? 3 : 2 * s, .conv = ad::conv_transpose2d_config::square(s, s == 1 ? 1 : s / 2),
                         .bias = true, .init = conv_init::kaiming_fan_in};
      const std::string n = join_name(prefix, "deconv" + std::to_string(k + 1));
      deconv[k] = deconv2d(n, d, g);
      bn[k] = batch_norm2d(n + "_bn", {.channels = c.channels});
    }
  }

  /// x: N x in x h x w on the grid of the switches' pooled output -> N x channels x (h s^2) x (w s^2).
  ad::var operator()(ad::tape& t, ad::var x, std::shared_ptr<const ad::pool_switches> switches) {
    for (std::size_t k = 0; k < 4; ++k) {
      if (k == 2 && switches) x = ad::max_unpool2d(x, switches);
      x = ad::relu(bn[k](t, deconv[k](t, x)));
    }
    return x;
  }
  /// Without switches the unpooling is skipped (the deconvolutions alone).
  ad::var operator()(ad::tape& t, ad::var x) { return (*this)(t, std::move(x), nullptr); }
  /// The output side for an input side.
  index_t output_size(index_t in) const { return in * cfg.stride * cfg.stride; }

  template <class F>
  void visit_params(F&& f) {
    for (std::size_t k = 0; k < 4; ++k) deconv[k].visit_params(f), bn[k].visit_params(f);
  }
  template <class F>
  void visit_buffers(F&& f) {
    for (auto& b : bn) b.visit_buffers(f);
  }
};
static_assert(Layer<deconv_upsampler>);

/// SPN (Fig. 1). Encoder f_enc: VGG16's 13 convolutions in DeepLab-LargeFOV's geometry (pool1-3
/// 3x3 stride 2, pool4 and pool5 3x3 stride 1, conv5 atrous 2: output stride 8; the geometry our
/// pretrained backbones have) and one more 3x3 convolution + ReLU from scratch: z. Two branches
/// classify: the GAP branch (scores of z's cells, averaged: a CAM network) and the SP branch
/// (scores of f_ups(z)'s cells, which the SP layer pools over superpixels). The classifiers are
/// 1x1 convolutions before the pooling: both poolings are linear and their weights sum to one,
/// so pooling the class scores equals classifying the pooled features (eq. 2 then the FC layer)
/// and the per-cell scores are the CAM and, pooled per superpixel, SP-CAM.
struct spn_net {
  static constexpr std::string_view name = "spn";
  struct config {
    double width = 1.0;       ///< channel multiplier (1: 512 channels after conv5, the paper's K)
    index_t classes = 20;     ///< foreground classes
    index_t up_stride = 2;    ///< f_ups's upsampling per deconvolution (SP features at 8 / stride^2)
    bool batch_norm = false;  ///< BatchNorm after every VGG16 convolution (vgg16_bn)
    bool random_init = true;  ///< false: zero weights, to be loaded
  };
  config cfg;
  vgg16_features features;
  conv2d conv6;
  deconv_upsampler ups;
  conv2d cls_gap, cls_sp;

  spn_net() = default;
  spn_net(const config& c, rng& g)
      : cfg(c), features(c.width, 2, g, init_or_none(c.random_init, conv_init::kaiming_fan_out), c.batch_norm) {
    require(c.classes > 0, "nn::spn_net", "classes must be positive, got ", c.classes);
    const index_t k = features.out_channels();
    conv6 = conv2d("conv6", conv_config(k, k, 3, 1, 1, 1, true, init_or_none(c.random_init, conv_init::kaiming_fan_in)), g);
    ups = deconv_upsampler("ups", {.in = k, .channels = k, .stride = c.up_stride}, g);
    cls_gap = conv2d("cls_gap", conv_config(k, c.classes, 1, 1, 0, 1, true, init_or_none(c.random_init, conv_init::xavier_uniform)), g);
    cls_sp = conv2d("cls_sp", conv_config(k, c.classes, 1, 1, 0, 1, true, init_or_none(c.random_init, conv_init::xavier_uniform)), g);
  }

  /// The VGG16 part: pool5 (N x 512w x h x w, output stride 8) and its switches.
  struct encoding {
    ad::var pool5;
    std::shared_ptr<ad::pool_switches> switches;
  };
  encoding encode(ad::tape& t, ad::var x) {
    for (int s = 1; s <= 3; ++s) x = ad::max_pool2d(features.stage(t, x, s), deeplab_largefov::down_pool);
    x = ad::max_pool2d(features.stage(t, x, 4), deeplab_largefov::keep_pool);
    encoding e;
    e.pool5 = ad::max_pool2d(features.stage(t, x, 5), deeplab_largefov::keep_pool, e.switches);
    return e;
  }
  /// z = relu(conv6(pool5)).
  ad::var z(ad::tape& t, const ad::var& pool5) { return ad::relu(conv6(t, pool5)); }

  /// Per-cell class scores of both branches: cam N x classes x h x w (z's grid), sp N x classes x
  /// (h s^2) x (w s^2) (f_ups's grid).
  struct maps {
    ad::var cam, sp;
  };
  maps heads(ad::tape& t, const encoding& e) {
    const ad::var zz = z(t, e.pool5);
    return {cls_gap(t, zz), cls_sp(t, ups(t, zz, e.switches))};
  }
  /// The GAP branch's image scores from pool5 (N x classes): DecoupledNet's classifier.
  ad::var gap_scores(ad::tape& t, const ad::var& pool5) {
    const ad::var s = ad::global_avg_pool(cls_gap(t, z(t, pool5)));
    return ad::reshape(s, wsss::shape{s.shape().dim(0), cfg.classes});
  }

  /// The SP branch's per-cell class scores of images x (the net as a Layer).
  ad::var operator()(ad::tape& t, ad::var x) { return heads(t, encode(t, std::move(x))).sp; }

  /// z's side for an input side (DeepLab-LargeFOV's: 321 -> 41, 128 -> 17).
  static index_t z_size(index_t input) { return deeplab_largefov::output_size(input); }
  /// The SP branch's side for an input side.
  index_t sp_size(index_t input) const { return ups.output_size(z_size(input)); }

  template <class F>
  void visit_params(F&& f) {
    features.visit_params(f);
    conv6.visit_params(f);
    ups.visit_params(f);
    cls_gap.visit_params(f);
    cls_sp.visit_params(f);
  }
  template <class F>
  void visit_buffers(F&& f) {
    features.visit_buffers(f);
    ups.visit_buffers(f);
  }
};
static_assert(Layer<spn_net>);

/// DecoupledNet's segmentation network (Hong et al. 2015, sec. 3.2-3.3) on SPN's encoder: the
/// bridge (a 1x1 convolution + BN + ReLU over the concatenation of pool5 and a class's saliency
/// d score_c / d pool5, the class-specific input), the deconvolution decoder through pool5's
/// switches, and a 1x1 convolution to two channels (0 background, 1 the class). One network
/// for every class: what it learns about shape is class-agnostic.
struct decoupled_segmenter {
  static constexpr std::string_view name = "decoupled_segmenter";
  struct config {
    index_t channels = 512;  ///< the encoder's pool5 channels
    index_t up_stride = 2;
  };
  config cfg;
  conv2d bridge;
  batch_norm2d bridge_bn;
  deconv_upsampler decoder;
  conv2d score;

  decoupled_segmenter() = default;
  decoupled_segmenter(const config& c, rng& g) : cfg(c) {
    require(c.channels > 0, "nn::decoupled_segmenter", "channels must be positive, got ", c.channels);
    bridge = conv2d("bridge", conv_config(2 * c.channels, c.channels, 1, 1, 0, 1, true, conv_init::kaiming_fan_in), g);
    bridge_bn = batch_norm2d("bridge_bn", {.channels = c.channels});
    decoder = deconv_upsampler("decoder", {.in = c.channels, .channels = c.channels, .stride = c.up_stride}, g);
    score = conv2d("score", conv_config(c.channels, 2, 1, 1, 0, 1, true, conv_init::xavier_uniform), g);
  }

  /// Figure / ground logits, N x 2 x (h s^2) x (w s^2), from pool5 and the saliency (both N x
  /// channels x h x w) and pool5's switches.
  ad::var operator()(ad::tape& t, const ad::var& pool5, const ad::var& saliency, std::shared_ptr<const ad::pool_switches> sw) {
    const std::array<ad::var, 2> both{pool5, saliency};
    return from_bridge_input(t, ad::concat(std::span<const ad::var>(both), 1), std::move(sw));
  }
  /// The same from the concatenation [pool5; saliency] (N x 2 channels x h x w), no unpooling.
  ad::var operator()(ad::tape& t, ad::var x) { return from_bridge_input(t, std::move(x), nullptr); }

  ad::var from_bridge_input(ad::tape& t, ad::var x, std::shared_ptr<const ad::pool_switches> sw) {
    return score(t, decoder(t, ad::relu(bridge_bn(t, bridge(t, std::move(x)))), std::move(sw)));
  }

  template <class F>
  void visit_params(F&& f) {
    bridge.visit_params(f);
    bridge_bn.visit_params(f);
    decoder.visit_params(f);
    score.visit_params(f);
  }
  template <class F>
  void visit_buffers(F&& f) {
    bridge_bn.visit_buffers(f);
    decoder.visit_buffers(f);
  }
};
static_assert(Layer<decoupled_segmenter>);

}  // namespace wsss::nn
