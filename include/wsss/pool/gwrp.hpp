// SPDX-License-Identifier: MIT
// wsss/pool/gwrp.hpp — global weighted rank pooling, SEC eq. 3, with the decay groups
// d+, d-, d_bg of SEC sec. 3.1/4 (the reference ExpandLossLayer, reference-semantics 2.4)
#pragma once

#include <cmath>
#include <cstdint>
#include <string_view>
#include <vector>

#include "wsss/core/config.hpp"
#include "wsss/pool/concepts.hpp"
#include "wsss/pool/detail/common.hpp"
#include "wsss/pool/detail/reduce.hpp"
#include "wsss/pool/detail/top_k.hpp"

namespace wsss::pool {

/*  G_c = (1 / Z(d)) sum_{j=0}^{n-1} d^j f_(j),  Z(d) = sum_{j=0}^{n-1} d^j,  f_(0) >= f_(1) >= ...
    the scores of one (image, class) plane sorted in descending order (SEC eq. 3, 0-based j;
    0^0 = 1 so d = 0 is GMP and d = 1 is GAP).
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
  };
  struct weight_table {
    float d = 0;
    index_t n = 0;
    double tol = 0;           ///< the tail_tol it was built with (a cache may serve several poolers)
    bool uniform = false;     ///< d = 1: plain mean, no sort
    std::vector<float> w;     ///< w[j] = d^j / Z(d), j < m(d)
  };
  struct cache {
    wsss::shape in;
    std::vector<std::int32_t> table;       ///< per (n, c): index into tables
    std::vector<std::int64_t> offset;      ///< per (n, c) + 1: start of its ranks in order
    std::vector<std::int32_t> order;       ///< kept ranks: plane positions, largest first
    std::vector<weight_table> tables;      ///< one per distinct decay; kept across calls
  };

  gwrp() = default;
  explicit gwrp(const config& c) : cfg_(c) {
    check_decay(c.d_fg, "d_fg");
    check_decay(c.d_neg, "d_neg");
    check_decay(c.d_bg, "d_bg");
    if (!(c.tail_tol >= 0.0 && c.tail_tol < 1.0))
      throw_value(name, "tail_tol must be in [0, 1), got ", c.tail_tol);
  }
  const config& cfg() const noexcept { return cfg_; }

  /// Per-image decay groups from image labels (N x C, nonzero = present): channel bg_class
  /// gets d_bg, present classes d_fg, absent classes d_neg (SEC eq. 4).
  gwrp with_labels(const tensor& present) const {
    expect_rank(present, 2, name, "labels", "N x C");
    tensor d = tensor::uninitialized(present.shape());
    const index_t C = present.dim(1);
    for (index_t k = 0; k < present.numel(); ++k) {
      const index_t c = k % C;
      d[k] = c == cfg_.bg_class ? cfg_.d_bg : (present[k] != 0.0f ? cfg_.d_fg : cfg_.d_neg);
    }
    return with_decays(std::move(d));
  }
  /// Explicit decays: shape C (one per class) or N x C (per image and class), each in [0, 1].
  gwrp with_decays(tensor d) const {
    if (d.rank() != 1 && d.rank() != 2)
      throw_shape(name, "decays must be C or N x C, got rank ", d.rank(), " (", d.shape(), ")");
    for (index_t k = 0; k < d.numel(); ++k) check_decay(d[k], "decay");
    gwrp g(*this);
    g.decays_ = std::move(d);
    return g;
  }
  /// The decay used for image n, class c (labels/decays if given, else bg_class -> d_bg,
  /// every other class -> d_fg).
  float decay(index_t n, index_t c) const noexcept {
    if (decays_.rank() == 2) return decays_(n, c);
    if (decays_.rank() == 1 && decays_.numel() > 0) return decays_[c];
    return c == cfg_.bg_class ? cfg_.d_bg : cfg_.d_fg;
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

  void forward(const tensor& s, tensor& out, cache& c) const {
    detail::check_scores(s, name);
    const index_t N = s.dim(0), C = s.dim(1), hw = s.dim(2) * s.dim(3);
    if (hw > index_t{0x7fffffff}) throw_shape(name, "plane of ", hw, " positions exceeds 2^31 - 1");
    if ((decays_.rank() == 2 && decays_.shape() != shape{N, C}) || (decays_.rank() == 1 && decays_.numel() > 0 && decays_.dim(0) != C))
      throw_shape(name, "decays are ", decays_.shape(), " but scores are ", s.shape());
    detail::ensure_shape(out, shape{N, C});
    c.in = s.shape();
    const index_t nc = N * C;
    c.table.resize(static_cast<std::size_t>(nc));
    c.offset.resize(static_cast<std::size_t>(nc + 1));
    std::int64_t total = 0;
    for (index_t k = 0; k < nc; ++k) {
      const std::int32_t t = table_for(c, decay(k / C, k % C), hw);
      c.table[static_cast<std::size_t>(k)] = t;
      c.offset[static_cast<std::size_t>(k)] = total;
      const weight_table& wt = c.tables[static_cast<std::size_t>(t)];
      total += wt.uniform ? 0 : static_cast<std::int64_t>(wt.w.size());
    }
    c.offset[static_cast<std::size_t>(nc)] = total;
    c.order.resize(static_cast<std::size_t>(total));
    detail::launch(nc, s.numel(), forward_kernel{s.data(), out.data(), hw, &c});
  }

  void backward(const tensor& g, const cache& c, tensor& g_in) const {
    const auto [nc, hw] = detail::begin_backward(g, c.in, g_in, name);
    detail::launch(nc, c.in.numel(), backward_kernel{g.data(), g_in.data(), hw, &c});
  }

 private:
  static void check_decay(float d, std::string_view what) {
    if (!(d >= 0.0f && d <= 1.0f)) throw_value(name, what, " must be in [0, 1], got ", d);
  }

  std::int32_t table_for(cache& c, float d, index_t n) const {
    for (std::size_t t = 0; t < c.tables.size(); ++t)
      if (c.tables[t].d == d && c.tables[t].n == n && c.tables[t].tol == cfg_.tail_tol) return static_cast<std::int32_t>(t);
    weight_table wt;
    wt.d = d;
    wt.n = n;
    wt.tol = cfg_.tail_tol;
    wt.uniform = d == 1.0f;
    if (!wt.uniform) {
      const double dd = d;
      const double Z = dd == 0.0 ? 1.0 : (1.0 - std::pow(dd, static_cast<double>(n))) / (1.0 - dd);
      const index_t m = kept_ranks(dd, n, cfg_.tail_tol);
      wt.w.resize(static_cast<std::size_t>(m));
      double p = 1.0;
      for (index_t j = 0; j < m; ++j, p *= dd) wt.w[static_cast<std::size_t>(j)] = static_cast<float>(p / Z);
    }
    c.tables.push_back(std::move(wt));
    return static_cast<std::int32_t>(c.tables.size() - 1);
  }

  struct forward_kernel {
    const float* s;
    float* out;
    index_t hw;
    cache* c;
    void operator()(index_t k) const {
      const float* x = s + k * hw;
      const weight_table& wt = c->tables[static_cast<std::size_t>(c->table[static_cast<std::size_t>(k)])];
      if (wt.uniform) {
        out[k] = static_cast<float>(detail::sum(x, hw) / static_cast<double>(hw));
        return;
      }
      std::int32_t* idx = c->order.data() + c->offset[static_cast<std::size_t>(k)];
      const index_t m = static_cast<index_t>(wt.w.size());
      if (m == 1) {
        idx[0] = static_cast<std::int32_t>(detail::first_argmax(x, hw));
      } else {
        thread_local detail::top_k_scratch scratch;
        detail::top_k_descending(x, hw, m, idx, scratch);
      }
      double acc = 0;
      for (index_t j = 0; j < m; ++j) acc += static_cast<double>(wt.w[static_cast<std::size_t>(j)]) * x[idx[j]];
      out[k] = static_cast<float>(acc);
    }
  };
  struct backward_kernel {
    const float* g;
    float* g_in;
    index_t hw;
    const cache* c;
    void operator()(index_t k) const {
      float* p = g_in + k * hw;
      const weight_table& wt = c->tables[static_cast<std::size_t>(c->table[static_cast<std::size_t>(k)])];
      if (wt.uniform) {
        const float v = g[k] / static_cast<float>(hw);
        for (index_t i = 0; i < hw; ++i) p[i] = v;
        return;
      }
      for (index_t i = 0; i < hw; ++i) p[i] = 0.0f;
      const std::int32_t* idx = c->order.data() + c->offset[static_cast<std::size_t>(k)];
      const float gk = g[k];
      for (std::size_t j = 0; j < wt.w.size(); ++j) p[idx[j]] = gk * wt.w[j];
    }
  };

  config cfg_{};
  tensor decays_{};  ///< empty, C, or N x C
};
static_assert(Pooler<gwrp>);

}  // namespace wsss::pool
