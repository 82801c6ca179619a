#!/usr/bin/env bash
# Preemption under a real local Slurm: the quickstart job is requeued (`scontrol requeue`) while it
# trains, after its first checkpoint. Slurm sends SIGTERM, shardflow checkpoints and exits 75, the
# job goes back to the queue, and the next attempt resumes from the checkpoint (`--resume auto`).
# The final weights must equal an uninterrupted run's bit for bit, and the metrics must match.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

slurm_setup
require_shardflow
cd "$SRC"

# More epochs and frequent checkpoints give a wide window to interrupt training in.
OVERRIDES=(--set train.optimizer.epochs=60 --set train.checkpoint.every_steps=20)
id=$(submit --ntasks=2 --output="$WORK/requeue-%j.out" slurm/run.sbatch jobs/quickstart.yaml \
  --set workdir="$WORK/requeued" "${OVERRIDES[@]}")
out=$WORK/requeue-$id.out

# Wait for the first checkpoint, then preempt.
for ((i = 0; i < 600; i++)); do
  [[ -s $WORK/requeued/checkpoints/latest ]] && break
  case $(job_field "$id" JobState) in
    COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE) break ;;
  esac
  sleep 0.5
done
[[ -s $WORK/requeued/checkpoints/latest ]] || {
  dump_job "$id" "$out"
  fail "job $id wrote no checkpoint within 300 s, nothing to interrupt"
}
[[ $(job_field "$id" JobState) == RUNNING ]] || {
  dump_job "$id" "$out"
  fail "job $id finished before it could be interrupted; raise the epochs in OVERRIDES"
}
scontrol requeue "$id" || fail "scontrol requeue $id failed"
echo "requeued job $id after checkpoint $(<"$WORK/requeued/checkpoints/latest")"
# A requeued job is held until its credential expires; let it start as soon as possible.
for ((i = 0; i < 120; i++)); do
  [[ $(job_field "$id" JobState) == PENDING ]] && scontrol update jobid="$id" StartTime=now 2>/dev/null && break
  sleep 0.5
done

state=$(wait_job "$id" 400 "$out")
restarts=$(job_field "$id" Restarts)
if [[ $state != COMPLETED || $(job_field "$id" ExitCode) != 0:0 || $restarts -lt 1 ]]; then
  dump_job "$id" "$out"
  fail "job $id should complete after a requeue, got $state ExitCode=$(job_field "$id" ExitCode) Restarts=$restarts"
fi
resumed=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["train"]["resumed_from_step"])' "$WORK/requeued/metrics.json")
[[ $resumed -gt 0 ]] || {
  dump_job "$id" "$out"
  fail "the requeued attempt did not resume from a checkpoint (resumed_from_step=$resumed)"
}
echo "ok: job $id completed after $restarts requeue(s), resuming from step $resumed"

"$MPIEXEC" -np 2 --oversubscribe "$BIN" run jobs/quickstart.yaml --set workdir="$WORK/uninterrupted" \
  "${OVERRIDES[@]}" >"$WORK/uninterrupted.out" 2>&1 || {
  cat "$WORK/uninterrupted.out" >&2
  fail "the uninterrupted mpirun run failed"
}
/usr/bin/python3 "$SRC/tests/support/compare_runs.py" "$WORK/requeued" "$WORK/uninterrupted" ||
  fail "the requeued run and the uninterrupted run produced different results"
echo "ok: requeued and uninterrupted runs are identical"
