// SPDX-License-Identifier: MIT
// wsss/crf/detail/channel_block.hpp — fixed-width channel blocks and a vectorisable exp/softmax
// shared by the CRF filters and the mean-field update
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>

#include "wsss/core/config.hpp"
#include "wsss/core/shape.hpp"

namespace wsss::crf::detail {

/// Forces inlining of the per-pixel lattice kernels into their loops (GCC and Clang).
#if defined(__GNUC__) && !defined(__CUDACC__)
#define WSSS_CRF_INLINE [[gnu::always_inline]] inline
#else
#define WSSS_CRF_INLINE inline
#endif

#if defined(__GNUC__) && !defined(__CUDACC__)
/// Host builds use GCC/Clang vector extensions for the lattice's row kernels: left alone, the
/// compilers vectorise the short vertex loop with gathers instead of the channel loop.
#define WSSS_CRF_VECTOR_EXT 1
using v8f = float __attribute__((vector_size(32)));
inline v8f load8(const float* p) noexcept {
  v8f v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
inline void store8(float* p, v8f v) noexcept { __builtin_memcpy(p, &v, sizeof v); }
using v8i = std::int32_t __attribute__((vector_size(32)));
#endif

/// Channel rows are padded to a multiple of this width (one AVX2 register of floats).
inline constexpr index_t lane = 8;
inline constexpr index_t padded(index_t k) noexcept { return (k + lane - 1) / lane * lane; }

/// Calls f.template operator()<W>(offset) over the row [0, ld) in chunks of W = 32, 24, 16 or 8
/// channels, so that per-chunk accumulators have a compile-time width and stay in registers.
template <class F>
WSSS_CRF_INLINE WSSS_HD void for_chunks(index_t ld, F&& f) {
  index_t c = 0;
  for (; ld - c >= 32; c += 32) f.template operator()<32>(c);
  const index_t rest = ld - c;
  if (rest == 24) f.template operator()<24>(c);
  else if (rest == 16) f.template operator()<16>(c);
  else if (rest == 8) f.template operator()<8>(c);
}

/// exp(x) for x <= 0 with about 1 ulp error (Cephes' expf polynomial), written branch-free
/// with a rounding constant instead of floor so that loops over channels vectorise; returns
/// exactly 0 below -87.
WSSS_CRF_INLINE WSSS_HD float exp_nonpositive(float x) noexcept {
  constexpr float magic = 12582912.0f;  // 1.5 · 2^23: adding it rounds to an integer
  const float xc = x < -87.0f ? -87.0f : x;
  const float kf = xc * 1.44269504088896341f + magic;
  const float fx = kf - magic;
  const std::int32_t ki = std::bit_cast<std::int32_t>(kf) - std::bit_cast<std::int32_t>(magic);
  float r = xc - fx * 0.693359375f;
  r = r + fx * 2.12194440e-4f;
  const float r2 = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r2 + r + 1.0f;
  const float v = p * std::bit_cast<float>((ki + 127) << 23);
  return x < -87.0f ? 0.0f : v;
}

/// log(x) for finite x > 0 with about 1 ulp error (Cephes' logf polynomial), branch-free so
/// that a loop over a tensor vectorises (the unaries are 4M logs for a VOC image).
WSSS_CRF_INLINE WSSS_HD float log_positive(float x) noexcept {
  const std::int32_t bits = std::bit_cast<std::int32_t>(x);
  std::int32_t e = ((bits >> 23) & 0xff) - 126;
  float m = std::bit_cast<float>((bits & 0x007fffff) | 0x3f000000);  // mantissa in [0.5, 1)
  const bool small = m < 0.707106781186547524f;
  e -= small ? 1 : 0;
  m = small ? m + m - 1.0f : m - 1.0f;
  const float z = m * m;
  float y = 7.0376836292e-2f;
  y = y * m - 1.1514610310e-1f;
  y = y * m + 1.1676998740e-1f;
  y = y * m - 1.2420140846e-1f;
  y = y * m + 1.4249322787e-1f;
  y = y * m - 1.6668057665e-1f;
  y = y * m + 2.0000714765e-1f;
  y = y * m - 2.4999993993e-1f;
  y = y * m + 3.3333331174e-1f;
  y = y * m * z;
  const float fe = static_cast<float>(e);
  y += fe * -2.12194440e-4f;
  y += -0.5f * z;
  return m + y + fe * 0.693359375f;
}

/// b = -log(clamp(a, lo, 1)) elementwise (vectorised).
inline void neg_log_clamped(const float* __restrict a, float* __restrict b, index_t n, float lo) noexcept {
  for (index_t i = 0; i < n; ++i) b[i] = std::min(std::max(a[i], lo), 1.0f);
  for (index_t i = 0; i < n; ++i) b[i] = -log_positive(b[i]);
}

/// Softmax of one pixel's row a[0, k) into q[0, k): subtract the max, exponentiate, divide
/// by the sum (the reference's expAndNormalize).
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

/// The same over a whole padded row of compile-time width LD whose padding holds -inf (so
/// that it contributes exp = 0); fully unrolled and vectorised.
template <int LD>
WSSS_CRF_INLINE void softmax_row_padded(const float* a, float* q) noexcept {
  static_assert(LD % lane == 0);
#if defined(WSSS_CRF_VECTOR_EXT)
  // The same arithmetic as exp_nonpositive, eight lanes at a time.
  constexpr int B = LD / lane;
  v8f x[B];
  for (int b = 0; b < B; ++b) x[b] = load8(a + lane * b);
  v8f m = x[0];
  for (int b = 1; b < B; ++b) m = x[b] > m ? x[b] : m;
  float mx = m[0];
  for (int c = 1; c < lane; ++c) mx = m[c] > mx ? m[c] : mx;
  const v8f zero = {};
  const v8f floor87 = zero - 87.0f, magic = zero + 12582912.0f;
  v8f sum = zero;
  for (int b = 0; b < B; ++b) {
    const v8f xb = x[b] - mx;
    const v8i under = xb < floor87;
    const v8f xc = under ? floor87 : xb;
    const v8f kf = xc * 1.44269504088896341f + magic;
    const v8f fx = kf - magic;
    const v8i ki = __builtin_bit_cast(v8i, kf) - __builtin_bit_cast(v8i, magic);
    v8f r = xc - fx * 0.693359375f;
    r = r + fx * 2.12194440e-4f;
    const v8f r2 = r * r;
    v8f p = zero + 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r2 + r + 1.0f;
    const v8i bits = (ki + 127) << 23;
    const v8f e = p * __builtin_bit_cast(v8f, bits);
    x[b] = under ? zero : e;
    sum += x[b];
  }
  const float s = ((sum[0] + sum[1]) + (sum[2] + sum[3])) + ((sum[4] + sum[5]) + (sum[6] + sum[7]));
  const float inv = 1.0f / s;
  for (int b = 0; b < B; ++b) store8(q + lane * b, x[b] * inv);
#else
  float e[LD], m[lane];
  for (int c = 0; c < lane; ++c) m[c] = a[c];
  for (int b = lane; b < LD; b += lane)
    for (int c = 0; c < lane; ++c) m[c] = a[b + c] > m[c] ? a[b + c] : m[c];
  float mx = m[0];
  for (int c = 1; c < lane; ++c) mx = m[c] > mx ? m[c] : mx;
  for (int c = 0; c < LD; ++c) e[c] = exp_nonpositive(a[c] - mx);
  float part[lane] = {};
  for (int b = 0; b < LD; b += lane)
    for (int c = 0; c < lane; ++c) part[c] += e[b + c];
  const float s = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
  const float inv = 1.0f / s;
  for (int c = 0; c < LD; ++c) q[c] = e[c] * inv;
#endif
}

/// True when every value is finite: an exponent-bits OR-scan that vectorises, unlike an
/// early-exit loop (the inputs are scanned once per call, 4M values for a VOC image).
inline bool all_finite(const float* x, index_t n) noexcept {
  std::uint32_t bad = 0;
  for (index_t i = 0; i < n; ++i) {
    const std::uint32_t b = std::bit_cast<std::uint32_t>(x[i]);
    bad |= static_cast<std::uint32_t>((b & 0x7f800000u) == 0x7f800000u);
  }
  return bad == 0;
}

}  // namespace wsss::crf::detail
