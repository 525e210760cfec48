// SPDX-License-Identifier: MIT
// main.cpp — the `wsss` command: one executable, one subcommand per job (docs/cli.md).
//
//   wsss scenes DIR [--train N] [--val N] [--size S] [--seed S] [--objects MIN MAX] [--full]
//   wsss eval --pred DIR --data DIR [--split S] [--classes N] [--names FILE]
//   wsss results --work DIR [DIR...] [--out docs/results.md]
//   wsss run METHOD ...      wsss label METHOD ...      (methods register in methods.hpp)
//   mpirun -np K wsss run|label ...   the same job spread over K ranks (docs/distributed.md)
//
// Exit status: 0 on success (and --help), 2 on a bad command line (one line on stderr), 1 on
// any other failure (the error's message, which names the component and the path).
#include <csignal>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "commands.hpp"
#include "methods.hpp"
#include "wsss/core/isa.hpp"
#ifdef WSSS_HAVE_MPI
#include "wsss/dist/mpi.hpp"
#endif

int main(int argc, char** argv) {
  // A file-size limit (ulimit -f) makes the write that crosses it fail with EFBIG instead of
  // killing the process, so the dataset and file writers clean up after themselves.
  std::signal(SIGXFSZ, SIG_IGN);
  const auto app = wsss_cli::make_app();
#ifdef WSSS_HAVE_MPI
  // Started by mpirun: join the job. Started alone: one process, MPI never initialised.
  std::unique_ptr<wsss::dist::mpi_group> mpi;
#endif
  try {
    wsss::active_isa();  // WSSS_ISA, if set, must name a set this CPU runs: say so before any work
#ifdef WSSS_HAVE_MPI
    if (wsss::dist::launched_by_mpi()) {
      mpi = std::make_unique<wsss::dist::mpi_group>();
      wsss_cli::globals().group = mpi.get();
    }
#endif
    app->parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app->exit(e);  // --help, --version
    std::fprintf(stderr, "%s\n", wsss_cli::parse_error_line(*app, e).c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    const auto* g = wsss_cli::globals().group;
    const std::string where = g && g->size() > 1 ? " (" + g->describe() + ")" : "";
    std::fprintf(stderr, "%s%s: error: %s\n", wsss_cli::command_name(*app).c_str(), where.c_str(), e.what());
#ifdef WSSS_HAVE_MPI
    // Another rank may wait for this one in a collective: end the whole job now.
    if (mpi && mpi->size() > 1) mpi->abort(1);
#endif
    return 1;
  }
  return 0;
}
