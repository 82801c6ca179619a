#!/usr/bin/env bash
# A full disk never poisons the workdir: the quickstart on a 2 MiB tmpfs fails (twice, with a
# message, within seconds), and once there is space a plain rerun succeeds and its results equal
# a cold run's, with no manual clean-up. Needs root (mount); CI runs as root.
source "$(dirname "$0")/lib.sh"
cd "$SRC"
if [ "$(id -u)" != 0 ]; then
  echo "SKIP: mounting a tmpfs needs root"; exit 77
fi
MNT="$TMP/small"
mkdir -p "$MNT"
mount -t tmpfs -o size=2m tmpfs "$MNT" || { echo "SKIP: mount -t tmpfs is not permitted here"; exit 77; }
trap 'umount "$MNT" 2>/dev/null; [ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"' EXIT
ARGS=(run jobs/quickstart.yaml --set "workdir=$MNT/w")

for attempt in 1 2; do
  rc=0
  timeout 60 "$MPIEXEC" -np 2 --oversubscribe "$SHARDFLOW_BIN" "${ARGS[@]}" \
    >"$TMP/full$attempt.out" 2>"$TMP/full$attempt.err" || rc=$?
  [ "$rc" != 124 ] || fail "attempt $attempt on a full disk hung"
  [ "$rc" != 0 ] || fail "attempt $attempt on a 2 MiB disk succeeded?"
  grep -q "No space left on device\|disk full\|short write" "$TMP/full$attempt.err" \
    || { cat "$TMP/full$attempt.err"; fail "attempt $attempt: the message does not say the disk is full"; }
  echo "attempt $attempt on a full disk: exit $rc"
done
# Nothing under a final name may be partial: generated data, stage files and outputs appear only
# whole, so none may exist here (none fits).
find "$MNT/w" -name '*.csv' -o -name '*.h5' | grep -v '\.tmp' && fail "a partial file was left under its final name"

mount -o remount,size=256m "$MNT"
expect_exit 0 300 after-space 2 "${ARGS[@]}"
expect_exit 0 300 cold 2 run jobs/quickstart.yaml --set "workdir=$TMP/cold"
$PY tests/support/compare_runs.py "$TMP/cold" "$MNT/w" --ordered test_set || fail "results after the full disk != a cold run"
pass "full disk: clean failures, then a plain rerun equals a cold run"
echo "1 passed, 0 failed"
