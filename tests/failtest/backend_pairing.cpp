// SPDX-License-Identifier: MIT
// tests/failtest/backend_pairing.cpp — a policy run on a backend it has no implementation for
// (supports<Policy, Backend> false) fails to compile with require_backend's text: here the
// host dense CRF on a device tag, which only crf::device_mean_field supports.
#include <string_view>

#include "wsss/crf/device_mean_field.hpp"
#include "wsss/crf/mean_field.hpp"

struct gpu_like_t {  // a device backend: not derived from cpu_t
  static constexpr std::string_view name = "gpu_like";
};

#ifdef WSSS_SHOULD_FAIL
using tag = gpu_like_t;
#else
using tag = wsss::omp_t;
#endif

static_assert(wsss::supports<wsss::crf::device_mean_field<gpu_like_t>, gpu_like_t>::value);

void run(wsss::crf::mean_field<>::plan& pl, const wsss::tensor& u, wsss::tensor& q) {
  wsss::crf::mean_field<>{}.run(wsss::exec<tag>{}, pl, u, q);
}
