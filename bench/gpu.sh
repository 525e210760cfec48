#!/usr/bin/env bash
# bench/gpu.sh — the device check of a session lent a GPU machine (the `device` tool), in two
# halves because that machine has nvcc but none of wsss's Debian packages (doctest, Google
# Benchmark, Eigen, libpng):
#   here:  bash bench/gpu.sh pack     builds test_cuda and bench_cuda (nvcc, sm_80 + sm_90)
#                                     and puts them with the shared libraries they need
#                                     into build-gpu-kit/
#   there: bash bench/gpu.sh run      (device run, carry ["build-gpu-kit"]) runs the CUDA
#                                     tests, then the benchmarks, writing $OUT/cuda.json, then
#                                     `wsss label affinitynet` on 64 images and `wsss run sec`,
#                                     `attention` and `em` on 8, cpu vs cuda
set -euo pipefail
cd "$(dirname "$0")/.."
kit=build-gpu-kit
case "${1:-}" in
  pack)
    cmake -S . -B build -G Ninja -DWSSS_CLI_CUDA=ON >/dev/null
    cmake --build build -j2 --target test_cuda bench_cuda wsss_cli
    rm -rf "$kit" && mkdir -p "$kit/lib" "$kit/bin"
    cp build/tests/test_cuda build/bench/bench_cuda "$kit/"
    cp build/examples/wsss "$kit/bin/"  # bin/, so that it finds share/wsss/data (the embedded items)
    # Debian's libraries the binaries link (not glibc's: the GPU machine's own is newer).
    for bin in "$kit/test_cuda" "$kit/bench_cuda" "$kit/bin/wsss"; do
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
    echo "=== wsss label affinitynet: 64 scenes of 448 x 448 (networks trained on 16 small ones), cpu vs cuda"
    w=$(mktemp -d)
    mkdir -p "$kit/share/wsss" && ln -sfn "$PWD/examples/data" "$kit/share/wsss/data"
    tiny=(--preset scenes --width 0.0625 --threads "$(nproc)")
    "$kit/bin/wsss" -q scenes "$w/small" --train 16 --val 1 --size 128 --seed 3 >/dev/null
    "$kit/bin/wsss" -q scenes "$w/data" --train 64 --val 1 --size 448 --seed 4 >/dev/null
    "$kit/bin/wsss" -q run affinitynet --data "$w/small" --work "$w/run" --val-split "" "${tiny[@]}" >/dev/null
    for device in cpu cuda; do
      TIMEFORMAT="label --device $device: %R s for 64 images"
      time "$kit/bin/wsss" -q label affinitynet --weights "$w/run" --data "$w/data" --out "$w/$device" "${tiny[@]}" \
        --device "$device" || status=$?
    done
    diff -rq "$w/cpu" "$w/cuda" && echo "labels identical" || echo "labels differ (ties under other rounding?)"
    echo "=== wsss run sec / attention / em: 8 scenes of 64 x 64, one epoch a network, cpu vs cuda"
    "$kit/bin/wsss" -q scenes "$w/train" --train 8 --val 4 --size 64 --seed 5 >/dev/null
    for method in sec attention em; do
      for device in cpu cuda; do
        TIMEFORMAT="run $method --device $device: %R s"
        time "$kit/bin/wsss" -q run "$method" --data "$w/train" --work "$w/$method-$device" --preset scenes \
          --width 0.03125 --epochs 1 --threads "$(nproc)" --device "$device" >/dev/null || status=$?
      done
      echo "run $method: $(diff -rq "$w/$method-cpu/labels" "$w/$method-cuda/labels" | wc -l) label files differ"
    done
    exit "${status:-0}"
    ;;
  *)
    echo "usage: bash bench/gpu.sh pack|run" >&2
    exit 2
    ;;
esac
