// SPDX-License-Identifier: MIT
// wsss/losses/affinity.hpp — AffinityNet loss over affinity labels of pairs (AffinityNet, eq. 5-10)
#pragma once

#include <cmath>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "wsss/autodiff/op.hpp"
#include "wsss/backend/for_each_index.hpp"
#include "wsss/core/batch.hpp"
#include "wsss/core/config.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/core/label_map.hpp"
#include "wsss/core/policy.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/graph/csr.hpp"

namespace wsss::losses {

/// 0/1 masks over the pairs of a pair list (E values, or N x E for a batch): the subsets
/// P+_bg, P+_fg and P- of eq. 5-6 as the public code builds them (psa
/// ExtractAffinityLabelInRadius): with valid = (l_i != 255 and l_j != 255),
/// bg_pos = (l_i == l_j == 0), fg_pos = (l_i == l_j != 0) and valid, neg = (l_i != l_j) and valid.
struct pair_labels {
  tensor bg_pos, fg_pos, neg;
};

namespace detail {

/// The three masks of one pair (one label map's pixels, psa's subset rules).
struct pair_label_kernel {
  const std::uint8_t* l;
  const std::int32_t* from;
  const std::int32_t* to;
  float *bg_pos, *fg_pos, *neg;
  WSSS_HD void operator()(std::int64_t k) const {
    const std::uint8_t a = l[from[k]], c = l[to[k]];
    const bool valid = a != ignore_label && c != ignore_label;
    bg_pos[k] = (a == c && a == 0) ? 1.0f : 0.0f;
    fg_pos[k] = (a == c && a != 0 && valid) ? 1.0f : 0.0f;
    neg[k] = (a != c && valid) ? 1.0f : 0.0f;
  }
};

}  // namespace detail

/// Pair labels of a batch of label maps (255 = ignore, 0 = background), in the pair order of
/// `pairs`, computed on `tag`; the result is N x E (E when one map is given through the
/// overload below).
template <backend::Backend Tag = omp_t>
pair_labels extract_pair_labels(std::span<const label_map> maps, const graph::pair_list& pairs, Tag tag = {}) {
  constexpr std::string_view comp = "losses::extract_pair_labels";
  if (maps.empty()) throw_shape(comp, "no label map given");
  const index_t n = static_cast<index_t>(maps.size()), e = pairs.size();
  pair_labels out{tensor::uninitialized({n, e}), tensor::uninitialized({n, e}), tensor::uninitialized({n, e})};
  for (index_t b = 0; b < n; ++b) {
    const label_map& l = maps[static_cast<std::size_t>(b)];
    if (l.height() != pairs.height || l.width() != pairs.width)
      throw_shape(comp, "label map ", b, " is ", l.height(), "x", l.width(), " but the pairs live on a ",
                  pairs.height, "x", pairs.width, " grid");
    backend::for_each_index(tag, e,
                            detail::pair_label_kernel{l.data(), pairs.from.data(), pairs.to.data(),
                                                      out.bg_pos.data() + b * e, out.fg_pos.data() + b * e,
                                                      out.neg.data() + b * e});
  }
  return out;
}

inline pair_labels extract_pair_labels(const label_map& map, const graph::pair_list& pairs) {
  pair_labels p = extract_pair_labels(std::span<const label_map>(&map, 1), pairs);
  for (tensor* t : {&p.bg_pos, &p.fg_pos, &p.neg}) t->reshape({pairs.size()});
  return p;
}

/// The loss's weights: the public code's (1/4, 1/4, 1/2) by default, eq. 10's via paper().
struct affinity_loss_config {
  float w_bg = 0.25f, w_fg = 0.25f, w_neg = 0.5f;
  float eps = 1e-5f;  ///< the code's guard in the logs and the counts
  static affinity_loss_config paper() { return {1.0f, 1.0f, 2.0f, 1e-5f}; }
};

/// Autodiff op: the AffinityNet loss of affinities a (the shape of the labels' masks, E or
/// N x E) as the public code computes it (psa train_aff.py), sums over the whole batch:
///   L_bg  = -sum(bg_pos * log(a + eps)) / (sum bg_pos + eps)
///   L_fg  = -sum(fg_pos * log(a + eps)) / (sum fg_pos + eps)
///   L_neg = -sum(neg * log(1 + eps - a)) / (sum neg + eps)
///   L     = w_bg L_bg + w_fg L_fg + w_neg L_neg          (output: shape {1})
/// Defaults are the code's (1/4, 1/4, 1/2, eps 1e-5); paper() gives eq. 10's (1, 1, 2).
struct affinity_loss_op {
  static constexpr std::string_view name = "losses::affinity";
  using config = affinity_loss_config;
  struct saved {
    double n_bg = 0, n_fg = 0, n_neg = 0;
  };

  const pair_labels* labels = nullptr;  ///< must outlive backward
  config cfg{};

