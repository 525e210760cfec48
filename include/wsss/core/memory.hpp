// SPDX-License-Identifier: MIT
// wsss/core/memory.hpp — the caching host allocator behind every tensor's storage: freed
// blocks are kept per size class and handed out again, so a training loop stops paying the
// OS (mmap, page faults, zeroing of fresh pages) for each activation and gradient.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <map>
#include <mutex>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "wsss/core/error.hpp"

// Under AddressSanitizer the cache poisons what it holds: a cached block is unaddressable until
// it is handed out again, and the slack of a block (its size class beyond the request) stays
// unaddressable, so a use after free or an overrun inside the cache is reported like one on
// the heap. Detected from the compiler (GCC __SANITIZE_ADDRESS__, clang __has_feature).
#if defined(__SANITIZE_ADDRESS__)
#define WSSS_MEMORY_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WSSS_MEMORY_ASAN 1
#endif
#endif
#if defined(WSSS_MEMORY_ASAN)
#include <sanitizer/asan_interface.h>
#endif

namespace wsss::memory {

/// True when the build runs under AddressSanitizer and cached blocks and slack are poisoned.
#if defined(WSSS_MEMORY_ASAN)
inline constexpr bool poisons_cache = true;
#else
inline constexpr bool poisons_cache = false;
#endif

/// Every block starts on a 64-byte boundary (one cache line, one AVX-512 register).
inline constexpr std::size_t alignment = 64;
/// Requests up to this size are rounded up to a power of two (at least `alignment`).
inline constexpr std::size_t small_max = std::size_t{1} << 20;
/// Larger requests are rounded up to a multiple of this granule.
inline constexpr std::size_t large_granule = std::size_t{2} << 20;
/// A miss may raise the bytes the process holds (in use + cached) to the peak in use plus
/// 1/footprint_slack of it before cached blocks go back to the OS. A repeated pattern (a
/// training step) needs, per size class, the most blocks it ever holds at once; those maxima
/// add up to more than the peak in use, so with no slack every step missed and sent 45 blocks
/// through the OS (AffinityNet's classifier at width 1/16, 448 x 448: 194 MB peak, up to 4000
/// page faults a step); with 1/8 it holds 205 MB and misses none.
inline constexpr std::size_t footprint_slack = 8;
/// Cap on cached bytes when neither WSSS_CACHE_MB nor set_cache_limit() says otherwise.
inline constexpr std::size_t default_cache_limit = std::size_t{4} << 30;
/// Largest request served (anything above cannot be a real tensor and would overflow).
inline constexpr std::size_t max_request = std::size_t{1} << 48;

/// Thrown when the OS refuses a block even after the cache was returned to it. It is a
/// std::bad_alloc, so generic out-of-memory handlers still catch it, and names the size.
class out_of_memory : public std::bad_alloc {
 public:
  explicit out_of_memory(std::string what) : what_(std::move(what)) {}
  const char* what() const noexcept override { return what_.c_str(); }

