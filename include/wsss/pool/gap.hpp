// SPDX-License-Identifier: MIT
// wsss/pool/gap.hpp — global average pooling (CAM, Zhou et al. 2016; SEC eq. 3 at d = 1)
#pragma once

#include <string_view>

#include "wsss/core/config.hpp"
#include "wsss/pool/concepts.hpp"
#include "wsss/pool/detail/common.hpp"
#include "wsss/pool/detail/reduce.hpp"

namespace wsss::pool {

/// out[n,c] = (1/HW) sum_i s[n,c,i]; backward: g_in[n,c,i] = g[n,c] / HW.
class gap {
 public:
  static constexpr std::string_view name = "pool::gap";
  struct config {};
  struct cache {
    wsss::shape in;
  };

  gap() = default;
  explicit gap(const config& c) : cfg_(c) {}
  const config& cfg() const noexcept { return cfg_; }

  void forward(const tensor& s, tensor& out, cache& c) const {
    const auto [nc, hw] = detail::begin_forward(s, out, c.in, name);
    detail::launch(nc, s.numel(), mean_kernel{s.data(), out.data(), hw});
  }

  void backward(const tensor& g, const cache& c, tensor& g_in) const {
    const auto [nc, hw] = detail::begin_backward(g, c.in, g_in, name);
    detail::launch(nc, c.in.numel(), spread_kernel{g.data(), g_in.data(), hw});
  }

 private:
  struct mean_kernel {
    const float* s;
    float* out;
    index_t hw;
    WSSS_HD void operator()(index_t k) const {
      out[k] = static_cast<float>(detail::sum(s + k * hw, hw) / static_cast<double>(hw));
    }
  };
  struct spread_kernel {
    const float* g;
    float* g_in;
    index_t hw;
    WSSS_HD void operator()(index_t k) const {
      const float v = g[k] / static_cast<float>(hw);
      float* p = g_in + k * hw;
      for (index_t i = 0; i < hw; ++i) p[i] = v;
    }
  };
  config cfg_{};
};
static_assert(Pooler<gap>);

}  // namespace wsss::pool
