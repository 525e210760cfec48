// SPDX-License-Identifier: MIT
// wsss/autodiff/ops/common.hpp — helpers shared by the op families: the tape behind a var,
// input checks, and the size above which an elementwise loop is worth an OpenMP team
#pragma once

#include <span>
#include <string_view>
#include <type_traits>

#include "wsss/autodiff/op.hpp"
#include "wsss/autodiff/tape.hpp"
#include "wsss/core/error.hpp"

namespace wsss::ad::detail {

/// Elements below which loops stay serial: a parallel region costs a few microseconds,
/// about what 32k float operations take on one core.
inline constexpr index_t parallel_grain = index_t{1} << 15;

/// Writes v into d (overwrite slot) or adds it (accumulate slot): the two ways a backward
/// kernel meets a gradient slot (see the Op contract in op.hpp).
template <bool Overwrite>
inline void put(float& d, float v) noexcept {
  if constexpr (Overwrite) {
    d = v;
  } else {
    d += v;
  }
}

/// Calls f(std::true_type{}) for an overwrite slot and f(std::false_type{}) otherwise, so a
/// kernel is compiled once per mode with no per-element branch: inside f, use
/// put<decltype(ow)::value>(d, v).
template <class F>
void by_mode(grad_slot m, F&& f) {
  if (m == grad_slot::overwrite) {
    f(std::true_type{});
  } else {
    f(std::false_type{});
  }
}

/// The mode of slot i (accumulate when the caller passed no modes).
inline grad_slot mode_of(std::span<const grad_slot> mode, std::size_t i) noexcept {
  return i < mode.size() ? mode[i] : grad_slot::accumulate;
}

/// The tape a var was recorded on; throws on an empty var.
inline tape& tape_of(const var& v, std::string_view component) {
  if (!v.valid()) throw_value(component, "empty var (not recorded on any tape)");
  return v.owner();
}

/// The common tape of two vars; throws if they come from different tapes.
inline tape& tape_of(const var& a, const var& b, std::string_view component) {
  tape& t = tape_of(a, component);
  if (&tape_of(b, component) != &t) throw_value(component, "inputs were recorded on different tapes");
  return t;
}

/// Resolves a possibly negative axis against a rank, or throws.
inline int normalize_axis(int axis, int rank, std::string_view component) {
  const int a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw_shape(component, "axis ", axis, " out of range for rank ", rank);
  return a;
}

/// Product of the extents before `axis`, the extent at it, and the product after it: the
/// (outer, mid, inner) view that every axis-wise op uses.
struct axis_split {
  index_t outer = 1, mid = 1, inner = 1;
};
inline axis_split split_at(const shape& s, int axis) {
  axis_split r;
  for (int i = 0; i < axis; ++i) r.outer *= s[i];
  r.mid = s[axis];
  for (int i = axis + 1; i < s.rank(); ++i) r.inner *= s[i];
  return r;
}

}  // namespace wsss::ad::detail
