#!/usr/bin/env bash
# The quickstart job under a real local Slurm: `sbatch --ntasks=2 slurm/run.sbatch
# jobs/quickstart.yaml` must complete with exit code 0 and produce the same results as
# `mpirun -np 2 shardflow run jobs/quickstart.yaml` (tables as row multisets, the final weights
# bit-exactly, the metrics exactly; see tests/support/compare_runs.py).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

slurm_setup
require_shardflow

# 1. Under Slurm. sbatch runs from the repository so the relative job path resolves.
cd "$SRC"
id=$(submit --ntasks=2 --output="$WORK/sbatch-%j.out" slurm/run.sbatch jobs/quickstart.yaml \
  --set workdir="$WORK/sbatch")
out=$WORK/sbatch-$id.out
state=$(wait_job "$id" 300 "$out")
expect_completed "$id" "$state" "$out" "the quickstart job"
grep -q "run.sbatch: shardflow exited with code 0" "$out" || {
  dump_job "$id" "$out"
  fail "job $id completed but its output does not show shardflow exiting 0"
}
grep -q '"ranks": 2' "$WORK/sbatch/metrics.json" || fail "$WORK/sbatch/metrics.json does not record 2 ranks: $(cat "$WORK/sbatch/metrics.json")"
echo "ok: quickstart completed under sbatch + srun at 2 ranks (job $id)"

# 2. The same job with plain mpirun, then compare the results.
"$MPIEXEC" -np 2 --oversubscribe "$BIN" run jobs/quickstart.yaml --set workdir="$WORK/mpirun" \
  >"$WORK/mpirun.out" 2>&1 || {
  cat "$WORK/mpirun.out" >&2
  fail "mpirun -np 2 shardflow run jobs/quickstart.yaml failed"
}
/usr/bin/python3 "$SRC/tests/support/compare_runs.py" "$WORK/sbatch" "$WORK/mpirun" ||
  fail "the Slurm run and the mpirun run of the quickstart job produced different results"
echo "ok: sbatch and mpirun results are identical"
