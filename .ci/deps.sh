#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build wsss, its tests and its demo.
#   bash .ci/deps.sh           core + tests + demo
#   bash .ci/deps.sh --bench   also Google Benchmark's baselines: libtorch and OpenMP OpenBLAS
#   bash .ci/deps.sh --ci      also CI's hardening jobs (.ci/run, docs/reliability.md): clang 14
#                              with its OpenMP, sanitizer and libFuzzer runtimes, llvm-symbolizer
set -euo pipefail
pkgs=(build-essential cmake ninja-build pkg-config libeigen3-dev libboost-dev doctest-dev
      libbenchmark-dev libpng-dev libjpeg-dev nlohmann-json3-dev libthrust-dev libcli11-dev
      pocl-opencl-icd ocl-icd-opencl-dev opencl-headers libopenmpi-dev openmpi-bin)
if [[ "${1:-}" == "--bench" ]]; then
  pkgs+=(libtorch-dev libopenblas0-openmp)
fi
if [[ "${1:-}" == "--ci" ]]; then
  pkgs+=(clang-14 libclang-rt-14-dev libomp-14-dev llvm-14)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [[ "$(id -u)" != 0 ]] && sudo="sudo"
  echo "wsss: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [[ "${1:-}" == "--bench" ]]; then
  # libtorch's 1x1 convs and GEMMs go through the system BLAS: use OpenBLAS's OpenMP build.
  sudo=""
  [[ "$(id -u)" != 0 ]] && sudo="sudo"
  for lib in libblas.so.3 liblapack.so.3; do
    alt="/usr/lib/x86_64-linux-gnu/openblas-openmp/$lib"
    [[ -e "$alt" ]] && $sudo update-alternatives --set "$lib-x86_64-linux-gnu" "$alt" >/dev/null || true
  done
fi
echo "wsss: dependencies present"
