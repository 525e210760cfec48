// SPDX-License-Identifier: MIT
// wsss/em/bias.hpp — EM for DeepLab's image-level E-steps (Papandreou et al. 2015, sec. 3.2):
// EM-Fixed (Algorithm 1, eq. 8-10) and EM-Adapt (the cardinality potential realised as the
// reference's AdaptiveBiasChannel layer, reference-semantics 3.3)
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "wsss/core/batch.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/core/label_map.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/em/concepts.hpp"

namespace wsss::em {

namespace detail {

inline void check_scores(const shape& s, std::string_view name) {
  if (s.rank() != 4 || s[1] < 2 || s[2] < 1 || s[3] < 1)
    throw_shape(name, "scores must be N x C x h x w with C >= 2 (background + classes), got ", s);
  if (s[1] > 255) throw_value(name, "at most 255 classes fit a label map, got ", s[1]);
}

/// Checks what every E-step's prepare checks: the scores' shape, the batch, and that `field`
/// (the annotation the E-step reads, called `what`) holds one entry per image.
template <class T>
void check_annotation(const batch& b, std::span<const T> field, const shape& s, std::string_view name, std::string_view what) {
  check_scores(s, name);
  b.validate(name);
  batch::need(field, name, what);
  if (static_cast<index_t>(field.size()) != s[0]) throw_shape(name, field.size(), " entries of ", what, " for a batch of ", s[0]);
}

/// The present classes of every image: background (channel 0, always present) then the tags.
inline std::vector<tag_set> present_classes(const batch& b, const shape& s, std::string_view name) {
  check_annotation(b, b.tags, s, name, "image tags");
  std::vector<tag_set> out;
  for (const tag_set& t : b.tags) {
    validate_tags(t, static_cast<int>(s[1]), name);
    tag_set p{0};
    p.insert(p.end(), t.begin(), t.end());
    out.push_back(std::move(p));
  }
  return out;
}

/// The per-image argmax of N x C x h x w scores, ties to the HIGHER class id, as the reference's
/// Caffe ArgMax layer (a partial sort by (score, id) descending). It matters for EM-Adapt: its
/// biases make each present class tie the running maximum at its k-th cell, and where a
/// network's scores are flat (dead features) at many cells; with ties to the lower id,
/// background would take all of those and the "at least rho_fg" area would not hold.
inline void argmax_targets(const tensor& scores, std::vector<label_map>& targets) {
  const index_t n = scores.dim(0), c = scores.dim(1), hw = scores.dim(2) * scores.dim(3);
  targets.resize(static_cast<std::size_t>(n));
  for (index_t b = 0; b < n; ++b) {
    label_map& out = targets[static_cast<std::size_t>(b)];
    out = label_map(scores.dim(2), scores.dim(3), 0);
    const float* s = scores.data() + b * c * hw;
    for (index_t i = 0; i < hw; ++i) {
      index_t best = 0;
      for (index_t l = 1; l < c; ++l)
        if (s[l * hw + i] >= s[best * hw + i]) best = l;
      out[i] = static_cast<std::uint8_t>(best);
    }
  }
}

/// The plan of the tag-driven E-steps: the prepared shape and each image's present classes.
struct tag_plan {
  shape scores;
  std::vector<tag_set> present;  ///< per image: 0 then the tags
};

inline void check_run(const shape& prepared, const tensor& scores, std::string_view name) {
  if (scores.shape() != prepared) throw_shape(name, "scores are ", scores.shape(), " but the plan was prepared for ", prepared);
  expect_finite(scores, name, "scores");
}

/// The run of the E-steps that are the argmax of biased scores (EM-Fixed, EM-Adapt,
/// Bbox-EM-Fixed): Model::biased(plan, scores), then argmax_targets.
template <class Model>
struct argmax_of_biased {
  template <class Tag, class Plan>
  void run(const exec<Tag>&, Plan& pl, const tensor& scores, std::vector<label_map>& targets) const {
    argmax_targets(static_cast<const Model&>(*this).biased(pl, scores), targets);
  }
};

}  // namespace detail

/// EM-Fixed (Algorithm 1): f^_m(l) = f_m(l) + b_l for the image's labels (background always
/// among them), f_m(l) for the others, y^_m = argmax_l f^_m(l) (eq. 9-10), b_0 = b_bg, b_l = b_fg.
/// Defaults: the paper's b_fg = 5, b_bg = 3 (sec. 4.3); the reference BiasChannel layer's
/// proto defaults are 2 / 1.
class fixed : public detail::argmax_of_biased<fixed> {
 public:
  static constexpr std::string_view name = "em::fixed";
  struct config {
    float fg_bias = 5.0f;
    float bg_bias = 3.0f;
  };
  using plan = detail::tag_plan;
  config cfg{};

  fixed() = default;
  explicit fixed(config c) : cfg(c) { validate(); }

  template <class Tag>
  plan prepare(const exec<Tag>&, const batch& b, const shape& s) const {
    validate();
    return {s, detail::present_classes(b, s, name)};
  }

  /// The biased scores f^ (N x C x h x w).
  tensor biased(const plan& pl, const tensor& scores) const {
    detail::check_run(pl.scores, scores, name);
    tensor out = scores;
    const index_t c = scores.dim(1), hw = scores.dim(2) * scores.dim(3);
    for (std::size_t n = 0; n < pl.present.size(); ++n)
      for (int l : pl.present[n]) {
        float* p = out.data() + (static_cast<index_t>(n) * c + l) * hw;
        const float b = l == 0 ? cfg.bg_bias : cfg.fg_bias;
        for (index_t i = 0; i < hw; ++i) p[i] += b;
      }
    return out;
  }

