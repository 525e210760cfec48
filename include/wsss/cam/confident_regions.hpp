// SPDX-License-Identifier: MIT
// wsss/cam/confident_regions.hpp — confident foreground and background from two CRF-refined
// CAM labellings (AffinityNet sec. 3.2.1; psa's VOC12AffDataset label rule, reference-semantics 1.4)
#pragma once

#include <cmath>
#include <span>
#include <string_view>

#include "wsss/cam/background.hpp"
#include "wsss/core/batch.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/core/label_map.hpp"
#include "wsss/core/policy.hpp"
#include "wsss/core/resize.hpp"
#include "wsss/crf/concepts.hpp"
#include "wsss/crf/mean_field.hpp"

namespace wsss::cam {

/// The two background exponents of eq. 2 that split confident from neutral areas.
struct confident_config {
  float low_alpha = 4.0f;    ///< weak background: its CRF labelling gives the confident foreground
  float high_alpha = 24.0f;  ///< strong background: its CRF labelling gives the confident background
                             ///< (the paper's 24; psa's released code uses 32)
  float clip = 1e-5f;        ///< unary clip, pydensecrf's unary_from_softmax
  float no_score = 1e-5f;    ///< a pooled cell whose scores all stay below this is padding: ignored

  void validate(std::string_view component) const {
    if (!(low_alpha > 0.0f) || !(high_alpha > 0.0f) || !std::isfinite(low_alpha) || !std::isfinite(high_alpha))
      throw_value(component, "alphas must be finite and > 0, got ", low_alpha, " and ", high_alpha);
    if (!(low_alpha < high_alpha))
      throw_value(component, "the low alpha (", low_alpha, ") must be below the high alpha (", high_alpha, ")");
  }
};

/// Confident regions at full resolution and pooled to the feature grid.
struct confident_maps {
  label_map full;    ///< H x W: class ids, 0 = confident background, 255 = neutral
  label_map pooled;  ///< ceil(H/s) x ceil(W/s): the same rule on block-averaged CRF marginals (psa)
};

/// The rule of psa's data loader on two compact marginal stacks ([bg, present classes]):
/// la = argmax(q_low), ha = argmax(q_high); label = la (as a class id); neutral where la says
/// background; background where ha says background (it overrides); neutral where every score
/// of both stacks is below no_score (padding).
inline label_map confident_rule(const tensor& q_low, const tensor& q_high, const tag_set& tags, float no_score) {
  const label_map la = argmax_labels(q_low), ha = argmax_labels(q_high);
  const index_t k = q_low.dim(0), hw = la.pixels();
  label_map out = expand_labels(la, tags);
  for (index_t i = 0; i < hw; ++i) {
    if (la[i] == 0) out[i] = ignore_label;
    if (ha[i] == 0) out[i] = 0;
    float mx = 0.0f;
    for (index_t c = 0; c < k; ++c) mx = std::max({mx, q_low[c * hw + i], q_high[c * hw + i]});
    if (mx < no_score) out[i] = ignore_label;
  }
  return out;
}

/// Sec. 3.2.1: the dense CRF refines [M_bg(low alpha), present CAMs] and [M_bg(high alpha),
/// present CAMs] (both on one lattice: the plan is prepared once for the image), and
/// confident_rule combines them, at full resolution and on the `stride` grid.
/// cams: K x H x W normalised CAMs (absent classes zero); tags: the image's classes.
template <crf::CrfEngine C, class Tag>
confident_maps confident_regions(const exec<Tag>& host, const C& crf, const rgb_image& img, const tensor& cams,
                                 const tag_set& tags, const confident_config& cfg, index_t stride) {
  constexpr std::string_view comp = "cam::confident_regions";
  cfg.validate(comp);
  expect_rank(cams, 3, comp, "CAMs", "K x H x W");
  if (img.height() != cams.dim(1) || img.width() != cams.dim(2))
    throw_shape(comp, "image is ", img.height(), "x", img.width(), " but the CAMs are ", cams.dim(1), "x", cams.dim(2));
  const index_t k = static_cast<index_t>(tags.size()) + 1, h = cams.dim(1), w = cams.dim(2);
  const auto ex = policy_exec(crf, host);  // the CRF's backend (a device engine's, else host's)
  typename C::plan local;  // one lattice for both refinements, its buffers reused by the next image
  auto& plan = plan_in_workspace(crf, ex, images_only(std::span<const rgb_image>(&img, 1)), shape{1, k, h, w}, local);
  auto refine = [&](float alpha) {
    tensor u = crf::unary_from_probabilities(present_channels(with_background(cams, alpha), tags), cfg.clip);
    u.reshape({1, k, h, w});
    tensor q;
    crf.run(ex, plan, u, q);
    q.reshape({k, h, w});
    return q;
  };
  const tensor q_low = refine(cfg.low_alpha), q_high = refine(cfg.high_alpha);
  return {confident_rule(q_low, q_high, tags, cfg.no_score),
          confident_rule(block_average(q_low, stride), block_average(q_high, stride), tags, cfg.no_score)};
}

}  // namespace wsss::cam
