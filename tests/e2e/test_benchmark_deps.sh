#!/usr/bin/env bash
# The peers' node packages install from the committed package-lock.json on a fresh machine, the way
# benchmarks/run_comparisons.sh installs them, and load. (The lock once went out of sync with
# package.json and the README's benchmark command failed on a fresh machine.) A registry that
# cannot be reached is a skip (exit 77) with the reason; a lock or package problem is a failure.
source "$(dirname "$0")/lib.sh"
command -v npm >/dev/null || fail "npm is not installed (the benchmark peers need Node.js and npm)"
cp "$SRC/benchmarks/package.json" "$SRC/benchmarks/package-lock.json" "$TMP/"
cd "$TMP"
ok=0
for attempt in 1 2; do
  if timeout 300 npm install --no-audit --no-fund >"$TMP/npm.out" 2>&1; then ok=1; break; fi
  if grep -qE "ENOTFOUND|ETIMEDOUT|ECONNREFUSED|ECONNRESET|EAI_AGAIN|network" "$TMP/npm.out"; then
    sleep 5
    continue
  fi
  cat "$TMP/npm.out"; fail "npm install from the committed lock file failed"
done
if [ "$ok" != 1 ]; then
  tail -5 "$TMP/npm.out"; echo "SKIP: the npm registry cannot be reached from here"; exit 77
fi
node -e "import('@duckdb/node-api').then(() => console.log('ok: @duckdb/node-api loads'))" \
  || fail "@duckdb/node-api does not load"
node -e "require('nodejs-polars'); console.log('ok: nodejs-polars loads')" || fail "nodejs-polars does not load"
cmp -s "$TMP/package-lock.json" "$SRC/benchmarks/package-lock.json" \
  || fail "npm install rewrote package-lock.json: commit the updated lock file"
pass "benchmark peers install from the lock file and load"
echo "1 passed, 0 failed"
