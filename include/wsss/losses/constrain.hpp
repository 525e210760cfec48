// SPDX-License-Identifier: MIT
// wsss/losses/constrain.hpp — SEC's constrain-to-boundary loss (Kolesnikov & Lampert 2016,
// eq. 5): mean KL(Q || f) with Q the dense CRF's output on the downscaled image
#pragma once

#include <cmath>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "wsss/autodiff/op.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/image.hpp"
#include "wsss/core/resize.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/crf/mean_field.hpp"
#include "wsss/crf/mean_field_op.hpp"

namespace wsss::losses {

/// SEC's CRF for the loss (reference-semantics §2.5): the reference kernels with the spatial
/// deviations divided by 12 (41x41 score maps), Potts, symmetric normalisation, 10 iterations.
inline crf::mean_field_config sec_constrain_crf() {
  crf::mean_field_config c;
  c.kernels.spatial_scale = 12.0f;
  return c;
}

struct constrain_config {
  crf::mean_field_config crf = sec_constrain_crf();
  float q_floor = 1e-4f;     ///< Q clipped below, then renormalised (SEC's CRF layer)
  bool through_crf = false;  ///< false: Q is a constant target (SEC since 2018)
};

/// The image downscaled to the score map (SEC: order-1 zoom, corners aligned, rounded).
inline rgb_image downscale_image(const rgb_image& img, index_t height, index_t width) {
  if (img.empty()) throw_shape("losses::constrain", "empty image");
  const tensor small = resize_bilinear(img.to_tensor(1.0f), height, width, resize_mode::align_corners);
  rgb_image out(height, width);
  for (index_t c = 0; c < 3; ++c)
    for (index_t i = 0; i < height * width; ++i)
      out.data()[i * 3 + c] = static_cast<std::uint8_t>(std::clamp(std::lround(small[c * height * width + i]), 0L, 255L));
  return out;
}

/// y = (1 / (B·h·w)) Σ_{n,u,c} Qc log(Qc / p), Qc = max(Q, floor) / Σ_c max(Q, floor).
/// Inputs x0 = Q (B x C x h x w), x1 = p (B x C x h x w, > 0). Backward:
/// dL/dp = -Qc / p / (B·h·w); dL/dQ through the clip-and-renormalise when Q needs one.
struct constrain_kl_op {
  static constexpr std::string_view name = "losses::constrain";
  float q_floor = 1e-4f;
  struct saved {
    tensor qc;  // clipped, renormalised Q
  };

  tensor forward(saved& s, const tensor& q, const tensor& p) const {
    expect_rank(p, 4, name, "probabilities", "B x C x h x w");
    expect_shape(q, p.shape(), name, "CRF marginals Q");
    expect_finite(p, name, "probabilities");
    for (index_t i = 0; i < p.numel(); ++i)
      if (!(p[i] > 0)) throw_value(name, "probabilities must be > 0 (apply the softmax floor), got ", p[i], " at flat index ", i);
    const index_t b = p.dim(0), c = p.dim(1), n = p.dim(2) * p.dim(3);
    s.qc = tensor(q.shape());
    double loss = 0;
    for (index_t i = 0; i < b; ++i)
      for (index_t u = 0; u < n; ++u) {
        double sum = 0;
        for (index_t k = 0; k < c; ++k) sum += std::max(q[(i * c + k) * n + u], q_floor);
        for (index_t k = 0; k < c; ++k) {
          const index_t e = (i * c + k) * n + u;
          const double v = std::max(q[e], q_floor) / sum;
          s.qc[e] = static_cast<float>(v);
          loss += v * (std::log(v) - std::log(static_cast<double>(p[e])));
        }
      }
    tensor y({1});
    y[0] = static_cast<float>(loss / static_cast<double>(b * n));
    return y;
  }

  void backward(const saved& s, const tensor&, const tensor& gy, std::span<const tensor* const> xs,
                std::span<tensor* const> gxs) const {
    const tensor& q = *xs[0];
    const tensor& p = *xs[1];
    const index_t b = p.dim(0), c = p.dim(1), n = p.dim(2) * p.dim(3);
    const double scale = static_cast<double>(gy[0]) / static_cast<double>(b * n);
    if (gxs[1])
      for (index_t e = 0; e < p.numel(); ++e) (*gxs[1])[e] += static_cast<float>(-scale * s.qc[e] / p[e]);
    if (!gxs[0]) return;
    for (index_t i = 0; i < b; ++i)
      for (index_t u = 0; u < n; ++u) {
        double sum = 0, dot = 0;
        for (index_t k = 0; k < c; ++k) {
          const index_t e = (i * c + k) * n + u;
          sum += std::max(q[e], q_floor);
          dot += (std::log(static_cast<double>(s.qc[e]) / p[e]) + 1.0) * s.qc[e];
        }
        for (index_t k = 0; k < c; ++k) {
          const index_t e = (i * c + k) * n + u;
          if (q[e] <= q_floor) continue;
          const double g = std::log(static_cast<double>(s.qc[e]) / p[e]) + 1.0;
          (*gxs[0])[e] += static_cast<float>(scale * (g - dot) / sum);
        }
      }
  }
};

/// L_constrain (SEC eq. 5). logits: the network's raw scores B x C x h x w (the CRF's input,
/// U = -logits); probs: its softmax output (with SEC's floor) B x C x h x w; images: the
/// full-size inputs, downscaled here to h x w. By default Q is a constant target and only
/// probs receives a gradient; with through_crf the gradient also flows into the logits
/// through all mean-field iterations (crf::mean_field_op).
inline ad::var constrain(ad::tape& t, const ad::var& logits, const ad::var& probs, std::span<const rgb_image> images,
                         const constrain_config& cfg = {}) {
  constexpr std::string_view component = "losses::constrain";
  const tensor& z = logits.value();
  expect_rank(z, 4, component, "logits", "B x C x h x w");
  expect_shape(probs.value(), z.shape(), component, "probabilities");
  if (static_cast<index_t>(images.size()) != z.dim(0))
    throw_shape(component, images.size(), " images for a batch of ", z.dim(0));
  require(cfg.q_floor > 0 && cfg.q_floor < 1, component, "q_floor must be in (0, 1), got ", cfg.q_floor);
  const index_t h = z.dim(2), w = z.dim(3), k = z.dim(1);

  crf::mean_field_op<crf::permutohedral> op;
  op.plans = std::make_shared<std::vector<crf::image_plan<crf::permutohedral>>>(images.size());
  for (std::size_t i = 0; i < images.size(); ++i)
    (*op.plans)[i].build(crf::rgb_guide(downscale_image(images[i], h, w)), cfg.crf.kernels);
  op.iterations = cfg.crf.iterations;
  op.logits = true;
  const tensor mu = crf::potts{}.matrix(k);
  tensor kw({2});
  kw[0] = cfg.crf.kernels.smoothness.weight;
  kw[1] = cfg.crf.kernels.appearance.weight;

  ad::var q;
  if (cfg.through_crf) {
    q = ad::apply(t, op, logits, t.leaf(mu), t.leaf(kw));
  } else {
    crf::mean_field_op<crf::permutohedral>::saved unused;
    q = t.leaf(op.forward(unused, z, mu, kw));
  }
  return ad::apply(t, constrain_kl_op{cfg.q_floor}, q, probs);
}

}  // namespace wsss::losses
