// SPDX-License-Identifier: MIT
// wsss/backend/cuda/launch.cuh — the CUDA backend tag and a grid-stride launcher for
// IndexKernels (nvcc only; compiled in CI, run on a GPU host)
#pragma once

#if !defined(__CUDACC__)
#error "wsss/backend/cuda/launch.cuh needs nvcc (include wsss/cuda.hpp from a .cu file)"
#endif

#include <cuda_runtime.h>
#include <thrust/execution_policy.h>

#include <cstdint>
#include <string>

#include "wsss/backend/concepts.hpp"
#include "wsss/backend/for_each_index.hpp"
#include "wsss/backend/tags.hpp"
#include "wsss/core/config.hpp"
#include "wsss/core/error.hpp"

namespace wsss {

/// CUDA backend tag; carries the stream work is queued on (default stream if none).
struct cuda_t {
  static constexpr std::string_view name = "cuda";
  cudaStream_t stream = nullptr;
  cuda_t on(cudaStream_t s) const { return cuda_t{s}; }
};
inline constexpr cuda_t cuda{};
/// A GPU: batches of images pay (backend::batch_pays).
template <>
struct backend::batch_pays<cuda_t> {
  static bool on(const cuda_t&) { return true; }
};

namespace backend {

/// Throws backend_error with CUDA's own text when status is not cudaSuccess.
inline void check_cuda(cudaError_t status, const char* what) {
  if (status != cudaSuccess)
    throw backend_error(wsss::detail::cat("[wsss.backend] cuda: ", what, " failed: ", cudaGetErrorName(status), " (",
                                    cudaGetErrorString(status), ")"),
                        cudaGetErrorString(status));
}

namespace detail {
template <class K>
__global__ void grid_stride_kernel(std::int64_t n, K k) {
  // Grid-stride loop: any grid size covers any n, so small jobs launch few blocks.
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(blockDim.x) * gridDim.x)
    k(i);
}
}  // namespace detail

/// Launches k over [0, n) on the tag's stream; block size from the occupancy API, the grid
/// capped at what the device keeps resident (more blocks only add scheduling cost).
template <>
struct launcher<cuda_t> {
  template <IndexKernel K>
  static void run(cuda_t tag, std::int64_t n, const K& k) {
    if (n <= 0) return;
    int min_grid = 0, block = 0;
    check_cuda(cudaOccupancyMaxPotentialBlockSize(&min_grid, &block, detail::grid_stride_kernel<K>, 0, 0),
               "cudaOccupancyMaxPotentialBlockSize");
    const std::int64_t needed = (n + block - 1) / block;
    const int grid = static_cast<int>(needed < min_grid ? needed : min_grid);
    detail::grid_stride_kernel<K><<<grid, block, 0, tag.stream>>>(n, k);
    check_cuda(cudaGetLastError(), "kernel launch");
  }
};

template <>
struct thrust_system<cuda_t> {
  static constexpr bool available = true;
  static auto policy(const cuda_t& tag) { return thrust::cuda::par.on(tag.stream); }
};

}  // namespace backend
}  // namespace wsss
