// SPDX-License-Identifier: MIT
// wsss/losses/affinity.hpp — AffinityNet loss over affinity labels of pairs (AffinityNet, eq. 5-10)
#pragma once

#include <cmath>
#include <span>
#include <string_view>
#include <vector>

#include "wsss/autodiff/op.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/label_map.hpp"
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

/// Pair labels of a batch of label maps (255 = ignore, 0 = background), in the pair order of
/// `pairs`; the result is N x E (E when one map is given through the overload below).
inline pair_labels extract_pair_labels(std::span<const label_map> maps, const graph::pair_list& pairs) {
  constexpr std::string_view comp = "losses::extract_pair_labels";
  if (maps.empty()) throw_shape(comp, "no label map given");
  const index_t n = static_cast<index_t>(maps.size()), e = pairs.size();
  pair_labels out{tensor({n, e}), tensor({n, e}), tensor({n, e})};
  for (index_t b = 0; b < n; ++b) {
    const label_map& l = maps[static_cast<std::size_t>(b)];
    if (l.height() != pairs.height || l.width() != pairs.width)
      throw_shape(comp, "label map ", b, " is ", l.height(), "x", l.width(), " but the pairs live on a ",
                  pairs.height, "x", pairs.width, " grid");
    for (index_t k = 0; k < e; ++k) {
      const std::uint8_t a = l[pairs.from[static_cast<std::size_t>(k)]], c = l[pairs.to[static_cast<std::size_t>(k)]];
      const bool valid = a != ignore_label && c != ignore_label;
      out.bg_pos[b * e + k] = (a == c && a == 0) ? 1.0f : 0.0f;
      out.fg_pos[b * e + k] = (a == c && a != 0 && valid) ? 1.0f : 0.0f;
      out.neg[b * e + k] = (a != c && valid) ? 1.0f : 0.0f;
    }
  }
  return out;
}

inline pair_labels extract_pair_labels(const label_map& map, const graph::pair_list& pairs) {
  pair_labels p = extract_pair_labels(std::span<const label_map>(&map, 1), pairs);
  for (tensor* t : {&p.bg_pos, &p.fg_pos, &p.neg}) t->reshape({pairs.size()});
  return p;
}

/// Autodiff op: the AffinityNet loss of affinities a (the shape of the labels' masks, E or
/// N x E) as the public code computes it (psa train_aff.py), sums over the whole batch:
///   L_bg  = -sum(bg_pos * log(a + eps)) / (sum bg_pos + eps)
///   L_fg  = -sum(fg_pos * log(a + eps)) / (sum fg_pos + eps)
///   L_neg = -sum(neg * log(1 + eps - a)) / (sum neg + eps)
///   L     = w_bg L_bg + w_fg L_fg + w_neg L_neg          (output: shape {1})
/// Defaults are the code's (1/4, 1/4, 1/2, eps 1e-5); paper() gives eq. 10's (1, 1, 2).
struct affinity_loss_op {
  static constexpr std::string_view name = "losses::affinity";
  struct config {
    float w_bg = 0.25f, w_fg = 0.25f, w_neg = 0.5f;
    float eps = 1e-5f;  ///< the code's guard in the logs and the counts
    static config paper() { return {1.0f, 1.0f, 2.0f, 1e-5f}; }
  };
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

}  // namespace wsss::losses
