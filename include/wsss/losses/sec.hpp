// SPDX-License-Identifier: MIT
// wsss/losses/sec.hpp — SEC's seeding and expansion losses (Kolesnikov & Lampert 2016, eq. 2 and
// eq. 4) on the probabilities of the softmax with a floor that all three SEC losses read
// (reference-semantics 2.2-2.4); the constrain-to-boundary loss is losses/constrain.hpp
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "wsss/autodiff/op.hpp"
#include "wsss/autodiff/ops/pointwise.hpp"
#include "wsss/autodiff/ops/softmax.hpp"
#include "wsss/core/batch.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/core/label_map.hpp"
#include "wsss/core/policy.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/pool/concepts.hpp"
#include "wsss/pool/gmp.hpp"
#include "wsss/pool/gwrp.hpp"

namespace wsss::losses {

/// SEC's probabilities: p = (softmax(z) + floor) / (1 + C floor) over the class axis of
/// B x C x h x w logits, so every p >= floor / (1 + C floor) > 0 and log p is finite in all
/// three losses (the reference's SoftmaxLayer, floor 1e-4). Gradient through the tape.
inline ad::var floor_softmax(const ad::var& logits, float floor = 1e-4f) {
  if (logits.value().rank() < 2) throw_shape("losses::floor_softmax", "logits need a class axis, got ", logits.value().shape());
  if (!(floor >= 0.0f)) throw_value("losses::floor_softmax", "floor must be >= 0, got ", floor);
  const float c = static_cast<float>(logits.value().dim(1));
  return ad::scale(ad::add_scalar(ad::softmax(logits, 1), floor), 1.0f / (1.0f + c * floor));
}

namespace detail {

/// y = -sum_e w_e log p_e over a sparse list of (flat index, weight): the seeding loss with
/// each image's normalisation and the batch mean folded into w. dL/dp_e = -w_e / p_e.
struct sparse_log_op {
  static constexpr std::string_view name = "losses::seed";
  std::shared_ptr<const std::vector<std::int64_t>> at;
  std::shared_ptr<const std::vector<float>> w;
  struct saved {};

  tensor forward(saved&, const tensor& p) const {
    double s = 0;
    for (std::size_t k = 0; k < at->size(); ++k) {
      const float v = p[(*at)[k]];
      if (!(v > 0.0f)) throw_value(name, "probabilities must be > 0 (use floor_softmax), got ", v, " at flat index ", (*at)[k]);
      s -= (*w)[k] * std::log(static_cast<double>(v));
    }
    return tensor(shape{1}, static_cast<float>(s));
  }
  void backward(const saved&, const tensor&, const tensor& gy, std::span<const tensor* const> xs,
                std::span<tensor* const> gx) const {
    if (!gx[0]) return;
    const tensor& p = *xs[0];
    for (std::size_t k = 0; k < at->size(); ++k) {
      const auto e = (*at)[k];
      (*gx[0])[e] -= gy[0] * (*w)[k] / p[e];
    }
  }
};
static_assert(ad::Op<sparse_log_op>);

/// SEC eq. 4 on pooled scores: inputs G (B x C, the pooler's) and M (B x C, the plain max),
/// y = -sum w_g log G - sum w_m log(1 - M) with per-(image, class) weights: present classes
/// 1 / (B |T|) on G, background 1 / B on G, absent classes 1 / (B |C' \ T|) on M.
struct expand_op {
  static constexpr std::string_view name = "losses::expand";
  std::shared_ptr<const tensor> wg, wm;  // B x C each
  struct saved {};

