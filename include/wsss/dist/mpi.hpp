// SPDX-License-Identifier: MIT
// wsss/dist/mpi.hpp — dist::group over MPI (target wsss::mpi: Open MPI from Debian, found by
// find_package(MPI)). One mpi_group per program: it initialises MPI if nobody has, and
// finalises it if it did.
#pragma once

#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>

#include "wsss/core/error.hpp"
#include "wsss/dist/group.hpp"

namespace wsss::dist {

/// Whether a launcher (mpirun / mpiexec of Open MPI or MPICH, srun) started this process: only
/// then does a program join an MPI job; started alone it keeps dist::local().
inline bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "SLURM_STEP_NUM_TASKS"})
    if (std::getenv(v)) return true;
  return false;
}

/// The ranks of MPI_COMM_WORLD (a private duplicate of it, so wsss's messages never meet the
/// program's own). Errors are returned, not fatal, and become backend_error naming the call.
/// Only the thread that made the group calls MPI (MPI_THREAD_FUNNELED): the OpenMP threads
/// inside a rank never do.
class mpi_group final : public group {
 public:
  mpi_group(const mpi_group&) = delete;
  mpi_group& operator=(const mpi_group&) = delete;

  mpi_group() {
    int ready = 0;
    MPI_Initialized(&ready);
    if (!ready) {
      int provided = 0;
      check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
      owns_ = true;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    check(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "MPI_Comm_dup");
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }
  ~mpi_group() override {
    MPI_Comm_free(&comm_);
    int done = 0;
    MPI_Finalized(&done);
    if (owns_ && !done) MPI_Finalize();
  }

  int rank() const noexcept override { return rank_; }
  int size() const noexcept override { return size_; }
  std::string describe() const override {
    return "MPI, rank " + std::to_string(rank_) + " of " + std::to_string(size_);
  }
  void barrier() const override { check(MPI_Barrier(comm_), "MPI_Barrier"); }
  void sum(std::span<float> v) const override { reduce(v, MPI_FLOAT, MPI_SUM); }
  void sum(std::span<double> v) const override { reduce(v, MPI_DOUBLE, MPI_SUM); }
  void sum(std::span<std::int64_t> v) const override { reduce(v, MPI_INT64_T, MPI_SUM); }
  void max(std::span<double> v) const override { reduce(v, MPI_DOUBLE, MPI_MAX); }

  /// Ends the whole job at once (every rank), e.g. when one rank cannot go on and the others
  /// would wait for it in a collective.
  [[noreturn]] void abort(int code) const {
    MPI_Abort(comm_, code);
    std::abort();
  }

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  bool owns_ = false;

  void check(int code, const char* call) const {
    if (code == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(code, text, &len);
    throw backend_error(wsss::detail::cat("[wsss.backend] dist::mpi: ", call, " failed on rank ", rank_, ": ",
                                    std::string(text, static_cast<std::size_t>(len))));
  }
  // MPI counts are int: a long vector goes in chunks of at most INT_MAX / 2 elements.
  template <class T>
  void reduce(std::span<T> v, MPI_Datatype type, MPI_Op op) const {
    constexpr std::size_t chunk = INT_MAX / 2;
    for (std::size_t lo = 0; lo < v.size(); lo += chunk) {
      const int n = static_cast<int>(std::min(chunk, v.size() - lo));
      check(MPI_Allreduce(MPI_IN_PLACE, v.data() + lo, n, type, op, comm_), "MPI_Allreduce");
    }
  }
};

}  // namespace wsss::dist
