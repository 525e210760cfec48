#!/usr/bin/env bash
# bench/nn_rows.sh — bench_nn's wsss / libtorch pairs, each side in a process of its own, the
# sides alternating for ROUNDS rounds; prints each pair's median time per side and the ratio of
# the medians. On a shared 2-core VM a millisecond row of a whole bench_nn run moved 2-3x with
# what ran just before it in the same process, on both sides (docs/nets.md, 2026-12-07): this
# takes that out of the ratio.
#   bash bench/nn_rows.sh BUILD_DIR [ROUNDS] [REGEX]     e.g. REGEX 'conv/(16/16|32/32)/'
# The environment is passed on (docs/nets.md uses OPENBLAS_CORETYPE=SkylakeX OMP_NUM_THREADS=2).
set -euo pipefail
bin=${1:?usage: nn_rows.sh BUILD_DIR [ROUNDS] [REGEX]}/bench/bench_nn
rounds=${2:-3}
regex=${3:-.}
[[ -x $bin ]] || { echo "nn_rows.sh: $bin not built (target bench_nn)" >&2; exit 2; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
mapfile -t rows < <("$bin" --benchmark_list_tests --benchmark_filter="^wsss_.*($regex)" 2>/dev/null | grep '^wsss_')
((${#rows[@]})) || { echo "nn_rows.sh: no wsss_ row matches '$regex'" >&2; exit 2; }
"$bin" --benchmark_list_tests 2>/dev/null | grep -q '^torch_' ||
  { echo "nn_rows.sh: $bin has no libtorch rows (configure with libtorch: bash .ci/deps.sh --bench)" >&2; exit 2; }
twin() {  # the libtorch row of a wsss row
  sed -e 's/^wsss_sgemm/torch_mm/' -e 's/^wsss_/torch_/' <<<"$1"
}
one() {  # real time in ms of one row, run alone
  "$bin" --benchmark_filter="^$(sed 's/[][()|.*+?^$\\]/\\&/g' <<<"$1")\$" --benchmark_out="$out" \
    --benchmark_out_format=csv "${@:2}" >/dev/null 2>&1
  awk -F, -v want="\"$1\"" '$1 == want {t = $3; u = $5; gsub(/"/, "", u);
    print t * (u == "ns" ? 1e-6 : u == "us" ? 1e-3 : u == "s" ? 1e3 : 1)}' "$out"
}
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
printf '%-44s %10s %12s %7s   (%d rounds, each side its own process)\n' row "wsss ms" "libtorch ms" ratio "$rounds"
for row in "${rows[@]}"; do
  other=$(twin "$row")
  w=() t=()
  for ((r = 0; r < rounds; ++r)); do
    w+=("$(one "$row")")
    t+=("$(one "$other")")
  done
  mw=$(printf '%s\n' "${w[@]}" | median)
  mt=$(printf '%s\n' "${t[@]}" | median)
  printf '%-44s %10.3f %12.3f %7.2f\n' "${row#wsss_}" "$mw" "$mt" "$(awk -v a="$mw" -v b="$mt" 'BEGIN {print a / b}')"
done