  tensor forward(saved& s, const tensor& a) const {
    check(a);
    double l_bg = 0, l_fg = 0, l_neg = 0;
    for (index_t k = 0; k < a.numel(); ++k) {
      s.n_bg += labels->bg_pos[k];
      s.n_fg += labels->fg_pos[k];
      s.n_neg += labels->neg[k];
      const double pos_log = std::log(static_cast<double>(a[k]) + cfg.eps);
      l_bg -= labels->bg_pos[k] * pos_log;
      l_fg -= labels->fg_pos[k] * pos_log;
      l_neg -= labels->neg[k] * std::log(1.0 + cfg.eps - static_cast<double>(a[k]));
    }
    const double loss = cfg.w_bg * l_bg / (s.n_bg + cfg.eps) + cfg.w_fg * l_fg / (s.n_fg + cfg.eps) +
                        cfg.w_neg * l_neg / (s.n_neg + cfg.eps);
    return tensor({1}, static_cast<float>(loss));
  }

  void backward(const saved& s, const tensor&, const tensor& gy, std::span<const tensor* const> xs,
                std::span<tensor* const> gxs) const {
    if (!gxs[0]) return;
    const tensor& a = *xs[0];
    tensor& g = *gxs[0];
    const double c_bg = cfg.w_bg / (s.n_bg + cfg.eps), c_fg = cfg.w_fg / (s.n_fg + cfg.eps),
                 c_neg = cfg.w_neg / (s.n_neg + cfg.eps), up = gy[0];
    for (index_t k = 0; k < a.numel(); ++k) {
      const double ak = a[k];
      const double d = -(c_bg * labels->bg_pos[k] + c_fg * labels->fg_pos[k]) / (ak + cfg.eps) +
                       c_neg * labels->neg[k] / (1.0 + cfg.eps - ak);
      g[k] += static_cast<float>(up * d);
    }
  }

 private:
  void check(const tensor& a) const {
    if (!labels) throw_value(name, "no pair labels given");
    expect_shape(a, labels->bg_pos.shape(), name, "affinities");
    expect_shape(labels->fg_pos, labels->bg_pos.shape(), name, "fg_pos mask");
    expect_shape(labels->neg, labels->bg_pos.shape(), name, "neg mask");
    for (index_t k = 0; k < a.numel(); ++k)
      if (!(a[k] >= 0.0f && a[k] <= 1.0f))
        throw_value(name, "affinity ", a[k], " at flat index ", k, " is not in [0, 1]");
  }
};
static_assert(ad::Op<affinity_loss_op>);

/// The AffinityNet loss as a policy of the stage protocol. The plan is the pair labels of the
/// batch's label maps on the pair list the affinities are computed on; prepare takes that pair
/// list itself instead of a shape (a graph builder's plan.pairs, or graph::reference_pairs for
/// psa's training layout): it is per-grid data, which the protocol keeps out of the config.
///   auto pl = loss.prepare(ex, batch{.labels = maps}, pairs);     // N x E masks
///   ad::var L = loss.record(tape, pl, a);                         // a: E or N x E affinities
struct affinity_loss {
  static constexpr std::string_view name = "losses::affinity_loss";
  using config = affinity_loss_config;
  struct plan {
    pair_labels labels;  ///< N x E masks (affinity_loss_op reads them until backward)
  };
  config cfg{};

  affinity_loss() = default;
  explicit affinity_loss(config c) : cfg(c) {
    for (float w : {cfg.w_bg, cfg.w_fg, cfg.w_neg})
      if (!(w >= 0.0f) || !std::isfinite(w)) throw_value(name, "weights must be finite and >= 0, got ", w);
    if (!(cfg.eps > 0.0f) || !std::isfinite(cfg.eps)) throw_value(name, "eps must be finite and > 0, got ", cfg.eps);
  }

  /// Pair labels of batch.labels (one map per image, on the pairs' grid) for the pairs.
  template <class Tag>
  plan prepare(const exec<Tag>& ex, const batch& b, const graph::pair_list& pairs) const {
    b.validate(name);
    batch::need(b.labels, name, "label maps");
    return {extract_pair_labels(b.labels, pairs, ex.tag)};
  }

  /// The loss of affinities a (E for a batch of one, or N x E), shape {1}; pl must outlive
  /// the tape's backward.
  ad::var record(ad::tape& t, plan& pl, ad::var a) const {
    const tensor& v = t.value(a);
    // One image's affinities come as E values, its masks as 1 x E: the same numbers.
    if (v.numel() == pl.labels.bg_pos.numel() && v.shape() != pl.labels.bg_pos.shape())
      for (tensor* m : {&pl.labels.bg_pos, &pl.labels.fg_pos, &pl.labels.neg}) m->reshape(v.shape());
    return ad::apply(t, affinity_loss_op{&pl.labels, cfg}, a);
  }
};
static_assert(Policy<affinity_loss>);

}  // namespace wsss::losses
