// SPDX-License-Identifier: MIT
// wsss/em/concepts.hpp — the EStepBias concept: the E-step of EM for DeepLab (Papandreou et al.
// 2015, eq. 5-10), the latent pixel labels estimated from the network's own scores and what the
// image's weak annotation (tags, boxes) allows
#pragma once

#include <concepts>
#include <string_view>
#include <vector>

#include "wsss/core/batch.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/core/label_map.hpp"
#include "wsss/core/policy.hpp"
#include "wsss/core/tensor.hpp"

namespace wsss::em {

/*  EStepBias contract (a wsss::Policy; see core/policy.hpp for name, config, cfg and plan)
      plan prepare(const exec<Tag>&, const batch& b, const shape& s) const;
      void run(const exec<Tag>&, plan&, const tensor& scores, std::vector<label_map>& targets) const;
    prepare: s is N x C x h x w, the scores' shape (C classes, channel 0 background); the plan
      holds per image what the weak annotation allows: b.tags (image-level labels) or b.boxes
      (in image pixels; b.images gives each image's size, scaled to h x w; without images the
      boxes are taken to be on the score grid). Config and batch are validated here.
    run: scores must have the prepared shape; targets is resized to N and each entry OVERWRITTEN
      with the E-step's hard labels, an h x w map of class ids (255 = no target): the argmax of
      the biased scores for the bias models. No gradient flows through an E-step (the M-step
      trains on its targets as ground truth), so the concept has no record.
    Errors: shape_error / value_error whose text starts with "[wsss.shape] <name>" /
    "[wsss.value] <name>".
    An E-step that never reads the scores (the box pre-processing of sec. 3.3: Bbox-Rect,
    Bbox-Seg) says so with `static constexpr bool reads_scores = false`; a method then runs it
    once per image before training (reads_scores_v) instead of at every step. An E-step driven
    by boxes says `static constexpr bool reads_boxes = true` (reads_boxes_v), so a method hands
    it the images' boxes; the others get the tags.                     */
template <class E>
concept EStepBias = Policy<E> && requires(const E& e, const exec<cpu_t>& ex, const batch& b, const shape& s,
                                          typename E::plan& pl, const tensor& x, std::vector<label_map>& out) {
  { e.prepare(ex, b, s) } -> std::same_as<typename E::plan>;
  e.run(ex, pl, x, out);
};

/// Whether E's targets depend on the network's scores (true unless E says otherwise).
template <class E>
inline constexpr bool reads_scores_v = [] {
  if constexpr (requires { E::reads_scores; }) return static_cast<bool>(E::reads_scores);
  else return true;
}();

/// Whether E reads the batch's boxes (false unless E says otherwise).
template <class E>
inline constexpr bool reads_boxes_v = [] {
  if constexpr (requires { E::reads_boxes; }) return static_cast<bool>(E::reads_boxes);
  else return false;
}();

}  // namespace wsss::em
