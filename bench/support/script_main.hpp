// SPDX-License-Identifier: MIT
// script_main.hpp — main() of a bench that a side-by-side script also drives
// (bench/*_vs_*.py): `--run ...` and `--dump ...` go to the bench's own command line, anything
// else to Google Benchmark.
#pragma once

#include <cstring>

#include "support/context.hpp"

namespace wsss_bench {

inline int script_main(int argc, char** argv, int (*cli)(int, char**)) {
  if (argc >= 2 && (std::strcmp(argv[1], "--run") == 0 || std::strcmp(argv[1], "--dump") == 0)) return cli(argc, argv);
  return run_benchmarks(argc, argv);
}

}  // namespace wsss_bench