 private:
  void validate() const {
    if (!std::isfinite(cfg.fg_bias) || !std::isfinite(cfg.bg_bias)) throw_value(name, "biases must be finite");
  }
};
static_assert(EStepBias<fixed>);

/// EM-Adapt (sec. 3.2, the cardinality potential: at least rho_fg of the area for every
/// present foreground class, rho_bg for background, none for absent classes), as the
/// reference's AdaptiveBiasChannel layer computes it, per image on the score grid:
///   1. absent classes suppressed: s_c(i) = m(i) - margin where s_c(i) >= m(i), m(i) = min over
///      present classes (the layer tests s_c > m: an absent class equal to m would then tie the
///      present ones and, ties going to the higher id, could win);
///   2. E(i) = max over present classes of s_c(i);
///   3. for each present class c, background first then by increasing id (the reference
///      shuffles the foreground order at random; ours is fixed so a run is reproducible):
///      d(i) = E(i) - s_c(i) >= 0, k = int(rho_c HW) (truncated, at most HW - 1),
///      b_c = the k-th smallest d (0-based), s_c += b_c, E = max(E, s_c);
///      repeated `iterations` times (a later class may take back pixels of an earlier one);
///   4. every channel shifted by mean(E before) - mean(E after) (the reference keeps the mean
///      of the max score; the argmax does not change).
/// After step 3, class c ties or beats the running max on at least k + 1 positions. Defaults:
/// the paper's rho_bg = 40%, rho_fg = 20% (sec. 4.3); the layer's proto defaults are 0.2 / 0.2.
class adapt : public detail::argmax_of_biased<adapt> {
 public:
  static constexpr std::string_view name = "em::adapt";
  struct config {
    float fg_portion = 0.2f;  ///< rho_fg
    float bg_portion = 0.4f;  ///< rho_bg
    int iterations = 1;
    bool suppress_others = true;
    float margin = 1e-5f;     ///< absent classes end this far below the lowest present score
  };
  using plan = detail::tag_plan;
  config cfg{};

  adapt() = default;
  explicit adapt(config c) : cfg(c) { validate(); }

  template <class Tag>
  plan prepare(const exec<Tag>&, const batch& b, const shape& s) const {
    validate();
    return {s, detail::present_classes(b, s, name)};
  }

  /// The adaptively biased scores (N x C x h x w).
  tensor biased(const plan& pl, const tensor& scores) const {
    detail::check_run(pl.scores, scores, name);
    tensor out = scores;
    const index_t c = scores.dim(1), hw = scores.dim(2) * scores.dim(3);
    std::vector<float> e(static_cast<std::size_t>(hw)), d(static_cast<std::size_t>(hw));
    std::vector<bool> is_present(static_cast<std::size_t>(c));
    for (std::size_t n = 0; n < pl.present.size(); ++n) {
      const tag_set& present = pl.present[n];
      float* s = out.data() + static_cast<index_t>(n) * c * hw;
      auto plane = [&](int l) { return s + static_cast<index_t>(l) * hw; };
      std::fill(is_present.begin(), is_present.end(), false);
      for (int l : present) is_present[static_cast<std::size_t>(l)] = true;
      for (index_t i = 0; i < hw; ++i) {
        float lo = plane(present.front())[i], hi = lo;
        for (int l : present) lo = std::min(lo, plane(l)[i]), hi = std::max(hi, plane(l)[i]);
        e[static_cast<std::size_t>(i)] = hi;
        if (cfg.suppress_others)
          for (index_t l = 0; l < c; ++l)
            if (!is_present[static_cast<std::size_t>(l)] && plane(static_cast<int>(l))[i] >= lo)
              plane(static_cast<int>(l))[i] = lo - cfg.margin;
      }
      double mean0 = 0;
      for (float v : e) mean0 += v;
      for (int it = 0; it < cfg.iterations; ++it)
        for (int l : present) {  // background first: present is {0, tags...}
          float* p = plane(l);
          for (index_t i = 0; i < hw; ++i) d[static_cast<std::size_t>(i)] = e[static_cast<std::size_t>(i)] - p[i];
          const float portion = l == 0 ? cfg.bg_portion : cfg.fg_portion;
          const auto k = std::min(static_cast<index_t>(portion * static_cast<float>(hw)), hw - 1);
          std::nth_element(d.begin(), d.begin() + k, d.end());
          const float b = d[static_cast<std::size_t>(k)];
          for (index_t i = 0; i < hw; ++i) {
            p[i] += b;
            e[static_cast<std::size_t>(i)] = std::max(e[static_cast<std::size_t>(i)], p[i]);
          }
        }
      double mean1 = 0;
      for (float v : e) mean1 += v;
      const auto shift = static_cast<float>((mean0 - mean1) / static_cast<double>(hw));
      for (index_t i = 0; i < c * hw; ++i) s[i] += shift;
    }
    return out;
  }

 private:
  void validate() const {
    if (!(cfg.fg_portion >= 0.0f && cfg.fg_portion <= 1.0f) || !(cfg.bg_portion >= 0.0f && cfg.bg_portion <= 1.0f))
      throw_value(name, "portions must be in [0, 1], got fg ", cfg.fg_portion, " and bg ", cfg.bg_portion);
    if (cfg.iterations < 1) throw_value(name, "iterations must be >= 1, got ", cfg.iterations);
    if (!(cfg.margin >= 0.0f)) throw_value(name, "margin must be >= 0, got ", cfg.margin);
  }
};
static_assert(EStepBias<adapt>);

}  // namespace wsss::em
