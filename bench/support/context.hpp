// SPDX-License-Identifier: MIT
// context.hpp — what every benchmark's header says besides Google Benchmark's own lines: the
// CPU model, the kernels this binary runs (the instruction set and GEMM path chosen at run
// time, Eigen's SIMD) and the OpenMP threads, because a ratio against libtorch means little
// without them. WSSS_ISA=generic|avx2|avx512 runs the other variants.
#pragma once

#include <string>

#include <Eigen/Core>
#include <benchmark/benchmark.h>

#include "wsss/autodiff/ops/detail/sgemm.hpp"
#include "wsss/backend/for_each_index.hpp"
#include "wsss/report/cpu.hpp"

namespace wsss_bench {

inline void add_machine_context() {
  benchmark::AddCustomContext("cpu", wsss::report::cpu_name());
  benchmark::AddCustomContext("isa", wsss::isa_name(wsss::active_isa()));
  benchmark::AddCustomContext("gemm", wsss::ad::detail::sgemm_path());
  benchmark::AddCustomContext("eigen_simd", Eigen::SimdInstructionSetsInUse());
  benchmark::AddCustomContext("omp_threads", std::to_string(wsss::backend::max_threads()));
}

/// Google Benchmark's main with the machine context (and a reporter of the bench's own, if
/// any); 1 on an unrecognised argument.
inline int run_benchmarks(int argc, char** argv, benchmark::BenchmarkReporter* reporter = nullptr) {
  add_machine_context();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  if (reporter) benchmark::RunSpecifiedBenchmarks(reporter);
  else benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace wsss_bench
