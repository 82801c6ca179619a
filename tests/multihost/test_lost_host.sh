#!/usr/bin/env bash
# A host lost mid-run: the quickstart (more epochs, so that training is still running) on two
# hosts of two ranks each, with the keepalive settings of lib.sh ($MH_DETECT_MCA, the ones
# docs/networks.md gives users). Once training has written its first checkpoint, host sfh2's link
# goes down (`ip link set sfv2 down`). Then:
#  - the job ends within 30 s of the cut, non-zero, with a message naming the lost host (sfh2)
#    and, through `shardflow launch`, its ranks (2, 3),
#    and no rank of it is left running on either host;
#  - with the link back up, a rerun on the same workdir reuses every committed stage, resumes
#    training from a checkpoint, and ends with outputs, weights and metrics identical to an
#    uninterrupted run's.
# Needs root (exit 77 otherwise); as root, a set-up that fails fails the test.
source "$(dirname "$0")/../e2e/lib.sh"
source "$(dirname "$0")/lib.sh"
mh_require_root
mh_setup "$TMP" || fail "could not build the two hosts"
cd "$SRC"
W="$TMP/cut"
JOB=(run jobs/quickstart.yaml --set train.optimizer.epochs=10)
mh_cmd 2

# ---- the cut --------------------------------------------------------------------------------
# Through `shardflow launch`, which names the lost host's ranks.
SHARDFLOW_MPIRUN="${MH_CMD[0]}" timeout --kill-after=5 120 "$SHARDFLOW_BIN" launch "${MH_CMD[@]:1}" \
  "${MH_DETECT_MCA[@]}" -- "${JOB[@]}" --set "workdir=$W" >"$TMP/cut.log" 2>&1 &
job=$!
for _ in $(seq 1200); do  # up to 60 s for the first checkpoint
  ls "$W"/checkpoints/ckpt-*.h5 >/dev/null 2>&1 && break
  kill -0 "$job" 2>/dev/null || break
  sleep 0.05
done
ls "$W"/checkpoints/ckpt-*.h5 >/dev/null 2>&1 || { cat "$TMP/cut.log" >&2; fail "no checkpoint within 60 s"; }
kill -0 "$job" 2>/dev/null || { cat "$TMP/cut.log" >&2; fail "the job ended before the cut"; }
cut_at=$(date +%s.%N)
mh_cut 2
rc=0
wait "$job" || rc=$?
seconds=$(echo "$(date +%s.%N) - $cut_at" | bc)
echo "--- the job's output after the cut (exit $rc, $seconds s after the cut):"
sed -n '/^-----/,$p' "$TMP/cut.log" | head -20
[ "$rc" != 0 ] || fail "the job exited 0 although host sfh2 was cut off"
[ "$rc" != 124 ] && [ "$rc" != 137 ] || fail "the job was still running 120 s after the start (a hang)"
(( $(echo "$seconds <= 30" | bc) )) || fail "the job ended $seconds s after the cut, more than 30 s"
grep -q "lost communication with a remote daemon" "$TMP/cut.log" || fail "no message about the lost host"
grep -Eq "Remote daemon: .* on node sfh2" "$TMP/cut.log" || fail "the message does not name host sfh2"
grep -q "shardflow launch: lost host sfh2 with ranks 2, 3: " "$TMP/cut.log" \
  || { tail -5 "$TMP/cut.log" >&2; fail "shardflow launch did not name the lost host's ranks (2, 3)"; }
if grep -q "training finished" "$TMP/cut.log"; then fail "training finished before the cut took effect"; fi
for _ in $(seq 100); do  # up to 10 s for the last rank to go
  pgrep -f -- "workdir=$W" >/dev/null || break
  sleep 0.1
done
if pgrep -fa -- "workdir=$W" >&2; then fail "processes of the cut job are still running"; fi

# ---- the rerun, link restored ------------------------------------------------------------------
mh_restore 2
expect_rerun=0
timeout --kill-after=5 120 "${MH_CMD[@]}" "${MH_DETECT_MCA[@]}" \
  "$SHARDFLOW_BIN" "${JOB[@]}" --set "workdir=$W" >"$TMP/rerun.log" 2>&1 || expect_rerun=$?
[ "$expect_rerun" = 0 ] || { tail -30 "$TMP/rerun.log" >&2; fail "the rerun exited $expect_rerun"; }
grep -E "resuming training from step|reused|done in" "$TMP/rerun.log"
grep -q "done in .*(4 of 4 steps reused" "$TMP/rerun.log" || fail "the rerun did not reuse every committed stage"
grep -q "resuming training from step" "$TMP/rerun.log" || fail "the rerun did not resume training"

# ---- against an uninterrupted run (one host, same rank count) --------------------------------
timeout --kill-after=5 120 "$MPIEXEC" -np 4 --oversubscribe "$SHARDFLOW_BIN" "${JOB[@]}" \
  --set "workdir=$TMP/whole" >"$TMP/whole.log" 2>&1 || { tail -30 "$TMP/whole.log" >&2; fail "the uninterrupted run failed"; }
$PY tests/support/compare_runs.py "$TMP/whole" "$W" --ordered test_set ||
  fail "the resumed run differs from an uninterrupted one"
pass "a lost host ends the job in $seconds s naming it; the rerun resumes and equals an uninterrupted run"
