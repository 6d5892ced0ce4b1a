#!/bin/sh
# Runs an e2e bench on an earlier commit's code, to compare it with the current code on the same
# machine in the same hour (a bench's figures move with the machine between days).
#
#   scripts/bench-at.sh <commit> [bench script, default bench:transfer]
#   BENCH_RUNS=7 scripts/bench-at.sh 3a3a9a6 && BENCH_RUNS=7 npm run bench:transfer
#
# The commit is checked out in a git worktree under $TMPDIR that uses this checkout's node_modules
# (its own workspace packages linked in place of ours), so it is only fair while the dependencies
# did not change; the script refuses when package-lock.json gives a libp2p, Helia, WXT or idb package
# another version (a package no longer installed fails the build instead). The run's figures stay
# in the worktree's results file and its output; nothing in this checkout changes.
set -eu
commit=${1:?usage: scripts/bench-at.sh <commit> [bench script]}
bench=${2:-bench:transfer}
root=$(cd "$(dirname "$0")/.." && pwd)
tree=${TMPDIR:-/tmp}/peerloom-bench-at-$(git -C "$root" rev-parse --short "$commit")

# the dependencies the bench's path runs on must be the ones installed here
changed=$(git -C "$root" show "$commit:package-lock.json" | node -e '
  const then = JSON.parse(require("node:fs").readFileSync(0, "utf8")).packages
  const now = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8")).packages
  const core = /^node_modules\/(libp2p|helia|wxt|idb|@libp2p\/[^/]+|@chainsafe\/[^/]+|@helia\/[^/]+)$/
  console.log(Object.keys(then).filter(k => core.test(k) && now[k] !== undefined && now[k].version !== then[k].version).join(" "))
' "$root/package-lock.json")
if [ -n "$changed" ]; then
  echo "bench-at: $commit has other versions of $changed; install that commit's dependencies instead" >&2
  exit 1
fi

if [ ! -d "$tree" ]; then
  git -C "$root" worktree add --detach "$tree" "$commit" >/dev/null
  mkdir "$tree/node_modules" "$tree/node_modules/@peerloom"
  for entry in "$root"/node_modules/* "$root"/node_modules/.bin; do
    [ "$(basename "$entry")" = "@peerloom" ] || ln -s "$entry" "$tree/node_modules/"
  done
  # the workspace packages are the commit's own
  for link in "$root"/node_modules/@peerloom/*; do
    target=$(readlink "$link")
    ln -s "$tree/${target#../../}" "$tree/node_modules/@peerloom/$(basename "$link")"
  done
fi

cd "$tree"
node node_modules/wxt/bin/wxt.mjs build >/dev/null
npm run "$bench" -w e2e