 private:
  std::string what_;
};

/// The bytes of an array of `extents` (each >= 0) elements of `elem_size` bytes, checked: when
/// the product overflows or exceeds max_request, out_of_memory "[wsss.memory] <what>: AxB
/// elements of <elem_size> bytes exceed the <max_request>-byte maximum" ("AxB bytes" for bytes). Every container of
/// the library sizes its storage through it (tensors, images, label maps).
inline std::size_t checked_bytes(std::string_view what, std::initializer_list<std::int64_t> extents,
                                 std::size_t elem_size) {
  std::uint64_t n = elem_size;
  bool fits = true;
  for (const std::int64_t e : extents)
    fits = fits && e >= 0 && !__builtin_mul_overflow(n, static_cast<std::uint64_t>(e), &n);
  if (!fits || n > max_request) {
    const std::string dims = wsss::detail::dims_string(extents);
    if (elem_size == 1)
      throw out_of_memory(wsss::detail::cat("[wsss.memory] ", what, ": ", dims, " bytes exceed the ", max_request,
                                            "-byte maximum"));
    throw out_of_memory(wsss::detail::cat("[wsss.memory] ", what, ": ", dims, " elements of ", elem_size,
                                          " bytes exceed the ", max_request, "-byte maximum"));
  }
  return static_cast<std::size_t>(n);
}

/// Counters of the allocator (bytes are size-class bytes, i.e. what is really reserved).
struct stats {
  std::size_t in_use = 0;       ///< bytes in blocks handed out and not yet freed
  std::size_t cached = 0;       ///< bytes in freed blocks kept for reuse
  std::size_t peak_in_use = 0;  ///< largest in_use since start or reset_peak()
  std::size_t limit = 0;        ///< cap on cached
  std::uint64_t os_allocs = 0;  ///< blocks obtained from the OS
  std::uint64_t os_frees = 0;   ///< blocks returned to the OS
  std::uint64_t hits = 0;       ///< requests served from the cache
};

/// The bytes reserved for a request of `bytes` (0 stays 0): a power of two up to small_max,
/// otherwise the next multiple of large_granule. Requests of one class share cached blocks.
constexpr std::size_t size_class(std::size_t bytes) noexcept {
  if (bytes == 0) return 0;
  if (bytes > small_max) return (bytes + large_granule - 1) / large_granule * large_granule;
  std::size_t c = alignment;
  while (c < bytes) c <<= 1;
  return c;
}

namespace detail {

/// Marks [p, p + n) unaddressable (poison) or addressable again (unpoison) under ASan; no-ops
/// otherwise.
inline void poison(const void* p, std::size_t n) noexcept {
#if defined(WSSS_MEMORY_ASAN)
  if (p && n) ASAN_POISON_MEMORY_REGION(p, n);
#else
  (void)p, (void)n;
#endif
}
inline void unpoison(const void* p, std::size_t n) noexcept {
#if defined(WSSS_MEMORY_ASAN)
  if (p && n) ASAN_UNPOISON_MEMORY_REGION(p, n);
#else
  (void)p, (void)n;
#endif
}

/// Parses WSSS_CACHE_MB (a non-negative integer of MiB; 0 disables caching).
inline std::size_t limit_from_env() {
  const char* s = std::getenv("WSSS_CACHE_MB");
  if (!s || !*s) return default_cache_limit;
  char* end = nullptr;
  const unsigned long long mb = std::strtoull(s, &end, 10);
  if (*end != '\0' || *s == '-' || mb > (max_request >> 20))
    throw_value("memory", "WSSS_CACHE_MB must be a whole number of MiB in [0, ", max_request >> 20, "], got '", s,
                "'");
  return static_cast<std::size_t>(mb) << 20;
}

struct cache {
  std::mutex m;
  std::map<std::size_t, std::vector<void*>> free;  // size class -> cached blocks
  stats s;

