#!/usr/bin/env bash
# Side-by-side benchmark of shardflow's sort and as-of join steps against DuckDB and Polars:
#
#   benchmarks/sort_asof_comparisons.sh [--rows N] [--out DIR] [--repeats R] [--ranks "1 2"]
#                                       [--peer-threads "2"]
#
# sort:  the N-row `x` table of `shardflow gen join --rows N`, ordered by (id1 int64, v1 float64),
#        in two shapes that every engine runs alike: "sort7" moves all 7 columns (3 of them
#        strings), "sort2" only the two key columns (shardflow selects them in a step before the
#        sort; the peers load only them); DuckDB `SELECT * ... ORDER BY id1, v1`, Polars `sort`.
# as-of: two N-row events tables (`shardflow gen events --rows N --seed 1` and `--seed 2`), each
#        left row joined with the latest right row of its user_id at or before its ts (backward;
#        the right side's f1 is f1_right in shardflow's output, f1 in the peers');
#        DuckDB `ASOF LEFT JOIN`, Polars `join_asof` (its required sorts timed with it).
# shardflow runs a real job (the two steps, then small check steps) `repeats` times with
# --no-cache; each step's time is its compute time from the job's log ("first" is what a job
# pays; "best" the best of the runs). The peers load the CSVs first and run each query `repeats`
# times in one process. Checks against DuckDB: row counts, sums, the first 10 sorted rows, the
# number of matched as-of rows.
# Environment: SHARDFLOW_BUILD_DIR (default <repo>/build-release), MPIEXEC (default mpirun),
#              SHARDFLOW_PYTHON (default /usr/bin/python3).
# Output: DIR/sort_asof_results.json (JSON lines), DIR/sort_asof_results.md, DIR/logs/sort_asof_*.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)

die() {
  echo "sort_asof_comparisons.sh: error: $*" >&2
  exit 1
}

source "$SRC/benchmarks/job_bench_lib.sh"
bench_parse_options 2,22 "--rows N --out DIR --repeats R --ranks LIST --peer-threads LIST" "$@"

PY=${SHARDFLOW_PYTHON:-/usr/bin/python3}
bench_setup

mkdir -p "$OUT/logs"
JOIN_DATA=$OUT/join_$ROWS
if [[ ! -s $JOIN_DATA/x.csv ]]; then
  "$MPIEXEC" -np 2 "$BIN" gen join --rows "$ROWS" --out "$JOIN_DATA"
fi
for seed in 1 2; do
  if [[ ! -s $OUT/events_${ROWS}_s$seed/events.csv ]]; then
    "$MPIEXEC" -np 2 "$BIN" gen events --rows "$ROWS" --seed "$seed" --out "$OUT/events_${ROWS}_s$seed"
  fi
done
LEFT=$OUT/events_${ROWS}_s1/events.csv
RIGHT=$OUT/events_${ROWS}_s2/events.csv
RESULTS=$OUT/sort_asof_results.json
: >"$RESULTS"
echo "{\"bench\":\"load_average_start\",\"value\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >>"$RESULTS"

JOB=$OUT/sort_asof.yaml
EVENTS_SCHEMA="{event_id: int64, user_id: int64, ts: timestamp, f1: float64, f2: float64, f3: float64}"
cat >"$JOB" <<YAML
name: sort_asof
workdir: $OUT/sort_asof_work
inputs:
  x: {format: csv, path: $JOIN_DATA/x.csv, schema: {id1: int64, id2: int64, id3: int64, id4: string, id5: string, id6: string, v1: float64}}
  left: {format: csv, path: $LEFT, schema: $EVENTS_SCHEMA}
  right: {format: csv, path: $RIGHT, schema: $EVENTS_SCHEMA}
