#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/fuzz_targets/) for a fixed time each, and fails when one
# crashes, after keeping the crashing input as fuzz/regressions/<target>/<name>: commit that file,
# and tests/fuzz_regressions.rs runs it on every `cargo test` from then on.
#
#   scripts/fuzz.sh                  # every target, 60 s each
#   scripts/fuzz.sh 600              # every target, 10 minutes each
#   scripts/fuzz.sh 60 detector      # one target
#   FUZZ_SECONDS=300 scripts/fuzz.sh
#
# Only the stable toolchain is needed: cargo-fuzz's -Z flags are allowed with RUSTC_BOOTSTRAP=1.
# The fuzz crate builds in fuzz/target (its own workspace), its corpus grows in fuzz/corpus/
# (not committed) on top of the committed seeds in fuzz/seeds/.
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${FUZZ_SECONDS:-60}"
if [ $# -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then
  secs="$1"
  shift
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
cd fuzz
if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

for t in "${targets[@]}"; do
  cargo fuzz build -O "$t"
done

failed=()
summary=()
mkdir -p target/logs
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t" "regressions/$t" "seeds/$t"
  log="target/logs/$t.log"
  before=$(ls "artifacts/$t")
  echo "fuzz.sh: $t for ${secs} s" >&2
  set +e
  cargo fuzz run -O "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$secs" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 \
    >"$log" 2>&1
  rc=$?
  set -e
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
  new=()
  for f in "artifacts/$t"/*; do
    [ -f "$f" ] || continue
    name=$(basename "$f")
    if grep -qxF "$name" <<<"$before"; then
      continue
    fi
    case "$name" in
      crash-* | timeout-* | oom-* | leak-*)
        cp "$f" "regressions/$t/$name"
        new+=("fuzz/regressions/$t/$name")
        ;;
    esac
  done
  if [ "$rc" -ne 0 ] || [ "${#new[@]}" -gt 0 ]; then
    failed+=("$t")
    summary+=("$t: FAILED after ${runs:-?} runs (exit $rc); log fuzz/$log; kept: ${new[*]:-none}")
    grep -E 'panicked at|ERROR: libFuzzer|SUMMARY' "$log" | head -n 5 >&2 || true
  else
    summary+=("$t: ${runs:-?} runs in ${secs} s, no crash")
  fi
done

printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz.sh: ${#failed[@]} target(s) crashed: ${failed[*]}; commit their regressions/ files" >&2
  exit 1
fi
