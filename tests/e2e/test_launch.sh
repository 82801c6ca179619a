#!/usr/bin/env bash
# `shardflow launch`: mpirun with the stop semantics of a single process (README "Stopping a run").
#   * Ctrl-C: the terminal sends SIGINT to its foreground process group, which is the launcher's
#     (mpirun runs in a group of its own). Emulated by starting the launcher with setsid and
#     signalling its whole group. Every rank checkpoints, the job exits 75, and a rerun resumes
#     from that exact step to the uninterrupted run's weights.
#   * SIGTERM to the launcher (a scheduler, `timeout`, `kill`): the same.
#   * A second SIGINT aborts at once: non-zero, not 75, every process gone within 10 s.
#   * Exit codes pass through (0, 2), usage errors are exit 2 with an example, a missing mpirun
#     is 127 with a hint.
source "$(dirname "$0")/lib.sh"
cd "$SRC"
ARGS=(run jobs/quickstart.yaml --set train.optimizer.epochs=60 --set train.checkpoint.every_steps=25)
LAUNCH=("$SHARDFLOW_BIN" launch -np 2 --oversubscribe --)

expect_exit 0 600 straight 2 "${ARGS[@]}" --set "workdir=$TMP/straight"

# stop NAME HOW: starts the launcher in a session of its own, waits for the first checkpoint, and
# stops it: HOW=ctrl-c (SIGINT to the launcher's process group), term (SIGTERM to the launcher),
# twice (SIGINT to the group, then again 0.3 s later). Leaves the exit code in $rc.
stop() {
  local name="$1" how="$2" w="$TMP/$1" pid
  setsid "${LAUNCH[@]}" "${ARGS[@]}" --set "workdir=$w" >"$TMP/$name.out" 2>"$TMP/$name.err" &
  pid=$!
  for _ in $(seq 1 1200); do
    [ -s "$w/checkpoints/latest" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  [ -s "$w/checkpoints/latest" ] || { cat "$TMP/$name.err"; fail "$name: no checkpoint appeared"; }
  case "$how" in
    ctrl-c) kill -INT -- "-$pid" ;;
    term) kill -TERM "$pid" ;;
    twice) kill -INT -- "-$pid"; sleep 0.3; kill -INT -- "-$pid" ;;
  esac
  rc=0
  timeout 60 tail --pid="$pid" -f /dev/null || fail "$name: still running 60 s after the signal"
  wait "$pid" || rc=$?
  [ ! -f "$w/model.h5" ] || fail "$name: training finished before the signal landed; train longer"
  for _ in $(seq 100); do  # the ranks and mpirun must be gone too
    pgrep -f -- "workdir=$w" >/dev/null || break
    sleep 0.1
  done
  if pgrep -fa -- "workdir=$w" >&2; then fail "$name: processes of the stopped job are still running"; fi
}

# resumes NAME: the stop step from the ranks' message; a rerun continues from it and ends equal to
# the uninterrupted run.
resumes() {
  local name="$1" step from
  step=$(sed -n 's/.*at training step \([0-9]*\); checkpoint written to .*/\1/p' "$TMP/$name.err" | head -n 1)
  [ -n "$step" ] || { cat "$TMP/$name.err"; fail "$name: no message naming the stop step and the checkpoint"; }
  [ "$(cat "$TMP/$name/checkpoints/latest")" = "$(printf 'ckpt-%010d.h5' "$step")" ] \
    || fail "$name: the checkpoint of step $step is not the latest"
  timeout 600 "${LAUNCH[@]}" "${ARGS[@]}" --set "workdir=$TMP/$name" --resume auto \
    >"$TMP/$name-resume.out" 2>"$TMP/$name-resume.err" || { cat "$TMP/$name-resume.err"; fail "$name: the rerun failed"; }
  from=$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['train']['resumed_from_step'])" "$TMP/$name/metrics.json")
  [ "$from" = "$step" ] || fail "$name: resumed from step $from, not from the stop step $step"
  $PY tests/support/compare_runs.py "$TMP/straight" "$TMP/$name" --ordered test_set \
    || fail "$name: resumed != uninterrupted"
  echo "$name: stopped at step $step, resumed from it"
}

stop ctrl-c ctrl-c
[ "$rc" = 75 ] || { cat "$TMP/ctrl-c.err"; fail "ctrl-c: exit $rc, expected 75"; }
grep -q "shardflow launch: SIGINT: asking every rank to checkpoint and stop" "$TMP/ctrl-c.err" \
  || { cat "$TMP/ctrl-c.err"; fail "ctrl-c: the launcher did not say what it does"; }
