// SPDX-License-Identifier: MIT
// wsss/pool/gmp.hpp — global max pooling (Oquab et al. 2015; SEC eq. 3 at d = 0)
#pragma once

#include <cmath>
#include <cstdint>
#include <string_view>
#include <vector>

#include "wsss/core/config.hpp"
#include "wsss/pool/concepts.hpp"
#include "wsss/pool/detail/common.hpp"
#include "wsss/pool/detail/plane_kernels.hpp"
#include "wsss/pool/detail/reduce.hpp"
#include "wsss/pool/op.hpp"

namespace wsss::pool {

/// out[n,c] = max_i s[n,c,i]; backward routes g[n,c] to the arg max. Ties: the first
/// (lowest flat index) maximum takes the whole gradient, which is also what gwrp at d = 0 does.
/// Scores holding a NaN or an infinity are a value_error naming the plane.
class gmp {
 public:
  static constexpr std::string_view name = "pool::gmp";
  struct config {};
  struct plan : plan_base {
    std::vector<std::int32_t> argmax;  ///< per (n, c): flat index in the H x W plane (run fills it)
  };
  config cfg{};

  gmp() = default;
  explicit gmp(const config& c) : cfg(c) {}

  template <class Tag>
  plan prepare(const exec<Tag>&, const batch&, const shape& s) const {
    return detail::plan_for<plan>(s, name);
  }

  template <class Tag>
  void run(const exec<Tag>& ex, plan& pl, const tensor& s, tensor& out) const {
    require_backend<gmp, Tag>();
    const auto [nc, hw] = detail::begin_run(pl, s, out, name);
    pl.argmax.resize(static_cast<std::size_t>(nc));
    detail::launch(ex.tag, nc, s.numel(), detail::max_kernel{s.data(), out.data(), pl.argmax.data(), hw});
    detail::require_finite_planes(out, s.shape(), name);
  }

  template <class Tag>
  void backward(const exec<Tag>& ex, const plan& pl, const tensor& g, tensor& g_in) const {
    require_backend<gmp, Tag>();
    const auto [nc, hw] = detail::begin_backward(pl, g, g_in, name);
    detail::launch(ex.tag, nc, pl.in.numel(), route_kernel{g.data(), g_in.data(), pl.argmax.data(), hw});
  }

  ad::var record(ad::tape& t, const plan& pl, const ad::var& s) const { return pool::record(t, *this, pl, s); }

 private:
  struct route_kernel {
    const float* g;
    float* g_in;
    const std::int32_t* arg;
    index_t hw;
    WSSS_HD void operator()(index_t k) const {
      float* p = g_in + k * hw;
      for (index_t i = 0; i < hw; ++i) p[i] = 0.0f;
      p[arg[k]] = g[k];
    }
  };
};
static_assert(Pooler<gmp>);

}  // namespace wsss::pool
