// SPDX-License-Identifier: MIT
// wsss/pool/detail/common.hpp — shared checks and the launch of the poolers' plane kernels on
// a backend tag (size-gated OpenMP for omp, the tag's launcher otherwise)
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "wsss/backend/for_each_index.hpp"
#include "wsss/backend/tags.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/pool/concepts.hpp"

namespace wsss::pool::detail {

/// Below this many input elements the omp backend runs a pooler serially: an OpenMP region
/// costs a few microseconds, more than GAP over a 21 x 41 x 41 map takes.
inline constexpr index_t parallel_threshold = index_t{1} << 16;

/// Runs kernel(i) for i in [0, items) on `tag`. cpu and omp go through one outlined OpenMP
/// loop (its `if` clause serial for cpu and for small work), which GCC vectorises the same
/// way; inlined into a plain serial loop some plane loops lost their vectorisation (5x slower
/// LSE at 21 x 41 x 41). Other tags (thrust_omp) use their launcher.
template <class Tag, backend::IndexKernel K>
void launch(const Tag& tag, index_t items, index_t work, const K& kernel) {
  if constexpr (std::is_same_v<Tag, cpu_t> || std::is_same_v<Tag, omp_t>) {
    const bool parallel = std::is_same_v<Tag, omp_t> && work >= parallel_threshold && items > 1;
#pragma omp parallel for schedule(static) if (parallel)
    for (index_t i = 0; i < items; ++i) kernel(i);
    (void)parallel;
    (void)tag;
  } else {
    backend::for_each_index(tag, items, kernel);
  }
}

/// How many contiguous parts launch() should split `items` into when each part needs its own
/// scratch: one per thread that will run, 1 when the loop runs serially.
template <class Tag>
index_t parts(const Tag&, index_t items, index_t work) {
  if constexpr (std::is_same_v<Tag, cpu_t>) return 1;
  if (std::is_same_v<Tag, omp_t> && work < parallel_threshold) return 1;
  return std::clamp<index_t>(backend::max_threads(), 1, std::max<index_t>(items, 1));
}

/// Throws unless s is a non-empty N x C x H x W shape (the text of expect_rank).
inline void check_scores(const shape& s, std::string_view component) {
  if (s.rank() != 4)
    throw_shape(component, "scores must be rank 4 (N x C x H x W), got rank ", s.rank(), " (", s, ")");
  if (s.numel() == 0) throw_shape(component, "scores must be non-empty, got ", s);
}

/// An empty plan of type Plan for scores of shape s (checked): what prepare returns when the
/// pooler needs nothing but the shape.
template <class Plan>
Plan plan_for(const shape& s, std::string_view component) {
  check_scores(s, component);
  Plan pl;
  pl.in = s;
  return pl;
}

/// Reshapes t to s unless it already has that shape (keeps storage when it can).
inline void ensure_shape(tensor& t, const shape& s) {
  if (t.shape() != s) {
    if (t.numel() == s.numel() && t.numel() != 0) t.reshape(s);
    else t = tensor::uninitialized(s);
  }
}

/// The planes of an N x C x H x W map: nc = N C planes of hw = H W positions each.
struct planes {
  index_t nc, hw;
};
inline planes planes_of(const shape& s) { return {s[0] * s[1], s[2] * s[3]}; }

/// Throws unless s has the shape plan pl was prepared for.
inline void check_prepared(const plan_base& pl, const shape& s, std::string_view component) {
  check_scores(s, component);
  if (pl.in.rank() == 0) throw_value(component, "run on a plan that was not prepared (call prepare first)");
  if (s != pl.in) throw_shape(component, "scores are ", s, " but the plan was prepared for ", pl.in);
}

/// Run preamble: checks s against the plan, sizes out to N x C and counts the run.
inline planes begin_run(plan_base& pl, const tensor& s, tensor& out, std::string_view component) {
  check_prepared(pl, s.shape(), component);
  ensure_shape(out, shape{s.dim(0), s.dim(1)});
  ++pl.runs;
  return planes_of(s.shape());
}

/// After a run whose kernel wrote NaN for each plane holding a NaN or an infinity (gmp, lse:
/// their reductions would otherwise drop a NaN and return a finite score): value_error naming
/// the first such plane.
inline void require_finite_planes(const tensor& out, const shape& s, std::string_view component) {
  for (index_t k = 0; k < out.numel(); ++k)
    if (!std::isfinite(out[k]))
      throw_value(component, "scores must be finite; plane (image ", k / s[1], ", class ", k % s[1], ") of ", s,
                  " holds a NaN or an infinity");
}

/// Backward preamble: the plan must have run; checks g (N x C) and sizes g_in to the input.
inline planes begin_backward(const plan_base& pl, const tensor& g, tensor& g_in, std::string_view component) {
  if (pl.runs == 0) throw_value(component, "backward called before forward (run the plan first)");
  expect_shape(g, shape{pl.in[0], pl.in[1]}, component, "gradient");
  ensure_shape(g_in, pl.in);
  return planes_of(pl.in);
}

}  // namespace wsss::pool::detail
