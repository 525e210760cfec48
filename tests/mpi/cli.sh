#!/usr/bin/env bash
# tests/mpi/cli.sh WSSS MPIRUN — `wsss label` and `wsss run` over MPI ranks, as users run them:
#  1. 2-rank labelling writes exactly the files and bytes of a 1-rank run;
#  2. `wsss run`'s labelling stages and evaluation on 2 ranks (networks already trained) give
#     the 1-rank run's labels and mIoU table;
#  3. one rank killed (SIGKILL) mid-labelling: the finished files are whole and right, and a
#     rerun with another rank count completes the set, nothing lost, duplicated or left over.
set -euo pipefail
wsss=$1
mpirun=$2
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail() { echo "FAIL: $*" >&2; exit 1; }
tiny=(--preset scenes --width 0.03125 --threads 1)

"$wsss" scenes data --train 8 --val 2 --size 32 --seed 3 >/dev/null
"$wsss" -q run affinitynet --data data --work one "${tiny[@]}" >/dev/null

# 1. labelling: 1 rank vs 2 ranks
"$wsss" -q label affinitynet --weights one --data data --out l1 "${tiny[@]}" >/dev/null
out=$("$mpirun" -np 2 "$wsss" -q label affinitynet --weights one --data data --out l2 "${tiny[@]}")
[[ $(grep -c "labelled 8 images" <<<"$out") == 1 ]] || fail "rank 0 alone should print the summary: $out"
diff -r l1 l2 || fail "2-rank labels differ from 1-rank labels"
[[ $(ls l2 | wc -l) == 8 ]] || fail "expected 8 files in l2"

# 2. `wsss run`: the trained networks kept, every labelling stage and the report redone on 2 ranks
cp -r one two
rm -rf two/labels two/cams two/report* two/results.json
"$mpirun" -np 2 "$wsss" -q run affinitynet --data data --work two "${tiny[@]}" >two.out
diff -r one/labels two/labels || fail "2-rank labelling stages differ from the 1-rank run"
diff -r one/cams two/cams || fail "2-rank CAMs differ"
diff one/report.txt two/report.txt || fail "the 2-rank evaluation (confusion matrices summed on rank 0) differs"
[[ $(grep -c "^report:" two.out) == 1 ]] || fail "the report line should be printed once"

# 3. a killed rank: label 96 larger images, kill one rank once a few files exist
"$wsss" scenes big --train 96 --val 1 --size 96 --seed 5 >/dev/null
"$wsss" -q label affinitynet --weights one --data big --out ref "${tiny[@]}" >/dev/null
"$mpirun" -np 2 "$wsss" -q label affinitynet --weights one --data big --out killed "${tiny[@]}" >/dev/null 2>&1 &
job=$!
for _ in $(seq 1 1500); do
  (( $(find killed -name '*.png' 2>/dev/null | wc -l) >= 4 )) && break
  sleep 0.01
done
victim=$(pgrep -P "$job" | tail -1)
[[ -n $victim ]] || fail "no rank process found under mpirun"
kill -9 "$victim"
if wait "$job"; then fail "mpirun should fail when a rank is killed"; fi
done_before=$(find killed -name '*.png' | wc -l)
(( done_before < 96 )) || fail "the labelling finished before the kill"
for f in killed/*.png; do cmp -s "$f" "ref/$(basename "$f")" || fail "$f differs from the reference"; done
"$wsss" -q label affinitynet --weights one --data big --out killed "${tiny[@]}" >/dev/null  # resumed by one process
diff -r ref killed || fail "the resumed set differs from the reference (lost, duplicated or left-over files)"
echo "cli over MPI: labelling 1 = 2 ranks, run stages 1 = 2 ranks, killed rank: $done_before of 96 kept, rest resumed"
