// SPDX-License-Identifier: MIT
// wsss/backend/cuda/memory.cuh — cuda_t's device memory: cudaMalloc'd arrays and counted,
// stream-ordered host <-> device copies (nvcc only)
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <span>
#include <utility>

#include "wsss/backend/cuda/launch.cuh"
#include "wsss/backend/device_memory.hpp"

namespace wsss::backend {

/// Owning device allocation of n elements (cudaMalloc; never managed memory). Moves only.
template <class T>
class device_buffer {
 public:
  using value_type = T;
  device_buffer() = default;
  explicit device_buffer(std::size_t n) : n_(n) {
    if (n) check_cuda(cudaMalloc(reinterpret_cast<void**>(&p_), n * sizeof(T)), "cudaMalloc");
  }
  ~device_buffer() {
    if (p_) cudaFree(p_);
  }
  device_buffer(device_buffer&& o) noexcept : p_(o.p_), n_(o.n_) {
    o.p_ = nullptr;
    o.n_ = 0;
  }
  device_buffer& operator=(device_buffer&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(n_, o.n_);
    return *this;
  }
  device_buffer(const device_buffer&) = delete;
  device_buffer& operator=(const device_buffer&) = delete;

  T* data() noexcept { return p_; }
  const T* data() const noexcept { return p_; }
  std::size_t size() const noexcept { return n_; }

 private:
  T* p_ = nullptr;
  std::size_t n_ = 0;
};

/// Device arrays of cuda_t are device_buffers; copies are queued on the tag's stream (an
/// upload from pageable memory returns once the source may be reused; a download waits for
/// the stream, so the kernels queued before it have finished).
template <>
struct memory<cuda_t> {
  template <class T>
  using array = device_buffer<T>;
  template <class T>
  static array<T> make(const cuda_t&, std::size_t n) {
    return array<T>(n);
  }
  template <class T>
  static void copy_in(const cuda_t& tag, array<T>& dst, std::span<const T> src) {
    check_cuda(cudaMemcpyAsync(dst.data(), src.data(), src.size_bytes(), cudaMemcpyHostToDevice, tag.stream),
               "cudaMemcpyAsync H2D");
  }
  template <class T>
  static void copy_out(const cuda_t& tag, const array<T>& src, std::size_t at, std::span<T> dst) {
    check_cuda(cudaMemcpyAsync(dst.data(), src.data() + at, dst.size_bytes(), cudaMemcpyDeviceToHost, tag.stream),
               "cudaMemcpyAsync D2H");
    check_cuda(cudaStreamSynchronize(tag.stream), "cudaStreamSynchronize");
  }
};

}  // namespace wsss::backend
