#!/usr/bin/env bash
# bench/gpu.sh — the device check of a session lent a GPU machine (the `device` tool), in two
# halves because that machine has nvcc but none of wsss's Debian packages (doctest, Google
# Benchmark, Eigen, libpng):
#   here:  bash bench/gpu.sh pack     builds test_cuda and bench_cuda (nvcc, sm_80 + sm_90)
#                                     and puts them with the shared libraries they need
#                                     into build-gpu-kit/
#   there: bash bench/gpu.sh run      (device run, carry ["build-gpu-kit"]) runs the CUDA
#                                     tests, then the benchmarks, writing $OUT/cuda.json
set -euo pipefail
cd "$(dirname "$0")/.."
kit=build-gpu-kit
case "${1:-}" in
  pack)
    cmake -S . -B build -G Ninja >/dev/null
    cmake --build build -j2 --target test_cuda bench_cuda
    rm -rf "$kit" && mkdir -p "$kit/lib"
    cp build/tests/test_cuda build/bench/bench_cuda "$kit/"
    # Debian's libraries the binaries link (not glibc's: the GPU machine's own is newer).
    for bin in "$kit/test_cuda" "$kit/bench_cuda"; do
      ldd "$bin" | awk '/=> \// {print $3}' | grep -Ev '/lib(c|m|pthread|dl|rt)\.so' | xargs -r cp -n -t "$kit/lib/"
    done
    du -sh "$kit"
    ;;
  run)
    [[ -x $kit/test_cuda ]] || { echo "bench/gpu.sh: $kit/ missing: run 'bash bench/gpu.sh pack' here and carry it" >&2; exit 2; }
    export LD_LIBRARY_PATH=$PWD/$kit/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
    echo "=== CUDA tests"
    "$kit/test_cuda" --success=false || status=$?
    echo "=== CUDA benchmarks"
    "$kit/bench_cuda" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
      ${OUT:+--benchmark_out=$OUT/cuda.json --benchmark_out_format=json}
    exit "${status:-0}"
    ;;
  *)
    echo "usage: bash bench/gpu.sh pack|run" >&2
    exit 2
    ;;
esac
