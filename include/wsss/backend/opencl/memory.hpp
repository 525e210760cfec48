// SPDX-License-Identifier: MIT
// wsss/backend/opencl/memory.hpp — opencl_t's device memory: Boost.Compute vectors in the
// queue's context, counted copies on the tag's queue
#pragma once

#include <boost/compute/algorithm/copy.hpp>
#include <boost/compute/algorithm/fill.hpp>
#include <boost/compute/container/vector.hpp>

#include <cstddef>
#include <map>
#include <string>
#include <tuple>
#include <cstdint>
#include <span>
#include <string_view>

#include "wsss/backend/device_memory.hpp"
#include "wsss/backend/opencl/launch.hpp"

namespace wsss::backend {

/// Device arrays of opencl_t are boost::compute::vectors in the tag's context. Uploads are
/// blocking writes; downloads blocking reads, which wait for the kernels queued before them.
template <>
struct memory<opencl_t> {
  template <class T>
  using array = boost::compute::vector<T>;
  template <class T>
  static array<T> make(const opencl_t& tag, std::size_t n) {
    if (!tag.queue) throw backend_error("[wsss.backend] opencl: the tag carries no command queue");
    return array<T>(n, tag.queue->get_context());
  }
  template <class T>
  static void copy_in(const opencl_t& tag, array<T>& dst, std::span<const T> src) {
    const auto lock = opencl::runtime_lock();
    boost::compute::copy(src.begin(), src.end(), dst.begin(), *tag.queue);
  }
  template <class T>
  static void copy_out(const opencl_t& tag, const array<T>& src, std::size_t at, std::span<T> dst) {
    const auto first = src.begin() + static_cast<std::ptrdiff_t>(at);
    const auto lock = opencl::runtime_lock();
    boost::compute::copy(first, first + static_cast<std::ptrdiff_t>(dst.size()), dst.begin(), *tag.queue);
  }
  template <class T>
  static void fill(const opencl_t& tag, array<T>& a, T v) {
    const auto lock = opencl::runtime_lock();
    boost::compute::fill(a.begin(), a.end(), v, *tag.queue);
  }
};

namespace opencl {

namespace detail {
// Kernel arguments: device arrays by their buffer, everything else by value.
template <class T>
const boost::compute::buffer& kernel_arg(const boost::compute::vector<T>& a) {
  return a.get_buffer();
}
template <class T>
const T& kernel_arg(const T& v) {
  return v;
}
}  // namespace detail

/// Queues kernel `name` of `source` (built once per context) over n work items with `args`
/// (device arrays, or values of the OpenCL C parameter's type: std::int64_t for long).
/// Kernel objects are kept per thread (a kernel's arguments are its state, so threads must not
/// share one), keyed by context, source and name: a walk of 256 steps creates two, not 512.
template <class... A>
void run(const opencl_t& tag, std::string_view source, const char* name, std::int64_t n, const A&... args) {
  using key = std::tuple<cl_context, const char*, std::string>;
  thread_local std::map<key, boost::compute::kernel> kernels;
  if (!tag.queue) throw backend_error("[wsss.backend] opencl: the tag carries no command queue");
  const key id{tag.queue->get_context().get(), source.data(), name};
  auto it = kernels.find(id);
  if (it == kernels.end()) it = kernels.emplace(id, get_kernel(tag, source, name)).first;
  boost::compute::kernel& k = it->second;
  k.set_args(detail::kernel_arg(args)...);
  launch(tag, k, static_cast<std::size_t>(n));
}

}  // namespace opencl
}  // namespace wsss::backend