  // Returns a block of class c to the OS (addressable again first: ASan owns it from here).
  void os_free(void* p, std::size_t c) noexcept {
    unpoison(p, c);
    std::free(p);
    ++s.os_frees;
  }
  // Returns cached blocks to the OS, largest classes first, until at most `bound` bytes stay
  // cached (or the cache is empty).
  void shrink_to(std::size_t bound) noexcept {
    while (s.cached > bound && !free.empty()) {
      auto it = std::prev(free.end());
      os_free(it->second.back(), it->first);
      it->second.pop_back();
      s.cached -= it->first;
      if (it->second.empty()) free.erase(it);
    }
  }
  // Before a freed block of `incoming` bytes (<= limit) is cached: cached + incoming <= limit.
  void trim(std::size_t incoming) noexcept { shrink_to(s.limit - incoming); }
  // Before a block of class c comes from the OS: in_use + cached + c within the peak in use
  // (counting c) plus its 1/footprint_slack. So the cache reuses memory and adds at most that
  // slack to it.
  void evict_for(std::size_t c) noexcept {
    const std::size_t peak = std::max(s.peak_in_use, s.in_use + c);
    shrink_to(peak + peak / footprint_slack - (s.in_use + c));  // >= 0: peak >= in_use + c
  }
  // Returns every cached block; the bytes released.
  std::size_t release_all() noexcept {
    const std::size_t released = s.cached;
    for (auto& [c, blocks] : free)
      for (void* p : blocks) os_free(p, c);
    free.clear();
    s.cached = 0;
    return released;
  }
};

/// The allocator's state. Created on first use and deliberately never destroyed: tensors
/// held by static objects may be freed after main() returns, in any order, and must still
/// find it. The OS reclaims whatever is cached at exit.
inline cache& state() {
  static cache* c = [] {
    auto* p = new cache;
    p->s.limit = limit_from_env();
    return p;
  }();
  return *c;
}

}  // namespace detail

/// A block of at least `bytes` bytes, 64-byte aligned, uninitialised; nullptr for 0 bytes.
/// Served from the cache when a block of the same size class is there, otherwise from the
/// OS after enough cached blocks were returned to it that the process's footprint stays within
/// the peak of bytes in use plus 1/footprint_slack of it; if the OS refuses, the
/// cache is released and the request retried once. Throws
/// out_of_memory naming the size on failure. Thread-safe.
inline void* allocate(std::size_t bytes) {
  if (bytes == 0) return nullptr;
  if (bytes > max_request)
    throw out_of_memory(wsss::detail::cat("[wsss.memory] allocate: request of ", bytes, " bytes exceeds the ",
                                          max_request, "-byte maximum"));
  const std::size_t c = size_class(bytes);
  auto& st = detail::state();
  std::lock_guard<std::mutex> lock(st.m);
  void* p = nullptr;
  if (auto it = st.free.find(c); it != st.free.end()) {
    p = it->second.back();
    it->second.pop_back();
    if (it->second.empty()) st.free.erase(it);
    st.s.cached -= c;
    ++st.s.hits;
  } else {
    st.evict_for(c);
    p = std::aligned_alloc(alignment, c);
    if (!p && st.release_all() > 0) p = std::aligned_alloc(alignment, c);
    if (!p)
      throw out_of_memory(wsss::detail::cat("[wsss.memory] allocate: the OS refused ", bytes, " bytes (", c,
                                            "-byte block, ", c >> 20, " MiB) with ", st.s.in_use >> 20,
                                            " MiB in use"));
    ++st.s.os_allocs;
  }
  st.s.in_use += c;
  if (st.s.in_use > st.s.peak_in_use) st.s.peak_in_use = st.s.in_use;
  detail::unpoison(p, bytes);
  detail::poison(static_cast<char*>(p) + bytes, c - bytes);  // the slack of the size class
  return p;
}

/// Returns a block from allocate(bytes) (the same `bytes`). It is cached for reuse unless
/// that would push the cached bytes over the limit: then cached blocks of the largest
/// classes go back to the OS first, and a block larger than the limit itself goes straight
/// back. Thread-safe; nullptr is ignored.
inline void deallocate(void* p, std::size_t bytes) noexcept {
  if (!p) return;
  const std::size_t c = size_class(bytes);
  auto& st = detail::state();
  std::lock_guard<std::mutex> lock(st.m);
  st.s.in_use -= c;
  if (c > st.s.limit) {
    st.os_free(p, c);
    return;
  }
  st.trim(c);
  try {
    st.free[c].push_back(p);
    st.s.cached += c;
    detail::poison(p, c);  // cached: unaddressable until allocate hands it out again
  } catch (...) {  // no room for the bookkeeping: give the block back instead
    st.os_free(p, c);
  }
}

/// A snapshot of the counters.
inline stats current_stats() {
  auto& st = detail::state();
  std::lock_guard<std::mutex> lock(st.m);
  return st.s;
}

/// Restarts peak tracking from the bytes in use now.
inline void reset_peak() {
  auto& st = detail::state();
  std::lock_guard<std::mutex> lock(st.m);
  st.s.peak_in_use = st.s.in_use;
}

/// The cap on cached bytes.
inline std::size_t cache_limit() { return current_stats().limit; }

/// Sets the cap on cached bytes (0: no caching, every free goes to the OS); cached blocks
/// beyond the new cap are returned at once.
inline void set_cache_limit(std::size_t bytes) {
  auto& st = detail::state();
  std::lock_guard<std::mutex> lock(st.m);
  st.s.limit = bytes;
  st.trim(0);
}

/// Returns every cached block to the OS; returns the bytes released.
inline std::size_t release_cached() {
  auto& st = detail::state();
  std::lock_guard<std::mutex> lock(st.m);
  return st.release_all();
}

}  // namespace wsss::memory