steps:
  - {op: sort, input: x, by: [id1, v1], output: sorted}
  - {op: select, input: x, columns: [id1, v1], output: x2}
  - {op: sort, input: x2, by: [id1, v1], output: sorted2}
  - {op: asof_join, left: left, right: right, by: [user_id], left_time: ts, right_time: ts, direction: backward, output: asof}
  - {op: group_by, input: sorted, keys: [], aggs: {"*": [count], v1: [sum]}, output: sort_check}
  - {op: sort, input: sorted, by: [id1, v1], limit: 10, output: sort_head}
  - {op: group_by, input: sorted2, keys: [], aggs: {"*": [count], v1: [sum]}, output: sort2_check}
  - {op: sort, input: sorted2, by: [id1, v1], limit: 10, output: sort2_head}
  - {op: group_by, input: asof, keys: [], aggs: {"*": [count], f1_right: [count, sum]}, output: asof_check}
outputs:
  - {table: sort_check, path: sort_check.csv}
  - {table: sort_head, path: sort_head.csv}
  - {table: sort2_check, path: sort2_check.csv}
  - {table: sort2_head, path: sort2_head.csv}
  - {table: asof_check, path: asof_check.csv}
YAML
"$BIN" validate "$JOB" >/dev/null || die "the benchmark job $JOB does not validate"

for np in $RANKS; do
  for ((run = 1; run <= REPEATS; run++)); do
    log=$OUT/logs/sort_asof_shardflow.np$np.run$run.log
    echo "== shardflow, $np rank(s), run $run of $REPEATS"
    "$MPIEXEC" -np "$np" "$BIN" run "$JOB" --no-cache --set "workdir=$OUT/sort_asof_work_np$np" 2>"$log" ||
      { tail -20 "$log" >&2; die "the shardflow job failed (log: $log)"; }
    "$PY" - "$log" "$OUT/sort_asof_work_np$np/outputs" "$np" "$run" >>"$RESULTS" <<'PY'
import csv, json, re, sys
log, outputs, np, run = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
t = {}
for line in open(log):
    m = re.search(r"step \d+ \((sort|asof_join)\) '(sorted|sorted2|asof)': \d+ rows in [0-9.]+ s \(compute ([0-9.]+) s", line)
    if m:
        t[m[2]] = float(m[3])
for bench, table, prefix in (("sort7", "sorted", "sort"), ("sort2", "sorted2", "sort2")):
    sc = next(csv.DictReader(open(f"{outputs}/{prefix}_check.csv")))
    head = [[int(r["id1"]), float(r["v1"])] for r in csv.DictReader(open(f"{outputs}/{prefix}_head.csv"))]
    print(json.dumps({"bench": bench, "impl": "shardflow", "ranks": np, "run": run, "seconds": t[table],
                      "rows": int(sc["count"]), "sum_v1": float(sc["v1_sum"]), "head": head}))
ac = next(csv.DictReader(open(f"{outputs}/asof_check.csv")))
print(json.dumps({"bench": "asof", "impl": "shardflow", "ranks": np, "run": run, "seconds": t["asof"],
                  "rows": int(ac["count"]), "matched": int(ac["f1_right_count"]), "sum_f1": float(ac["f1_right_sum"] or "nan")}))
PY
  done
done

for t in $PEER_THREADS; do
  for peer in duckdb polars; do
    log=$OUT/logs/sort_asof_$peer.t$t.log
    echo "== $peer, $t thread(s)"
    env SHARDFLOW_PEER_THREADS="$t" POLARS_MAX_THREADS="$t" node "$SRC/benchmarks/peers/sort_asof_$peer.mjs" \
      "$JOIN_DATA/x.csv" "$LEFT" "$RIGHT" "$REPEATS" 2>"$log" | grep '^{' | tee -a "$RESULTS" ||
      die "$peer failed (log: $log)"
  done
done
echo "{\"bench\":\"load_average_end\",\"value\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >>"$RESULTS"
"$PY" "$SRC/benchmarks/sort_asof_report.py" "$RESULTS" "$OUT/sort_asof_results.md" "$ROWS"
