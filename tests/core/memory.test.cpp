// SPDX-License-Identifier: MIT
// tests/core/memory.test.cpp — the caching host allocator: size classes, reuse, cap, release,
// counters, alignment, thread safety, failures that name the size
#include <doctest/doctest.h>

#include <algorithm>
#include <iterator>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <wsss/core.hpp>
#include <wsss/core/memory.hpp>

using namespace wsss;

namespace {

// Restores the cache limit a test changed.
struct limit_guard {
  std::size_t saved = memory::cache_limit();
  ~limit_guard() { memory::set_cache_limit(saved); }
};

bool aligned64(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 64 == 0; }

}  // namespace

TEST_CASE("size classes: powers of two up to 1 MiB, then 2 MiB multiples") {
  CHECK(memory::size_class(0) == 0);
  CHECK(memory::size_class(1) == 64);
  CHECK(memory::size_class(64) == 64);
  CHECK(memory::size_class(65) == 128);
  CHECK(memory::size_class(1000) == 1024);
  CHECK(memory::size_class(std::size_t{1} << 20) == std::size_t{1} << 20);
  CHECK(memory::size_class((std::size_t{1} << 20) + 1) == std::size_t{2} << 20);
  CHECK(memory::size_class(std::size_t{3} << 20) == std::size_t{4} << 20);
  CHECK(memory::size_class((std::size_t{26} << 20) + 5) == std::size_t{28} << 20);
  // Every class holds its request and stays a multiple of the alignment.
  for (std::size_t b : {std::size_t{7}, std::size_t{4097}, std::size_t{5} << 20, std::size_t{123456789}}) {
    CHECK(memory::size_class(b) >= b);
    CHECK(memory::size_class(b) % memory::alignment == 0);
  }
}

TEST_CASE("a freed block is handed out again for a request of the same size class") {
  limit_guard g;
  memory::set_cache_limit(std::size_t{64} << 20);
  void* p = memory::allocate(1000);
  std::memset(p, 1, 1000);
  memory::deallocate(p, 1000);
  const memory::stats before = memory::current_stats();
  void* q = memory::allocate(900);  // same 1024-byte class
  const memory::stats after = memory::current_stats();
  CHECK(q == p);
  CHECK(after.hits == before.hits + 1);
  CHECK(after.os_allocs == before.os_allocs);
  CHECK(after.cached == before.cached - 1024);
  // A different class is not served by that block.
  void* r = memory::allocate(5000);
  CHECK(r != q);
  memory::deallocate(r, 5000);
  memory::deallocate(q, 900);
}

TEST_CASE("a miss first returns cached bytes, so in use + cached stays within the peak in use and its slack") {
  limit_guard g;
  memory::set_cache_limit(std::size_t{256} << 20);
  memory::release_cached();
  memory::reset_peak();
  const memory::stats s0 = memory::current_stats();
  // Sizes that never share a class: every request after the first frees misses the cache.
  const std::size_t sizes[] = {std::size_t{6} << 20, std::size_t{3} << 20, std::size_t{10} << 20,
                               std::size_t{5} << 20, std::size_t{12} << 20, std::size_t{1} << 20};
  std::size_t worst = 0;
  for (int round = 0; round < 3; ++round)
    for (std::size_t i = 0; i < std::size(sizes); ++i) {
      void* a = memory::allocate(sizes[i]);
      void* b = memory::allocate(sizes[(i + 1) % std::size(sizes)] + 4096);
      const memory::stats s = memory::current_stats();
      worst = std::max(worst, s.in_use + s.cached);
      memory::deallocate(b, sizes[(i + 1) % std::size(sizes)] + 4096);
      memory::deallocate(a, sizes[i]);
    }
  const memory::stats s1 = memory::current_stats();
  INFO("footprint ", worst, " peak in use ", s1.peak_in_use);
  CHECK(worst <= s1.peak_in_use + s1.peak_in_use / memory::footprint_slack + s0.cached);
  CHECK(s1.hits > s0.hits);  // the repeated rounds still reuse blocks
}

