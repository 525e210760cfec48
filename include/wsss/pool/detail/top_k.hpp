// SPDX-License-Identifier: MIT
// wsss/pool/detail/top_k.hpp — indices of the k largest floats in descending order by radix
// selection and a stable LSD radix sort (the sort inside GWRP, SEC eq. 3)
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <vector>

#include "wsss/core/config.hpp"
#include "wsss/core/shape.hpp"

namespace wsss::pool::detail {

/// Maps a float to a 32-bit key whose ascending unsigned order is the float's DESCENDING
/// order (-0 sorts after +0; NaNs go to one end, by their sign bit).
WSSS_HD inline std::uint32_t descending_key(float f) noexcept {
  const std::uint32_t u = std::bit_cast<std::uint32_t>(f);
  const std::uint32_t ascending = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  return ~ascending;
}

/// Reusable buffers of one thread.
struct top_k_scratch {
  std::vector<std::uint64_t> a, b;
  std::array<std::array<std::uint32_t, 2049>, 4> sel{};  // 4 copies; slot 2048 = not counted
  std::array<std::array<std::uint32_t, 256>, 4> digit{};
};
/// One top_k_scratch per part of a parallel loop (a workspace or plan holds it).
using top_k_parts = std::vector<top_k_scratch>;

/// Writes into idx[0..k) the positions of the k largest of x[0..n), largest first; equal values
/// are ordered by increasing position (a stable descending sort). 1 <= k <= n < 2^31.
/// Cost: when k < n, three O(n) passes over x (a two-level radix selection on the top 22 key
/// bits keeps the M >= k elements whose prefix is at or before the k-th one's); then an LSD
/// radix sort of the M survivors, packed as (key << 32 | position), in four 8-bit digits.
inline void top_k_descending(const float* x, index_t n, index_t k, std::int32_t* idx, top_k_scratch& s) {
  auto& a = s.a;
  auto& b = s.b;
  if (static_cast<index_t>(a.size()) < n) {
    a.resize(static_cast<std::size_t>(n));
    b.resize(static_cast<std::size_t>(n));
  }
  index_t m = 0;
  if (k < n) {
    // Scores cluster in few top-bit bins (probabilities share exponents): counting into four
    // interleaved histograms keeps consecutive increments off the same counter.
    auto count = [&](auto bin_of) {
      for (auto& h : s.sel) h.fill(0);
      index_t i = 0;
      for (; i + 4 <= n; i += 4)
        for (int u = 0; u < 4; ++u) {
          const std::uint32_t key = descending_key(x[i + u]);
          s.sel[static_cast<std::size_t>(u)][bin_of(key)] += 1;
        }
      for (; i < n; ++i) s.sel[0][bin_of(descending_key(x[i]))] += 1;
    };
    auto find = [&](std::uint64_t& before) {
      std::uint32_t bin = 0;
      for (;; ++bin) {
        const std::uint64_t c = std::uint64_t{s.sel[0][bin]} + s.sel[1][bin] + s.sel[2][bin] + s.sel[3][bin];
        if (before + c >= static_cast<std::uint64_t>(k)) return bin;
        before += c;
      }
    };
    std::uint64_t before = 0;
    count([](std::uint32_t key) { return key >> 21; });
    const std::uint32_t b0 = find(before);
    // Second level: the next 11 bits of the keys in bin b0; other keys go to the unused slot.
    count([b0](std::uint32_t key) { return (key >> 21) == b0 ? ((key >> 10) & 2047u) : 2048u; });
    std::uint32_t b1 = find(before);
    const std::uint32_t limit = (b0 << 11) | b1;
    for (index_t i = 0; i < n; ++i) {
      const std::uint32_t key = descending_key(x[i]);
      a[static_cast<std::size_t>(m)] = (std::uint64_t{key} << 32) | static_cast<std::uint64_t>(i);
      m += (key >> 10) <= limit;
    }
  } else {
    for (index_t i = 0; i < n; ++i)
      a[static_cast<std::size_t>(i)] = (std::uint64_t{descending_key(x[i])} << 32) | static_cast<std::uint64_t>(i);
    m = n;
  }
  // Stable LSD radix sort on key bits 32..63; a digit on which all survivors agree is skipped.
  for (auto& h : s.digit) h.fill(0);
  for (index_t i = 0; i < m; ++i) {
    const std::uint64_t v = a[static_cast<std::size_t>(i)];
    ++s.digit[0][(v >> 32) & 255u];
    ++s.digit[1][(v >> 40) & 255u];
    ++s.digit[2][(v >> 48) & 255u];
    ++s.digit[3][v >> 56];
  }
  std::uint64_t* src = a.data();
  std::uint64_t* dst = b.data();
  for (int p = 0; p < 4; ++p) {
    auto& h = s.digit[static_cast<std::size_t>(p)];
    const int shift = 32 + 8 * p;
    if (h[(src[0] >> shift) & 255u] == static_cast<std::uint32_t>(m)) continue;
    std::uint32_t sum = 0;
    for (auto& c : h) {
      const std::uint32_t t = c;
      c = sum;
      sum += t;
    }
    for (index_t i = 0; i < m; ++i) {
      const std::uint64_t v = src[i];
      dst[h[(v >> shift) & 255u]++] = v;
    }
    std::swap(src, dst);
  }
  for (index_t j = 0; j < k; ++j) idx[j] = static_cast<std::int32_t>(src[j] & 0xffffffffu);
}

}  // namespace wsss::pool::detail
