// SPDX-License-Identifier: MIT
// wsss/backend/cuda/memory.cuh — explicit, countable host <-> device transfers (nvcc only)
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <span>
#include <vector>

#include "wsss/backend/cuda/launch.cuh"

namespace wsss::backend {

/// Owning device allocation of n elements (cudaMalloc; never managed memory). Moves only.
template <class T>
class device_buffer {
 public:
  device_buffer() = default;
  explicit device_buffer(std::size_t n) : n_(n) {
    if (n) check_cuda(cudaMalloc(reinterpret_cast<void**>(&p_), n * sizeof(T)), "cudaMalloc");
  }
  ~device_buffer() {
    if (p_) cudaFree(p_);
  }
  device_buffer(device_buffer&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr; o.n_ = 0; }
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

/// Copies host data to a new device buffer (synchronous).
template <class T>
device_buffer<T> to_device(std::span<const T> host) {
  device_buffer<T> d(host.size());
  if (!host.empty())
    check_cuda(cudaMemcpy(d.data(), host.data(), host.size_bytes(), cudaMemcpyHostToDevice), "cudaMemcpy H2D");
  return d;
}

/// Copies a device buffer back to host memory (synchronous; waits for queued kernels).
template <class T>
std::vector<T> to_host(const device_buffer<T>& d) {
  std::vector<T> h(d.size());
  if (!h.empty())
    check_cuda(cudaMemcpy(h.data(), d.data(), d.size() * sizeof(T), cudaMemcpyDeviceToHost), "cudaMemcpy D2H");
  return h;
}

}  // namespace wsss::backend
