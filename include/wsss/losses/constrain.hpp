// SPDX-License-Identifier: MIT
// wsss/losses/constrain.hpp — SEC's constrain-to-boundary loss (Kolesnikov & Lampert 2016,
// eq. 5): mean KL(Q || f) with Q the dense CRF's output on the downscaled image
#pragma once

#include <cmath>
#include <memory>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "wsss/autodiff/op.hpp"
#include "wsss/autodiff/ops/pointwise.hpp"
#include "wsss/core/batch.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/core/image.hpp"
#include "wsss/core/policy.hpp"
#include "wsss/core/resize.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/crf/concepts.hpp"
#include "wsss/crf/mean_field.hpp"

namespace wsss::losses {

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

/// SEC's CRF for the loss (reference-semantics §2.5): the engine's defaults (for mean_field the
/// reference kernels, Potts, symmetric normalisation, 10 iterations) with the spatial
/// deviations divided by 12 (41x41 score maps).
template <class C>
C sec_constrain_crf() {
  typename C::config c{};
  if constexpr (requires { c.kernels.spatial_scale; }) c.kernels.spatial_scale = 12.0f;
  return C(c);
}

/// L_constrain's settings, the same for every CRF slot (constrain<C>::config).
struct constrain_config {
  float q_floor = 1e-4f;     ///< Q clipped below, then renormalised (SEC's CRF layer)
  bool through_crf = false;  ///< false: Q is a constant target (SEC since 2018)
};

/// L_constrain (SEC eq. 5) as a policy (a Loss) with the CRF as a slot. Inputs: the network's
/// raw scores (logits) B x C x h x w, the CRF's input (U = -logits), and its softmax output
/// (with SEC's floor) B x C x h x w; the batch's full-size images are downscaled to h x w in
/// prepare, and the plan holds the CRF's plan built from them. By default Q is a constant
/// target and only the probabilities receive a gradient; with through_crf the gradient also
/// flows into the logits through all mean-field iterations (the CRF's record).
///   losses::constrain<> loss;                                  // SEC's CRF
///   auto pl = loss.prepare(ex, batch, logits.shape());         // batch.images
///   ad::var l = loss.record(tape, pl, logits, probs);
template <crf::DifferentiableCrf C = crf::mean_field<>>
class constrain {
 public:
  static constexpr std::string_view name = "losses::constrain";
  using config = constrain_config;
  struct plan {
    std::vector<rgb_image> small;  ///< the images at the score size
    typename C::plan crf;          ///< prepared from them for the scores' shape
    shape scores;                  ///< B x C x h x w
  };

  config cfg{};

  constrain() : constrain(config{}) {}
  /// The CRF engine is a value the loss owns (a trainable one's parameters live in it).
  explicit constrain(config c, C crf = sec_constrain_crf<C>()) : cfg(c), crf_(std::move(crf)) {
    require(cfg.q_floor > 0 && cfg.q_floor < 1, name, "q_floor must be in (0, 1), got ", cfg.q_floor);
  }

  C& crf() noexcept { return crf_; }
  const C& crf() const noexcept { return crf_; }

  /// The CRF's parameters, when it has any (crf_rnn), so optimisers see the loss as a layer.
  template <class F>
    requires Trainable<C>
  void visit_params(F&& f) {
    crf_.visit_params(f);
  }

  /// s = B x C x h x w, the scores' shape; batch.images holds the B full-size images.
  template <class Tag>
  plan prepare(const exec<Tag>& ex, const batch& b, const shape& s) const {
    if (s.rank() != 4) throw_shape(name, "logits must be rank 4 (B x C x h x w), got rank ", s.rank(), " (", s, ")");
    b.validate(name);
    batch::need(b.images, name, "images");
    if (static_cast<index_t>(b.images.size()) != s[0]) throw_shape(name, b.images.size(), " images for a batch of ", s[0]);
    plan pl;
    for (const rgb_image& im : b.images) pl.small.push_back(downscale_image(im, s[2], s[3]));
    pl.crf = crf_.prepare(policy_exec(crf_, ex), images_only(pl.small), s);
    pl.scores = s;
    return pl;
  }

  /// The loss ({1} var) of logits and probabilities shaped as prepared. With through_crf the
  /// tape reads the plan's CRF part in backward: the plan must outlive backward.
  ad::var record(ad::tape& t, plan& pl, const ad::var& logits, const ad::var& probs) const
    requires(!Trainable<C>)
  {
    return record_with(crf_, t, pl, logits, probs, cfg);
  }
  ad::var record(ad::tape& t, plan& pl, const ad::var& logits, const ad::var& probs)
    requires Trainable<C>
  {
    return record_with(crf_, t, pl, logits, probs, cfg);
  }

 private:
  // One body for both constness: a trainable CRF records with its (non-const) parameters.
  template <class Engine>
  static ad::var record_with(Engine& crf, ad::tape& t, plan& pl, const ad::var& logits, const ad::var& probs,
                             const config& cfg) {
    const tensor& z = logits.value();
    if (z.shape() != pl.scores) throw_shape(name, "logits are ", z.shape(), " but the plan was prepared for ", pl.scores);
    expect_shape(probs.value(), z.shape(), name, "probabilities");
    ad::var q;
    if (cfg.through_crf) {
      q = crf.record(t, pl.crf, ad::scale(logits, -1.0f));
    } else {
      tensor qv;
      // A device engine's plan remembers the backend (queue, stream) it was prepared on.
      if constexpr (requires { pl.crf.tag; })
        crf.run(exec<std::remove_cvref_t<decltype(pl.crf.tag)>>{pl.crf.tag}, pl.crf, crf::unary_from_logits(z), qv);
      else
        crf.run(exec<>{}, pl.crf, crf::unary_from_logits(z), qv);
      q = t.leaf(std::move(qv));
    }
    return ad::apply(t, constrain_kl_op{cfg.q_floor}, q, probs);
  }

  C crf_;
};

static_assert(Policy<constrain<>>);

}  // namespace wsss::losses
