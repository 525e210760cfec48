// SPDX-License-Identifier: MIT
// wsss/pool/gwrp.hpp — global weighted rank pooling, SEC eq. 3, with the decay groups
// d+, d-, d_bg of SEC sec. 3.1/4 (the reference ExpandLossLayer, reference-semantics 2.4)
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string_view>
#include <vector>

#include "wsss/core/config.hpp"
#include "wsss/pool/concepts.hpp"
#include "wsss/pool/detail/common.hpp"
#include "wsss/pool/detail/reduce.hpp"
#include "wsss/pool/detail/top_k.hpp"
#include "wsss/pool/op.hpp"

namespace wsss::pool {

/*  G_c = (1 / Z(d)) sum_{j=0}^{n-1} d^j f_(j),  Z(d) = sum_{j=0}^{n-1} d^j,  f_(0) >= f_(1) >= ...
    the scores of one (image, class) plane sorted in descending order (SEC eq. 3, 0-based j;
    0^0 = 1 so d = 0 is GMP and d = 1 is GAP).
    Decays (prepare): config.class_decays[c] when given; else channel bg_class gets d_bg and,
    with use_tags (SEC), classes in the image's batch.tags d_fg and the others d_neg; without
    use_tags every other class gets d_fg.
    Truncation: ranks j >= m(d) are dropped, m the smallest count whose left-out weight mass
    T(m) = (d^m - d^n) / (1 - d^n) is <= tail_tol; Z keeps all n terms, so
    |G_truncated - G| <= T(m) * max_j |f_j| <= tail_tol * max_j |f_j|. With the default
    tail_tol = 2^-24 (float epsilon / 2) the difference is below float rounding of G itself;
    tail_tol = 0 keeps every rank. At 41 x 41 nothing is dropped for d = 0.996 / 0.999; at
    321 x 321, m = 4151 for 0.996 and 16628 for 0.999 out of 103041.
    Backward: dG/df_(j) = d^j / Z, routed through the sort. Ties: the forward value does not
    depend on how equal scores are ordered; the gradient gives equal scores consecutive ranks
    in increasing flat (row-major) position, i.e. a stable descending sort, so at d = 0 the
    first maximum takes the whole gradient, exactly like pool::gmp.                         */
class gwrp {
 public:
  static constexpr std::string_view name = "pool::gwrp";
  struct config {
    float d_fg = 0.996f;     ///< d+: classes present in the image (SEC sec. 4: top 10% -> 50%)
    float d_neg = 0.0f;      ///< d-: classes absent from the image (0 = GMP, SEC sec. 4)
    float d_bg = 0.999f;     ///< d_bg: the background class (top 30% -> 50%)
    int bg_class = 0;        ///< channel of the background class; -1: none
    double tail_tol = 0x1p-24;  ///< dropped weight mass bound (see above); 0 keeps all ranks
    bool use_tags = true;    ///< present / absent from batch.tags (SEC); false: no tags, every class d_fg
    std::vector<float> class_decays{};  ///< one decay per class, replacing the groups (no tags needed)
  };
  struct weight_table {
    float d = 0;
    index_t n = 0;
    bool uniform = false;     ///< d = 1: plain mean, no sort
    std::vector<float> w;     ///< w[j] = d^j / Z(d), j < m(d)
  };
  struct plan : plan_base {
    std::vector<std::int32_t> table;       ///< per (n, c): index into tables
    std::vector<std::int64_t> offset;      ///< per (n, c) + 1: start of its ranks in order
    std::vector<std::int32_t> order;       ///< kept ranks: plane positions, largest first (run fills it)
    std::vector<weight_table> tables;      ///< one per distinct decay
    detail::top_k_parts scratch;           ///< the top-k buffers when the exec has no workspace
  };
  config cfg{};

  gwrp() = default;
  explicit gwrp(const config& c) : cfg(c) { validate(c); }

  static void validate(const config& c) {
    check_decay(c.d_fg, "d_fg");
    check_decay(c.d_neg, "d_neg");
    check_decay(c.d_bg, "d_bg");
    for (float d : c.class_decays) check_decay(d, "decay");
    if (!(c.tail_tol >= 0.0 && c.tail_tol < 1.0)) throw_value(name, "tail_tol must be in [0, 1), got ", c.tail_tol);
    if (c.bg_class < -1) throw_value(name, "bg_class must be a channel or -1, got ", c.bg_class);
  }

