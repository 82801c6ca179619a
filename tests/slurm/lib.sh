# shellcheck shell=bash
# Shared helpers for tests/slurm/test_*.sh (sourced, not run; ctest only runs test_*.sh).
#
#   slurm_setup            skip (exit 77) without the slurm/munge packages, bring up the local
#                          cluster (shared with concurrently running Slurm tests), make a temp dir
#                          $WORK, and release/clean both on exit.
#   submit ARGS...         sbatch --parsable ARGS..., prints the job id.
#   wait_job ID SECONDS    waits for a terminal state; prints it; on timeout prints the job's
#                          output and the slurmctld log tail and fails.
#   job_field ID FIELD     one field of `scontrol show job` (e.g. ExitCode, JobState, Restarts).
#   dump_job ID OUTFILE    prints the job record, its output file and the daemon log tails.

SRC=${SHARDFLOW_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck disable=SC2034 # used by the tests that source this file
BUILD=${SHARDFLOW_BUILD_DIR:-$SRC/build}
LOCAL_SLURM=$SRC/tests/slurm/local_slurm.sh
SLURM_STATE=${SHARDFLOW_SLURM_DIR:-/tmp/shardflow-slurm}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

slurm_setup() {
  local prog
  for prog in slurmctld slurmd munged sbatch srun scontrol; do
    if ! command -v "$prog" >/dev/null 2>&1; then
      echo "SKIP: '$prog' is not installed; install the slurm-wlm and munge packages (bash .ci/install-slurm.sh) to run the Slurm tests"
      exit 77
    fi
  done
  WORK=$(mktemp -d /tmp/shardflow-slurm-test.XXXXXX)
  trap 'slurm_teardown' EXIT
  bash "$LOCAL_SLURM" acquire $$ || fail "could not start the local Slurm cluster (see the messages above)"
  eval "$(bash "$LOCAL_SLURM" env)"
  export SLURM_CONF
}

# require_shardflow: sets BIN (and exports SHARDFLOW_BIN) to the shardflow executable, MPIEXEC to
# the launcher; fails with a clear message when the binary is missing.
require_shardflow() {
  BIN=${SHARDFLOW_BIN:-$BUILD/shardflow}
  MPIEXEC=${MPIEXEC:-mpirun}
  [[ -x $BIN ]] || fail "shardflow binary '$BIN' not found; build it (ninja -C $BUILD shardflow) or set SHARDFLOW_BIN"
  export SHARDFLOW_BIN=$BIN
}

slurm_teardown() {
  local rc=$?
  # Cancel anything this test submitted that is still queued or running.
  if [[ -n ${SUBMITTED:-} ]]; then
    # shellcheck disable=SC2086 # a list of job ids, split on purpose
    scancel $SUBMITTED >/dev/null 2>&1 || true
  fi
  bash "$LOCAL_SLURM" release $$ || true
  if [[ $rc -eq 0 ]]; then
    rm -rf "$WORK"
  else
    echo "test files kept in $WORK" >&2
  fi
  exit $rc
}

submit() {
  local id
  id=$(sbatch --parsable "$@") || fail "sbatch $* failed"
  id=${id%%;*}
  SUBMITTED="${SUBMITTED:-} $id"
  echo "$id"
}

job_field() {
  scontrol show job "$1" -o 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}

dump_job() {
  local id=$1 out=${2:-}
  echo "---- scontrol show job $id ----" >&2
  scontrol show job "$id" >&2 2>&1 || true
  if [[ -n $out ]]; then
    echo "---- job output $out ----" >&2
    cat "$out" >&2 2>/dev/null || echo "(no output file)" >&2
  fi
  echo "---- slurmctld.log (tail) ----" >&2
  tail -n 40 "$SLURM_STATE/slurmctld.log" >&2 2>/dev/null || true
  echo "---- slurmd.log (tail) ----" >&2
  tail -n 40 "$SLURM_STATE/slurmd.log" >&2 2>/dev/null || true
}

# Fails (after dumping job $1 and its output $3) unless the job, which ended in state $2,
# completed with exit code 0:0. $4 names the job in the message.
expect_completed() {
  local id=$1 state=$2 out=$3 what=$4
  if [[ $state != COMPLETED || $(job_field "$id" ExitCode) != 0:0 ]]; then
    dump_job "$id" "$out"
    fail "$what $id ended $state with ExitCode=$(job_field "$id" ExitCode), expected COMPLETED 0:0"
  fi
}

wait_job() {
  local id=$1 limit=$2 out=${3:-} deadline state
  deadline=$((SECONDS + limit))
  while ((SECONDS < deadline)); do
    state=$(job_field "$id" JobState)
    case $state in
      COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE | PREEMPTED)
        echo "$state"
        return 0
        ;;
    esac
    sleep 1
  done
  dump_job "$id" "$out"
  fail "job $id did not finish within ${limit}s (last state '${state:-unknown}')"
}
