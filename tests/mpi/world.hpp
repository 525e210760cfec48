// SPDX-License-Identifier: MIT
// tests/mpi/world.hpp — the MPI ranks test_mpi runs on (made in main.cpp before any test), and
// a folder every rank of the job shares.
#pragma once

#include <filesystem>

#include "wsss/dist/mpi.hpp"

namespace wsss_test {

const wsss::dist::mpi_group& world();

/// A fresh folder shared by the job's ranks (named after mpirun, the ranks' common parent),
/// emptied by rank 0 before anyone uses it.
std::filesystem::path shared_dir(const std::string& name);

}  // namespace wsss_test