  /// SEC sec. 4's rule of thumb: the decay d for which the top `fraction` of n positions carry
  /// `mass` of the weights, (1 - d^k) / (1 - d^n) = mass with k = round(fraction n), by
  /// bisection (the share falls monotonically from 1 at d = 0 to k / n at d = 1, so any mass in
  /// (k / n, 1) has one solution). The paper's d+ = 0.996 (10% -> 50%) and d_bg = 0.999
  /// (30% -> 50%) are this rule at 41 x 41, roughly; other grids need their own.
  static float decay_for(index_t n, double fraction, double mass = 0.5) {
    const auto k = static_cast<double>(std::max<index_t>(1, static_cast<index_t>(std::lround(fraction * static_cast<double>(n)))));
    const auto nn = static_cast<double>(n);
    if (!(n >= 2 && fraction > 0.0 && fraction < 1.0 && mass > k / nn && mass < 1.0))
      throw_value(name, "decay_for needs n >= 2, fraction in (0, 1) and mass in (k/n, 1), got n ", n, ", fraction ",
                  fraction, ", mass ", mass);
    double lo = 0.0, hi = 1.0;
    for (int it = 0; it < 200; ++it) {
      const double d = 0.5 * (lo + hi);
      const double share = (1.0 - std::pow(d, k)) / (1.0 - std::pow(d, nn));
      (share > mass ? lo : hi) = d;  // a larger d spreads the weight: the share falls
    }
    return static_cast<float>(0.5 * (lo + hi));
  }

  /// Ranks kept for decay d over n positions (see the truncation note above).
  static index_t kept_ranks(double d, index_t n, double tol) {
    if (d <= 0.0) return 1;
    if (d >= 1.0 || tol <= 0.0) return n;
    const double dn = std::pow(d, static_cast<double>(n));
    const double target = tol * (1.0 - dn) + dn;  // d^m <= target
    const double m = std::ceil(std::log(target) / std::log(d));
    return m < 1.0 ? 1 : (m >= static_cast<double>(n) ? n : static_cast<index_t>(m));
  }

  /// The decays of every (image, class) plane and their weight tables.
  template <class Tag>
  plan prepare(const exec<Tag>&, const batch& b, const shape& s) const {
    validate(cfg);
    detail::check_scores(s, name);
    const index_t N = s[0], C = s[1], hw = s[2] * s[3];
    if (hw > index_t{0x7fffffff}) throw_shape(name, "plane of ", hw, " positions exceeds 2^31 - 1");
    if (!cfg.class_decays.empty() && static_cast<index_t>(cfg.class_decays.size()) != C)
      throw_shape(name, "decays are ", cfg.class_decays.size(), " (one per class) but scores are ", s);
    const bool tagged = cfg.use_tags && cfg.class_decays.empty();
    if (tagged) {
      b.validate(name);
      if (b.tags.empty())
        throw_value(name, "needs image tags in the batch, none given (config.use_tags = false pools without them)");
      if (static_cast<index_t>(b.tags.size()) != N)
        throw_shape(name, "batch holds ", b.tags.size(), " tag sets but scores are ", s);
      for (const tag_set& t : b.tags) validate_tags(t, static_cast<int>(C), name, cfg.bg_class == 0 ? 1 : 0);
    }
    plan pl = detail::plan_for<plan>(s, name);
    const index_t nc = N * C;
    pl.table.resize(static_cast<std::size_t>(nc));
    pl.offset.resize(static_cast<std::size_t>(nc + 1));
    std::int64_t total = 0;
    for (index_t k = 0; k < nc; ++k) {
      const tag_set* tags = tagged ? &b.tags[static_cast<std::size_t>(k / C)] : nullptr;
      const std::int32_t t = table_for(pl, decay(k % C, tags), hw);
      pl.table[static_cast<std::size_t>(k)] = t;
      pl.offset[static_cast<std::size_t>(k)] = total;
      const weight_table& wt = pl.tables[static_cast<std::size_t>(t)];
      total += wt.uniform ? 0 : static_cast<std::int64_t>(wt.w.size());
    }
    pl.offset[static_cast<std::size_t>(nc)] = total;
    return pl;
  }

  /// The planes are split into one contiguous part per thread, each with its own top-k
  /// scratch (from the workspace, else the plan), so any launcher runs them.
  template <class Tag>
  void run(const exec<Tag>& ex, plan& pl, const tensor& s, tensor& out) const {
    require_backend<gwrp, Tag>();
    const auto [nc, hw] = detail::begin_run(pl, s, out, name);
    pl.order.resize(static_cast<std::size_t>(pl.offset.back()));
    const index_t parts = detail::parts(ex.tag, nc, s.numel());
    detail::top_k_parts& scratch = ex.scratch(pl.scratch);
    if (static_cast<index_t>(scratch.size()) < parts) scratch.resize(static_cast<std::size_t>(parts));
    detail::launch(ex.tag, parts, s.numel(), forward_kernel{s.data(), out.data(), hw, nc, parts, &pl, scratch.data()});
  }

