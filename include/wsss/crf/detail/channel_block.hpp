// SPDX-License-Identifier: MIT
// wsss/crf/detail/channel_block.hpp — fixed-width channel blocks and a vectorisable exp/softmax
// shared by the CRF filters and the mean-field update
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>

#include "wsss/core/config.hpp"
#include "wsss/core/shape.hpp"

namespace wsss::crf::detail {

/// Channel rows are padded to a multiple of this width (one AVX2 register of floats).
inline constexpr index_t lane = 8;
inline constexpr index_t padded(index_t k) noexcept { return (k + lane - 1) / lane * lane; }

/// Calls f.template operator()<W>(offset) over the row [0, ld) in chunks of W = 32, 24, 16 or 8
/// channels, so that per-chunk accumulators have a compile-time width and stay in registers.
template <class F>
WSSS_HD inline void for_chunks(index_t ld, F&& f) {
  index_t c = 0;
  for (; ld - c >= 32; c += 32) f.template operator()<32>(c);
  const index_t rest = ld - c;
  if (rest == 24) f.template operator()<24>(c);
  else if (rest == 16) f.template operator()<16>(c);
  else if (rest == 8) f.template operator()<8>(c);
}

/// exp(x) for x <= 0 with about 1 ulp error (Cephes' expf polynomial), written branch-free so
/// the compiler vectorises a loop over channels; returns exactly 0 below -87.
WSSS_HD inline float exp_nonpositive(float x) noexcept {
  const bool under = x < -87.0f;
  x = x < -87.0f ? -87.0f : x;
  const float fx = __builtin_floorf(x * 1.44269504088896341f + 0.5f);
  float r = x - fx * 0.693359375f;
  r = r + fx * 2.12194440e-4f;
  const float r2 = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r2 + r + 1.0f;
  const std::int32_t e = (static_cast<std::int32_t>(fx) + 127) << 23;
  const float scale = std::bit_cast<float>(e);
  return under ? 0.0f : p * scale;
}

/// In-place softmax of one pixel's row a[0, k): subtract the max, exponentiate, divide by the
/// sum (the reference's expAndNormalize). Writes q[0, k).
inline void softmax_row(const float* a, float* q, index_t k) noexcept {
  float mx = a[0];
  for (index_t c = 1; c < k; ++c) mx = a[c] > mx ? a[c] : mx;
  float s = 0;
  for (index_t c = 0; c < k; ++c) {
    const float e = exp_nonpositive(a[c] - mx);
    q[c] = e;
    s += e;
  }
  for (index_t c = 0; c < k; ++c) q[c] /= s;
}

}  // namespace wsss::crf::detail
