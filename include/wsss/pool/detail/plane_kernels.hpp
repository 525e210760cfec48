// SPDX-License-Identifier: MIT
// wsss/pool/detail/plane_kernels.hpp — the per-plane forward kernels GAP and GMP share with
// their device twins (pool/device.hpp): one (image, class) plane per index, WSSS_HD bodies
#pragma once

#include <cmath>
#include <cstdint>

#include "wsss/core/config.hpp"
#include "wsss/core/shape.hpp"
#include "wsss/pool/detail/reduce.hpp"

namespace wsss::pool::detail {

/// out[k] = (1/hw) sum of plane k (GAP; GWRP at d = 1).
struct mean_kernel {
  const float* s;
  float* out;
  index_t hw;
  WSSS_HD void operator()(index_t k) const { out[k] = static_cast<float>(sum(s + k * hw, hw) / static_cast<double>(hw)); }
};

/// out[k] = max of plane k and arg[k] its first position (GMP). The max skips a NaN, so a
/// plane holding a NaN or an infinity gets NaN, which the caller turns into an error.
struct max_kernel {
  const float* s;
  float* out;
  std::int32_t* arg;
  index_t hw;
  WSSS_HD void operator()(index_t k) const {
    const index_t at = first_argmax(s + k * hw, hw);
    out[k] = has_nonfinite(s + k * hw, hw) ? NAN : s[k * hw + at];
    arg[k] = static_cast<std::int32_t>(at);
  }
};

}  // namespace wsss::pool::detail
