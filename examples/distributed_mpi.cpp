// SPDX-License-Identifier: MIT
// distributed_mpi — a method's run spread over MPI ranks from C++ (docs/distributed.md): the
// per-image stages share the images out, the networks train data parallel, rank 0 writes the
// shared files and the report. Built where MPI is (target wsss::mpi).
//
//   mpirun -np 2 distributed_mpi DATA WORK      (e.g. ./wsss-scenes after `wsss scenes wsss-scenes`)
//
// Resumable like `wsss run affinitynet`, with any number of ranks.
#include <cstdio>
#include <filesystem>

#include "wsss/dist/mpi.hpp"
#include "wsss/methods/affinitynet.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: mpirun -np K distributed_mpi DATA WORK\n");
    return 2;
  }
  const std::filesystem::path data = argv[1], work = argv[2];
  try {
    // example-begin distributed
    using namespace wsss;
    const dist::mpi_group ranks;                // MPI_Init (once per program), MPI_COMM_WORLD's ranks
    methods::run_options opt;
    opt.data = data;
    opt.work = work;                            // one folder for every rank (a shared file system)
    opt.group = &ranks;                         // without it: this process alone
    opt.sync_batch_norm = false;                // true: BN statistics over the whole mini-batch
    if (!ranks.root()) opt.out = nullptr;       // rank 0 prints the table
    methods::run_context cx(opt);
    const methods::affinitynet<> m(methods::affinitynet<>::config::scenes());
    const methods::run_summary s = m.run(cx);   // every rank returns the same mIoU rows
    // example-end
    if (ranks.root()) std::printf("report: %s (%s)\n", s.report_html.string().c_str(), ranks.describe().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "distributed_mpi: %s\n", e.what());
    return 1;
  }
}
