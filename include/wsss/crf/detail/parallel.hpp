// SPDX-License-Identifier: MIT
// wsss/crf/detail/parallel.hpp — what a backend tag means inside the CRF: the index kernels
// (blur, slice) launch on the tag itself; the OpenMP loops around them (lattice build,
// layout conversions, softmax, the splat parts) run threaded for omp_t and what derives from it
// (thrust_omp_t), serially for cpu_t
#pragma once

#include <type_traits>

#include "wsss/backend/for_each_index.hpp"
#include "wsss/backend/tags.hpp"

namespace wsss::crf::detail {

/// Whether a tag runs the CRF's OpenMP loops on several threads (the `if` clause of their
/// pragmas). Every loop writes disjoint outputs, so the tags give the same bits.
template <class Tag>
inline constexpr bool threaded = std::is_base_of_v<omp_t, Tag>;

/// f(part) for every part in [0, parts): one thread per part on a threaded tag, in part order
/// on cpu_t. The part count is the plan's (fixed when its buffers were reserved), never the
/// tag's, so the splat sums, added part by part, have the same bits on every tag.
template <class Tag, class F>
void for_each_part(const Tag&, int parts, F&& f) {
  if constexpr (threaded<Tag>) {
    backend::for_each_part(parts, f);
  } else {
    for (int part = 0; part < parts; ++part) f(part);
  }
}

}  // namespace wsss::crf::detail
