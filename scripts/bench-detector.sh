#!/usr/bin/env bash
# Benchmark (not a test): how fast `secretgate scan` reads a tree, against ripgrep searching the
# same tree for every keyword of the rules. ripgrep is the floor: it does only the keyword pass
# that secretgate's detector starts with, so `ratio=` says what the rest of the detector (regexes
# around keyword hits, allow checks, reports) costs on top of reading and prefiltering.
#
# Usage: scripts/bench-detector.sh DIR
#   RUNS=3        runs of each command; the best (lowest wall time) is reported
#   JOBS=N        threads for both tools (default: each tool's own default, all cores)
#   RULES=FILE    rules file whose keywords rg searches, with the files its `include` names
#                 (default: the built-in rules.toml and rules/*.toml)
#
# Both tools see the same files: rg with --no-ignore --hidden (secretgate ignores no
# .gitignore), without .git folders (secretgate skips them), not following symbolic links, and
# skipping files over 10 MiB (secretgate's default max_blob_bytes) and binary files (rg's default;
# secretgate skips content with a NUL byte in its first 8 KiB).
#
# An example corpus:
#   git clone --mirror https://github.com/sqlalchemy/sqlalchemy /tmp/sqlalchemy.git
#   mkdir -p /tmp/sa && git --git-dir=/tmp/sqlalchemy.git archive HEAD | tar -x -C /tmp/sa
#   scripts/bench-detector.sh /tmp/sa
set -euo pipefail

