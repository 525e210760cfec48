// SPDX-License-Identifier: MIT
// wsss/pool/gap.hpp — global average pooling (CAM, Zhou et al. 2016; SEC eq. 3 at d = 1)
#pragma once

#include <string_view>

#include "wsss/core/config.hpp"
#include "wsss/pool/concepts.hpp"
#include "wsss/pool/detail/common.hpp"
#include "wsss/pool/detail/plane_kernels.hpp"
#include "wsss/pool/detail/reduce.hpp"
#include "wsss/pool/op.hpp"

namespace wsss::pool {

/// out[n,c] = (1/HW) sum_i s[n,c,i]; backward: g_in[n,c,i] = g[n,c] / HW.
class gap {
 public:
  static constexpr std::string_view name = "pool::gap";
  struct config {};
  struct plan : plan_base {};
  config cfg{};

  gap() = default;
  explicit gap(const config& c) : cfg(c) {}

  template <class Tag>
  plan prepare(const exec<Tag>&, const batch&, const shape& s) const {
    return detail::plan_for<plan>(s, name);
  }

  template <class Tag>
  void run(const exec<Tag>& ex, plan& pl, const tensor& s, tensor& out) const {
    require_backend<gap, Tag>();
    const auto [nc, hw] = detail::begin_run(pl, s, out, name);
    detail::launch(ex.tag, nc, s.numel(), detail::mean_kernel{s.data(), out.data(), hw});
  }

  template <class Tag>
  void backward(const exec<Tag>& ex, const plan& pl, const tensor& g, tensor& g_in) const {
    require_backend<gap, Tag>();
    const auto [nc, hw] = detail::begin_backward(pl, g, g_in, name);
    detail::launch(ex.tag, nc, pl.in.numel(), spread_kernel{g.data(), g_in.data(), hw});
  }

  ad::var record(ad::tape& t, const plan& pl, const ad::var& s) const { return pool::record(t, *this, pl, s); }

 private:
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
};
static_assert(Pooler<gap>);

}  // namespace wsss::pool
