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

/// The launcher of one backend tag: a class template specialised per tag, so a launcher
/// declared in a header included later (Thrust, CUDA) is still found when a component's
/// template is instantiated. Unqualified overloads would bind at the component's definition
/// and silently fall back to the base tag's launcher.
template <class Tag>
struct launcher {
  static_assert(sizeof(Tag) == 0,
                "wsss: no launcher for this backend tag: include wsss/backend/thrust/for_each_index.hpp "
                "for thrust_omp, or wsss/cuda.hpp (nvcc) for cuda; opencl_t runs OpenCL C only (a component's "
                "<component>/opencl/*.hpp header)");
};

/// Serial loop.
template <>
struct launcher<cpu_t> {
  template <IndexKernel K>
  static void run(cpu_t, std::int64_t n, const K& k) {
    for (std::int64_t i = 0; i < n; ++i) k(i);
  }
};

/// OpenMP parallel loop (static schedule). Without -fopenmp it runs serially.
template <>
struct launcher<omp_t> {
  template <IndexKernel K>
  static void run(omp_t, std::int64_t n, const K& k) {
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < n; ++i) k(i);
  }
};

/// The Thrust execution policy of a backend tag, where it has one (policy(tag)):
/// thrust_omp_t in wsss/backend/thrust/for_each_index.hpp, cuda_t in wsss/backend/cuda/launch.cuh.
/// Algorithms that need Thrust's sorts and scans ask `available`.
template <class Tag>
struct thrust_system {
  static constexpr bool available = false;
};

/// Runs k(i) for every i in [0, n) on the backend named by the tag.
template <class Tag, IndexKernel K>
void for_each_index(const Tag& tag, std::int64_t n, const K& k) {
  launcher<Tag>::run(tag, n, k);
}

/// Threads an OpenMP region would use (1 without OpenMP).
inline int max_threads() noexcept {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

/// The calling thread's number in its OpenMP team (0 outside a parallel region or without OpenMP).
inline int thread_num() noexcept {
#if defined(_OPENMP)
  return omp_get_thread_num();
#else
  return 0;
#endif
}

/// Runs f(part) for every part in [0, parts), each part on one thread of an OpenMP team of up to
/// `parts` threads (inline when parts <= 1). Every part runs even if the runtime grants a
/// smaller team, so work split by part (per-thread buffers, say) is always complete.
template <class F>
void for_each_part(int parts, F&& f) {
#if defined(_OPENMP)
#pragma omp parallel num_threads(parts) if (parts > 1)
  for (int part = omp_get_thread_num(); part < parts; part += omp_get_num_threads()) f(part);
#else
  for (int part = 0; part < parts; ++part) f(part);
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
