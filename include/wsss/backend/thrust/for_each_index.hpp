// SPDX-License-Identifier: MIT
// wsss/backend/thrust/for_each_index.hpp — launch an IndexKernel through Thrust's OpenMP
// device system: the same functor a CUDA build launches on the GPU, run on the CPU.
// Needs the wsss::thrust_omp CMake target (THRUST_DEVICE_SYSTEM=THRUST_DEVICE_SYSTEM_OMP).
#pragma once

#include <cstdint>

#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/system/omp/execution_policy.h>

#include "wsss/backend/concepts.hpp"
#include "wsss/backend/for_each_index.hpp"
#include "wsss/core/config.hpp"
#include "wsss/backend/tags.hpp"

namespace wsss::backend {

namespace detail {
// Thrust passes the counting iterator's value; adapt to the kernel's int64 index.
template <class K>
struct thrust_adaptor {
  K k;
  WSSS_HD void operator()(std::int64_t i) const { k(i); }
};
}  // namespace detail

template <>
struct launcher<thrust_omp_t> {
  template <IndexKernel K>
  static void run(thrust_omp_t, std::int64_t n, const K& k) {
    thrust::for_each_n(thrust::omp::par, thrust::counting_iterator<std::int64_t>(0), n,
                       detail::thrust_adaptor<K>{k});
  }
};

template <>
struct thrust_system<thrust_omp_t> {
  static constexpr bool available = true;
  static auto policy(const thrust_omp_t&) { return thrust::omp::par; }
};

}  // namespace wsss::backend
