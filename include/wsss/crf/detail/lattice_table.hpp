// SPDX-License-Identifier: MIT
// wsss/crf/detail/lattice_table.hpp — open-addressing table from permutohedral lattice keys
// (the first d coordinates, int16, packed four to a 64-bit word) to vertex ids
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <vector>

#include "wsss/core/config.hpp"
#include "wsss/core/shape.hpp"

namespace wsss::crf::detail {

/// Asks for the cache line at p ahead of its use (a no-op where the compiler has no prefetch).
inline void prefetch(const void* p) noexcept {
#if defined(__GNUC__)
  __builtin_prefetch(p);
#else
  (void)p;
#endif
}

/// A lattice key packed into W words: coordinate i lives in bits 16·(i mod 4) of word i / 4.
template <int W>
struct packed_key {
  std::array<std::uint64_t, W> w{};
  WSSS_HD friend bool operator==(const packed_key& a, const packed_key& b) noexcept {
    bool same = true;
    for (int i = 0; i < W; ++i) same &= a.w[static_cast<std::size_t>(i)] == b.w[static_cast<std::size_t>(i)];
    return same;
  }
  /// Word-lexicographic order (any fixed total order: the device build sorts by it).
  WSSS_HD friend bool operator<(const packed_key& a, const packed_key& b) noexcept {
    for (int i = 0; i < W; ++i)
      if (a.w[static_cast<std::size_t>(i)] != b.w[static_cast<std::size_t>(i)])
        return a.w[static_cast<std::size_t>(i)] < b.w[static_cast<std::size_t>(i)];
    return false;
  }

  WSSS_HD static packed_key pack(const std::int32_t* c, int d) noexcept {
    packed_key k;
    for (int i = 0; i < d; ++i)
      k.w[static_cast<std::size_t>(i / 4)] |= static_cast<std::uint64_t>(static_cast<std::uint16_t>(c[i])) << (16 * (i % 4));
    return k;
  }
  WSSS_HD void unpack(std::int32_t* c, int d) const noexcept {
    for (int i = 0; i < d; ++i)
      c[i] = static_cast<std::int16_t>(static_cast<std::uint16_t>(w[static_cast<std::size_t>(i / 4)] >> (16 * (i % 4))));
  }
  std::uint64_t hash() const noexcept {
    std::uint64_t h = 0x9e3779b97f4a7c15ull;
    for (std::uint64_t x : w) {
      h ^= x;
      h *= 0xff51afd7ed558ccdull;
      h ^= h >> 32;
    }
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 29);
  }
};

/// Linear-probing table; vertex ids start at 1 (0 marks an empty slot and is the lattice's
/// zero vertex). Slots hold the key beside the id so that a probe touches one cache line; the
/// capacity (a power of two) starts small and doubles at half load, so the table stays
/// cache-resident for the usual few tens of thousands of vertices.
template <int W>
class lattice_table {
 public:
  /// capacity_hint: expected number of keys (the table starts large enough for it at half
  /// load, so it rarely rehashes).
  explicit lattice_table(std::size_t capacity_hint = 2048) : slots_(std::bit_ceil(std::max<std::size_t>(4096, 2 * capacity_hint))) {
    keys_.reserve(capacity_hint + 1);
    keys_.emplace_back();  // id 0: the zero vertex
  }

  /// Pulls k's home slot towards the cache: a probe issued some keys ahead of its find
  /// overlaps its cache miss with the work in between.
  void prefetch(const packed_key<W>& k) const noexcept { detail::prefetch(&slots_[k.hash() & (slots_.size() - 1)]); }

  /// find() of count keys, all their slots prefetched first.
  void find_many(const packed_key<W>* keys, std::size_t count, std::int32_t* ids) const noexcept {
    for (std::size_t i = 0; i < count; ++i) prefetch(keys[i]);
    for (std::size_t i = 0; i < count; ++i) ids[i] = find(keys[i]);
  }

  std::int32_t find_or_insert(const packed_key<W>& k) {
    const std::size_t mask = slots_.size() - 1;
    std::size_t s = k.hash() & mask;
    while (true) {
      const slot& sl = slots_[s];
      if (sl.id == 0) break;
      if (sl.key == k) return sl.id;
      s = (s + 1) & mask;
    }
    const auto id = static_cast<std::int32_t>(keys_.size());
    keys_.push_back(k);
    slots_[s] = slot{k, id};
    if (keys_.size() * 2 > slots_.size()) grow();
    return id;
  }

  /// The id of k, or 0 when k is not a vertex.
  std::int32_t find(const packed_key<W>& k) const noexcept {
    const std::size_t mask = slots_.size() - 1;
    std::size_t s = k.hash() & mask;
    while (true) {
      const slot& sl = slots_[s];
      if (sl.id == 0 || sl.key == k) return sl.id;
      s = (s + 1) & mask;
    }
  }

  const packed_key<W>& key(std::int32_t id) const noexcept { return keys_[static_cast<std::size_t>(id)]; }
  /// Number of vertices (the zero vertex excluded).
  index_t size() const noexcept { return static_cast<index_t>(keys_.size()) - 1; }

 private:
  struct slot {
    packed_key<W> key{};
    std::int32_t id = 0;
  };

  void grow() {
    std::vector<slot> next(slots_.size() * 2);
    const std::size_t mask = next.size() - 1;
    for (std::size_t id = 1; id < keys_.size(); ++id) {
      std::size_t s = keys_[id].hash() & mask;
      while (next[s].id != 0) s = (s + 1) & mask;
      next[s] = slot{keys_[id], static_cast<std::int32_t>(id)};
    }
    slots_.swap(next);
  }

  std::vector<slot> slots_;
  std::vector<packed_key<W>> keys_;
};

}  // namespace wsss::crf::detail
