// SPDX-License-Identifier: MIT
// wsss/core/math.hpp — branch-free float exp for non-positive arguments (Cephes' expf
// polynomial), the library's vectorisable expf for softmax, cross-entropy and the dense CRF
#pragma once

#include <bit>
#include <cstdint>

#include "wsss/core/config.hpp"

namespace wsss::detail {

/// The exp_nonpositive arithmetic on F = float (I = std::int32_t) or on a GCC vector of floats
/// (I the integer vector of the same width), so that hand-vectorised loops share one body.
template <class F, class I>
#if defined(__GNUC__) && !defined(__CUDACC__)
[[gnu::always_inline]]
#endif
inline WSSS_HD F exp_nonpositive_lanes(F x) noexcept {
  const F zero{}, floor = zero - 87.0f, magic = zero + 12582912.0f;  // 1.5 · 2^23 rounds to integers
  const auto under = x < floor;
  const F xc = under ? floor : x;
  const F kf = xc * 1.44269504088896341f + magic;
  const F fx = kf - magic;
  const I ki = std::bit_cast<I>(kf) - std::bit_cast<I>(magic);
  F r = xc - fx * 0.693359375f;
  r = r + fx * 2.12194440e-4f;
  const F r2 = r * r;
  F p = zero + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r2 + r + 1.0f;
  const I bits = (ki + 127) << 23;
  const F v = p * std::bit_cast<F>(bits);
  return under ? zero : v;
}

/// exp(x) for x <= 0 with a relative error below 2^-23 (about 1 ulp; tests/core/math.test.cpp
/// checks it against std::exp over [-87, 0]): x = k ln2 + r with |r| <= ln2 / 2, exp(r) by
/// Cephes' degree-7 expf polynomial, times 2^k built in the exponent bits. Rounding uses the
/// constant 1.5 · 2^23 instead of floor and the clamp is a select, so loops over channels
/// vectorise. Returns exactly 0 below -87 (and for -inf); x > 0 is outside the contract.
#if defined(__GNUC__) && !defined(__CUDACC__)
[[gnu::always_inline]]
#endif
inline WSSS_HD float exp_nonpositive(float x) noexcept { return exp_nonpositive_lanes<float, std::int32_t>(x); }

}  // namespace wsss::detail