  template <class Tag>
  void backward(const exec<Tag>& ex, const plan& pl, const tensor& g, tensor& g_in) const {
    require_backend<gwrp, Tag>();
    const auto [nc, hw] = detail::begin_backward(pl, g, g_in, name);
    detail::launch(ex.tag, nc, pl.in.numel(), backward_kernel{g.data(), g_in.data(), hw, &pl});
  }

  ad::var record(ad::tape& t, const plan& pl, const ad::var& s) const { return pool::record(t, *this, pl, s); }

 private:
  static void check_decay(float d, std::string_view what) {
    if (!(d >= 0.0f && d <= 1.0f)) throw_value(name, what, " must be in [0, 1], got ", d);
  }

  /// The decay of class c in an image with tags `tags` (null: tags not used).
  float decay(index_t c, const tag_set* tags) const {
    if (!cfg.class_decays.empty()) return cfg.class_decays[static_cast<std::size_t>(c)];
    if (c == cfg.bg_class) return cfg.d_bg;
    if (!tags) return cfg.d_fg;
    return std::binary_search(tags->begin(), tags->end(), static_cast<int>(c)) ? cfg.d_fg : cfg.d_neg;
  }

  std::int32_t table_for(plan& pl, float d, index_t n) const {
    for (std::size_t t = 0; t < pl.tables.size(); ++t)
      if (pl.tables[t].d == d && pl.tables[t].n == n) return static_cast<std::int32_t>(t);
    weight_table wt;
    wt.d = d;
    wt.n = n;
    wt.uniform = d == 1.0f;
    if (!wt.uniform) {
      const double dd = d;
      const double Z = dd == 0.0 ? 1.0 : (1.0 - std::pow(dd, static_cast<double>(n))) / (1.0 - dd);
      const index_t m = kept_ranks(dd, n, cfg.tail_tol);
      wt.w.resize(static_cast<std::size_t>(m));
      double p = 1.0;
      for (index_t j = 0; j < m; ++j, p *= dd) wt.w[static_cast<std::size_t>(j)] = static_cast<float>(p / Z);
    }
    pl.tables.push_back(std::move(wt));
    return static_cast<std::int32_t>(pl.tables.size() - 1);
  }

  /// Part p pools planes [p nc / parts, (p + 1) nc / parts) with scratch[p].
  struct forward_kernel {
    const float* s;
    float* out;
    index_t hw, nc, parts;
    plan* pl;
    detail::top_k_scratch* scratch;
    void operator()(index_t p) const {
      for (index_t k = p * nc / parts; k < (p + 1) * nc / parts; ++k) plane(k, scratch[p]);
    }
    void plane(index_t k, detail::top_k_scratch& sc) const {
      const float* x = s + k * hw;
      const weight_table& wt = pl->tables[static_cast<std::size_t>(pl->table[static_cast<std::size_t>(k)])];
      if (wt.uniform) {
        out[k] = static_cast<float>(detail::sum(x, hw) / static_cast<double>(hw));
        return;
      }
      std::int32_t* idx = pl->order.data() + pl->offset[static_cast<std::size_t>(k)];
      const index_t m = static_cast<index_t>(wt.w.size());
      if (m == 1) idx[0] = static_cast<std::int32_t>(detail::first_argmax(x, hw));
      else detail::top_k_descending(x, hw, m, idx, sc);
      double acc = 0;
      for (index_t j = 0; j < m; ++j) acc += static_cast<double>(wt.w[static_cast<std::size_t>(j)]) * x[idx[j]];
      out[k] = static_cast<float>(acc);
    }
  };
  struct backward_kernel {
    const float* g;
    float* g_in;
    index_t hw;
    const plan* pl;
    void operator()(index_t k) const {
      float* p = g_in + k * hw;
      const weight_table& wt = pl->tables[static_cast<std::size_t>(pl->table[static_cast<std::size_t>(k)])];
      if (wt.uniform) {
        const float v = g[k] / static_cast<float>(hw);
        for (index_t i = 0; i < hw; ++i) p[i] = v;
        return;
      }
      for (index_t i = 0; i < hw; ++i) p[i] = 0.0f;
      const std::int32_t* idx = pl->order.data() + pl->offset[static_cast<std::size_t>(k)];
      const float gk = g[k];
      for (std::size_t j = 0; j < wt.w.size(); ++j) p[idx[j]] = gk * wt.w[j];
    }
  };
};
static_assert(Pooler<gwrp>);

}  // namespace wsss::pool
