#!/usr/bin/env bash
# Benchmark (not a test): `secretgate audit` over a repository's whole history, against the floor
# on the same repository in the same run: `git cat-file --batch-all-objects --batch --unordered`,
# which reads and inflates every object of the repository and scans nothing. `ratio=` is the
# audit's wall time over the floor's.
#
# Usage: scripts/bench-audit.sh REPO [AUDIT ARGS...]
#   RUNS=2        rounds of (floor, audit); the best wall time of each is compared
#   JOBS=N        --jobs for the audit (default: all cores)
#   BIN=PATH      the secretgate binary (default: build the release binary)
#   CACHE=1       also measure `--cache`: a first audit into an empty cache folder, then a
#                 second one of the unchanged history; prints `cache: cold=..s warm=..s
#                 warm/cold=..` (the warm run reads only the blobs the cache does not hold)
#
# REPO may be bare (a mirror) or a work tree; it is only read. Prints one line per measurement,
# then a summary line:
#   floor=4.10s audit=5.20s ratio=1.27 scanned=4.2GB rate=810MB/s peak_rss=612MiB cores=2
#
# An example:
#   git clone --mirror https://github.com/sqlalchemy/sqlalchemy /tmp/sqlalchemy.git
#   scripts/bench-audit.sh /tmp/sqlalchemy.git
set -euo pipefail

if [[ $# -lt 1 ]]; then
  echo "usage: $0 REPO [AUDIT ARGS...]" >&2
  exit 2
fi
REPO=$1
shift
RUNS=${RUNS:-2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)

if [[ -z ${BIN:-} ]]; then
  echo "building the release binary..." >&2
  (cd "$ROOT" && cargo build --release --quiet --bin secretgate)
  BIN=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps 2>/dev/null |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release/secretgate
  [[ -x $BIN ]] || BIN=$ROOT/target/release/secretgate
fi
[[ -x $BIN ]] || { echo "cannot find the secretgate binary ($BIN)" >&2; exit 2; }
command -v /usr/bin/time >/dev/null || { echo "/usr/bin/time is needed (apt-get install time)" >&2; exit 2; }

if git -C "$REPO" rev-parse --is-bare-repository >/dev/null 2>&1; then
  GIT=(git -C "$REPO")
else
  GIT=(git --git-dir="$REPO")
fi
"${GIT[@]}" rev-parse --git-dir >/dev/null 2>&1 || { echo "$REPO is not a git repository" >&2; exit 2; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
JOBS_ARG=()
[[ -n ${JOBS:-} ]] && JOBS_ARG=(--jobs "$JOBS")
CORES=${JOBS:-$(nproc)}

# Scrubbed environment for both: nothing from an outer hook or the user's config.
clean_env=(env -u GIT_DIR -u GIT_WORK_TREE -u GIT_OBJECT_DIRECTORY -u GIT_ALTERNATE_OBJECT_DIRECTORIES
  -u SECRETGATE_CONFIG GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null)

floor() {
  /usr/bin/time -f '%e %M' -o "$WORK/time" "${clean_env[@]}" "${GIT[@]}" \
    cat-file --batch-all-objects --batch --unordered >/dev/null
  tail -n 1 "$WORK/time"
}

audit() {
  local rc=0
  /usr/bin/time -f '%e %M' -o "$WORK/time" "${clean_env[@]}" "$BIN" audit "$REPO" \
    "${JOBS_ARG[@]}" --format human --color never --output "$WORK/report.txt" -q "$@" || rc=$?
  if [[ $rc -ge 2 ]]; then
    echo "secretgate audit exited with $rc" >&2
    tail -n 30 "$WORK/report.txt" >&2 || true
    exit 1
  fi
  tail -n 1 "$WORK/time"
}

echo "warming the page cache..." >&2
floor >/dev/null
best_floor=
best_audit=
peak_audit=0
peak_floor=0
for ((i = 1; i <= RUNS; i++)); do
  read -r t m < <(floor)
  echo "round $i: floor ${t}s, peak ${m} KiB" >&2
  if [[ -z $best_floor ]] || awk "BEGIN{exit !($t < $best_floor)}"; then best_floor=$t; fi
  ((m > peak_floor)) && peak_floor=$m
  read -r t m < <(audit "$@")
  echo "round $i: audit ${t}s, peak ${m} KiB" >&2
  if [[ -z $best_audit ]] || awk "BEGIN{exit !($t < $best_audit)}"; then best_audit=$t; fi
  ((m > peak_audit)) && peak_audit=$m
done

# "  86855 unique blobs, 86000 scanned (4500027056 bytes); ..."
bytes=$(sed -n 's/.* scanned (\([0-9]*\) bytes).*/\1/p' "$WORK/report.txt" | head -n1)
bytes=${bytes:-0}
summary=$(grep -E '^audit of ' "$WORK/report.txt" | head -n1 || true)
echo "$summary" >&2
awk -v f="$best_floor" -v a="$best_audit" -v b="$bytes" -v m="$peak_audit" -v fm="$peak_floor" -v c="$CORES" 'BEGIN {
  printf "floor=%.2fs audit=%.2fs ratio=%.2f scanned=%.2fGB rate=%.0fMB/s peak_rss=%.0fMiB floor_peak_rss=%.0fMiB cores=%d\n",
    f, a, a / f, b / 1e9, b / 1e6 / a, m / 1024, fm / 1024, c
}'

if [[ -n ${CACHE:-} ]]; then
  best_cold=
  best_warm=
  for ((i = 1; i <= RUNS; i++)); do
    rm -rf "$WORK/cache"
    read -r cold _ < <(audit "$@" --cache "$WORK/cache")
    read -r warm _ < <(audit "$@" --cache "$WORK/cache")
    echo "round $i: cold cache ${cold}s, warm cache ${warm}s" >&2
    if [[ -z $best_cold ]] || awk "BEGIN{exit !($cold < $best_cold)}"; then best_cold=$cold; fi
    if [[ -z $best_warm ]] || awk "BEGIN{exit !($warm < $best_warm)}"; then best_warm=$warm; fi
  done
  awk -v c="$best_cold" -v w="$best_warm" 'BEGIN {
    printf "cache: cold=%.2fs warm=%.2fs warm/cold=%.2f\n", c, w, w / c
  }'
fi
