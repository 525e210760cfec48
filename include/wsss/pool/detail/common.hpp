// SPDX-License-Identifier: MIT
// wsss/pool/detail/common.hpp — shared checks and the size-gated parallel launch of the poolers
#pragma once

#include <cstdint>
#include <string_view>

#include "wsss/backend/for_each_index.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/tensor.hpp"

namespace wsss::pool::detail {

/// Below this many input elements a pooler runs serially: an OpenMP region costs a few
/// microseconds, more than GAP over a 21 x 41 x 41 map takes.
inline constexpr index_t parallel_threshold = index_t{1} << 16;

/// Runs kernel(i) for i in [0, items): an OpenMP loop when the total work is large, else the
/// same loop in the calling thread. Both go through one outlined body (OpenMP's `if` clause),
/// which GCC vectorises the same way; inlined into a plain serial loop some plane loops lost
/// their vectorisation (5x slower LSE at 21 x 41 x 41).
template <backend::IndexKernel K>
void launch(index_t items, index_t work, const K& kernel) {
  const bool parallel = work >= parallel_threshold && items > 1;
#pragma omp parallel for schedule(static) if (parallel)
  for (index_t i = 0; i < items; ++i) kernel(i);
  (void)parallel;
}

/// Throws unless s is a non-empty N x C x H x W score map.
inline void check_scores(const tensor& s, std::string_view component) {
  expect_rank(s, 4, component, "scores", "N x C x H x W");
  if (s.numel() == 0) throw_shape(component, "scores must be non-empty, got ", s.shape());
}

/// Throws unless g is N x C for the cached input shape in (N x C x H x W).
inline void check_grad(const tensor& g, const shape& in, std::string_view component) {
  if (in.rank() != 4) throw_value(component, "backward called before forward (empty cache)");
  expect_shape(g, shape{in[0], in[1]}, component, "gradient");
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

/// Forward preamble of a plane-wise pooler: checks the scores s, sizes out to N x C and
/// records s's shape in the cache shape `in`.
inline planes begin_forward(const tensor& s, tensor& out, shape& in, std::string_view component) {
  check_scores(s, component);
  ensure_shape(out, shape{s.dim(0), s.dim(1)});
  in = s.shape();
  return {s.dim(0) * s.dim(1), s.dim(2) * s.dim(3)};
}

/// Backward preamble of a plane-wise pooler: checks g against the cached input shape `in`
/// and sizes g_in to it.
inline planes begin_backward(const tensor& g, const shape& in, tensor& g_in, std::string_view component) {
  check_grad(g, in, component);
  ensure_shape(g_in, in);
  return {in[0] * in[1], in[2] * in[3]};
}

}  // namespace wsss::pool::detail
