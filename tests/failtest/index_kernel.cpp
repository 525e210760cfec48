// SPDX-License-Identifier: MIT
// tests/failtest/index_kernel.cpp — backend::for_each_index takes an IndexKernel; a functor that
// owns a std::vector (not trivially copyable, so it cannot be copied to a device) is refused
// with the concept named.
#include <cstdint>
#include <vector>

#include "wsss/backend/for_each_index.hpp"

struct owning_kernel {
  std::vector<float> data;
  void operator()(std::int64_t i) const { (void)data[static_cast<std::size_t>(i)]; }
};

struct pointer_kernel {
  float* data;
  void operator()(std::int64_t i) const { data[i] += 1.0f; }
};

#ifdef WSSS_SHOULD_FAIL
using kernel = owning_kernel;
#else
using kernel = pointer_kernel;
#endif

void run(const kernel& k, std::int64_t n) { wsss::backend::for_each_index(wsss::cpu, n, k); }
