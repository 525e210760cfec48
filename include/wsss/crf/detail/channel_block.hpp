// SPDX-License-Identifier: MIT
// wsss/crf/detail/channel_block.hpp — fixed-width channel blocks and a vectorisable exp/softmax
// shared by the CRF filters and the mean-field update
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "wsss/core/config.hpp"
#include "wsss/core/math.hpp"
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
using v16f = float __attribute__((vector_size(64)));
using v16i = std::int32_t __attribute__((vector_size(64)));

/// Transposes the 8 x 8 block r in registers: r[i][j] becomes r[j][i] (three stages of
/// pairwise shuffles). Converts eight pixels between channel planes and interleaved rows.
inline void transpose8(v8f* r) noexcept {
  v8f a[8], b[8];
  for (int i = 0; i < 8; i += 2) {
    a[i] = __builtin_shufflevector(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
    a[i + 1] = __builtin_shufflevector(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
  }
  for (int i = 0; i < 8; i += 4) {
    b[i] = __builtin_shufflevector(a[i], a[i + 2], 0, 1, 8, 9, 4, 5, 12, 13);
    b[i + 1] = __builtin_shufflevector(a[i], a[i + 2], 2, 3, 10, 11, 6, 7, 14, 15);
    b[i + 2] = __builtin_shufflevector(a[i + 1], a[i + 3], 0, 1, 8, 9, 4, 5, 12, 13);
    b[i + 3] = __builtin_shufflevector(a[i + 1], a[i + 3], 2, 3, 10, 11, 6, 7, 14, 15);
  }
  for (int j = 0; j < 4; ++j) {
    r[j] = __builtin_shufflevector(b[j], b[j + 4], 0, 1, 2, 3, 8, 9, 10, 11);
    r[j + 4] = __builtin_shufflevector(b[j], b[j + 4], 4, 5, 6, 7, 12, 13, 14, 15);
  }
}

/// A row of LD floats (LD a multiple of 8) in registers: LD / 16 64-byte vectors plus one
/// 32-byte vector when LD is an odd multiple of 8. On AVX-512 a 24-label row takes two
/// registers and two instructions per operation instead of three; elsewhere the compiler
/// splits the 64-byte vectors. Lane arithmetic is the same as row by row, so are the bits.
template <int LD>
struct row_regs {
  static_assert(LD > 0 && LD % 8 == 0);
  static constexpr int wide = LD / 16, narrow = LD % 16 / 8;
  v16f w[wide > 0 ? wide : 1];
  v8f n[narrow > 0 ? narrow : 1];

  WSSS_CRF_INLINE static row_regs zero() noexcept {
    row_regs r;
    for (int b = 0; b < wide; ++b) r.w[b] = v16f{};
    if constexpr (narrow > 0) r.n[0] = v8f{};
    return r;
  }
  WSSS_CRF_INLINE static row_regs load(const float* p) noexcept {
    row_regs r;
    for (int b = 0; b < wide; ++b) __builtin_memcpy(&r.w[b], p + 16 * b, sizeof(v16f));
    if constexpr (narrow > 0) r.n[0] = load8(p + 16 * wide);
    return r;
  }
  WSSS_CRF_INLINE void store(float* p) const noexcept {
    for (int b = 0; b < wide; ++b) __builtin_memcpy(p + 16 * b, &w[b], sizeof(v16f));
    if constexpr (narrow > 0) store8(p + 16 * wide, n[0]);
  }
  /// this += s · x (one fused multiply-add per register where the target has them).
  WSSS_CRF_INLINE void add_scaled(float s, const row_regs& x) noexcept {
    for (int b = 0; b < wide; ++b) w[b] += s * x.w[b];
    if constexpr (narrow > 0) n[0] += s * x.n[0];
  }
  WSSS_CRF_INLINE row_regs scaled(float s) const noexcept {
    row_regs r;
    for (int b = 0; b < wide; ++b) r.w[b] = s * w[b];
    if constexpr (narrow > 0) r.n[0] = s * n[0];
    return r;
  }
};
#endif

/// a * b + c rounded once where the target has FMA (twice where it has not), whatever the
/// inlining context: kernels compiled once per backend's launcher otherwise round alike only
/// if -ffp-contract=fast (GCC's default) happens to fuse the same sums in every copy, and the
/// slice's did not (Q differed by 1e-6 between exec<cpu_t> and exec<omp_t>).
WSSS_HD inline float fmadd(float a, float b, float c) noexcept {
#if defined(__CUDA_ARCH__)
  return fmaf(a, b, c);
#elif defined(__FMA__) || defined(__ARM_FEATURE_FMA)
  return __builtin_fmaf(a, b, c);
#else
  return a * b + c;
#endif
}

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

/// Calls f.template operator()<LD>() with LD = ld for the unrolled row widths 8-32, else LD = 0.
template <class F>
void with_row_width(index_t ld, F&& f) {
  switch (ld) {
    case 8: f.template operator()<8>(); break;
    case 16: f.template operator()<16>(); break;
    case 24: f.template operator()<24>(); break;
    case 32: f.template operator()<32>(); break;
    default: f.template operator()<0>(); break;
  }
}

/// The library's vectorisable expf (core/math.hpp), named here for the CRF kernels.
using wsss::detail::exp_nonpositive;

/// The log_positive arithmetic on F = float (I = std::int32_t) or on a GCC vector of floats (I
/// the integer vector of the same width): one body for the scalar and the lane loops.
template <class F, class I>
WSSS_CRF_INLINE WSSS_HD F log_positive_lanes(F x) noexcept {
  const I bits = std::bit_cast<I>(x);
  I e = ((bits >> 23) & 0xff) - 126;
  F m = std::bit_cast<F>((bits & 0x007fffff) | 0x3f000000);  // mantissa in [0.5, 1)
  const auto small = m < 0.707106781186547524f;
  if constexpr (std::is_same_v<F, float>) {
    e -= small ? 1 : 0;
    m = small ? m + m - 1.0f : m - 1.0f;
  } else {
    e += small;  // a true vector comparison lane is -1
    m = small ? m + m - 1.0f : m - 1.0f;
  }
  const F z = m * m;
  F y = F{} + 7.0376836292e-2f;
  y = y * m - 1.1514610310e-1f;
  y = y * m + 1.1676998740e-1f;
  y = y * m - 1.2420140846e-1f;
  y = y * m + 1.4249322787e-1f;
  y = y * m - 1.6668057665e-1f;
  y = y * m + 2.0000714765e-1f;
  y = y * m - 2.4999993993e-1f;
  y = y * m + 3.3333331174e-1f;
  y = y * m * z;
  F fe;
  if constexpr (std::is_same_v<F, float>) fe = static_cast<float>(e);
  else fe = __builtin_convertvector(e, F);
  y += fe * -2.12194440e-4f;
  y += -0.5f * z;
  return m + y + fe * 0.693359375f;
}

/// log(x) for finite x > 0 with about 1 ulp error (Cephes' logf polynomial), branch-free so
/// that a loop over a tensor vectorises (the unaries are 4M logs for a VOC image).
WSSS_CRF_INLINE WSSS_HD float log_positive(float x) noexcept { return log_positive_lanes<float, std::int32_t>(x); }

/// -log(clamp(p, lo, 1)) of one probability (pydensecrf's unary_from_softmax): the array form's
/// tail below, and the per-pixel unary kernels of the devices (cam/device.hpp, walk/).
WSSS_CRF_INLINE WSSS_HD float neg_log_clamped(float p, float lo) noexcept {
  p = p < lo ? lo : p;
  p = 1.0f < p ? 1.0f : p;
  return -log_positive(p);
}

/// b = -log(clamp(a, lo, 1)) elementwise, eight lanes at a time where the vector extensions
/// exist (GCC does not vectorise the scalar loop: the select reads as control flow).
inline void neg_log_clamped(const float* __restrict a, float* __restrict b, index_t n, float lo) noexcept {
  index_t i = 0;
#if defined(WSSS_CRF_VECTOR_EXT)
  for (; i + lane <= n; i += lane) {
    v8f x = load8(a + i);
    x = x < lo ? v8f{} + lo : x;
    x = x > 1.0f ? v8f{} + 1.0f : x;
    store8(b + i, -log_positive_lanes<v8f, v8i>(x));
  }
#endif
  for (; i < n; ++i) b[i] = neg_log_clamped(a[i], lo);
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
  // exp_nonpositive (core/math.hpp), eight lanes at a time.
  constexpr int B = LD / lane;
  v8f x[B];
  for (int b = 0; b < B; ++b) x[b] = load8(a + lane * b);
  // Horizontal max and sum by butterflies: every lane ends with the result (no scalar chain,
  // no broadcast), the sum in the order ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)).
  auto butterfly = [](v8f v, auto op) {
    v = op(v, __builtin_shufflevector(v, v, 1, 0, 3, 2, 5, 4, 7, 6));
    v = op(v, __builtin_shufflevector(v, v, 2, 3, 0, 1, 6, 7, 4, 5));
    return op(v, __builtin_shufflevector(v, v, 4, 5, 6, 7, 0, 1, 2, 3));
  };
  v8f m = x[0];
  for (int b = 1; b < B; ++b) m = x[b] > m ? x[b] : m;
  m = butterfly(m, [](v8f u, v8f v) { return u > v ? u : v; });
  v8f sum = {};
  for (int b = 0; b < B; ++b) {
    x[b] = wsss::detail::exp_nonpositive_lanes<v8f, v8i>(x[b] - m);
    sum += x[b];
  }
  sum = butterfly(sum, [](v8f u, v8f v) { return u + v; });
  const v8f inv = 1.0f / sum;
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