if [[ $# -ne 1 || ! -d $1 ]]; then
  echo "usage: $0 DIR   (DIR: the tree to scan)" >&2
  exit 2
fi
DIR=$1
RUNS=${RUNS:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RULES=${RULES:-$ROOT/rules.toml}

if ! command -v rg >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "ripgrep is missing: installing it with apt-get" >&2
    apt-get update -qq >/dev/null && apt-get install -y -qq ripgrep >/dev/null
  else
    echo "ripgrep (rg) is needed: apt-get install ripgrep, or cargo install ripgrep" >&2
    exit 2
  fi
fi

echo "building the release binary..." >&2
(cd "$ROOT" && cargo build --release --quiet --bin secretgate)
SG=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps 2>/dev/null |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release/secretgate
[[ -x $SG ]] || SG=$ROOT/target/release/secretgate
[[ -x $SG ]] || { echo "cannot find the release binary" >&2; exit 2; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# The rules file and the files it includes (one quoted path a line inside `include = [...]`).
RULE_FILES=("$RULES")
while IFS= read -r inc; do
  RULE_FILES+=("$(dirname "$RULES")/$inc")
done < <(sed -n '/^include[[:space:]]*=[[:space:]]*\[/,/\]/p' "$RULES" | grep -oE '"[^"]+"' | tr -d '"')

# The keywords of every rule and form: `keywords = [...]` lines, one literal a line.
grep -hE '^[[:space:]]*keywords[[:space:]]*=' "${RULE_FILES[@]}" |
  sed -e 's/^[^[]*\[//' -e 's/\][^]]*$//' |
  grep -oE "\"([^\"\\\\]|\\\\.)*\"|'[^']*'" |
  sed -e 's/^.//' -e 's/.$//' -e 's/\\"/"/g' -e 's/\\\\/\\/g' |
  sort -u >"$WORK/keywords.txt"
if [[ ! -s $WORK/keywords.txt ]]; then
  echo "no keywords found in $RULES" >&2
  exit 2
fi

SG_ARGS=(scan --format json)
RG_ARGS=(-i -F -c -f "$WORK/keywords.txt" --no-ignore --hidden -g '!.git' --max-filesize 10M)
if [[ -n ${JOBS:-} ]]; then
  SG_ARGS+=(--jobs "$JOBS")
  RG_ARGS+=(-j "$JOBS")
fi

have_time=0
[[ -x /usr/bin/time ]] && /usr/bin/time -f '%M' true 2>/dev/null && have_time=1

# run NAME CMD...: RUNS runs; sets BEST (seconds) and BEST_RSS (KiB, or "n/a").
run() {
  local name=$1 i start end ns rss
  shift
  BEST="" BEST_RSS="n/a"
  for ((i = 1; i <= RUNS; i++)); do
    start=$(date +%s%N)
    if [[ $have_time -eq 1 ]]; then
      /usr/bin/time -f '%M' -o "$WORK/rss" "$@" >/dev/null 2>"$WORK/$name.err" || true
    else
      "$@" >/dev/null 2>"$WORK/$name.err" || true
    fi
    end=$(date +%s%N)
    ns=$((end - start))
    rss=n/a
    [[ $have_time -eq 1 ]] && rss=$(tail -n 1 "$WORK/rss")
    echo "  $name run $i: $(awk -v n="$ns" 'BEGIN { printf "%.3f", n / 1e9 }')s, peak RSS ${rss} KiB" >&2
    if [[ -z $BEST || $ns -lt $BEST ]]; then
      BEST=$ns
      BEST_RSS=$rss
    fi
  done
  BEST=$(awk -v n="$BEST" 'BEGIN { printf "%.4f", n / 1e9 }')
}

# What secretgate reads (its human summary counts the files and bytes it scanned), what it finds,
# and whether it runs at all; this run also warms the page cache for both tools.
set +e
"$SG" scan ${JOBS:+--jobs "$JOBS"} "$DIR" >"$WORK/summary.txt" 2>"$WORK/summary.err"
code=$?
set -e
if [[ $code -ge 2 ]]; then
  echo "secretgate scan failed (exit $code):" >&2
  cat "$WORK/summary.err" >&2
  exit 1
fi
summary=$(grep -E '[0-9]+ scanned, [0-9]+ bytes' "$WORK/summary.txt" | tail -n 1 || true)
FILES=$(sed -nE 's/.*\(([0-9]+) scanned, ([0-9]+) bytes.*/\1/p' <<<"$summary")
BYTES=$(sed -nE 's/.*\(([0-9]+) scanned, ([0-9]+) bytes.*/\2/p' <<<"$summary")
if [[ -z $BYTES ]]; then # no summary line: count the text files ourselves
  BYTES=$(rg --files --no-ignore --hidden -g '!.git' --max-filesize 10M "$DIR" | tr '\n' '\0' |
    xargs -0 grep -LIZ -e '' -- 2>/dev/null | xargs -0 -r cat -- | wc -c || true)
  FILES="?"
fi
FINDINGS=$(grep -oE '^[0-9]+ findings?' "$WORK/summary.txt" | grep -oE '^[0-9]+' || echo 0)
RG_FILES=$(rg --files --no-ignore --hidden -g '!.git' --max-filesize 10M "$DIR" | wc -l)
rg "${RG_ARGS[@]}" "$DIR" >/dev/null 2>&1 || true

echo "tree: $DIR"
echo "files=$FILES (text files secretgate scanned; rg lists $RG_FILES before skipping binaries)"
echo "bytes=$BYTES"
echo "keywords=$(wc -l <"$WORK/keywords.txt") (from $RULES)"
echo "findings=$FINDINGS"
echo "threads=${JOBS:-default}"

echo "timing secretgate scan --format json (best of $RUNS)..." >&2
run secretgate "$SG" "${SG_ARGS[@]}" "$DIR"
SG_T=$BEST SG_RSS=$BEST_RSS
echo "timing rg (best of $RUNS)..." >&2
run rg rg "${RG_ARGS[@]}" "$DIR"
RG_T=$BEST RG_RSS=$BEST_RSS

rate() { awk -v b="$BYTES" -v t="$1" 'BEGIN { if (t > 0) printf "%.1f", b / t / 1048576; else print "inf" }'; }
echo "secretgate: ${SG_T}s  $(rate "$SG_T") MiB/s  peak_rss=${SG_RSS} KiB"
echo "rg:         ${RG_T}s  $(rate "$RG_T") MiB/s  peak_rss=${RG_RSS} KiB"
echo "ratio=$(awk -v a="$SG_T" -v b="$RG_T" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "inf" }')"
