// SPDX-License-Identifier: MIT
// wsss/pool/detail/top_k.hpp — indices of the k largest floats in descending order by radix
// selection and a stable LSD radix sort (the sort inside GWRP, SEC eq. 3)
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <vector>

#include "wsss/core/shape.hpp"

namespace wsss::pool::detail {

/// Maps a float to a 32-bit key whose ascending unsigned order is the float's DESCENDING
/// order (-0 sorts after +0; NaNs go to one end, by their sign bit).
inline std::uint32_t descending_key(float f) noexcept {
  const std::uint32_t u = std::bit_cast<std::uint32_t>(f);
  const std::uint32_t ascending = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  return ~ascending;
}

/// Reusable buffers of one thread.
struct top_k_scratch {
  std::vector<std::uint64_t> a, b;
  std::array<std::uint32_t, 2048> h0{}, h1{}, h2{};
};

/// Writes into idx[0..k) the positions of the k largest of x[0..n), largest first; equal values
/// are ordered by increasing position (a stable descending sort). 1 <= k <= n < 2^31.
/// Cost: O(n) selection passes when k < n, then an O(M) radix sort of the M >= k survivors.
inline void top_k_descending(const float* x, index_t n, index_t k, std::int32_t* idx, top_k_scratch& s) {
  auto& a = s.a;
  auto& b = s.b;
  if (static_cast<index_t>(a.size()) < n) {
    a.resize(static_cast<std::size_t>(n));
    b.resize(static_cast<std::size_t>(n));
  }
  // Packed (key << 32 | position): sorting on the key bits keeps positions ascending among ties.
  for (index_t i = 0; i < n; ++i)
    a[static_cast<std::size_t>(i)] = (std::uint64_t{descending_key(x[i])} << 32) | static_cast<std::uint64_t>(i);
  index_t m = n;
  if (k < n) {
    // Two-level radix selection on the top 22 key bits: keep every element whose prefix is at
    // or before the prefix of the k-th element (at least k survive, in position order).
    s.h0.fill(0);
    for (index_t i = 0; i < n; ++i) ++s.h0[a[static_cast<std::size_t>(i)] >> 53];
    std::uint64_t before = 0;
    std::uint32_t b0 = 0;
    while (before + s.h0[b0] < static_cast<std::uint64_t>(k)) before += s.h0[b0++];
    s.h1.fill(0);
    for (index_t i = 0; i < n; ++i) {
      const std::uint64_t v = a[static_cast<std::size_t>(i)];
      if ((v >> 53) == b0) ++s.h1[(v >> 42) & 2047u];
    }
    std::uint32_t b1 = 0;
    while (before + s.h1[b1] < static_cast<std::uint64_t>(k)) before += s.h1[b1++];
    const std::uint64_t limit = (std::uint64_t{b0} << 11 | b1);
    m = 0;
    for (index_t i = 0; i < n; ++i) {
      const std::uint64_t v = a[static_cast<std::size_t>(i)];
      a[static_cast<std::size_t>(m)] = v;
      m += (v >> 42) <= limit;
    }
  }
  // Stable LSD radix sort of a[0..m) on key bits 32..63 in three digits (11, 11, 10 bits); a
  // digit on which all elements agree is skipped.
  s.h0.fill(0);
  s.h1.fill(0);
  s.h2.fill(0);
  for (index_t i = 0; i < m; ++i) {
    const std::uint64_t v = a[static_cast<std::size_t>(i)];
    ++s.h0[(v >> 32) & 2047u];
    ++s.h1[(v >> 43) & 2047u];
    ++s.h2[v >> 54];
  }
  std::uint64_t* src = a.data();
  std::uint64_t* dst = b.data();
  const int shifts[3] = {32, 43, 54};
  std::array<std::uint32_t, 2048>* hists[3] = {&s.h0, &s.h1, &s.h2};
  for (int p = 0; p < 3; ++p) {
    auto& h = *hists[p];
    const int shift = shifts[p];
    const std::uint32_t digit0 = static_cast<std::uint32_t>((src[0] >> shift) & 2047u);
    if (h[digit0] == static_cast<std::uint32_t>(m)) continue;
    std::uint32_t sum = 0;
    for (auto& c : h) {
      const std::uint32_t t = c;
      c = sum;
      sum += t;
    }
    for (index_t i = 0; i < m; ++i) {
      const std::uint64_t v = src[i];
      dst[h[(v >> shift) & 2047u]++] = v;
    }
    std::swap(src, dst);
  }
  for (index_t j = 0; j < k; ++j) idx[j] = static_cast<std::int32_t>(src[j] & 0xffffffffu);
}

}  // namespace wsss::pool::detail
