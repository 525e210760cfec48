// SPDX-License-Identifier: MIT
// wsss/autodiff/ops/common.hpp — helpers shared by the op families: the tape behind a var,
// input checks, and the size above which an elementwise loop is worth an OpenMP team
#pragma once

#include <string_view>

#include "wsss/autodiff/op.hpp"
#include "wsss/autodiff/tape.hpp"
#include "wsss/core/error.hpp"

namespace wsss::ad::detail {

/// Elements below which loops stay serial: a parallel region costs a few microseconds,
/// about what 32k float operations take on one core.
inline constexpr index_t parallel_grain = index_t{1} << 15;

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
