// SPDX-License-Identifier: MIT
// wsss/backend/for_each_index.hpp — launch one IndexKernel over [0, n) on a host backend
#pragma once

#include <cstdint>

#include "wsss/backend/concepts.hpp"
#include "wsss/backend/tags.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace wsss::backend {

/// Serial loop.
template <IndexKernel K>
void for_each_index(cpu_t, std::int64_t n, const K& k) {
  for (std::int64_t i = 0; i < n; ++i) k(i);
}

/// OpenMP parallel loop (static schedule). Without -fopenmp it runs serially.
template <IndexKernel K>
void for_each_index(omp_t, std::int64_t n, const K& k) {
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < n; ++i) k(i);
}

/// Threads an OpenMP region would use (1 without OpenMP).
inline int max_threads() noexcept {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

/// Sets the OpenMP thread count for later parallel regions (ignored without OpenMP).
inline void set_num_threads(int n) noexcept {
#if defined(_OPENMP)
  if (n > 0) omp_set_num_threads(n);
#else
  (void)n;
#endif
}

}  // namespace wsss::backend
