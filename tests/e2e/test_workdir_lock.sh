#!/usr/bin/env bash
# Two runs on one workdir: the second exits 2 at once naming the holder, the first is unaffected;
# a lock left by a killed run does not block the next one.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cache_lib.sh"
cd "$SRC"

sf 0 gen classification --rows 20000 --out "$TMP/data/events.csv" 2>/dev/null
write_cache_job "$TMP/job.yaml" "$TMP/w" "$TMP/data/events.csv"
LONG=(--set train.optimizer.epochs=400 --set train.optimizer.batch_size=256)

# A reference run in its own workdir.
expect_exit 0 300 reference 2 run "$TMP/job.yaml" "${LONG[@]}" --set "workdir=$TMP/ref"

( sf 2 run "$TMP/job.yaml" "${LONG[@]}" >"$TMP/first.out" 2>"$TMP/first.err"; echo $? >"$TMP/first.rc" ) &
first=$!
# Wait until the first run is training (it holds the lock from its start to its end).
for _ in $(seq 1 600); do
  grep -q "training logistic (" "$TMP/first.err" 2>/dev/null && break
  [ -f "$TMP/first.rc" ] && break
  sleep 0.05
done
[ -f "$TMP/first.rc" ] && { cat "$TMP/first.err"; fail "the first run ended before the second started; make it longer"; }

start=$(date +%s)
expect_exit 2 30 second 2 run "$TMP/job.yaml" "${LONG[@]}"
[ $(( $(date +%s) - start )) -le 15 ] || fail "the second run took more than 15 s to give up"
grep -q "workdir '$TMP/w' is in use by another shardflow run (pid [0-9]* on host .*, since .*); wait for it" \
  "$TMP/second.err" || { cat "$TMP/second.err"; fail "lock message"; }
[ "$(count_lines "is in use by another shardflow run" "$TMP/second.err")" = 1 ] || fail "lock message printed more than once"

wait "$first"
[ "$(cat "$TMP/first.rc")" = 0 ] || { cat "$TMP/first.err"; fail "the first run failed (exit $(cat "$TMP/first.rc"))"; }
$PY tests/support/compare_runs.py "$TMP/ref" "$TMP/w" --ordered test_set || fail "the first run's results were disturbed"
pass "a second run on a busy workdir exits 2 at once; the first is unaffected"

# A run killed with SIGKILL leaves the lock file behind, but not the lock. --resume never: the
# workdir's finished model would otherwise be reused and the run end before it could be killed.
( sf 2 run "$TMP/job.yaml" "${LONG[@]}" --no-cache --resume never >"$TMP/killed.out" 2>"$TMP/killed.err" ) &
launcher=$!
for _ in $(seq 1 600); do
  grep -q "training logistic (" "$TMP/killed.err" 2>/dev/null && break
  sleep 0.05
done
grep -q "training logistic (" "$TMP/killed.err" || { cat "$TMP/killed.err"; fail "the run to kill did not start training"; }
pkill -9 -f -- "run $TMP/job.yaml" || fail "no process of the run to kill"
rc=0
wait "$launcher" || rc=$?
[ "$rc" != 0 ] || fail "the killed run exited 0"
[ -f "$TMP/w/.shardflow.lock" ] || fail "no lock file"
# Short training: what matters is that the run gets the lock, not how long it trains.
expect_exit 0 300 after-kill 2 run "$TMP/job.yaml" --set train.optimizer.epochs=5
pass "a lock left by a killed run does not block the next run"
echo "1 passed, 0 failed"