TEST_CASE("a repeated pattern whose per-class maxima exceed the peak stops missing") {
  limit_guard g;
  memory::set_cache_limit(std::size_t{256} << 20);
  memory::release_cached();
  memory::reset_peak();
  // Phase A holds eight 4 MiB blocks (32 MiB, the peak), phase B one 2 MiB block: the step
  // needs 34 MiB of blocks, more than the peak; with no slack each B evicts a 4 MiB block
  // that the next A asks the OS for again.
  const std::size_t big = std::size_t{4} << 20, small = std::size_t{2} << 20;
  auto step = [&] {
    void* a[8];
    for (void*& p : a) p = memory::allocate(big);
    for (void* p : a) memory::deallocate(p, big);
    void* b = memory::allocate(small);
    memory::deallocate(b, small);
  };
  step();
  step();
  const memory::stats s0 = memory::current_stats();
  for (int k = 0; k < 3; ++k) step();
  const memory::stats s1 = memory::current_stats();
  CHECK(s1.os_allocs == s0.os_allocs);
  CHECK(s1.os_frees == s0.os_frees);
  CHECK(s1.hits == s0.hits + 3 * 9);
  CHECK(s1.in_use + s1.cached <= s1.peak_in_use + s1.peak_in_use / memory::footprint_slack);
}

TEST_CASE("counters track bytes in use, cached bytes and the peak") {
  limit_guard g;
  memory::set_cache_limit(std::size_t{64} << 20);
  memory::release_cached();
  memory::reset_peak();
  const memory::stats s0 = memory::current_stats();
  CHECK(s0.cached == 0);
  CHECK(s0.peak_in_use == s0.in_use);
  void* a = memory::allocate(std::size_t{3} << 20);  // 4 MiB class
  void* b = memory::allocate(100);                   // 128-byte class
  const memory::stats s1 = memory::current_stats();
  CHECK(s1.in_use == s0.in_use + (std::size_t{4} << 20) + 128);
  CHECK(s1.os_allocs == s0.os_allocs + 2);
  CHECK(s1.peak_in_use == s1.in_use);
  memory::deallocate(a, std::size_t{3} << 20);
  const memory::stats s2 = memory::current_stats();
  CHECK(s2.in_use == s0.in_use + 128);
  CHECK(s2.cached == std::size_t{4} << 20);
  CHECK(s2.peak_in_use == s1.peak_in_use);  // the peak stays
  memory::deallocate(b, 100);
  memory::reset_peak();
  CHECK(memory::current_stats().peak_in_use == s0.in_use);
}

TEST_CASE("the cap on cached bytes is honoured and release_cached empties the cache") {
  limit_guard g;
  memory::release_cached();
  memory::set_cache_limit(std::size_t{5} << 20);
  const std::size_t two = std::size_t{2} << 20;
  void* a = memory::allocate(two);
  void* b = memory::allocate(two);
  void* c = memory::allocate(two);
  const memory::stats s0 = memory::current_stats();
  memory::deallocate(a, two);
  memory::deallocate(b, two);
  CHECK(memory::current_stats().cached == 2 * two);
  CHECK(memory::current_stats().os_frees == s0.os_frees);
  memory::deallocate(c, two);  // 6 MiB > 5 MiB: one block goes back to the OS
  memory::stats s1 = memory::current_stats();
  CHECK(s1.cached == 2 * two);
  CHECK(s1.cached <= s1.limit);
  CHECK(s1.os_frees == s0.os_frees + 1);
  // The miss for 6 MiB first returns the cached 4 MiB (they cannot cover it), and a block
  // larger than the cap itself is never cached.
  void* big = memory::allocate(std::size_t{6} << 20);
  CHECK(memory::current_stats().cached == 0);
  CHECK(memory::current_stats().os_frees == s0.os_frees + 3);
  memory::deallocate(big, std::size_t{6} << 20);
  CHECK(memory::current_stats().cached == 0);
  void* e = memory::allocate(two);
  void* f = memory::allocate(two);
  memory::deallocate(e, two);
  memory::deallocate(f, two);
  CHECK(memory::current_stats().cached == 2 * two);
  // Lowering the cap trims at once; 0 turns caching off.
  memory::set_cache_limit(two);
  CHECK(memory::current_stats().cached == two);
  CHECK(memory::release_cached() == two);
  CHECK(memory::current_stats().cached == 0);
  CHECK(memory::release_cached() == 0);
  memory::set_cache_limit(0);
  void* d = memory::allocate(100);
  memory::deallocate(d, 100);
  CHECK(memory::current_stats().cached == 0);
}

TEST_CASE("blocks and tensor storage are 64-byte aligned, zero bytes give no block") {
  CHECK(memory::allocate(0) == nullptr);
  memory::deallocate(nullptr, 0);
  for (std::size_t b : {std::size_t{1}, std::size_t{63}, std::size_t{1000}, std::size_t{3} << 20}) {
    void* p = memory::allocate(b);
    CHECK(aligned64(p));
    memory::deallocate(p, b);
  }
  for (index_t n : {1, 17, 1000, 300000}) {
    tensor t({n});
    CHECK(aligned64(t.data()));
    const tensor u = t;
    CHECK(aligned64(u.data()));
    CHECK(u.data() != t.data());
  }
}

