// SPDX-License-Identifier: MIT
// tests/cuda/backend.test.cu — the same IndexKernel body on the GPU and the CPU
#include <doctest/doctest.h>

#include "cuda/require_gpu.cuh"

#include <vector>

#include <wsss/backend/for_each_index.hpp>
#include <wsss/core/random.hpp>
#include <wsss/cuda.hpp>

namespace {
struct affine_kernel {
  float* y;
  const float* x;
  float a;
  WSSS_HD void operator()(std::int64_t i) const { y[i] = a * x[i] + static_cast<float>(i % 7) * 0.25f; }
};
}  // namespace

TEST_CASE("cuda launcher matches the serial CPU launcher bit for bit") {
  WSSS_REQUIRE_GPU();
  wsss::rng g(3);
  const wsss::tensor x = wsss::random_uniform({1 << 20}, g, -2.0, 2.0);
  std::vector<float> ref(static_cast<std::size_t>(x.numel()));
  wsss::backend::for_each_index(wsss::cpu, x.numel(), affine_kernel{ref.data(), x.data(), 1.5f});

  auto dx = wsss::backend::to_device(wsss::cuda, x.span());
  wsss::backend::device_buffer<float> dy(ref.size());
  wsss::backend::for_each_index(wsss::cuda, x.numel(), affine_kernel{dy.data(), dx.data(), 1.5f});
  CHECK(wsss::backend::to_host(wsss::cuda, dy) == ref);
  CHECK(wsss::backend::batch_pays<wsss::cuda_t>::on(wsss::cuda));  // a GPU: label synthesis batches by default
}

TEST_CASE("cuda launcher accepts an empty range and reports errors as backend_error") {
  wsss::backend::for_each_index(wsss::cuda, 0, affine_kernel{nullptr, nullptr, 1.0f});
  CHECK_THROWS_AS(wsss::backend::check_cuda(cudaErrorInvalidValue, "test"), wsss::backend_error);
}
