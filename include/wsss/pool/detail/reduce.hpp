// SPDX-License-Identifier: MIT
// wsss/pool/detail/reduce.hpp — plane reductions written with independent lanes so the
// compiler vectorises them without -ffast-math (sum, dot, max, first arg max, exp <= 0)
#pragma once

#include <bit>
#include <cstdint>

#include "wsss/core/config.hpp"
#include "wsss/core/shape.hpp"

namespace wsss::pool::detail {

inline constexpr int lanes = 16;
inline constexpr index_t block = 4096;  ///< float partial sums are flushed to float64 per block

/// sum_i a[i] (b == nullptr) or sum_i a[i] b[i]: 16 float lanes per 4096-element block, blocks
/// added in float64 (relative error ~ 1e-7 sqrt(n / 4096) instead of n * 6e-8 sequentially).
WSSS_HD inline double dot_or_sum(const float* a, const float* b, index_t n) {
  double total = 0;
  for (index_t s = 0; s < n; s += block) {
    const index_t e = s + block < n ? s + block : n;
    float acc[lanes] = {};
    index_t i = s;
    if (b) {
      for (; i + lanes <= e; i += lanes)
        for (int u = 0; u < lanes; ++u) acc[u] += a[i + u] * b[i + u];
    } else {
      for (; i + lanes <= e; i += lanes)
        for (int u = 0; u < lanes; ++u) acc[u] += a[i + u];
    }
    float tail = 0;
    for (; i < e; ++i) tail += b ? a[i] * b[i] : a[i];
    for (int u = 0; u < lanes; ++u) tail += acc[u];
    total += tail;
  }
  return total;
}
WSSS_HD inline double sum(const float* a, index_t n) { return dot_or_sum(a, nullptr, n); }
WSSS_HD inline double dot(const float* a, const float* b, index_t n) { return dot_or_sum(a, b, n); }

/// max_i a[i] (n >= 1; NaNs are skipped unless a[0] is NaN).
WSSS_HD inline float max_of(const float* a, index_t n) {
  float m = a[0];
#pragma omp simd reduction(max : m)
  for (index_t i = 0; i < n; ++i) m = a[i] > m ? a[i] : m;
  return m;
}

/// The first position holding the maximum (0 if no element equals it, e.g. all NaN): the max
/// by a vector reduction, then a scan for it in vector-wide chunks.
WSSS_HD inline index_t first_argmax(const float* a, index_t n) {
  const float m = max_of(a, n);
  index_t i = 0;
  for (; i + 4 * lanes <= n; i += 4 * lanes) {
    int hit = 0;
#pragma omp simd reduction(| : hit)
    for (int u = 0; u < 4 * lanes; ++u) hit |= a[i + u] == m ? 1 : 0;
    if (hit) break;
  }
  for (; i < n; ++i)
    if (a[i] == m) return i;
  return 0;
}

/// exp(x) for x <= 0, branch-free so that loops over it vectorise: x = k ln2 + r with
/// |r| <= ln2/2, exp(r) by its degree-7 Taylor polynomial (relative error < 1e-6 in float),
/// times 2^k built in the exponent bits. |x| > 87 (and NaN) gives 0 (exactly: < 2^-125). The
/// clamp works on the bits (integer selects), as float compares keep GCC from if-converting.
WSSS_HD inline float exp_nonpositive(float x) {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(x);
  const std::uint32_t under = (bits & 0x7fffffffu) > 0x42ae0000u ? 0xffffffffu : 0u;  // |x| > 87
  const float xc = std::bit_cast<float>((bits & ~under) | (0xc2ae0000u & under));     // -87 there
  const std::int32_t ki = static_cast<std::int32_t>(xc * 1.44269504f - 0.5f);          // round(x/ln2)
  const float k = static_cast<float>(ki);
  const float r = (xc - k * 0.693145752f) - k * 1.42860677e-6f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const float two_k = std::bit_cast<float>((static_cast<std::uint32_t>(ki + 127) << 23) & ~under);
  return p * two_k;
}

}  // namespace wsss::pool::detail
