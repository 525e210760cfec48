// SPDX-License-Identifier: MIT
// wsss/core/config.hpp — version, portability macros (WSSS_HD, WSSS_ASSERT)
#pragma once

#define WSSS_VERSION_MAJOR 0
#define WSSS_VERSION_MINOR 1
#define WSSS_VERSION_PATCH 0

// WSSS_HD marks a function usable on host and device: __host__ __device__ under nvcc,
// nothing otherwise. Kernel bodies written once are launched by every backend.
#if defined(__CUDACC__)
#define WSSS_HD __host__ __device__
#else
#define WSSS_HD
#endif

// WSSS_ASSERT checks internal invariants only (never user input, which throws).
// It changes function bodies only, never class layout, so mixing NDEBUG settings
// across translation units is ODR-safe.
#if defined(NDEBUG) && !defined(WSSS_ENABLE_ASSERTS)
#define WSSS_ASSERT(cond) ((void)0)
#else
#include <cstdio>
#include <cstdlib>
#define WSSS_ASSERT(cond)                                                                 \
  ((cond) ? (void)0                                                                       \
          : (std::fprintf(stderr, "wsss: internal assertion failed: %s (%s:%d)\n", #cond, \
                          __FILE__, __LINE__),                                            \
             std::abort()))
#endif

namespace wsss {
inline constexpr int version_major = WSSS_VERSION_MAJOR;
inline constexpr int version_minor = WSSS_VERSION_MINOR;
inline constexpr int version_patch = WSSS_VERSION_PATCH;
}  // namespace wsss
