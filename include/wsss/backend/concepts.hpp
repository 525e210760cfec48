// SPDX-License-Identifier: MIT
// wsss/backend/concepts.hpp — the Backend and IndexKernel concepts
#pragma once

#include <concepts>
#include <cstdint>
#include <string_view>

#include "wsss/backend/tags.hpp"

namespace wsss::backend {

/// A backend is a tag type with a static name. Host backends derive from cpu_t; device
/// backends (cuda_t, opencl_t) carry their stream or queue.
template <class B>
concept Backend = std::is_class_v<B> && requires {
  { B::name } -> std::convertible_to<std::string_view>;
};

/// A kernel written once for every launcher: a trivially copyable functor called with one
/// flat index i in [0, n). Bodies are WSSS_HD, touch only raw pointers and PODs, and must not
/// depend on execution order (each i writes its own outputs).
template <class K>
concept IndexKernel = std::is_trivially_copyable_v<K> && std::invocable<const K&, std::int64_t>;

}  // namespace wsss::backend
