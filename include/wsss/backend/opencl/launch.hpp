// SPDX-License-Identifier: MIT
// wsss/backend/opencl/launch.hpp — the OpenCL fallback backend through Boost.Compute: a tag
// carrying the command queue, a program cache keyed by source hash, and a 1-D launcher.
// OpenCL C cannot share the C++ functor, so each kernel is OpenCL C source kept beside its
// component (<component>/opencl/*.hpp) and held to the CPU result by parity tests.
#pragma once

#ifndef BOOST_COMPUTE_MAX_CL_VERSION
#define BOOST_COMPUTE_MAX_CL_VERSION 102
#endif

#include <boost/compute/core.hpp>
#include <boost/compute/utility/program_cache.hpp>

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "wsss/backend/tags.hpp"
#include "wsss/core/error.hpp"

namespace wsss {

/// OpenCL backend tag: work is queued on `queue` (explicit, as Boost.Compute's API is).
struct opencl_t {
  static constexpr std::string_view name = "opencl";
  boost::compute::command_queue* queue = nullptr;
};

namespace backend::opencl {

/// The system's default device, context and queue (PoCL on the CPU here). Throws
/// backend_error when no OpenCL platform is installed.
inline opencl_t default_queue() {
  try {
    static boost::compute::command_queue q = boost::compute::system::default_queue();
    return opencl_t{&q};
  } catch (const std::exception& e) {
    throw backend_error(wsss::detail::cat("[wsss.backend] opencl: no usable OpenCL device (", e.what(),
                                          "); install an ICD such as pocl-opencl-icd"));
  }
}

}  // namespace backend::opencl

/// A policy bound to opencl_t, called from a host stage, runs on the default queue.
template <>
struct backend::default_instance<opencl_t> {
  static opencl_t get() { return opencl::default_queue(); }
};
/// Batches pay on a GPU or an accelerator, not on a CPU device (PoCL).
template <>
struct backend::batch_pays<opencl_t> {
  static bool on(const opencl_t& tag) {
    return tag.queue && (tag.queue->get_device().type() & (CL_DEVICE_TYPE_GPU | CL_DEVICE_TYPE_ACCELERATOR)) != 0;
  }
};

namespace backend::opencl {

/// Held around every call that enters the OpenCL runtime to build or to run something (program
/// builds, launches, copies, fills, sorts). OpenCL allows several host threads on one queue, and
/// wsss labels and predicts images from several threads on the default queue, but PoCL's
/// single-threaded `basic` device deadlocks when two threads enqueue at once (both threads
/// waiting on one of its event locks: seen in CI's sanitizer stage, which selects that device,
/// and reproduced with POCL_DEVICES=basic), and Boost.Compute's program cache is a plain static
/// map. The work itself is queued, not run, under the lock, except on such host devices.
inline std::unique_lock<std::recursive_mutex> runtime_lock() {
  static std::recursive_mutex m;
  return std::unique_lock<std::recursive_mutex>(m);
}

/// Builds `source` once per context (cached under "wsss.<hash>") and returns `kernel_name`.
/// A build failure raises backend_error carrying the compiler's build log (in what() and log()).
inline boost::compute::kernel get_kernel(const opencl_t& tag, std::string_view source, const std::string& kernel_name,
                                         const std::string& options = {}) {
  if (!tag.queue) throw backend_error("[wsss.backend] opencl: the tag carries no command queue");
  const auto ctx = tag.queue->get_context();
  const std::string key = "wsss." + std::to_string(std::hash<std::string_view>{}(source));
  // Boost.Compute's global cache is a plain static LRU map: threads that label images side by
  // side (each with its own kernel objects) build through it one at a time.
  const auto lock = runtime_lock();
  auto cache = boost::compute::program_cache::get_global_cache(ctx);
  try {
    auto program = cache->get_or_build(key, options, std::string(source), ctx);
    return program.create_kernel(kernel_name);
  } catch (const boost::compute::program_build_failure& e) {
    // The compiler's messages go into what() too (their first 4000 characters), so an uncaught
    // failure says which line of the OpenCL C broke; log() keeps the whole log.
    const std::string log = e.build_log();
    throw backend_error(wsss::detail::cat("[wsss.backend] opencl: building ", kernel_name, " failed: ", e.what(),
                                          "; build log:\n", log.substr(0, 4000)),
                        log);
  } catch (const boost::compute::opencl_error& e) {
    throw backend_error(wsss::detail::cat("[wsss.backend] opencl: ", kernel_name, ": ", e.what()));
  }
}

/// Enqueues a 1-D range of n work items over `k` (arguments already set). The queue is not
/// drained: kernels run in order, and a blocking copy to the host (backend::download) waits
/// for them; a failure on the device surfaces there.
inline void launch(const opencl_t& tag, const boost::compute::kernel& k, std::size_t n) {
  if (n == 0) return;
  const auto lock = runtime_lock();
  try {
    tag.queue->enqueue_1d_range_kernel(k, 0, n, 0);
  } catch (const boost::compute::opencl_error& e) {
    throw backend_error(wsss::detail::cat("[wsss.backend] opencl: launch failed: ", e.what()));
  }
}

}  // namespace backend::opencl
}  // namespace wsss
