// SPDX-License-Identifier: MIT
// tests/mpi/main.cpp — doctest's main inside an MPI job: every rank runs every test case in
// the same order, so their collectives meet; the job fails when any rank fails.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <unistd.h>

#include <memory>
#include <string>

#include "mpi/world.hpp"

namespace {
std::unique_ptr<wsss::dist::mpi_group> job;
}

const wsss::dist::mpi_group& wsss_test::world() { return *job; }

std::filesystem::path wsss_test::shared_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("wsss-mpi-" + std::to_string(::getppid())) / name;
  if (world().root()) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
  }
  world().barrier();
  return dir;
}

int main(int argc, char** argv) {
  job = std::make_unique<wsss::dist::mpi_group>();
  doctest::Context context(argc, argv);
  const int failed = context.run();
  // Every rank's verdict: the job fails if any rank's tests did.
  const bool any_failed = job->any(failed != 0);
  if (job->root()) std::filesystem::remove_all(std::filesystem::temp_directory_path() / ("wsss-mpi-" + std::to_string(::getppid())));
  job.reset();
  return any_failed ? 1 : 0;
}
