// SPDX-License-Identifier: MIT
// wsss/core/exec.hpp — the execution context every policy's run takes: a backend tag (where to
// run) and a workspace (the scratch to use), the first half of the stage protocol
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "wsss/backend/concepts.hpp"
#include "wsss/backend/tags.hpp"

namespace wsss {

/// Scratch that policies borrow while they run: one object per scratch type, default-constructed
/// on first use and kept, so buffers grow once and are reused by every later run. It replaces
/// engine-owned buffers and thread_local scratch: the caller owns it and says how long it lives
/// (one per thread, or per rank, or per pipeline). Not for concurrent use by two threads.
class workspace {
 public:
  workspace() = default;
  workspace(const workspace&) = delete;
  workspace& operator=(const workspace&) = delete;
  workspace(workspace&&) noexcept = default;
  workspace& operator=(workspace&&) noexcept = default;

  /// The workspace's object of type T (made on first use).
  template <class T>
  T& get() {
    for (auto& s : slots_)
      if (s.key == key<T>()) return *static_cast<T*>(s.object.get());
    slots_.push_back({key<T>(), holder(new T(), [](void* p) { delete static_cast<T*>(p); })});
    return *static_cast<T*>(slots_.back().object.get());
  }
  /// Number of scratch objects held.
  std::size_t size() const noexcept { return slots_.size(); }
  /// Frees every scratch object (the next run allocates again).
  void clear() noexcept { slots_.clear(); }

 private:
  using holder = std::unique_ptr<void, void (*)(void*)>;
  struct slot {
    const void* key;
    holder object;
  };
  // One distinct address per type (inline variable: the same in every translation unit).
  template <class T>
  static inline const char key_v = 0;
  template <class T>
  static const void* key() noexcept {
    return &key_v<T>;
  }
  std::vector<slot> slots_;
};

/// Where a policy runs (the tag, which may carry a CUDA stream or an OpenCL queue) and which
/// workspace it borrows scratch from. Cheap to copy; a null workspace makes every run allocate
/// its scratch afresh (correct, slower).
template <backend::Backend Tag = omp_t>
struct exec {
  using backend_type = Tag;
  Tag tag{};
  workspace* ws = nullptr;

  /// The workspace's T, or `fallback` when no workspace was given.
  template <class T>
  T& scratch(T& fallback) const {
    return ws ? ws->get<T>() : fallback;
  }
};

/// An exec on backend `tag` borrowing workspace `ws`.
template <backend::Backend Tag>
exec<Tag> on(Tag tag, workspace& ws) {
  return exec<Tag>{tag, &ws};
}

/// Fails to compile, naming the policy and the backend, when P has no implementation on Tag
/// (supports<P, Tag> is specialised beside each back end that exists).
template <class P, class Tag>
constexpr void require_backend() {
  static_assert(supports<P, Tag>::value,
                "wsss: this policy has no implementation on this backend (see supports<Policy, Backend> "
                "in the policy's header for the pairings that exist)");
}

}  // namespace wsss
