// SPDX-License-Identifier: MIT
// wsss/walk/inference.hpp — CAM revision by random walk, the public code's inference path (AffinityNet, eq. 2, 11-12)
#pragma once

#include <algorithm>
#include <cmath>
#include <string_view>

#include "wsss/core/batch.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/core/label_map.hpp"
#include "wsss/cam/background.hpp"
#include "wsss/core/resize.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/graph/concepts.hpp"
#include "wsss/graph/neighbourhood.hpp"
#include "wsss/walk/concepts.hpp"
#include "wsss/walk/sparse_power.hpp"
#include "wsss/walk/transition.hpp"

namespace wsss::walk {

/// Settings of the reference inference (psa infer_aff.py and README defaults). The graph's
/// own numbers (gamma = 5, the distance of eq. 3) are its builder's config.
struct inference_config {
  float beta = 8.0f;    ///< Hadamard power (eq. 11)
  float alpha = 16.0f;  ///< background exponent (eq. 2)
  index_t stride = 8;   ///< feature-map stride: CAMs are padded to multiples of it and pooled
};

/// Walk input from normalised foreground CAMs K x H x W (absent classes all zero):
/// channel 0 = (1 - max_c cam_c)^alpha (eq. 2), channels 1..K = the CAMs; every channel is
/// zero-padded right/bottom to multiples of `stride` and average-pooled stride x stride, as
/// the public code does. Output (K + 1) x ceil(H/stride) x ceil(W/stride).
inline tensor reference_walk_input(const tensor& fg_cams, float alpha = 16.0f, index_t stride = 8) {
  return block_average(cam::with_background(fg_cams, alpha), stride);
}

/// Revised scores C x dh x dw -> C x H x W: bilinear upsampling (half-pixel, as torch's
/// default) to the padded size (dh * stride) x (dw * stride), then the top-left H x W crop.
inline tensor upsample_revised(const tensor& revised, index_t height, index_t width, index_t stride = 8) {
  constexpr std::string_view comp = "walk::upsample_revised";
  expect_rank(revised, 3, comp, "revised scores", "C x h x w");
  if (height <= 0 || width <= 0 || (height + stride - 1) / stride != revised.dim(1) ||
      (width + stride - 1) / stride != revised.dim(2))
    throw_shape(comp, "an image of ", height, "x", width, " needs scores of ceil(size / ", stride, ") = ",
                (height + stride - 1) / stride, "x", (width + stride - 1) / stride, ", got ", revised.shape());
  const tensor up = resize_bilinear(revised, revised.dim(1) * stride, revised.dim(2) * stride);
  const index_t c = revised.dim(0), pw = up.dim(2), ph = up.dim(1);
  tensor out = tensor::uninitialized({c, height, width});
  for (index_t k = 0; k < c; ++k)
    for (index_t y = 0; y < height; ++y)
      std::copy_n(up.data() + (k * ph + y) * pw, width, out.data() + (k * height + y) * width);
  return out;
}

/// The whole reference inference: the affinity graph of `builder` from features
/// (F x dh x dw; radius-gamma with eq. 3 weights by default), transition, the walk by `prop`
/// on the pooled CAMs with background, bilinear upsampling and argmax over all K + 1 channels
/// (0 = background, k = foreground class k - 1 of the input order). fg_cams: K x H x W
/// normalised CAMs, absent classes zero. b: the image's batch of one, for builders that read
/// it (the bilateral graph's image, superpixels). Kernels run on ex.
/// Unlike the public code, the radius graph has every pair (no border quirk; docs/graph.md).
template <graph::GraphBuilder G = graph::radius, Propagator P = sparse_power, backend::Backend Tag = omp_t>
label_map random_walk_labels(const exec<Tag>& ex, const tensor& features, const tensor& fg_cams,
                             const inference_config& cfg = {}, const G& builder = {}, const P& prop = {},
                             const batch& b = {}) {
  constexpr std::string_view comp = "walk::random_walk_labels";
  expect_rank(features, 3, comp, "features", "F x h x w");
  expect_rank(fg_cams, 3, comp, "CAMs", "K x H x W");
  if (cfg.stride < 1) throw_value(comp, "stride must be >= 1, got ", cfg.stride);
  const index_t h = fg_cams.dim(1), w = fg_cams.dim(2);
  const index_t dh = (h + cfg.stride - 1) / cfg.stride, dw = (w + cfg.stride - 1) / cfg.stride;
  if (features.dim(1) != dh || features.dim(2) != dw)
    throw_shape(comp, "CAMs of ", h, "x", w, " need a feature map of ceil(size / ", cfg.stride, ") = ", dh, "x", dw,
                ", got ", features.dim(1), "x", features.dim(2));
  const transition T = make_transition(graph::build(builder, features.shape(), features, b, ex),
                                       {cfg.beta, orientation::average});
  const tensor revised = propagate(prop, T, reference_walk_input(fg_cams, cfg.alpha, cfg.stride), ex);
  return argmax_labels(upsample_revised(revised, h, w, cfg.stride));
}

/// The reference inference on the default exec (OpenMP), radius graph and sparse walk.
inline label_map random_walk_labels(const tensor& features, const tensor& fg_cams, const inference_config& cfg = {}) {
  return random_walk_labels(exec<>{}, features, fg_cams, cfg);
}

}  // namespace wsss::walk
