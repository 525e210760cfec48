// SPDX-License-Identifier: MIT
// wsss/dist/group.hpp — the processes a job runs on (MPI ranks, or this process alone) and what
// the stages ask of them: a rank and a size, a barrier, element-wise sums, agreement on a failure,
// and deterministic shards of a work list. The core never needs MPI: dist::local() is the
// one-process group, and wsss/dist/mpi.hpp (target wsss::mpi) adds the MPI one.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "wsss/core/error.hpp"

namespace wsss::dist {

/// A fixed set of cooperating processes, numbered 0 .. size()-1. Every collective (barrier,
/// sum, any) must be called by every rank in the same order; each returns the same result on
/// every rank. A run-time interface rather than a policy slot: whether a program was started by
/// mpirun is known only when it runs, and the calls are per stage or per training step, never
/// per pixel, so the virtual call costs nothing measurable.
class group {
 public:
  virtual ~group() = default;
  virtual int rank() const noexcept = 0;
  virtual int size() const noexcept = 0;
  /// "MPI, rank 1 of 2" or "one process": for logs and errors.
  virtual std::string describe() const = 0;
  virtual void barrier() const = 0;
  /// Element-wise sums over the ranks, in place.
  virtual void sum(std::span<float> values) const = 0;
  virtual void sum(std::span<double> values) const = 0;
  virtual void sum(std::span<std::int64_t> values) const = 0;
  /// Element-wise maxima over the ranks, in place.
  virtual void max(std::span<double> values) const = 0;

  bool root() const noexcept { return rank() == 0; }
  /// True on every rank when `mine` is true on any: how ranks agree that one of them failed,
  /// so none waits forever in a later collective.
  bool any(bool mine) const {
    std::int64_t v = mine ? 1 : 0;
    sum(std::span<std::int64_t>(&v, 1));
    return v > 0;
  }
};

/// After a step that may have failed on some rank: every rank learns whether any did. A rank
/// whose step failed rethrows its own error; the others throw value_error(component, what...),
/// so no rank waits forever in a later collective. One process just rethrows its error.
template <class... What>
void agree_on_failure(const group& g, const std::exception_ptr& error, std::string_view component, const What&... what) {
  if (g.size() > 1 && g.any(error != nullptr) && !error) throw_value(component, what...);
  if (error) std::rethrow_exception(error);
}

/// This process alone: every collective is the identity.
class local_group final : public group {
 public:
  int rank() const noexcept override { return 0; }
  int size() const noexcept override { return 1; }
  std::string describe() const override { return "one process"; }
  void barrier() const override {}
  void sum(std::span<float>) const override {}
  void sum(std::span<double>) const override {}
  void sum(std::span<std::int64_t>) const override {}
  void max(std::span<double>) const override {}
};

/// The one-process group every run uses unless it is given another.
inline const group& local() {
  static const local_group g;
  return g;
}

/// The elements of `items` that rank `rank` of `size` handles: every size-th one from position
/// `rank`. Round-robin over the list (not blocks) balances a list sorted by cost, and every
/// item belongs to exactly one rank, whatever the size.
template <class T>
std::vector<T> shard(std::span<const T> items, int rank, int size) {
  std::vector<T> mine;
  for (std::size_t k = static_cast<std::size_t>(rank); k < items.size(); k += static_cast<std::size_t>(size))
    mine.push_back(items[k]);
  return mine;
}

/// The contiguous block [first, second) of n items that rank `rank` of `size` holds: sizes
/// differ by at most one, the larger blocks first (a mini-batch split across ranks).
inline std::pair<std::size_t, std::size_t> block(std::size_t n, int rank, int size) {
  const auto r = static_cast<std::size_t>(rank), k = static_cast<std::size_t>(size);
  const std::size_t base = n / k, extra = n % k;
  const std::size_t lo = r * base + std::min(r, extra);
  return {lo, lo + base + (r < extra ? 1 : 0)};
}

}  // namespace wsss::dist
