#!/usr/bin/env bash
# SIGKILL one rank after a checkpoint was written, rerun with --resume auto: the final weights
# equal an uninterrupted run's bit for bit. Also resumes the same checkpoint at another rank count.
source "$(dirname "$0")/lib.sh"
cd "$SRC"
# Long enough to kill mid-way on a fast machine (about 6000 steps), checkpoints every 25 steps.
ARGS=(run jobs/quickstart.yaml --set train.optimizer.epochs=200 --set train.optimizer.batch_size=5000
      --set train.checkpoint.every_steps=25)

expect_exit 0 600 straight 2 "${ARGS[@]}" --set "workdir=$TMP/straight"

# Interrupted run: wait for the second checkpoint, then SIGKILL rank 1 only.
( sf 2 "${ARGS[@]}" --set "workdir=$TMP/killed" >"$TMP/killed.out" 2>"$TMP/killed.err" ) &
launcher=$!
for _ in $(seq 1 600); do
  n=$(ls "$TMP/killed/checkpoints" 2>/dev/null | grep -c '^ckpt-.*\.h5$' || true)
  [ "$n" -ge 2 ] && break
  kill -0 "$launcher" 2>/dev/null || break
  sleep 0.05
done
[ "${n:-0}" -ge 2 ] || { cat "$TMP/killed.err"; fail "no checkpoint appeared"; }
victim=$(pgrep -f -- "workdir=$TMP/killed" | while read -r pid; do
  # the rank processes are shardflow itself, not mpirun or the subshell
  [ "$(cat /proc/$pid/comm 2>/dev/null)" = "shardflow" ] && echo "$pid"; done | tail -n 1)
[ -n "$victim" ] || fail "could not find a rank process to kill"
kill -9 "$victim"
rc=0
timeout 60 tail --pid="$launcher" -f /dev/null || fail "job did not end within 60 s after SIGKILL"
wait "$launcher" || rc=$?
[ "$rc" != 0 ] || fail "killed run exited 0"
[ -f "$TMP/killed/model.h5" ] && fail "killed run finished before the kill; make training longer"
echo "killed one rank (pid $victim); launcher exit $rc"
cp -r "$TMP/killed" "$TMP/killed-copy"

# Resume at the same rank count.
expect_exit 0 600 resumed 2 "${ARGS[@]}" --set "workdir=$TMP/killed" --resume auto
from=$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['train']['resumed_from_step'])" "$TMP/killed/metrics.json")
[ "$from" -gt 0 ] || fail "the rerun did not resume from a checkpoint (resumed_from_step=$from)"
$PY tests/support/compare_runs.py "$TMP/straight" "$TMP/killed" --ordered test_set || fail "resumed != uninterrupted"

# The same checkpoints resumed by a single process.
expect_exit 0 600 resumed1 0 "${ARGS[@]}" --set "workdir=$TMP/killed-copy" --resume auto
$PY tests/support/compare_runs.py "$TMP/straight" "$TMP/killed-copy" --ordered test_set --across-ranks \
  || fail "resumed on 1 rank != uninterrupted on 2"

# A run killed while replacing `latest` after its last step leaves `latest.tmp.<pid>`; the rerun
# resumes at that last step, saves nothing, and must still clear the leftovers (fault campaign).
echo "half-written" >"$TMP/straight/checkpoints/latest.tmp.31928"
last=$(ls "$TMP/straight/checkpoints" | grep '^ckpt-.*\.h5$' | tail -n 1)
echo "half-written" >"$TMP/straight/checkpoints/$last.tmp.31929"
# Killed while publishing the model or the metrics: `model.h5.tmp.<pid>` in the workdir.
echo "half-written" >"$TMP/straight/model.h5.tmp.31930"
echo "half-written" >"$TMP/straight/metrics.json.tmp.31931"
expect_exit 0 600 rerun-finished 2 "${ARGS[@]}" --set "workdir=$TMP/straight" --resume auto
left=$(ls "$TMP/straight/checkpoints" "$TMP/straight" | grep '\.tmp' || true)
[ -z "$left" ] || fail "temporary files left after a rerun of a finished training: $left"
pass "resumed from step $from; final weights equal the uninterrupted run's; leftovers cleared"
