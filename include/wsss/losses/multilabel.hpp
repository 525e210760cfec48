// SPDX-License-Identifier: MIT
// wsss/losses/multilabel.hpp — multi-label logistic loss on image-level tags: SPN (Kwak et
// al. 2017) eq. 4 = PyTorch's MultiLabelSoftMarginLoss (psa), and the present/absent-balanced
// form of the attention paper (Roy & Todorovic 2017) eq. 14
#pragma once

#include <algorithm>
#include <cmath>
#include <memory>
#include <span>
#include <vector>

#include "wsss/autodiff/op.hpp"
#include "wsss/autodiff/ops/common.hpp"

namespace wsss::losses {

/// How the per-class binary losses are averaged, per image, before the batch mean.
enum class multilabel_norm {
  class_mean,           ///< (1/C) sum_c: SPN eq. 4, MultiLabelSoftMarginLoss
  present_absent_mean,  ///< (1/|Y|) sum_{present} + (1/|Y-bar|) sum_{absent}: attention eq. 14
};

/// Whether the scores are logits f (p = sigmoid(f), computed stably) or probabilities p.
enum class multilabel_input { logits, probabilities };

namespace detail {

/// L = (1/N) sum_n sum_c w[n, c] l(s[n, c], t[n, c]) with
///   logits:        l = softplus(f) - t f                     dl/df = sigmoid(f) - t
///   probabilities: l = -t log p - (1 - t) log(1 - p)         dl/dp = (p - t) / (p (1 - p))
/// (each log clamped at -100 and the denominator at 1e-12, as torch's BCELoss).
struct multilabel_op {
  static constexpr std::string_view name = "multilabel_logistic";
  std::shared_ptr<const tensor> targets;
  std::shared_ptr<const tensor> weights;  // N x C, the normalisation of each term
  multilabel_input input = multilabel_input::logits;
  struct saved {};

  static double term(multilabel_input in, double s, double t) {
    if (in == multilabel_input::logits) return std::max(s, 0.0) - t * s + std::log1p(std::exp(-std::abs(s)));
    const double lp = std::max(std::log(s), -100.0), lq = std::max(std::log1p(-s), -100.0);
    return -(t * lp + (1.0 - t) * lq);
  }

  tensor forward(saved&, const tensor& s) const {
    double total = 0;
    for (index_t i = 0; i < s.numel(); ++i)
      if ((*weights)[i] != 0.0f) total += (*weights)[i] * term(input, s[i], (*targets)[i]);
    return tensor(shape{1}, static_cast<float>(total));
  }

  void backward(const saved&, const tensor&, const tensor& gy, std::span<const tensor* const> xs,
                std::span<tensor* const> gx) const {
    if (!gx[0]) return;
    const tensor& s = *xs[0];
    for (index_t i = 0; i < s.numel(); ++i) {
      const double t = (*targets)[i], v = s[i];
      double d;
      if (input == multilabel_input::logits) {
        const double sig = v >= 0 ? 1.0 / (1.0 + std::exp(-v)) : std::exp(v) / (1.0 + std::exp(v));
        d = sig - t;
      } else {
        d = (v - t) / std::max(v * (1.0 - v), 1e-12);
      }
      (*gx[0])[i] += static_cast<float>(gy[0] * (*weights)[i] * d);
    }
  }
};
static_assert(ad::Op<multilabel_op>);

}  // namespace detail

/// Multi-label logistic loss of scores (N x C, or N x C x 1 x 1 after global pooling) against
/// image tags `targets` (N x C; 0/1, or soft values in [0, 1] with class_mean). Returns a {1}
/// var: the batch mean of each image's normalised sum of binary cross-entropies. With
/// present_absent_mean, an image without present (or without absent) classes drops that term.
inline ad::var multilabel_logistic(ad::var scores, const tensor& targets,
                                   multilabel_norm norm = multilabel_norm::class_mean,
                                   multilabel_input input = multilabel_input::logits) {
  constexpr std::string_view comp = "losses::multilabel_logistic";
  ad::tape& t = ad::detail::tape_of(scores, comp);
  const tensor& s = scores.value();
  if (s.rank() < 2 || s.dim(0) == 0 || s.dim(1) == 0 || s.numel() != s.dim(0) * s.dim(1))
    throw_shape(comp, "scores must be N x C (or N x C x 1 x 1), got ", s.shape());
  const index_t n = s.dim(0), c = s.dim(1);
  if (targets.numel() != n * c || targets.rank() < 2 || targets.dim(0) != n || targets.dim(1) != c)
    throw_shape(comp, "targets must be ", n, "x", c, " like the scores, got ", targets.shape());
  for (index_t i = 0; i < targets.numel(); ++i) {
    const float v = targets[i];
    if (!(v >= 0.0f && v <= 1.0f)) throw_value(comp, "target ", v, " at flat index ", i, " is outside [0, 1]");
    if (norm == multilabel_norm::present_absent_mean && v != 0.0f && v != 1.0f)
      throw_value(comp, "present_absent_mean needs 0/1 targets, got ", v, " at flat index ", i);
  }
  if (input == multilabel_input::probabilities)
    for (index_t i = 0; i < s.numel(); ++i)
      if (!(s[i] >= 0.0f && s[i] <= 1.0f))
        throw_value(comp, "probability ", s[i], " at flat index ", i, " is outside [0, 1]");
  auto w = std::make_shared<tensor>(shape{n, c});
  for (index_t b = 0; b < n; ++b) {
    index_t present = 0;
    for (index_t k = 0; k < c; ++k) present += targets[b * c + k] == 1.0f;
    for (index_t k = 0; k < c; ++k) {
      float v;
      if (norm == multilabel_norm::class_mean) v = 1.0f / static_cast<float>(c);
      else v = 1.0f / static_cast<float>(targets[b * c + k] == 1.0f ? present : c - present);
      (*w)[b * c + k] = v / static_cast<float>(n);
    }
  }
  auto tg = std::make_shared<const tensor>(targets.reshaped(shape{n, c}));
  return ad::apply(t, detail::multilabel_op{std::move(tg), std::move(w), input}, scores);
}

}  // namespace wsss::losses
