#!/usr/bin/env bash
# Runs the MPI test binary test_collectives at 2 ranks through a real local Slurm (sbatch + srun
# with the PMIx plugin) and checks that the two tasks formed one 2-rank MPI_COMM_WORLD and passed;
# then checks that a failing step's exit code reaches `scontrol show job` (a job that must fail).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

BIN=$BUILD/tests/test_collectives
slurm_setup
[[ -x $BIN ]] || fail "$BIN not found; build it first: ninja -C $BUILD test_collectives"

# 1. Two ranks under srun --mpi=pmix: the gtest main on rank 0 prints "[mpi] 2 rank(s), 0 with failures".
cat >"$WORK/mpi.sbatch" <<SCRIPT
#!/bin/bash
srun --mpi=pmix "$BIN"
SCRIPT
id=$(submit --ntasks=2 --output="$WORK/mpi-%j.out" "$WORK/mpi.sbatch")
state=$(wait_job "$id" 180 "$WORK/mpi-$id.out")
out=$WORK/mpi-$id.out
expect_completed "$id" "$state" "$out" "the srun --mpi=pmix job"
grep -q '^\[mpi\] 2 rank(s), 0 with failures' "$out" || {
  dump_job "$id" "$out"
  fail "job $id did not report one 2-rank communicator with 0 failures"
}
# Each rank is its own srun task: exactly 2 distinct task ids must have run.
[[ $(scontrol show job "$id" -o | grep -o 'NumTasks=[0-9]*') == NumTasks=2 ]] ||
  fail "job $id did not run 2 tasks: $(scontrol show job "$id" -o)"
echo "ok: test_collectives passed at 2 ranks under srun --mpi=pmix (job $id)"

# 2. A failing step: the exit code must be reported, not swallowed.
cat >"$WORK/fail.sbatch" <<SCRIPT
#!/bin/bash
srun --mpi=pmix bash -c 'exit 3'
SCRIPT
id=$(submit --ntasks=2 --output="$WORK/fail-%j.out" "$WORK/fail.sbatch")
state=$(wait_job "$id" 120 "$WORK/fail-$id.out")
code=$(job_field "$id" ExitCode)
[[ $state == FAILED && $code == 3:0 ]] || {
  dump_job "$id" "$WORK/fail-$id.out"
  fail "a step exiting 3 should end FAILED with ExitCode=3:0, got $state ExitCode=$code"
}
echo "ok: a failing step is reported as FAILED ExitCode=3:0 (job $id)"