TEST_CASE("tensors reuse freed storage and stay zero-initialised and deep-copied") {
  limit_guard g;
  memory::set_cache_limit(std::size_t{64} << 20);
  const float* first = nullptr;
  {
    tensor a({300, 1000}, 7.0f);  // 1.2 MB: a 2 MiB class
    first = a.data();
  }
  const memory::stats s0 = memory::current_stats();
  tensor b({1000, 300});  // same class, reused block, must still read as zeros
  CHECK(b.data() == first);
  CHECK(memory::current_stats().os_allocs == s0.os_allocs);
  bool zeros = true;
  for (float v : b) zeros = zeros && v == 0.0f;
  CHECK(zeros);
  for (index_t i = 0; i < b.numel(); ++i) b[i] = static_cast<float>(i % 977);
  const tensor c = b;  // a large copy runs chunked over threads
  bool same = true;
  for (index_t i = 0; i < c.numel(); ++i) same = same && c[i] == static_cast<float>(i % 977);
  CHECK(same);
  tensor d({3});
  d = c;  // copy-assign into a different size: new block of c's class
  CHECK(d.shape() == c.shape());
  CHECK(d[c.numel() - 1] == c[c.numel() - 1]);
}

TEST_CASE("two threads allocating and freeing concurrently keep the counters consistent") {
  limit_guard g;
  memory::set_cache_limit(std::size_t{16} << 20);
  const memory::stats s0 = memory::current_stats();
  auto work = [](unsigned seed) {
    std::vector<std::pair<float*, std::size_t>> live;
    for (int i = 0; i < 2000; ++i) {
      seed = seed * 1103515245u + 12345u;
      const std::size_t bytes = 4 * (1 + (seed >> 8) % 70000);  // up to 280 KB
      auto* p = static_cast<float*>(memory::allocate(bytes));
      const std::size_t n = bytes / 4;
      for (std::size_t k = 0; k < n; k += 97) p[k] = static_cast<float>(i);
      live.emplace_back(p, bytes);
      if (live.size() > 8 || (seed & 1u)) {
        const auto [q, qb] = live.front();
        bool intact = true;  // no other thread wrote into this block
        for (std::size_t k = 0; k < qb / 4; k += 97) intact = intact && q[k] == q[0];
        REQUIRE(intact);
        memory::deallocate(q, qb);
        live.erase(live.begin());
      }
    }
    for (auto [q, qb] : live) memory::deallocate(q, qb);
  };
  std::thread t1(work, 1u), t2(work, 2u);
  t1.join();
  t2.join();
  const memory::stats s1 = memory::current_stats();
  CHECK(s1.in_use == s0.in_use);
  CHECK(s1.cached <= s1.limit);
  CHECK(s1.hits > s0.hits);
}

TEST_CASE("impossible requests throw out_of_memory naming the size") {
  const std::size_t huge = memory::max_request + 1;
  const std::string size = std::to_string(huge);
  CHECK_THROWS_WITH_AS(memory::allocate(huge), doctest::Contains(size.c_str()), memory::out_of_memory);
  // Also a std::bad_alloc for generic handlers.
  CHECK_THROWS_AS(memory::allocate(huge), std::bad_alloc);
  CHECK_THROWS_WITH_AS(tensor({index_t{1} << 30, index_t{1} << 30}),
                       doctest::Contains("[wsss.memory] tensor: 1152921504606846976 elements of 4 bytes"),
                       memory::out_of_memory);
}

TEST_CASE("WSSS_CACHE_MB sets the default cap, a malformed value is rejected") {
  const char* old = std::getenv("WSSS_CACHE_MB");
  const std::string saved = old ? old : "";
  ::setenv("WSSS_CACHE_MB", "16", 1);
  CHECK(memory::detail::limit_from_env() == std::size_t{16} << 20);
  ::setenv("WSSS_CACHE_MB", "0", 1);
  CHECK(memory::detail::limit_from_env() == 0);
  ::setenv("WSSS_CACHE_MB", "12abc", 1);
  CHECK_THROWS_WITH_AS(memory::detail::limit_from_env(), doctest::Contains("[wsss.value] memory: WSSS_CACHE_MB"),
                       value_error);
  ::setenv("WSSS_CACHE_MB", "-3", 1);
  CHECK_THROWS_AS(memory::detail::limit_from_env(), value_error);
  ::unsetenv("WSSS_CACHE_MB");
  CHECK(memory::detail::limit_from_env() == memory::default_cache_limit);
  if (old) ::setenv("WSSS_CACHE_MB", saved.c_str(), 1);
}
