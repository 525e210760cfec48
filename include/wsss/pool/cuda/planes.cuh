// SPDX-License-Identifier: MIT
// wsss/pool/cuda/planes.cuh — the device poolers' per-plane reductions on CUDA: one thread
// block per (image, class) plane, CUB's BlockReduce combining the threads' partial sums and
// maxima (nvcc only; pool/device.hpp includes it there). Elsewhere one index per plane runs
// the host pooler's own loop (pool/detail/plane_kernels.hpp), which on a GPU is one thread
// summing a whole plane: 21 threads for 21 x 321 x 321 scores.
#pragma once

#if !defined(__CUDACC__)
#error "wsss/pool/cuda/planes.cuh needs nvcc"
#endif

#include <cub/block/block_reduce.cuh>

#include <cmath>
#include <cstdint>

#include "wsss/backend/cuda/launch.cuh"
#include "wsss/core/config.hpp"

namespace wsss::pool::device {

namespace cuda_planes {

/// Threads per plane. Each thread reads every plane_threads-th score (coalesced loads), so a
/// plane of 41 x 41 keeps 256 threads 6-7 scores each and one of 321 x 321 about 400.
inline constexpr int plane_threads = 256;

/// The first arg max of a set of scores and whether any is NaN or infinite: a reduction whose
/// order does not matter (ties go to the smaller position, NaN beats nothing), so the block
/// finds the host's first_argmax exactly.
struct first_max {
  float v;
  std::int32_t at;
  int bad;
};
struct first_max_op {
  __device__ first_max operator()(const first_max& a, const first_max& b) const {
    const bool take = b.v > a.v || (b.v == a.v && b.at < a.at);
    return {take ? b.v : a.v, take ? b.at : a.at, a.bad | b.bad};
  }
};

/// Thread t's part of plane x (n scores): positions t, t + T, ... Every thread starts from x[0]
/// at 0, as first_argmax does, so a plane whose x[0] is NaN answers 0.
template <int T>
__device__ first_max thread_max(const float* x, index_t n) {
  first_max m{x[0], 0, 0};
  for (index_t i = threadIdx.x; i < n; i += T) {
    const float v = x[i];
    m.bad |= (v - v) != 0.0f ? 1 : 0;
    if (v > m.v) m = {v, static_cast<std::int32_t>(i), m.bad};
  }
  return m;
}

/// The block's first arg max of plane x (valid in thread 0).
template <int T>
__device__ first_max block_max(const float* x, index_t n) {
  using reduce = cub::BlockReduce<first_max, T>;
  __shared__ typename reduce::TempStorage tmp;
  return reduce(tmp).Reduce(thread_max<T>(x, n), first_max_op{});
}

/// The block's sum of f(i) for i < n in float64 (valid in thread 0).
template <int T, class F>
__device__ double block_sum(index_t n, const F& f) {
  double part = 0;
  for (index_t i = threadIdx.x; i < n; i += T) part += f(i);
  using reduce = cub::BlockReduce<double, T>;
  __shared__ typename reduce::TempStorage tmp;
  return reduce(tmp).Sum(part);
}

/// The block's mean of plane x (valid in thread 0): GAP, and GWRP's d = 1 planes.
template <int T>
__device__ float block_mean(const float* x, index_t n) {
  const double total = block_sum<T>(n, [x](index_t i) { return static_cast<double>(x[i]); });
  return static_cast<float>(total / static_cast<double>(n));
}

// The kernels are templates on their block size (T threads) so that every translation unit
// may define them (a plain __global__ function in a header is defined once per .cu file).

/// GAP: out[k] = (1/hw) sum of plane k.
template <int T>
__global__ void __launch_bounds__(T) mean_planes(const float* s, float* out, index_t hw) {
  const float mean = block_mean<T>(s + blockIdx.x * hw, hw);
  if (threadIdx.x == 0) out[blockIdx.x] = mean;
}

/// GMP: out[k] the max of plane k (NaN where it holds a NaN or an infinity), arg[k] its first
/// position.
template <int T>
__global__ void __launch_bounds__(T) max_planes(const float* s, float* out, std::int32_t* arg, index_t hw) {
  const float* x = s + blockIdx.x * hw;
  const first_max m = block_max<T>(x, hw);
  if (threadIdx.x == 0) {
    out[blockIdx.x] = m.bad ? NAN : m.v;
    arg[blockIdx.x] = m.at;
  }
}

/// GWRP (SEC eq. 3) per plane k, weighted_kernel's cases: d = 1 the mean; m = 1 w_0 times the
/// first arg max (kept in arg[k]); else sum_j w_j s_(j) over the m kept ranks, in float64.
template <int T>
__global__ void __launch_bounds__(T) weighted_planes(const float* s, const std::int32_t* pos, const float* w,
                                                     plane_info pi, std::int32_t* arg, float* out, index_t hw) {
  const index_t k = blockIdx.x;
  const float* x = s + k * hw;
  if (pi.w_at(k) < 0) {
    const float mean = block_mean<T>(x, hw);
    if (threadIdx.x == 0) out[k] = mean;
    return;
  }
  const float* wk = w + pi.w_at(k);
  if (pi.slot(k) < 0) {
    const first_max m = block_max<T>(x, hw);
    if (threadIdx.x == 0) {
      arg[k] = m.at;
      out[k] = static_cast<float>(static_cast<double>(wk[0]) * x[m.at]);
    }
    return;
  }
  const std::int32_t* p = pos + pi.slot(k) * hw;
  const double total = block_sum<T>(pi.kept(k), [=](index_t j) { return static_cast<double>(wk[j]) * x[p[j]]; });
  if (threadIdx.x == 0) out[k] = static_cast<float>(total);
}

}  // namespace cuda_planes

/// The per-plane steps on CUDA: a block of cuda_planes::plane_threads per plane.
template <>
struct plane_steps<cuda_t> {
  static constexpr int t = cuda_planes::plane_threads;
  static void mean(const cuda_t& tag, const float* s, float* out, index_t nc, index_t hw) {
    launch(cuda_planes::mean_planes<t>, tag, nc, s, out, hw);
  }
  static void max(const cuda_t& tag, const float* s, float* out, std::int32_t* arg, index_t nc, index_t hw) {
    launch(cuda_planes::max_planes<t>, tag, nc, s, out, arg, hw);
  }
  static void weighted(const cuda_t& tag, const weighted_kernel& k, index_t nc) {
    launch(cuda_planes::weighted_planes<t>, tag, nc, k.s, k.pos, k.w, k.pi, k.arg, k.out, k.hw);
  }

 private:
  template <class... P, class... A>
  static void launch(void (*kernel)(P...), const cuda_t& tag, index_t nc, const A&... args) {
    if (nc == 0) return;
    kernel<<<static_cast<unsigned>(nc), t, 0, tag.stream>>>(args...);
    backend::check_cuda(cudaGetLastError(), "pool: a per-plane kernel's launch");
  }
};

}  // namespace wsss::pool::device
