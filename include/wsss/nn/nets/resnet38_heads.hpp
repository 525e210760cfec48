// SPDX-License-Identifier: MIT
// wsss/nn/nets/resnet38_heads.hpp — psa's two trained networks: ResNet38 + CAM head
// (resnet38_cls) and ResNet38 + AffinityNet head (resnet38_aff), with their checkpoint names
#pragma once

#include <string_view>

#include "wsss/nn/nets/heads.hpp"
#include "wsss/nn/nets/resnet38.hpp"

namespace wsss::nn {

/// psa's resnet38_cls.Net: backbone + cam_head (fc8 4096w -> classes).
struct resnet38_cls {
  static constexpr std::string_view name = "resnet38_cls";
  struct config {
    resnet38::config backbone{};
    index_t classes = 20;
  };
  resnet38 backbone;
  cam_head head;

  resnet38_cls() = default;
  resnet38_cls(const config& c, rng& g) : backbone(c.backbone, g) {
    cam_head::config h;
    h.in = backbone.conv6_channels();
    h.classes = c.classes;
    head = cam_head(h, g);
  }

  /// Class logits, N x classes.
  ad::var operator()(ad::tape& t, ad::var x) { return head(t, backbone(t, x)); }
  /// CAMs, N x classes x h x w.
  ad::var cam(ad::tape& t, ad::var x) { return head.cam(t, backbone(t, x)); }

  template <class F>
  void visit_params(F&& f) {
    backbone.visit_params(f);
    head.visit_params(f);
  }
  template <class F>
  void visit_buffers(F&& f) {
    backbone.visit_buffers(f);
  }
};
static_assert(Layer<resnet38_cls> && HasBuffers<resnet38_cls>);

/// psa's resnet38_aff.Net: backbone + affinity_head, output N x 448w x h x w.
struct resnet38_aff {
  static constexpr std::string_view name = "resnet38_aff";
  struct config {
    resnet38::config backbone{};
  };
  resnet38 backbone;
  affinity_head head;

  resnet38_aff() = default;
  resnet38_aff(const config& c, rng& g) : backbone(c.backbone, g) {
    affinity_head::config h;
    h.conv4 = backbone.conv4_channels();
    h.conv5 = backbone.conv5_channels();
    h.conv6 = backbone.conv6_channels();
    h.width = c.backbone.width;
    head = affinity_head(h, g);
  }

  ad::var operator()(ad::tape& t, ad::var x) {
    const auto f = backbone.forward_as_dict(t, x);
    return head(t, f.conv4, f.conv5, f.conv6);
  }

  template <class F>
  void visit_params(F&& f) {
    backbone.visit_params(f);
    head.visit_params(f);
  }
  template <class F>
  void visit_buffers(F&& f) {
    backbone.visit_buffers(f);
  }
};
static_assert(Layer<resnet38_aff> && HasBuffers<resnet38_aff>);

}  // namespace wsss::nn
