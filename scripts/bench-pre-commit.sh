#!/usr/bin/env bash
# Benchmark of the pre-commit hook against its floor, in one run on one machine.
#
#   scripts/bench-pre-commit.sh REPO [FILES] [RUNS]
#
# REPO is any git repository with a large tree (for example a mirror of git/git, or of
# tldr-pages/tldr for a tree of ~40,000 files). It is cloned (objects shared, work tree checked
# out), then a typical change is staged: FILES text files (default 10) spread over the tree, each
# edited in a few places (a line changed, lines added). Then, RUNS times each (default 15), on
# the same index:
#   - secretgate pre-commit (the hook under test), and
#   - the floor: `git diff --cached` (the staged patch, what a diff-based scanner starts from).
# Prints the best and median times and ratio=secretgate/floor of the best times (times are
# noisy on shared machines; the ratio is the number to compare).
set -euo pipefail

repo=${1:?usage: $0 REPO [FILES] [RUNS]}
files=${2:-10}
runs=${3:-15}
top=$(cd "$(dirname "$0")/.." && pwd)

cargo build --release --quiet --manifest-path "$top/Cargo.toml"
bin="$top/target/release/secretgate"

work=$(mktemp -d "${TMPDIR:-/tmp}/secretgate-bench-XXXXXX")
trap 'rm -rf "$work"' EXIT
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null LC_ALL=C
unset GIT_DIR GIT_INDEX_FILE GIT_WORK_TREE SECRETGATE_CONFIG

clone="$work/repo"
git clone -q --shared "$repo" "$clone"
cd "$clone"
total=$(git ls-files | wc -l)
echo "repository: $repo ($total files in the index, $(git ls-tree -r -d HEAD | wc -l) directories)," \
  "$(nproc) cores"

# The change: FILES text files of at most 200 KB, evenly spread over the sorted index.
git ls-files -s | awk '$1 ~ /^100/ {print $4}' >"$work/all"
step=$(( $(wc -l <"$work/all") / (files * 3) ))
[ "$step" -ge 1 ] || step=1
picked=0
while read -r f; do
  [ "$picked" -lt "$files" ] || break
  [ -f "$f" ] && [ ! -L "$f" ] || continue
  size=$(wc -c <"$f")
  [ "$size" -gt 200 ] && [ "$size" -lt 200000 ] || continue
  grep -Iq . "$f" || continue
  lines=$(wc -l <"$f")
  mid=$(( lines / 2 + 1 ))
  # One line changed in the middle, three added at the end.
  sed -i "${mid}s/\$/ (edited)/" "$f"
  printf 'bench line one %s\nbench line two\nbench line three\n' "$picked" >>"$f"
  git add -- "$f"
  picked=$((picked + 1))
done < <(awk -v s="$step" 'NR % s == 0' "$work/all")
echo "staged: $(git diff --cached --shortstat)"

# Warm the page cache and check the hook runs cleanly.
"$bin" pre-commit >/dev/null 2>"$work/err" || { echo "secretgate pre-commit exited $?:"; cat "$work/err"; }
git diff --cached >/dev/null

now() { date +%s%N; }
: >"$work/times"
for _ in $(seq "$runs"); do
  t0=$(now)
  "$bin" pre-commit >/dev/null 2>&1 || true
  t1=$(now)
  git diff --cached >/dev/null
  t2=$(now)
  echo "$((t1 - t0)) $((t2 - t1))" >>"$work/times"
done
sort -n -k1,1 "$work/times" | awk -v n="$runs" '{ sg[NR] = $1 } END { print sg[1], sg[int((n + 1) / 2)] }' >"$work/sg"
sort -n -k2,2 "$work/times" | awk -v n="$runs" '{ fl[NR] = $2 } END { print fl[1], fl[int((n + 1) / 2)] }' >"$work/fl"
read -r sg_best sg_med <"$work/sg"
read -r fl_best fl_med <"$work/fl"
awk -v f="$picked" -v sb="$sg_best" -v sm="$sg_med" -v fb="$fl_best" -v fm="$fl_med" 'BEGIN {
  printf "change of %d files: secretgate pre-commit %.1f ms (median %.1f), git diff --cached %.1f ms (median %.1f), ratio=%.2f\n",
    f, sb / 1e6, sm / 1e6, fb / 1e6, fm / 1e6, sb / fb }'
