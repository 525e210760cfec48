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

namespace wsss::pool {

/*  out[n,c] = (1/r) log( (1/HW) sum_i exp(r s_i) )
             = m + (1/r) log( (1/HW) sum_i exp(r (s_i - m)) ),  m = max_i s_i  (no overflow)
    backward: g_in[i] = g * softmax(r s)_i, the softmax kept in the cache.                   */
class lse {
 public:
  static constexpr std::string_view name = "pool::lse";
  struct config {
    float r = 5.0f;  ///< sharpness; must be > 0 and finite
  };
  struct cache {
    wsss::shape in;
    tensor weights;  ///< softmax(r s) per plane, the input's shape
  };

  lse() = default;
  explicit lse(const config& c) : cfg_(c) {
    if (!(c.r > 0.0f) || !std::isfinite(c.r)) throw_value(name, "sharpness r must be > 0 and finite, got ", c.r);
  }
  const config& cfg() const noexcept { return cfg_; }

  void forward(const tensor& s, tensor& out, cache& c) const {
    const auto [nc, hw] = detail::begin_forward(s, out, c.in, name);
    detail::ensure_shape(c.weights, s.shape());
    detail::launch(nc, s.numel(), forward_kernel{s.data(), out.data(), c.weights.data(), hw, cfg_.r});
  }

  void backward(const tensor& g, const cache& c, tensor& g_in) const {
    const auto [nc, hw] = detail::begin_backward(g, c.in, g_in, name);
    detail::launch(nc, c.in.numel(), backward_kernel{g.data(), c.weights.data(), g_in.data(), hw});
  }

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
#pragma omp simd  // p (the cache) never aliases x (the input)
      for (index_t i = 0; i < hw; ++i) p[i] = detail::exp_nonpositive(r * (x[i] - m));
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
  config cfg_{};
};
static_assert(Pooler<lse>);

}  // namespace wsss::pool