  tensor forward(saved&, const tensor& g, const tensor& m) const {
    double s = 0;
    for (index_t i = 0; i < g.numel(); ++i) {
      if ((*wg)[i] != 0.0f) {
        if (!(g[i] > 0.0f)) throw_value(name, "pooled probability ", g[i], " at (", i / g.dim(1), ", ", i % g.dim(1), ") must be > 0 (use floor_softmax)");
        s -= (*wg)[i] * std::log(static_cast<double>(g[i]));
      }
      if ((*wm)[i] != 0.0f) {
        if (!(m[i] < 1.0f)) throw_value(name, "max probability ", m[i], " of an absent class must be < 1 (use floor_softmax)");
        s -= (*wm)[i] * std::log1p(-static_cast<double>(m[i]));
      }
    }
    return tensor(shape{1}, static_cast<float>(s));
  }
  void backward(const saved&, const tensor&, const tensor& gy, std::span<const tensor* const> xs,
                std::span<tensor* const> gx) const {
    const tensor& g = *xs[0];
    const tensor& m = *xs[1];
    for (index_t i = 0; i < g.numel(); ++i) {
      if (gx[0] && (*wg)[i] != 0.0f) (*gx[0])[i] -= gy[0] * (*wg)[i] / g[i];
      if (gx[1] && (*wm)[i] != 0.0f) (*gx[1])[i] += gy[0] * (*wm)[i] / (1.0f - m[i]);
    }
  }
};
static_assert(ad::Op<expand_op>);

inline void check_probabilities_shape(const shape& s, std::string_view name) {
  if (s.rank() != 4 || s[1] < 2)
    throw_shape(name, "probabilities must be B x C x h x w with C >= 2 (background + classes), got ", s);
}

}  // namespace detail

/// SEC's seeding loss (eq. 2, the reference's SeedLossLayer): for each image n with cue sets
/// S_c (the pixels a localisation cue labels with class c),
///   L_seed = -(1/B) sum_n (1 / sum_{c in T_n} |S_c|) sum_{c in T_n} sum_{u in S_c} log p_{n,u,c},
/// T_n = the image's tags plus background. The cues arrive as label maps at the score map's
/// size in batch.labels (class id per cue pixel, 255 = no cue). Cues of a foreground class not
/// in the image's tags are dropped when the batch carries tags (eq. 2 sums over c in T); an
/// image without cue pixels contributes 0 (the reference would divide by 0).
///   const losses::seed loss;
///   auto pl = loss.prepare(ex, batch{.tags = tags, .labels = cues}, probs.shape());
///   ad::var l = loss.record(tape, pl, probs);   // probs = floor_softmax(logits)
struct seed {
  static constexpr std::string_view name = "losses::seed";
  struct config {};
  struct plan {
    std::shared_ptr<const std::vector<std::int64_t>> at;  ///< flat indices into B x C x h x w
    std::shared_ptr<const std::vector<float>> w;          ///< their weights
    shape scores;
  };
  config cfg{};

  template <class Tag>
  plan prepare(const exec<Tag>&, const batch& b, const shape& s) const {
    detail::check_probabilities_shape(s, name);
    b.validate(name);
    batch::need(b.labels, name, "localisation cues (label maps)");
    const index_t B = s[0], C = s[1], h = s[2], w = s[3];
    if (static_cast<index_t>(b.labels.size()) != B) throw_shape(name, b.labels.size(), " cue maps for a batch of ", B);
    auto at = std::make_shared<std::vector<std::int64_t>>();
    auto wt = std::make_shared<std::vector<float>>();
    for (index_t n = 0; n < B; ++n) {
      const label_map& cues = b.labels[static_cast<std::size_t>(n)];
      if (cues.height() != h || cues.width() != w)
        throw_shape(name, "cue map ", n, " is ", cues.height(), "x", cues.width(), " but the scores are ", h, "x", w);
      const tag_set* tags = b.tags.empty() ? nullptr : &b.tags[static_cast<std::size_t>(n)];
      if (tags) validate_tags(*tags, static_cast<int>(C), name);
      const std::size_t first = at->size();
      for (index_t u = 0; u < h * w; ++u) {
        const int c = cues.data()[u];
        if (c == ignore_label) continue;
        if (c >= C) throw_value(name, "cue map ", n, " labels pixel ", u, " with class ", c, " of ", C);
        if (tags && c != 0 && !std::binary_search(tags->begin(), tags->end(), c)) continue;
        at->push_back((n * C + c) * h * w + u);
      }
      const auto count = at->size() - first;
      wt->resize(at->size(), count ? 1.0f / (static_cast<float>(count) * static_cast<float>(B)) : 0.0f);
    }
    return {at, wt, s};
  }

