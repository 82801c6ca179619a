#!/usr/bin/env bash
# Peak memory per rank of a chain of five steps on 1e7 rows, with table liveness (each table freed
# after its last reader, the default) against without (runtime.table_liveness: false, every table
# kept to the end). Real `shardflow run` jobs; the peak is the largest peak RSS of any rank, from
# metrics.json. Writes DIR/liveness.md and DIR/liveness.json.
#
#   benchmarks/liveness.sh [--rows N] [--ranks R] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=10000000 RANKS=2 OUT=benchmarks/results
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) ROWS=$(python3 -c "print(int(float('$2')))"); shift 2 ;;
    --ranks) RANKS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    *) echo "liveness.sh: unknown option '$1' (--rows N, --ranks R, --out DIR)" >&2; exit 2 ;;
  esac
done
BUILD="${SHARDFLOW_BUILD_DIR:-build}"
[ -x "$BUILD/shardflow" ] || { echo "liveness.sh: build shardflow first (bash .ci/build.sh $BUILD)" >&2; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$OUT"
WORK="$OUT/liveness-work"
JOB="$OUT/liveness-job.yaml"
# Five filters in a chain, each reading the previous step's table: without liveness all six
# tables (the input and five outputs) are in memory at the end; with it, at most two.
cat > "$JOB" <<YAML
name: liveness
workdir: $WORK
inputs:
  events: {format: generate, kind: classification, rows: $ROWS}
steps:
  - {op: filter, input: events, where: "amount > -1000000", output: s1}
  - {op: filter, input: s1, where: "x4 < 9.9", output: s2}
  - {op: filter, input: s2, where: "x1 > -5", output: s3}
  - {op: filter, input: s3, where: "x2 < 5", output: s4}
  - {op: filter, input: s4, where: "x3 > -5", output: s5}
outputs:
  - {table: s5, path: s5.h5}
YAML
measure() {  # liveness true|false -> "peak_bytes seconds"
  mpirun -np "$RANKS" --oversubscribe "$BUILD/shardflow" run "$JOB" --no-cache \
    --set "runtime.table_liveness=$1" 2>"$OUT/liveness-$1.log"
  python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["memory"]["peak_rss_bytes"], m["seconds"])' "$WORK/metrics.json"
}
# The first run generates the input CSV; time it separately so both measured runs read the same file.
mpirun -np "$RANKS" --oversubscribe "$BUILD/shardflow" run "$JOB" --no-cache 2>"$OUT/liveness-warmup.log"
read -r with_peak with_s < <(measure true)
read -r without_peak without_s < <(measure false)
python3 - "$OUT" "$ROWS" "$RANKS" "$with_peak" "$with_s" "$without_peak" "$without_s" <<'PY'
import json, sys
out, rows, ranks, wp, ws, np_, ns = sys.argv[1:]
wp, np_ = int(wp), int(np_)
mib = lambda b: b / 2**20
doc = {"rows": int(rows), "ranks": int(ranks), "steps": 5,
       "with_liveness": {"peak_rss_bytes": wp, "seconds": float(ws)},
       "without_liveness": {"peak_rss_bytes": np_, "seconds": float(ns)},
       "ratio": np_ / wp}
json.dump(doc, open(f"{out}/liveness.json", "w"), indent=2)
md = (f"| chain of 5 filters, {int(rows):.0e} rows, {ranks} ranks | peak memory per rank | run time |\n"
      f"|---|---|---|\n"
      f"| table liveness (default) | {mib(wp):.0f} MiB | {float(ws):.2f} s |\n"
      f"| every table kept (`runtime.table_liveness: false`) | {mib(np_):.0f} MiB | {float(ns):.2f} s |\n"
      f"| ratio | {np_ / wp:.2f}x | |\n")
open(f"{out}/liveness.md", "w").write(md)
print(md)
PY
