// SPDX-License-Identifier: MIT
// wsss/crf/detail/elevate.hpp — the permutohedral lattice's per-pixel elevation, nearest
// remainder-0 point, ranks and barycentric weights (Adams, Baek & Davis 2010, section 3.1;
// reference-semantics §8), one body for a single pixel or for pixels in SIMD lanes
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "wsss/core/error.hpp"
#include "wsss/core/tensor.hpp"

#include "wsss/crf/detail/channel_block.hpp"

namespace wsss::crf::detail {

/// Keeps a * b + c as two rounded operations in the function it marks (GCC contracts them to
/// fused multiply-adds by default when FMA is enabled, and differently in different contexts).
#if defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)
#define WSSS_CRF_NO_CONTRACT [[gnu::optimize("fp-contract=off")]] inline
#else
#define WSSS_CRF_NO_CONTRACT inline
#endif

/// The elevation's per-feature scale factors, in the reference's precision.
inline std::vector<float> lattice_scales(int d) {
  std::vector<float> scale(static_cast<std::size_t>(d));
  const double inv_std = std::sqrt(2.0 / 3.0) * (d + 1);
  for (int i = 0; i < d; ++i) scale[static_cast<std::size_t>(i)] = static_cast<float>(1.0 / std::sqrt(double((i + 2) * (i + 1))) * inv_std);
  return scale;
}

/// The two blur neighbours of the vertex with coordinates key[0, d) along axis j in [0, d]:
/// key - 1 everywhere except key + d at j, and the reverse (j = d: all -1, all +1).
WSSS_HD inline void blur_neighbours(const std::int32_t* key, int d, int j, std::int32_t* n1, std::int32_t* n2) noexcept {
  for (int k = 0; k < d; ++k) {
    n1[k] = key[k] - 1;
    n2[k] = key[k] + 1;
  }
  if (j < d) {
    n1[j] = key[j] + d;
    n2[j] = key[j] - d;
  }
}

/// alpha = 1 / (1 + 2^-d), the slice's blur-compensating factor.
inline float lattice_alpha(int d) { return 1.0f / (1.0f + std::pow(2.0f, static_cast<float>(-d))); }

/// The keys are int16, so a scaled coordinate beyond about 2^15 can only fail the range check
/// of the elevation; beyond 2^20 it would first overflow elevate's float-to-int32 conversions
/// (undefined behaviour; a tiny appearance sfeat makes such features). Refused up front, for
/// features D x N and their scale factors.
inline void check_key_range(const tensor& f, const std::vector<float>& scale) {
  const index_t n = f.dim(1);
  for (index_t k = 0; k < f.dim(0); ++k) {
    const float* row = f.data() + k * n;
    float big = 0.0f;
#pragma omp simd reduction(max : big)
    for (index_t p = 0; p < n; ++p) big = std::max(big, std::abs(row[p]));
    if (!(big * scale[static_cast<std::size_t>(k)] < 0x1p20f))
      throw_value("crf::permutohedral", "features span more than the lattice's int16 keys allow (feature ", k,
                  " reaches ", big, "); divide them by a larger standard deviation");
  }
}

#if defined(WSSS_CRF_VECTOR_EXT)
/// Sixteen pixels at a time (two AVX2 or one AVX-512 register).
inline constexpr int elevate_lanes = 16;
#endif

/// floor / ceil / round-to-nearest and the float <-> int conversions on F = float (I = int32)
/// or on a vector of floats (I the integer vector of the same width). Vectors go through
/// truncating conversion, exact for the lattice's |x| < 2^31.
template <class F, class I>
struct lane_ops {
  static constexpr bool scalar = std::is_same_v<F, float>;
  WSSS_HD static I to_int(F x) noexcept {
    if constexpr (scalar) return static_cast<I>(x);
    else return __builtin_convertvector(x, I);
  }
  WSSS_HD static F to_float(I x) noexcept {
    if constexpr (scalar) return static_cast<F>(x);
    else return __builtin_convertvector(x, F);
  }
  WSSS_HD static F floor(F x) noexcept {
    if constexpr (scalar) return std::floor(x);
    else {
      const F t = to_float(to_int(x));
      return t > x ? t - 1.0f : t;
    }
  }
  WSSS_HD static F ceil(F x) noexcept {
    if constexpr (scalar) return std::ceil(x);
    else {
      const F t = to_float(to_int(x));
      return t < x ? t + 1.0f : t;
    }
  }
};

/// For d = D (D > 0, else d_rt) scaled coordinates c[0, d) of one pixel (F = float) or of one
/// pixel per lane: the remainder-0 point r0[0, d) (its last coordinate is implied), the ranks
/// rk[0, d) and the barycentric weights b[0, d]; oob gets a nonzero lane where a coordinate
/// leaves the int16 key range. Same operations in the same order as the reference (elevate,
/// round with ties down, rank with ties to the later index, wrap, weights as differences of
/// the rank-sorted offsets) and no fused multiply-adds (the reference's build has none; with
/// them the compiler's choice would differ between the lane and one-pixel versions), so scalar
/// and lane results are the same bits.
template <int D, class F, class I>
WSSS_CRF_NO_CONTRACT WSSS_HD void elevate(const F* c, int d_rt, float down, I* r0_out, I* rk_out, F* b, I& oob) noexcept {
  using ops = lane_ops<F, I>;
  constexpr int cap = (D > 0 ? D : 16) + 1;
  const int d = D > 0 ? D : d_rt;
  const int dp1 = d + 1;
  const float fdp1 = static_cast<float>(dp1);
  const F zero{};
  const I izero{};
  F el[cap], rest[cap], r0f[cap];
  I r0[cap], rk[cap];
  F sm = zero;
  for (int j = d; j > 0; --j) {
    const F cf = c[j - 1];
    el[j] = sm - static_cast<float>(j) * cf;
    sm += cf;
  }
  el[0] = sm;
  F sum = zero;
  for (int i = 0; i <= d; ++i) {
    const F v = down * el[i];
    const F up = ops::ceil(v) * fdp1;
    const F dn = ops::floor(v) * fdp1;
    r0f[i] = up - el[i] < el[i] - dn ? up : dn;
    r0[i] = ops::to_int(r0f[i]);
    rest[i] = el[i] - r0f[i];
    sum += r0f[i];
    rk[i] = izero;
  }
  // Σ r0 is an exact multiple of d + 1: the quotient by rounding.
  const I q = ops::to_int(ops::floor(sum * down + 0.5f));
  for (int i = 0; i < d; ++i)
    for (int j = i + 1; j <= d; ++j) {
      const I below = rest[i] < rest[j] ? izero + 1 : izero;
      rk[i] += below;
      rk[j] += 1 - below;
    }
  F sorted[cap];
  for (int t = 0; t <= d; ++t) sorted[t] = zero;
  for (int i = 0; i <= d; ++i) {
    rk[i] += q;
    const I shift = (rk[i] < 0 ? izero + dp1 : izero) - (rk[i] > d ? izero + dp1 : izero);
    rk[i] += shift;
    r0[i] += shift;
    oob |= (r0[i] < -32768 + dp1 ? izero + 1 : izero) | (r0[i] > 32767 - dp1 ? izero + 1 : izero);
    // The ranks are a permutation of 0..d: sorting the offsets by rank turns the reference's
    // scattered += / -= into differences of neighbours (the same float sums).
    const F off = (el[i] - ops::to_float(r0[i])) * down;
    for (int t = 0; t <= d; ++t) sorted[t] = rk[i] == d - t ? off : sorted[t];
  }
  b[0] = sorted[0] + (1.0f + (0.0f - sorted[d]));
  for (int i = 1; i <= d; ++i) b[i] = sorted[i] - sorted[i - 1];
  for (int i = 0; i < d; ++i) {
    r0_out[i] = r0[i];
    rk_out[i] = rk[i];
  }
}

}  // namespace wsss::crf::detail
