// SPDX-License-Identifier: MIT
// wsss/backend/device_memory.hpp — device arrays and explicit, counted transfers: one
// interface for every backend, so a device pipeline is written once and its transfers can
// be asserted in tests on the CPU
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "wsss/backend/concepts.hpp"
#include "wsss/backend/for_each_index.hpp"
#include "wsss/backend/tags.hpp"
#include "wsss/core/config.hpp"

namespace wsss::backend {

/// Host <-> device copies made through to_device / to_host / upload / download since the
/// process started (or the last reset), all backends together. Device pipelines promise a
/// fixed number per call (docs/backend.md); tests hold them to it.
struct transfer_counts {
  std::uint64_t uploads = 0, downloads = 0;        ///< copies
  std::uint64_t bytes_up = 0, bytes_down = 0;      ///< bytes
  friend bool operator==(const transfer_counts&, const transfer_counts&) = default;
};

namespace detail {
struct transfer_counters {
  std::atomic<std::uint64_t> uploads{0}, downloads{0}, bytes_up{0}, bytes_down{0};
};
inline transfer_counters& counters() noexcept {
  static transfer_counters c;
  return c;
}
inline void count_upload(std::size_t bytes) noexcept {
  counters().uploads.fetch_add(1, std::memory_order_relaxed);
  counters().bytes_up.fetch_add(bytes, std::memory_order_relaxed);
}
inline void count_download(std::size_t bytes) noexcept {
  counters().downloads.fetch_add(1, std::memory_order_relaxed);
  counters().bytes_down.fetch_add(bytes, std::memory_order_relaxed);
}
}  // namespace detail

/// The transfer counters now.
inline transfer_counts transfers() noexcept {
  const auto& c = detail::counters();
  return {c.uploads.load(), c.downloads.load(), c.bytes_up.load(), c.bytes_down.load()};
}
/// The transfers between two readings (b after a).
inline transfer_counts operator-(const transfer_counts& b, const transfer_counts& a) noexcept {
  return {b.uploads - a.uploads, b.downloads - a.downloads, b.bytes_up - a.bytes_up, b.bytes_down - a.bytes_down};
}

/// The memory of a backend: memory<Tag>::array<T> is its owning array type, make(tag, n)
/// allocates one (uninitialised) and copy_in / copy_out move bytes to and from it; a
/// specialisation may add fill(tag, array, value) when kernels cannot fill its arrays. Host backends (cpu, omp,
/// thrust_omp) keep "device" arrays in host memory, but go through the same calls, so the
/// pipeline (and its transfer count) is the one a GPU runs. cuda_t's specialisation is in
/// wsss/backend/cuda/memory.cuh.
template <class Tag>
struct memory {
  static_assert(std::is_base_of_v<cpu_t, Tag>,
                "wsss: no device memory for this backend tag: include wsss/cuda.hpp (nvcc) for cuda");
  template <class T>
  class array {
   public:
    using value_type = T;
    array() = default;
    explicit array(std::size_t n) : v_(n) {}
    T* data() noexcept { return v_.data(); }
    const T* data() const noexcept { return v_.data(); }
    std::size_t size() const noexcept { return v_.size(); }

   private:
    std::vector<T> v_;
  };
  template <class T>
  static array<T> make(const Tag&, std::size_t n) {
    return array<T>(n);
  }
  template <class T>
  static void copy_in(const Tag&, array<T>& dst, std::span<const T> src) {
    std::copy(src.begin(), src.end(), dst.data());
  }
  template <class T>
  static void copy_out(const Tag&, const array<T>& src, std::size_t at, std::span<T> dst) {
    std::copy(src.data() + at, src.data() + at + dst.size(), dst.begin());
  }
};

/// The array type of backend Tag holding T.
template <class T, class Tag>
using device_array = typename memory<Tag>::template array<T>;

/// Gives a a new allocation of n elements unless it has that size (contents not kept).
template <class Tag, class A>
void resize(const Tag& tag, A& a, std::int64_t n) {
  using T = typename A::value_type;
  if (a.size() != static_cast<std::size_t>(n)) a = memory<Tag>::template make<T>(tag, static_cast<std::size_t>(n));
}

/// Copies host data into dst (resized to src's size when it differs), counted as one upload.
template <class Tag, class T>
void upload(const Tag& tag, std::span<const T> src, device_array<T, Tag>& dst) {
  resize(tag, dst, static_cast<std::int64_t>(src.size()));
  if (src.empty()) return;
  memory<Tag>::copy_in(tag, dst, src);
  detail::count_upload(src.size_bytes());
}
/// A new device array holding host data (one upload).
template <class Tag, class T>
device_array<T, Tag> to_device(const Tag& tag, std::span<const T> src) {
  device_array<T, Tag> d;
  upload(tag, src, d);
  return d;
}
/// Copies dst.size() elements of src from element `at` on to host memory (one download;
/// waits for the work queued before it on the tag's stream).
template <class Tag, class T>
void download(const Tag& tag, const device_array<T, Tag>& src, std::span<T> dst, std::size_t at = 0) {
  WSSS_ASSERT(at + dst.size() <= src.size());
  if (dst.empty()) return;
  memory<Tag>::copy_out(tag, src, at, dst);
  detail::count_download(dst.size_bytes());
}
/// A host copy of a whole device array (one download).
template <class Tag, class A>
auto to_host(const Tag& tag, const A& src) {
  using T = typename A::value_type;
  static_assert(std::is_same_v<A, device_array<T, Tag>>, "wsss: to_host takes a device array of the same backend");
  std::vector<T> h(src.size());
  download(tag, src, std::span<T>(h));
  return h;
}

/// A plan's device arrays B: a copy starts with an empty B (device arrays do not copy; a copied
/// plan, e.g. the one a tape node keeps, sizes its own on its first run). Moves move them.
template <class B>
struct fresh_on_copy : B {
  fresh_on_copy() = default;
  // B() and a default-initialised B, not B{}: aggregate init would copy-list-initialise the
  // arrays, and an OpenCL vector's default constructor is explicit.
  fresh_on_copy(const fresh_on_copy&) : B() {}
  fresh_on_copy& operator=(const fresh_on_copy&) {
    B fresh;
    static_cast<B&>(*this) = std::move(fresh);
    return *this;
  }
  fresh_on_copy(fresh_on_copy&&) = default;
  fresh_on_copy& operator=(fresh_on_copy&&) = default;
  ~fresh_on_copy() = default;
};

namespace detail {
template <class T>
struct fill_kernel {
  T* p;
  T v;
  WSSS_HD void operator()(std::int64_t i) const { p[i] = v; }
};
}  // namespace detail

/// Sets every element of a device array to v, on the device (no transfer).
template <class Tag, class A, class T>
void fill(const Tag& tag, A& a, T v) {
  if constexpr (requires { memory<Tag>::fill(tag, a, v); })
    memory<Tag>::fill(tag, a, v);
  else
    for_each_index(tag, static_cast<std::int64_t>(a.size()), detail::fill_kernel<T>{a.data(), v});
}

}  // namespace wsss::backend
