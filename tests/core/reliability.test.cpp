// SPDX-License-Identifier: MIT
// tests/core/reliability.test.cpp — sizes whose product overflows are named errors, never an
// object without storage (docs/reliability.md); the caching allocator's ASan poisoning
#include <doctest/doctest.h>

#include <cstdint>

#include <wsss/core.hpp>
#include <wsss/core/memory.hpp>

#if defined(WSSS_MEMORY_ASAN)
#include <sanitizer/asan_interface.h>
#endif

using namespace wsss;

TEST_CASE("[R10] tensor({2^62, 4}), rgb_image(2^31, 2^31), label_map(2^62, 4): named errors, no empty object") {
  constexpr index_t big = index_t{1} << 62;
  CHECK_THROWS_WITH_AS(tensor({big, 4}),
                       doctest::Contains("[wsss.shape] shape: extents 4611686018427387904x4 overflow the 64-bit element count"),
                       shape_error);
  CHECK_THROWS_WITH_AS(shape({3, 0, big, 4}), doctest::Contains("overflow the 64-bit element count"), shape_error);
  CHECK_THROWS_WITH_AS(rgb_image(index_t{1} << 31, index_t{1} << 31),
                       doctest::Contains("[wsss.memory] rgb_image: 2147483648x2147483648x3 bytes exceed the"),
                       memory::out_of_memory);
  CHECK_THROWS_WITH_AS(label_map(big, 4),
                       doctest::Contains("[wsss.memory] label_map: 4611686018427387904x4 bytes exceed the"),
                       memory::out_of_memory);
  CHECK_THROWS_WITH_AS(rgb_image(-1, 3), doctest::Contains("[wsss.shape] rgb_image: negative size -1x3"), shape_error);
  // Below the overflow, storage beyond the allocator's maximum is out_of_memory naming the size.
  CHECK_THROWS_WITH_AS(tensor({index_t{1} << 40, index_t{1} << 20}),
                       doctest::Contains("[wsss.memory] tensor: 1152921504606846976 elements of 4 bytes"),
                       memory::out_of_memory);
  // Zero extents keep working, and so does the largest product that fits.
  CHECK(tensor({0, big, 1}).numel() == 0);
  CHECK(shape({big, 1}).numel() == big);
  CHECK(rgb_image(0, 5).empty());
  CHECK(label_map(3, 0).pixels() == 0);
}

TEST_CASE("the caching allocator poisons cached blocks and slack under ASan") {
  if constexpr (!memory::poisons_cache) {
    MESSAGE("not an ASan build: nothing to check");
    return;
  } else {
#if defined(WSSS_MEMORY_ASAN)
    // 1000 bytes live in a 1024-byte block: bytes 1000.. are slack, unaddressable.
    char* p = static_cast<char*>(memory::allocate(1000));
    CHECK(__asan_region_is_poisoned(p, 1000) == nullptr);
    CHECK(__asan_address_is_poisoned(p + 1000));
    CHECK(__asan_address_is_poisoned(p + 1023));
    memory::deallocate(p, 1000);
    // Cached: the whole block is unaddressable, so a use after free inside the cache is caught.
    CHECK(__asan_address_is_poisoned(p));
    CHECK(__asan_address_is_poisoned(p + 512));
    // Handed out again for a smaller request of the same class: addressable up to that size.
    char* q = static_cast<char*>(memory::allocate(600));
    REQUIRE(q == p);
    CHECK(__asan_region_is_poisoned(q, 600) == nullptr);
    CHECK(__asan_address_is_poisoned(q + 600));
    memory::deallocate(q, 600);
    memory::release_cached();
#endif
  }
}
