#!/usr/bin/env bash
# What the stage cache costs and saves, from real `shardflow run` jobs: the quickstart job at R
# ranks, cold (empty workdir: every step computed and committed to the stage cache) and rerun
# unchanged (every step reused), N times each, alternating. Prints the first cold run (what a
# job pays) next to the best of N, and the same for reruns; times are metrics.json "seconds"
# (the job from its first line to metrics.json written, without MPI start-up).
#
#   benchmarks/rerun.sh [--ranks R] [--repeats N] [--job FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
RANKS=2 REPEATS=5 JOB=jobs/quickstart.yaml
while [ $# -gt 0 ]; do
  case "$1" in
    --ranks) RANKS="$2"; shift 2 ;;
    --repeats) REPEATS="$2"; shift 2 ;;
    --job) JOB="$2"; shift 2 ;;
    *) echo "rerun.sh: unknown option '$1' (--ranks R, --repeats N, --job FILE)" >&2; exit 2 ;;
  esac
done
BUILD="${SHARDFLOW_BUILD_DIR:-build}"
[ -x "$BUILD/shardflow" ] || { echo "rerun.sh: build shardflow first (bash .ci/build.sh $BUILD)" >&2; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
WORK=$(mktemp -d /tmp/shardflow-rerun.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
run() { mpirun -np "$RANKS" --oversubscribe "$BUILD/shardflow" run "$JOB" --set "workdir=$WORK/w" "$@" 2>/dev/null
        python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["seconds"])' "$WORK/w/metrics.json"; }
# Generated input data is kept between cold runs (data/ survives), so cold runs time the steps,
# not the generator.
run >/dev/null
cold=() rerun=()
for _ in $(seq 1 "$REPEATS"); do
  rm -rf "$WORK/w/stages" "$WORK/w/checkpoints"
  cold+=("$(run)")
  rerun+=("$(run)")
done
python3 - "$JOB" "$RANKS" "${cold[*]}" "${rerun[*]}" <<'PY'
import sys
job, ranks, cold, rerun = sys.argv[1], sys.argv[2], [float(x) for x in sys.argv[3].split()], [float(x) for x in sys.argv[4].split()]
print(f"| {job}, {ranks} ranks | first run | best of {len(cold)} |")
print("|---|---|---|")
print(f"| cold (every step computed and committed) | {cold[0]:.3f} s | {min(cold):.3f} s |")
print(f"| unchanged rerun (every step reused) | {rerun[0]:.3f} s | {min(rerun):.3f} s |")
PY
