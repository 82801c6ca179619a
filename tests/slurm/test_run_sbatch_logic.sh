#!/usr/bin/env bash
# Checks slurm/run.sbatch's own logic on a real local Slurm, with a stand-in for the shardflow
# binary (a script that behaves like `shardflow run` on SIGTERM: exit 75 after "checkpointing"):
#   1. arguments reach `shardflow run JOB --resume auto ARGS...` on every rank;
#   2. SIGTERM to the batch shell (what --signal=B:TERM@60 sends before the time limit) reaches
#      every rank, the 75 exit makes the script requeue the job, and attempt 2 completes;
#   3. any other exit code is passed through (job FAILED with that ExitCode);
#   4. a missing binary is a clear error.
# The real-binary versions of these are test_sbatch_quickstart.sh and test_requeue.sh.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
slurm_setup

cat >"$WORK/fake_shardflow" <<'FAKE'
#!/bin/bash
# Records its arguments; attempt 1 waits for SIGTERM and exits 75, later attempts exit $FAKE_RC.
echo "rank=$SLURM_PROCID restart=${SLURM_RESTART_COUNT:-0} args=$*" >>"$FAKE_LOG.$SLURM_PROCID"
if [[ ${SLURM_RESTART_COUNT:-0} -eq 0 && ${FAKE_WAIT_FOR_TERM:-0} -eq 1 ]]; then
  trap 'echo "rank=$SLURM_PROCID checkpointed" >>"$FAKE_LOG.$SLURM_PROCID"; exit 75' TERM
  touch "$FAKE_LOG.started.$SLURM_PROCID"
  for ((i = 0; i < 1200; i++)); do sleep 0.1; done
  exit 9
fi
exit "${FAKE_RC:-0}"
FAKE
chmod +x "$WORK/fake_shardflow"
export SHARDFLOW_BIN=$WORK/fake_shardflow

# 1 + 2: requeue after a forwarded SIGTERM.
export FAKE_LOG=$WORK/requeue FAKE_WAIT_FOR_TERM=1 FAKE_RC=0
id=$(submit --ntasks=2 --output="$WORK/requeue.out" "$SRC/slurm/run.sbatch" jobs/quickstart.yaml --set workdir=/x)
for ((i = 0; i < 120; i++)); do
  [[ -e $FAKE_LOG.started.0 && -e $FAKE_LOG.started.1 ]] && break
  sleep 0.5
done
[[ -e $FAKE_LOG.started.0 && -e $FAKE_LOG.started.1 ]] || {
  dump_job "$id" "$WORK/requeue.out"
  fail "the 2 ranks of job $id did not start within 60 s"
}
scancel --batch --signal=TERM "$id"
state=$(wait_job "$id" 180 "$WORK/requeue.out")
if [[ $state != COMPLETED || $(job_field "$id" ExitCode) != 0:0 || $(job_field "$id" Restarts) != 1 ]]; then
  dump_job "$id" "$WORK/requeue.out"
  fail "job $id should complete after exactly 1 requeue, got $state ExitCode=$(job_field "$id" ExitCode) Restarts=$(job_field "$id" Restarts)"
fi
for rank in 0 1; do
  expected="rank=$rank restart=0 args=run jobs/quickstart.yaml --resume auto --set workdir=/x
rank=$rank checkpointed
rank=$rank restart=1 args=run jobs/quickstart.yaml --resume auto --set workdir=/x"
  [[ $(<"$FAKE_LOG.$rank") == "$expected" ]] || {
    dump_job "$id" "$WORK/requeue.out"
    fail "rank $rank saw: $(<"$FAKE_LOG.$rank") -- expected: $expected"
  }
done
echo "ok: SIGTERM reached both ranks, exit 75 requeued job $id, attempt 2 completed with the same arguments"

# 3: exit codes other than 75 pass through.
export FAKE_LOG=$WORK/fail FAKE_WAIT_FOR_TERM=0 FAKE_RC=3
id=$(submit --ntasks=2 --output="$WORK/fail.out" "$SRC/slurm/run.sbatch" jobs/quickstart.yaml)
state=$(wait_job "$id" 120 "$WORK/fail.out")
if [[ $state != FAILED || $(job_field "$id" ExitCode) != 3:0 || $(job_field "$id" Restarts) != 0 ]]; then
  dump_job "$id" "$WORK/fail.out"
  fail "exit code 3 should give FAILED ExitCode=3:0 with no requeue, got $state ExitCode=$(job_field "$id" ExitCode) Restarts=$(job_field "$id" Restarts)"
fi
echo "ok: exit code 3 passed through without requeue (job $id)"

# 4: a missing binary is reported.
export SHARDFLOW_BIN=$WORK/does-not-exist
id=$(submit --ntasks=1 --output="$WORK/missing.out" "$SRC/slurm/run.sbatch" jobs/quickstart.yaml)
state=$(wait_job "$id" 120 "$WORK/missing.out")
if [[ $state != FAILED ]] || ! grep -q "shardflow executable not found" "$WORK/missing.out"; then
  dump_job "$id" "$WORK/missing.out"
  fail "a missing SHARDFLOW_BIN should fail the job with 'shardflow executable not found', got $state"
fi
echo "ok: a missing binary fails with a clear message (job $id)"