[ "$(count_lines "shardflow: interrupted:" "$TMP/ctrl-c.err")" = 1 ] || fail "ctrl-c: not exactly one message from the ranks"
if grep -q "shardflow-launch-hosts:" "$TMP/ctrl-c.err"; then fail "ctrl-c: the launcher's protocol line reached the user"; fi
resumes ctrl-c
pass "Ctrl-C to shardflow launch: checkpoint, exit 75, resume equals the uninterrupted run"

stop term term
[ "$rc" = 75 ] || { cat "$TMP/term.err"; fail "term: exit $rc, expected 75"; }
grep -q "shardflow launch: SIGTERM: asking every rank to checkpoint and stop" "$TMP/term.err" || fail "term: message"
resumes term
pass "SIGTERM to shardflow launch: checkpoint, exit 75, resume equals the uninterrupted run"

stop twice twice
[ "$rc" != 0 ] && [ "$rc" != 75 ] || { cat "$TMP/twice.err"; fail "twice: exit $rc after a second Ctrl-C; expected an abort"; }
grep -q "shardflow launch: SIGINT again: aborting" "$TMP/twice.err" || { cat "$TMP/twice.err"; fail "twice: no abort message"; }
pass "a second Ctrl-C aborts (exit $rc) and leaves no process behind"

# ---- exit codes and usage ----------------------------------------------------------------------
"${LAUNCH[@]}" validate jobs/quickstart.yaml >"$TMP/ok.out" 2>&1 || fail "launch validate: exit $?"
grep -q "is valid" "$TMP/ok.out" || fail "launch validate: no output from the ranks"
rc=0; "${LAUNCH[@]}" run "$TMP/missing.yaml" >"$TMP/missing.out" 2>&1 || rc=$?
[ "$rc" = 2 ] || { cat "$TMP/missing.out"; fail "launch run of a missing job: exit $rc, expected the ranks' 2"; }
rc=0; "$SHARDFLOW_BIN" launch -np 2 run jobs/quickstart.yaml >"$TMP/nosep.out" 2>&1 || rc=$?
[ "$rc" = 2 ] && grep -q "expected \`--\` between mpirun's options and the shardflow command, e.g." "$TMP/nosep.out" \
  || { cat "$TMP/nosep.out"; fail "launch without --: exit $rc"; }
rc=0; SHARDFLOW_MPIRUN=/nonexistent/mpirun "${LAUNCH[@]}" validate jobs/quickstart.yaml >"$TMP/nompi.out" 2>&1 || rc=$?
[ "$rc" = 127 ] && grep -q "cannot run '/nonexistent/mpirun': No such file or directory (install Open MPI's mpirun, or set SHARDFLOW_MPIRUN" "$TMP/nompi.out" \
  || { cat "$TMP/nompi.out"; fail "launch with a missing mpirun: exit $rc"; }
pass "exit codes pass through; usage errors and a missing mpirun are explained"

# ---- an mpirun that never ends after its ranks did ---------------------------------------------
# Open MPI 4.1's mpirun can deadlock in its own shutdown (PMIx_server_finalize) when a rank dies
# while MPI starts, leaving the ranks unreaped. A stand-in mpirun does the same on purpose: two
# children exit (the second with FAKE_RANK_EXIT), it never reaps them and ignores SIGTERM. The
# launcher stops it after SHARDFLOW_LAUNCH_REAP_SECONDS and exits with the ranks' code.
cat >"$TMP/stuck-mpirun" <<'PY'
#!/usr/bin/python3
import os, signal, time
code = int(os.environ.get("FAKE_RANK_EXIT", "0"))
for r in range(2):
    if os.fork() == 0:
        os._exit(code if r == 1 else 0)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
time.sleep(600)
PY
chmod +x "$TMP/stuck-mpirun"
for code in 0 3; do
  rc=0; start=$(date +%s)
  FAKE_RANK_EXIT=$code SHARDFLOW_LAUNCH_REAP_SECONDS=1 SHARDFLOW_MPIRUN="$TMP/stuck-mpirun" timeout 60 \
    "${LAUNCH[@]}" run jobs/quickstart.yaml >"$TMP/stuck$code.out" 2>&1 || rc=$?
  [ "$rc" = "$code" ] || { cat "$TMP/stuck$code.out"; fail "stuck mpirun: exit $rc, expected the ranks' $code"; }
  [ $(( $(date +%s) - start )) -le 15 ] || fail "stuck mpirun: stopped only after $(( $(date +%s) - start )) s"
  grep -q "shardflow launch: every rank process on this host has ended (2 not reaped by mpirun, exit code $code) but mpirun has not, 1 s later" "$TMP/stuck$code.out" \
    || { cat "$TMP/stuck$code.out"; fail "stuck mpirun: no explanation"; }
done
pgrep -f "$TMP/stuck-mpirun" >/dev/null && fail "the stuck mpirun is still running"
pass "an mpirun that does not end after its ranks did is stopped, with the ranks' exit code"
