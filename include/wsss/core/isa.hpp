// SPDX-License-Identifier: MIT
// wsss/core/isa.hpp — which SIMD instruction set the float kernels run, chosen at run time from
// the CPU, never from compile flags: every translation unit holds the same code and the same
// data layouts whatever its -march, and one binary uses AVX-512 where the CPU has it. Kernels
// with several variants compile each under its own target attribute (WSSS_TARGET_AVX2 /
// WSSS_TARGET_AVX512) and are called only when active_isa() allows it.
#pragma once

#include <atomic>
#include <cstdlib>
#include <string>
#include <string_view>

#include "wsss/core/error.hpp"

// Target attributes add to the command line's ISA (GCC and Clang alike): the AVX-512 variant of
// a kernel compiles to AVX-512 in a TU built for baseline x86-64. Architecture macros, unlike ISA
// macros, are the same in every TU of one program.
#if defined(__x86_64__) || defined(__i386__)
#define WSSS_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define WSSS_TARGET_AVX512 __attribute__((target("avx512f,avx2,fma")))
#else
#define WSSS_TARGET_AVX2
#define WSSS_TARGET_AVX512
#endif

namespace wsss {

/// The instruction sets the kernels have variants for, in increasing order.
enum class isa : int { generic = 0, avx2 = 1, avx512 = 2 };

inline const char* isa_name(isa s) noexcept {
  switch (s) {
    case isa::avx512: return "avx512";
    case isa::avx2: return "avx2";
    case isa::generic: break;
  }
  return "generic";
}

/// The alternative (a kernel, a block shape, a name) that goes with instruction set s.
template <class T>
constexpr T pick_isa(isa s, T avx512, T avx2, T generic) noexcept {
  return s == isa::avx512 ? avx512 : s == isa::avx2 ? avx2 : generic;
}

/// The best instruction set this CPU runs (AVX2 counts only with FMA).
inline isa cpu_isa() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return isa::avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return isa::avx2;
#endif
  return isa::generic;
}

/// "generic", "avx2" or "avx512"; anything else, or a set this CPU lacks, is a value_error
/// naming `who` (where the name came from).
inline isa parse_isa(std::string_view name, std::string_view who = "isa") {
  for (isa s : {isa::generic, isa::avx2, isa::avx512}) {
    if (name != isa_name(s)) continue;
    require(s <= cpu_isa(), who, "'", name, "' is not available on this CPU (it runs up to '", isa_name(cpu_isa()), "')");
    return s;
  }
  throw_value(who, "unknown instruction set '", name, "' (expected generic, avx2 or avx512)");
}

namespace detail {
/// The selection, initialised once: WSSS_ISA from the environment if set, else the CPU's best.
inline std::atomic<int>& isa_slot() {
  static std::atomic<int> slot{[] {
    const char* env = std::getenv("WSSS_ISA");
    return static_cast<int>(env && *env ? parse_isa(env, "WSSS_ISA (environment)") : cpu_isa());
  }()};
  return slot;
}
}  // namespace detail

/// The instruction set the kernels run now (a value_error while WSSS_ISA names no set this CPU
/// runs; the `wsss` command checks it before any work).
inline isa active_isa() { return static_cast<isa>(detail::isa_slot().load(std::memory_order_relaxed)); }

/// Selects the kernels' instruction set for the whole process (tests and benchmarks compare the
/// variants); returns the previous one. One this CPU lacks is a value_error.
inline isa set_isa(isa s) {
  parse_isa(isa_name(s));  // checks that the CPU runs it
  return static_cast<isa>(detail::isa_slot().exchange(static_cast<int>(s)));
}

/// Selects an instruction set for a scope and restores the previous one on exit.
class isa_scope {
 public:
  explicit isa_scope(isa s) : previous_(set_isa(s)) {}
  ~isa_scope() { set_isa(previous_); }
  isa_scope(const isa_scope&) = delete;
  isa_scope& operator=(const isa_scope&) = delete;

 private:
  isa previous_;
};

}  // namespace wsss
