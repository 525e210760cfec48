// SPDX-License-Identifier: MIT
// wsss/losses/multilabel.hpp — multi-label logistic loss on image-level tags: SPN (Kwak et
// al. 2017) eq. 4 = PyTorch's MultiLabelSoftMarginLoss (psa), and the present/absent-balanced
// form of the attention paper (Roy & Todorovic 2017) eq. 14
#pragma once

#include <algorithm>
#include <cmath>
#include <memory>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "wsss/autodiff/op.hpp"
#include "wsss/autodiff/ops/common.hpp"
#include "wsss/core/batch.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/core/policy.hpp"
#include "wsss/core/tensor.hpp"

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

/// The multi-label logistic loss as a policy (a Loss): scores N x C (or N x C x 1 x 1 after
/// global pooling) against image-level tags, one {1} var per batch: the batch mean of each
/// image's normalised sum of binary cross-entropies. With present_absent_mean, an image
/// without present (or without absent) classes drops that term.
///   auto pl = loss.prepare(ex, batch, scores.shape());   // targets from batch.tags
///   ad::var l = loss.record(tape, pl, scores);
struct multilabel {
  static constexpr std::string_view name = "losses::multilabel_logistic";
  struct config {
    multilabel_norm norm = multilabel_norm::class_mean;
    multilabel_input input = multilabel_input::logits;
    /// Score columns C: VOC's 20 foreground classes (psa's and SPN's classifiers have no
    /// background column).
    index_t classes = 20;
    /// The tag id of score column 0: tags are VOC ids 1..20, column = tag - first_tag.
    int first_tag = 1;
  };
  /// The targets (N x C, soft values allowed with class_mean) and each term's weight (its
  /// normalisation, divided by N).
  struct plan {
    std::shared_ptr<const tensor> targets, weights;
  };

  config cfg{};

  multilabel() = default;
  explicit multilabel(config c) : cfg(c) {
    require(cfg.classes >= 1, name, "classes must be >= 1, got ", cfg.classes);
    require(cfg.first_tag >= 0, name, "first_tag must be >= 0, got ", cfg.first_tag);
  }

  /// Targets from batch.tags: 1 for the classes an image's tag set names, 0 elsewhere.
  /// s = N x C (or N x C x 1 x 1), the scores' shape; C must be cfg.classes.
  template <class Tag>
  plan prepare(const exec<Tag>&, const batch& b, const shape& s) const {
    b.validate(name);
    batch::need(b.tags, name, "image tags");
    const index_t n = check_scores(s), c = s[1];
    if (c != cfg.classes) throw_shape(name, "scores have ", c, " classes but the config says ", cfg.classes);
    if (static_cast<index_t>(b.tags.size()) != n)
      throw_shape(name, "got ", b.tags.size(), " tag sets for a batch of ", n);
    tensor t({n, c});
    for (index_t i = 0; i < n; ++i) {
      const tag_set& tags = b.tags[static_cast<std::size_t>(i)];
      validate_tags(tags, cfg.first_tag + static_cast<int>(c), name, cfg.first_tag);
      for (int id : tags) t(i, id - cfg.first_tag) = 1.0f;
    }
    return prepare_targets(t, s);
  }

  /// The plan from explicit targets N x C (0/1, or soft values in [0, 1] with class_mean); C
  /// is the scores' (cfg.classes and first_tag only map tag ids).
  plan prepare_targets(const tensor& targets, const shape& s) const {
    const index_t n = check_scores(s), c = s[1];
    if (targets.numel() != n * c || targets.rank() < 2 || targets.dim(0) != n || targets.dim(1) != c)
      throw_shape(name, "targets must be ", n, "x", c, " like the scores, got ", targets.shape());
    for (index_t i = 0; i < targets.numel(); ++i) {
      const float v = targets[i];
      if (!(v >= 0.0f && v <= 1.0f)) throw_value(name, "target ", v, " at flat index ", i, " is outside [0, 1]");
      if (cfg.norm == multilabel_norm::present_absent_mean && v != 0.0f && v != 1.0f)
        throw_value(name, "present_absent_mean needs 0/1 targets, got ", v, " at flat index ", i);
    }
    auto w = std::make_shared<tensor>(shape{n, c});
    for (index_t b = 0; b < n; ++b) {
      index_t present = 0;
      for (index_t k = 0; k < c; ++k) present += targets[b * c + k] == 1.0f;
      for (index_t k = 0; k < c; ++k) {
        float v;
        if (cfg.norm == multilabel_norm::class_mean) v = 1.0f / static_cast<float>(c);
        else v = 1.0f / static_cast<float>(targets[b * c + k] == 1.0f ? present : c - present);
        (*w)[b * c + k] = v / static_cast<float>(n);
      }
    }
    return {std::make_shared<const tensor>(targets.reshaped(shape{n, c})), std::move(w)};
  }

  /// The loss of scores shaped as prepared ({1} var).
  ad::var record(ad::tape& t, plan& pl, ad::var scores) const {
    const tensor& s = scores.value();
    if (!pl.targets) throw_value(name, "the plan was never prepared");
    const index_t n = check_scores(s.shape());
    if (n != pl.targets->dim(0) || s.dim(1) != pl.targets->dim(1))
      throw_shape(name, "scores are ", s.shape(), " but the plan was prepared for ", pl.targets->shape());
    if (cfg.input == multilabel_input::probabilities)
      for (index_t i = 0; i < s.numel(); ++i)
        if (!(s[i] >= 0.0f && s[i] <= 1.0f))
          throw_value(name, "probability ", s[i], " at flat index ", i, " is outside [0, 1]");
    return ad::apply(t, detail::multilabel_op{pl.targets, pl.weights, cfg.input}, scores);
  }

 private:
  // N x C, or N x C x 1 x 1; returns N.
  static index_t check_scores(const shape& s) {
    if (s.rank() < 2 || s[0] == 0 || s[1] == 0 || s.numel() != s[0] * s[1])
      throw_shape(name, "scores must be N x C (or N x C x 1 x 1), got ", s);
    return s[0];
  }
};
static_assert(Policy<multilabel>);

/// multilabel's loss of scores against explicit targets N x C in one call.
inline ad::var multilabel_logistic(ad::var scores, const tensor& targets,
                                   multilabel_norm norm = multilabel_norm::class_mean,
                                   multilabel_input input = multilabel_input::logits) {
  ad::tape& t = ad::detail::tape_of(scores, multilabel::name);
  const multilabel loss({.norm = norm, .input = input});  // prepare_targets takes C from the scores
  multilabel::plan pl = loss.prepare_targets(targets, scores.shape());
  return loss.record(t, pl, scores);
}

}  // namespace wsss::losses
