# Shared helpers for the shell tests (sourced, not run). Environment from ctest: SHARDFLOW_BIN,
# SHARDFLOW_SOURCE_DIR, MPIEXEC.
set -euo pipefail
: "${SHARDFLOW_BIN:?set SHARDFLOW_BIN to the shardflow executable}"
SRC="${SHARDFLOW_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
MPIEXEC="${MPIEXEC:-mpirun}"
PY=/usr/bin/python3
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
TMP="$(mktemp -d /tmp/shardflow-e2e.XXXXXX)"
trap '[ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# sf NP ARGS...: runs shardflow as a plain process (NP=0) or under mpirun with NP ranks.
sf() {
  local np="$1"; shift
  if [ "$np" = 0 ]; then
    "$SHARDFLOW_BIN" "$@"
  else
    "$MPIEXEC" -np "$np" --oversubscribe "$SHARDFLOW_BIN" "$@"
  fi
}

# expect_exit CODE SECONDS NAME NP ARGS...: runs shardflow, requires exit code CODE within SECONDS,
# and leaves stdout/stderr in $TMP/NAME.out / $TMP/NAME.err.
expect_exit() {
  local code="$1" seconds="$2" name="$3"; shift 3
  local rc=0 start end
  start=$(date +%s)
  timeout --kill-after=5 "$seconds" bash -c "$(declare -f sf); SHARDFLOW_BIN='$SHARDFLOW_BIN' MPIEXEC='$MPIEXEC' sf \"\$@\"" _ "$@" \
    >"$TMP/$name.out" 2>"$TMP/$name.err" || rc=$?
  end=$(date +%s)
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    cat "$TMP/$name.err" >&2
    fail "$name: still running after ${seconds}s (a hang)"
  fi
  if [ "$rc" != "$code" ]; then
    echo "--- stdout" >&2; cat "$TMP/$name.out" >&2
    echo "--- stderr" >&2; cat "$TMP/$name.err" >&2
    fail "$name: exit code $rc, expected $code"
  fi
  echo "$name: exit $rc after $((end - start)) s"
}

# count_lines PATTERN FILE: number of lines matching a fixed string.
count_lines() { grep -cF -- "$1" "$2" || true; }

# For the tests of the benchmark scripts (benchmarks/*_comparisons.sh), with SCRIPT set:
# expect_help USAGE_FRAGMENT: `SCRIPT --help` prints its header comment, which shows the fragment,
# and stops before the code.
expect_help() {
  "$SCRIPT" --help >"$TMP/help.out" || fail "--help exited non-zero"
  grep -q -- "$1" "$TMP/help.out" || fail "--help does not show the usage: $(cat "$TMP/help.out")"
  if grep -q '^set -euo' "$TMP/help.out"; then fail "--help prints past the header comment"; fi
  pass "--help prints the header"
}
# expect_error NAME MESSAGE ARGS...: SCRIPT exits 1 naming the problem (MESSAGE), before it builds
# or writes anything.
expect_error() {
  local name=$1 message=$2 rc=0
  shift 2
  SHARDFLOW_BUILD_DIR=$TMP/no-build "$SCRIPT" --out "$TMP/out" "$@" >"$TMP/$name.out" 2>&1 || rc=$?
  [ "$rc" = 1 ] || { cat "$TMP/$name.out"; fail "$name: exit $rc, expected 1"; }
  grep -qF -- "$message" "$TMP/$name.out" || { cat "$TMP/$name.out"; fail "$name: no '$message' in the error"; }
  [ ! -e "$TMP/no-build" ] || fail "$name: a build directory was created"
  [ ! -e "$TMP/out" ] || fail "$name: the output directory was created"
}
