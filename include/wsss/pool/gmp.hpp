// SPDX-License-Identifier: MIT
// wsss/pool/gmp.hpp — global max pooling (Oquab et al. 2015; SEC eq. 3 at d = 0)
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "wsss/core/config.hpp"
#include "wsss/pool/concepts.hpp"
#include "wsss/pool/detail/common.hpp"
#include "wsss/pool/detail/reduce.hpp"

namespace wsss::pool {

/// out[n,c] = max_i s[n,c,i]; backward routes g[n,c] to the arg max. Ties: the first
/// (lowest flat index) maximum takes the whole gradient, which is also what gwrp at d = 0 does.
class gmp {
 public:
  static constexpr std::string_view name = "pool::gmp";
  struct config {};
  struct cache {
    wsss::shape in;
    std::vector<std::int32_t> argmax;  ///< per (n, c): flat index in the H x W plane
  };

  gmp() = default;
  explicit gmp(const config& c) : cfg_(c) {}
  const config& cfg() const noexcept { return cfg_; }

  void forward(const tensor& s, tensor& out, cache& c) const {
    const auto [nc, hw] = detail::begin_forward(s, out, c.in, name);
    c.argmax.resize(static_cast<std::size_t>(nc));
    detail::launch(nc, s.numel(), max_kernel{s.data(), out.data(), c.argmax.data(), hw});
  }

  void backward(const tensor& g, const cache& c, tensor& g_in) const {
    const auto [nc, hw] = detail::begin_backward(g, c.in, g_in, name);
    detail::launch(nc, c.in.numel(), route_kernel{g.data(), g_in.data(), c.argmax.data(), hw});
  }

 private:
  struct max_kernel {
    const float* s;
    float* out;
    std::int32_t* arg;
    index_t hw;
    WSSS_HD void operator()(index_t k) const {
      const index_t at = detail::first_argmax(s + k * hw, hw);
      out[k] = s[k * hw + at];
      arg[k] = static_cast<std::int32_t>(at);
    }
  };
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
  config cfg_{};
};
static_assert(Pooler<gmp>);

}  // namespace wsss::pool