  ad::var record(ad::tape& t, const plan& pl, const ad::var& probs) const {
    if (probs.value().shape() != pl.scores)
      throw_shape(name, "probabilities are ", probs.value().shape(), " but the plan was prepared for ", pl.scores);
    return ad::apply(t, detail::sparse_log_op{pl.at, pl.w}, probs);
  }
};
static_assert(Policy<seed>);

/// SEC's expansion loss (eq. 4, the reference's ExpandLossLayer) with the pooler of the present
/// classes as a slot (GWRP in the paper; GMP and GAP for Fig. 6):
///   L_expand = mean_n [ -(1/|T|) sum_{c in T} log G_c - (1/|C' \ T|) sum_{c in C' \ T} log(1 - max_u p_{u,c})
///                        - log G_bg ],
/// G = the pooler on the probabilities (B x C x h x w, class 0 = background). Absent classes
/// always take the plain max (d- = 0, as the paper's Fig. 6 study keeps them). With pool::gwrp
/// the decays are its config's groups: d+ 0.996 on present classes, d_bg 0.999 on background.
/// A device twin (pool::device_gwrp<Tag>) pools on its backend: the same loss.
/// A term whose class set is empty (no tags, or every class present) is dropped.
template <pool::Pooler P = pool::gwrp>
class expand {
 public:
  static constexpr std::string_view name = "losses::expand";
  struct config {
    int bg_class = 0;  ///< the background channel
  };
  struct plan {
    typename P::plan pooled;
    pool::gmp::plan max;
    std::shared_ptr<const tensor> wg, wm;
  };
  config cfg{};

  expand() = default;
  explicit expand(config c, P p = {}) : cfg(c), pooler_(std::move(p)) {
    if constexpr (requires { pooler_.cfg.bg_class; })  // gwrp gives its background channel d_bg
      if (pooler_.cfg.bg_class != cfg.bg_class)
        throw_value(name, "the pooler's background channel ", pooler_.cfg.bg_class, " is not the loss's ", cfg.bg_class);
  }
  const P& pooler() const noexcept { return pooler_; }

  /// Weights from batch.tags (required); s = B x C x h x w.
  template <class Tag>
  plan prepare(const exec<Tag>& ex, const batch& b, const shape& s) const {
    detail::check_probabilities_shape(s, name);
    b.validate(name);
    batch::need(b.tags, name, "image tags");
    const index_t B = s[0], C = s[1];
    if (static_cast<index_t>(b.tags.size()) != B) throw_shape(name, b.tags.size(), " tag sets for a batch of ", B);
    if (cfg.bg_class < 0 || cfg.bg_class >= C) throw_value(name, "bg_class ", cfg.bg_class, " is not a channel of ", s);
    auto wg = std::make_shared<tensor>(shape{B, C});
    auto wm = std::make_shared<tensor>(shape{B, C});
    const float inv_b = 1.0f / static_cast<float>(B);
    for (index_t n = 0; n < B; ++n) {
      const tag_set& tags = b.tags[static_cast<std::size_t>(n)];
      validate_tags(tags, static_cast<int>(C), name);
      if (std::binary_search(tags.begin(), tags.end(), cfg.bg_class))
        throw_value(name, "tags of image ", n, " name the background channel ", cfg.bg_class);
      const auto present = static_cast<float>(tags.size());
      const float absent = static_cast<float>(C - 1) - present;
      for (index_t c = 0; c < C; ++c) {
        if (c == cfg.bg_class) (*wg)(n, c) = inv_b;
        else if (std::binary_search(tags.begin(), tags.end(), static_cast<int>(c))) (*wg)(n, c) = inv_b / present;
        else (*wm)(n, c) = inv_b / absent;
      }
    }
    return {pooler_.prepare(policy_exec(pooler_, ex), b, s), pool::gmp{}.prepare(ex, b, s), wg, wm};  // a device slot: its backend
  }

  ad::var record(ad::tape& t, plan& pl, const ad::var& probs) const {
    const ad::var g = pooler_.record(t, pl.pooled, probs);
    const ad::var m = pool::gmp{}.record(t, pl.max, probs);
    return ad::apply(t, detail::expand_op{pl.wg, pl.wm}, g, m);
  }

 private:
  P pooler_{};
};
static_assert(Policy<expand<>>);

}  // namespace wsss::losses
