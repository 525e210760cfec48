// SPDX-License-Identifier: MIT
// wsss/nn/nets/classifier.hpp — the CAM classification network of AffinityNet sec. 3.1 / 4.2 with
// its global pooling as a slot: ResNet38 conv6 -> dropout -> fc8 (1x1, the CAM weights w_c of
// eq. 1) -> Pooler -> image-level class scores
#pragma once

#include <string_view>

#include "wsss/autodiff/ops/pointwise.hpp"
#include "wsss/autodiff/ops/shape_ops.hpp"
#include "wsss/core/batch.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/core/policy.hpp"
#include "wsss/nn/layers/conv2d.hpp"
#include "wsss/nn/layers/dropout.hpp"
#include "wsss/nn/nets/resnet38.hpp"
#include "wsss/pool/concepts.hpp"

namespace wsss::nn {

/// Scores N x classes = pool(fc8(dropout(conv6))). fc8 is applied at every location before the
/// pooling, so cam(x) = relu(fc8(conv6)) is exactly the map the pooler aggregates; with GAP this
/// equals psa's resnet38_cls (GAP and a 1x1 convolution commute). fc8: bias-free, Xavier, 10x lr.
template <pool::Pooler P>
struct cam_classifier {
  static constexpr std::string_view name = "cam_classifier";
  struct config {
    resnet38::config backbone{};
    index_t classes = 20;  ///< foreground classes (no background output)
    float dropout = 0.5f;
  };
  config cfg;
  resnet38 backbone;
  conv2d fc8;
  P pooler;

  cam_classifier() = default;
  cam_classifier(const config& c, P p, rng& g) : cfg(c), backbone(c.backbone, g), pooler(std::move(p)) {
    require(c.classes >= 1, name, "needs at least one class, got ", c.classes);
    fc8 = conv2d("fc8", conv_config(backbone.conv6_channels(), c.classes, 1, 1, 0, 1, false, conv_init::xavier_uniform), g);
    fc8.weight.lr_mult = 10.0f;
  }

  /// Image-level class scores (logits), N x classes; `b` carries what the pooler's plan needs
  /// (tags for class-dependent decays, superpixels for SP pooling).
  ad::var operator()(ad::tape& t, ad::var x, const batch& b = {}) {
    const ad::var maps = fc8(t, dropout2d{cfg.dropout}(t, backbone(t, x)));
    auto plan = pooler.prepare(policy_exec(pooler, exec<>{}), b, maps.shape());
    return pooler.record(t, plan, maps);
  }
  /// Class activation maps relu(w_c^T f(x, y)) (eq. 1 before normalisation), N x classes x h x w.
  ad::var cam(ad::tape& t, ad::var x) { return ad::relu(fc8(t, backbone(t, x))); }

  template <class F>
  void visit_params(F&& f) {
    backbone.visit_params(f);
    fc8.visit_params(f);
    if constexpr (Trainable<P>) pooler.visit_params(f);
  }
  template <class F>
  void visit_buffers(F&& f) {
    backbone.visit_buffers(f);
  }
};

}  // namespace wsss::nn
