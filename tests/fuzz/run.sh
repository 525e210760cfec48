#!/usr/bin/env bash
# Runs every fuzzer of a WSSS_BUILD_FUZZERS build for SECONDS each, on a scratch copy of its
# seed corpus (tests/fuzz/corpus/<name>, left unchanged) with its dictionary, and prints a
# table of executions, speed and coverage per driver. Fails on a crash, sanitizer finding,
# leak, out-of-memory (2 GB RSS) or timeout (10 s on one input), printing the input. Runs
# FUZZ_JOBS drivers at a time (default: the number of cores; each driver is one process).
#   bash tests/fuzz/run.sh BUILD_DIR [SECONDS] [DRIVER...]
set -euo pipefail
build=${1:?usage: run.sh BUILD_DIR [SECONDS] [DRIVER...]}
secs=${2:-60}
shift $(( $# < 2 ? $# : 2 ))
drivers=("$@")
((${#drivers[@]})) || drivers=(png jpeg safetensors json voc idx cli)
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
at_once=${FUZZ_JOBS:-$(nproc)}  # not `jobs`: that is the builtin the loop below calls
fuzz_one() {  # runs one driver; its log and exit status land in $work
  local name=$1 bin=$build/tests/fuzz/fuzz_$1
  local opts=(-max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -max_len=8192 -print_final_stats=1
              -artifact_prefix="$work/$name-")
  [[ -f $here/dict/$name.dict ]] && opts+=(-dict="$here/dict/$name.dict")
  local rc=0
  ASAN_OPTIONS=detect_leaks=1 "$bin" "${opts[@]}" "$work/$name" "$here/corpus/$name" >"$work/$name.log" 2>&1 || rc=$?
  echo "$rc" >"$work/$name.rc"
}
for name in "${drivers[@]}"; do
  [[ -x $build/tests/fuzz/fuzz_$name ]] || { echo "wsss: $build/tests/fuzz/fuzz_$name not built (cmake -DWSSS_BUILD_FUZZERS=ON, target fuzzers)"; exit 1; }
  mkdir -p "$work/$name"
done
for name in "${drivers[@]}"; do
  while (( $(jobs -rp | wc -l) >= at_once )); do wait -n || true; done
  fuzz_one "$name" &
done
wait
printf '%-17s %10s %8s %6s %7s %7s %s\n' driver execs exec/s cov ft corpus "(seeds)"
for name in "${drivers[@]}"; do
  log=$work/$name.log
  if [[ $(cat "$work/$name.rc") != 0 ]]; then
    echo "wsss: fuzz_$name FAILED; its log ends:"
    tail -n 60 "$log"
    for a in "$work/$name"-*; do
      [[ -e $a ]] || continue
      echo "wsss: input $(basename "$a") ($(stat -c %s "$a") bytes), base64:"
      base64 -w 0 "$a" | head -c 20000
      echo
    done
    exit 1
  fi
  execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log")
  speed=$(awk '/stat::average_exec_per_sec/ {print $2}' "$log")
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
  cov=$(grep -oE 'cov: [0-9]+' <<<"$last" | awk '{print $2}')
  ft=$(grep -oE 'ft: [0-9]+' <<<"$last" | awk '{print $2}')
  corp=$(grep -oE 'corp: [0-9]+' <<<"$last" | awk '{print $2}')
  seeds=$(find "$here/corpus/$name" -type f | wc -l)
  printf '%-17s %10s %8s %6s %7s %7s (%s)\n' "fuzz_$name" "$execs" "$speed" "$cov" "$ft" "$corp" "$seeds"
done
