// SPDX-License-Identifier: MIT
// wsss/pool/detail/reduce.hpp — plane reductions written with independent lanes so the
// compiler vectorises them without -ffast-math (sum, dot, max, first arg max, exp <= 0)
#pragma once

#include <bit>
#include <cstdint>

#include "wsss/core/config.hpp"
#include "wsss/core/shape.hpp"

namespace wsss::pool::detail {

inline constexpr int lanes = 64;  ///< independent accumulators: 4 AVX-512 / 8 AVX2 registers
inline constexpr index_t block = 4096;  ///< float partial sums are flushed to float64 per block

/// sum_i a[i] (b == nullptr) or sum_i a[i] b[i]: 64 float lanes per 4096-element block, blocks
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
    for (int w = lanes / 2; w >= 1; w /= 2)  // pairwise: each level is one vector add
      for (int u = 0; u < w; ++u) acc[u] += acc[u + w];
    float tail = acc[0];
    for (; i < e; ++i) tail += b ? a[i] * b[i] : a[i];
    total += tail;
  }
  return total;
}
WSSS_HD inline double sum(const float* a, index_t n) { return dot_or_sum(a, nullptr, n); }
WSSS_HD inline double dot(const float* a, const float* b, index_t n) { return dot_or_sum(a, b, n); }

/// max_i a[i] (n >= 1; NaNs are skipped unless a[0] is NaN): 64 independent lanes (several
/// vector max chains in flight), folded pairwise.
WSSS_HD inline float max_of(const float* a, index_t n) {
  float m[lanes];
  for (int u = 0; u < lanes; ++u) m[u] = a[0];
  index_t i = 0;
  for (; i + lanes <= n; i += lanes)
    for (int u = 0; u < lanes; ++u) m[u] = a[i + u] > m[u] ? a[i + u] : m[u];
  for (int w = lanes / 2; w >= 1; w /= 2)
    for (int u = 0; u < w; ++u) m[u] = m[u + w] > m[u] ? m[u + w] : m[u];
  float r = m[0];
  for (; i < n; ++i) r = a[i] > r ? a[i] : r;
  return r;
}

/// Whether a[0, n) holds a NaN or an infinity (x - x is NaN exactly for those): one vectorised
/// pass, so poolers whose reduction would skip a NaN (max, the clamped exponential) can refuse
/// it instead.
WSSS_HD inline bool has_nonfinite(const float* a, index_t n) {
  int bad = 0;
#pragma omp simd reduction(| : bad)
  for (index_t i = 0; i < n; ++i) bad |= (a[i] - a[i]) != 0.0f ? 1 : 0;
  return bad != 0;
}

/// The first position holding the maximum (0 if no element exceeds a[0], e.g. all NaN), in
/// one pass over memory: maxima of 8192-element blocks (vector reductions), the first block
/// whose max beats every earlier one, then a scan of that block (still in L1) for the value.
/// Equal values compare equal however they were reduced, so the scan always finds `best`.
WSSS_HD inline index_t first_argmax(const float* a, index_t n) {
  constexpr index_t span = 8192;  // 32 KB: the rescanned block is still in L1
  float best = a[0];
  index_t from = 0;
  for (index_t s = 0; s < n; s += span) {
    const float m = max_of(a + s, s + span < n ? span : n - s);
    if (m > best) {
      best = m;
      from = s;
    }
  }
  index_t i = from;
  for (; i + lanes <= n; i += lanes) {  // skip chunks without the value, a vector test each
    int hit = 0;
#pragma omp simd reduction(| : hit)
    for (int u = 0; u < lanes; ++u) hit |= a[i + u] == best ? 1 : 0;
    if (hit) break;
  }
  for (; i < n; ++i)
    if (a[i] == best) return i;
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
