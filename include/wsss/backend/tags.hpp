// SPDX-License-Identifier: MIT
// wsss/backend/tags.hpp — backend tag types, passed first to every algorithm
#pragma once

#include <string_view>
#include <type_traits>

namespace wsss {

/// Serial CPU. Every other host backend derives from it, so a component with only a serial
/// implementation still accepts them (fallback by inheritance, as Thrust's policies do).
struct cpu_t {
  static constexpr std::string_view name = "cpu";
};
/// OpenMP threads on the CPU (`#pragma omp parallel for`).
struct omp_t : cpu_t {
  static constexpr std::string_view name = "omp";
};
/// Thrust with its OpenMP device system: the CUDA kernel bodies, run on the CPU.
struct thrust_omp_t : omp_t {
  static constexpr std::string_view name = "thrust_omp";
};

inline constexpr cpu_t cpu{};
inline constexpr omp_t omp{};
inline constexpr thrust_omp_t thrust_omp{};

// cuda_t (carries a stream) lives in wsss/backend/cuda/launch.cuh and opencl_t (carries a
// Boost.Compute command queue) in wsss/backend/opencl/launch.hpp, so that the CPU headers
// never pull in either toolkit.

/// Specialise to std::true_type for (component, backend) pairs that exist; algorithms
/// static_assert on it so an unsupported pairing fails at compile time with a readable text.
template <class Component, class Backend>
struct supports : std::is_base_of<cpu_t, Backend> {};

namespace backend {
/// The instance of Tag a policy bound to Tag runs on when its caller runs elsewhere
/// (wsss::policy_exec): Tag{} (the default CUDA stream); opencl_t's specialisation, beside the
/// tag, gives the system's default queue.
template <class Tag>
struct default_instance {
  static Tag get() { return Tag{}; }
};

/// Whether one launch over a batch of images beats one launch per image on Tag's device: on a
/// GPU the launches and the idle multiprocessors of a small image bound the rate; on a CPU
/// device the batch's arrays only outgrow the caches (affinitynet_on<opencl_t> on PoCL, 2
/// threads, 500 x 375 images: 2.67 -> 1.81 images/s in batches of 8, thrust_omp 3.86 ->
/// 3.03; AMD EPYC, 2026-12-07). Host tags: no; cuda_t: yes (launch.cuh); opencl_t: by its
/// device's type (opencl/launch.hpp).
template <class Tag>
struct batch_pays {
  static bool on(const Tag&) { return false; }
};
}  // namespace backend

}  // namespace wsss
