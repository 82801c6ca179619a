#!/usr/bin/env bash
# The quickstart on one host against two hosts, side by side: R ranks on this machine (mpirun
# --oversubscribe) and R/2 ranks on each of two hosts built from network namespaces
# (tests/multihost/lib.sh: a bridge, TCP between the hosts, the Open MPI settings of
# docs/networks.md). Runs alternate between the two set-ups, N times each, cold every time (empty
# stage cache and checkpoints; the generated input data is kept, so the generator is not timed).
# Prints the first run and the best of N for each, as wall time of the whole mpirun (from outside:
# start-up included) and as the job's own time (metrics.json "seconds"), and the ratio two hosts /
# one host. Also checks that both give identical results. Needs root.
#
#   sudo benchmarks/multihost.sh [--ranks R] [--repeats N]     (R even; default 4 ranks, 5 repeats)
set -euo pipefail
cd "$(dirname "$0")/.."
RANKS=4 REPEATS=5
while [ $# -gt 0 ]; do
  case "$1" in
    --ranks) RANKS="$2"; shift 2 ;;
    --repeats) REPEATS="$2"; shift 2 ;;
    *) echo "multihost.sh: unknown option '$1' (--ranks R, --repeats N)" >&2; exit 2 ;;
  esac
done
[ $((RANKS % 2)) = 0 ] && [ "$RANKS" -ge 2 ] || { echo "multihost.sh: --ranks must be even" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "multihost.sh: needs root (network namespaces)" >&2; exit 2; }
BUILD="${SHARDFLOW_BUILD_DIR:-build}"
BIN="$(cd "$BUILD" && pwd)/shardflow"
[ -x "$BIN" ] || { echo "multihost.sh: build shardflow first (bash .ci/build.sh $BUILD)" >&2; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
WORK=$(mktemp -d /tmp/shardflow-multihost.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
source tests/multihost/lib.sh
mh_setup "$WORK"  # chains its clean-up onto the trap above
mh_cmd $((RANKS / 2))
ONE=(mpirun -np "$RANKS" --oversubscribe)
TWO=("${MH_CMD[@]}")

# run NAME: one cold quickstart in $WORK/NAME; prints "wall_seconds job_seconds".
run() {
  local name="$1" start end; shift
  local -n cmd="$1"
  rm -rf "$WORK/$name/stages" "$WORK/$name/checkpoints" "$WORK/$name/metrics.json"
  start=$(date +%s.%N)
  "${cmd[@]}" "$BIN" run jobs/quickstart.yaml --set "workdir=$WORK/$name" >"$WORK/$name.log" 2>&1 ||
    { tail -20 "$WORK/$name.log" >&2; echo "multihost.sh: the $name run failed" >&2; exit 1; }
  end=$(date +%s.%N)
  python3 -c 'import json,sys; print(float(sys.argv[2]) - float(sys.argv[1]), json.load(open(sys.argv[3]))["seconds"])' \
    "$start" "$end" "$WORK/$name/metrics.json"
}
# Generate the input once per workdir.
run one ONE >/dev/null
run two TWO >/dev/null
one=() two=()
for _ in $(seq 1 "$REPEATS"); do
  one+=("$(run one ONE)")
  two+=("$(run two TWO)")
done
/usr/bin/python3 tests/support/compare_runs.py "$WORK/one" "$WORK/two" --ordered test_set >/dev/null ||
  { echo "multihost.sh: one host and two hosts gave different results" >&2; exit 1; }
python3 - "$RANKS" "$REPEATS" "${one[@]}" -- "${two[@]}" <<'PY'
import sys
ranks, n = int(sys.argv[1]), int(sys.argv[2])
rest = sys.argv[3:]
cut = rest.index("--")
one = [tuple(map(float, x.split())) for x in rest[:cut]]
two = [tuple(map(float, x.split())) for x in rest[cut + 1:]]
def row(label, runs, i):
    return f"{runs[0][i]:.3f} s | {min(r[i] for r in runs):.3f} s"
print(f"| quickstart, {ranks} ranks, cold steps | one host: first | best of {n} | two hosts x {ranks // 2}: first | best of {n} | ratio (best) |")
print("|---|---|---|---|---|---|")
for i, what in enumerate(["wall time of mpirun", "job time (metrics.json)"]):
    b1 = min(r[i] for r in one); b2 = min(r[i] for r in two)
    print(f"| {what} | {row('', one, i)} | {row('', two, i)} | {b2 / b1:.2f}x |")
print("results identical (tests/support/compare_runs.py)")
PY
