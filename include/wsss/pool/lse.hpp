// SPDX-License-Identifier: MIT
// wsss/pool/lse.hpp — log-sum-exp pooling (Pinheiro & Collobert 2015, the LSE row of the
// attention paper's Table 5): a smooth interpolation between GAP (r -> 0) and GMP (r -> inf)
#pragma once

#include <cmath>
#include <string_view>

#include "wsss/core/config.hpp"
#include "wsss/pool/concepts.hpp"
#include "wsss/pool/detail/common.hpp"
#include "wsss/pool/detail/reduce.hpp"
#include "wsss/pool/op.hpp"

namespace wsss::pool {

/*  out[n,c] = (1/r) log( (1/HW) sum_i exp(r s_i) )
             = m + (1/r) log( (1/HW) sum_i exp(r (s_i - m)) ),  m = max_i s_i  (no overflow)
    backward: g_in[i] = g * softmax(r s)_i, the softmax kept in the plan.                    */
class lse {
 public:
  static constexpr std::string_view name = "pool::lse";
  struct config {
    float r = 5.0f;  ///< sharpness; must be > 0 and finite
  };
  struct plan : plan_base {
    tensor weights;  ///< softmax(r s) per plane, the input's shape (run fills it)
  };
  config cfg{};

  lse() = default;
  explicit lse(const config& c) : cfg(c) { validate(c); }

  static void validate(const config& c) {
    if (!(c.r > 0.0f) || !std::isfinite(c.r)) throw_value(name, "sharpness r must be > 0 and finite, got ", c.r);
  }

  template <class Tag>
  plan prepare(const exec<Tag>&, const batch&, const shape& s) const {
    validate(cfg);
    return detail::plan_for<plan>(s, name);
  }

  template <class Tag>
  void run(const exec<Tag>& ex, plan& pl, const tensor& s, tensor& out) const {
    require_backend<lse, Tag>();
    const auto [nc, hw] = detail::begin_run(pl, s, out, name);
    detail::ensure_shape(pl.weights, s.shape());
    detail::launch(ex.tag, nc, s.numel(), forward_kernel{s.data(), out.data(), pl.weights.data(), hw, cfg.r});
    detail::require_finite_planes(out, s.shape(), name);
  }

  template <class Tag>
  void backward(const exec<Tag>& ex, const plan& pl, const tensor& g, tensor& g_in) const {
    require_backend<lse, Tag>();
    const auto [nc, hw] = detail::begin_backward(pl, g, g_in, name);
    detail::launch(ex.tag, nc, pl.in.numel(), backward_kernel{g.data(), pl.weights.data(), g_in.data(), hw});
  }

  ad::var record(ad::tape& t, const plan& pl, const ad::var& s) const { return pool::record(t, *this, pl, s); }

 private:
  struct forward_kernel {
    const float* s;
    float* out;
    float* w;
    index_t hw;
    float r;
    WSSS_HD void operator()(index_t k) const {
      const float* x = s + k * hw;
      float* p = w + k * hw;
      const float m = detail::max_of(x, hw);
      // The clamped exponential maps a NaN to 0 (dropped from the sum): a plane holding a NaN
      // or an infinity gets NaN instead, which run turns into an error.
      int bad = 0;
#pragma omp simd reduction(| : bad)  // p (the plan) never aliases x (the input)
      for (index_t i = 0; i < hw; ++i) {
        p[i] = detail::exp_nonpositive(r * (x[i] - m));
        bad |= (x[i] - x[i]) != 0.0f ? 1 : 0;
      }
      if (bad) {
        out[k] = NAN;
        return;
      }
      const double sum = detail::sum(p, hw);  // terms in [0, 1], the largest 1: sum in [1, HW]
      const float inv = static_cast<float>(1.0 / sum);
      for (index_t i = 0; i < hw; ++i) p[i] *= inv;
      out[k] = m + static_cast<float>(std::log(sum / static_cast<double>(hw))) / r;
    }
  };
  struct backward_kernel {
    const float* g;
    const float* w;
    float* g_in;
    index_t hw;
    WSSS_HD void operator()(index_t k) const {
      const float gk = g[k];
      const float* p = w + k * hw;
      float* q = g_in + k * hw;
      for (index_t i = 0; i < hw; ++i) q[i] = gk * p[i];
    }
  };
};
static_assert(Pooler<lse>);

}  // namespace wsss::pool
