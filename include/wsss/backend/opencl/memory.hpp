// SPDX-License-Identifier: MIT
// wsss/backend/opencl/memory.hpp — opencl_t's device memory: Boost.Compute vectors in the
// queue's context, counted copies on the tag's queue
#pragma once

#include <boost/compute/algorithm/copy.hpp>
#include <boost/compute/algorithm/fill.hpp>
#include <boost/compute/container/vector.hpp>

#include <cstddef>
#include <span>

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
    boost::compute::copy(src.begin(), src.end(), dst.begin(), *tag.queue);
  }
  template <class T>
  static void copy_out(const opencl_t& tag, const array<T>& src, std::span<T> dst) {
    boost::compute::copy(src.begin(), src.begin() + static_cast<std::ptrdiff_t>(dst.size()), dst.begin(), *tag.queue);
  }
  template <class T>
  static void fill(const opencl_t& tag, array<T>& a, T v) {
    boost::compute::fill(a.begin(), a.end(), v, *tag.queue);
  }
};

}  // namespace wsss::backend
