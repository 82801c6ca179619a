#!/usr/bin/env bash
# Side-by-side benchmark of shardflow's join step against DuckDB, Polars and pandas on the
# db-benchmark join questions q1-q5, all in one run on this machine:
#
#   benchmarks/join_comparisons.sh [--rows N] [--out DIR] [--repeats R] [--ranks "1 2"]
#                                  [--peer-threads "2"] [--peers "duckdb polars pandas"]
#
# Defaults: --rows 1e7, --out benchmarks/results, --repeats 3, --ranks "1 2", --peer-threads 2.
# Data: `shardflow gen join --rows N --out DIR/join_N` (x, small, medium, big; written once).
# shardflow runs a real job (q1-q5 as join steps, each followed by a keyless group_by giving the
# row count and the sums of v1 and v2) `repeats` times with --no-cache; each question's time is
# its step's compute time from the job's log (inputs in memory; the stage file the job then
# writes for reruns is reported apart), so "first" is what a job pays (every job runs a step
# once) and "best" the best of the runs. The peers load the CSVs into memory first (timed apart) and run
# each question `repeats` times in one process: "first" is the first run after loading.
# Every answer's row count and sums are checked against DuckDB's.
# Environment: SHARDFLOW_BUILD_DIR (default <repo>/build-release), MPIEXEC (default mpirun),
#              SHARDFLOW_PYTHON (default /usr/bin/python3, with python3-pandas).
# Output: DIR/join_results.json (JSON lines), DIR/join_results.md, DIR/logs/join_*.log.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
PEERS="duckdb polars pandas"

die() {
  echo "join_comparisons.sh: error: $*" >&2
  exit 1
}

# --peers LIST, beside the options of bench_parse_options.
bench_extra_option() {
  [[ $1 == --peers ]] || return 1
  PEERS=${2?--peers needs a value}
}
source "$SRC/benchmarks/job_bench_lib.sh"
bench_parse_options 2,19 "--rows N --out DIR --repeats R --ranks LIST --peer-threads LIST --peers LIST" "$@"
for p in $PEERS; do
  case $p in duckdb | polars | pandas) ;; *) die "unknown peer '$p' (peers: duckdb polars pandas)" ;; esac
done

# Debian's Python, which has python3-pandas (a python3 earlier in PATH may not).
PY=${SHARDFLOW_PYTHON:-/usr/bin/python3}
if [[ " $PEERS " == *" pandas "* ]] && ! "$PY" -c 'import pandas' 2>/dev/null; then
  die "pandas is missing for $PY: install it with 'apt-get install python3-pandas' (or leave pandas out with --peers \"duckdb polars\")"
fi
bench_setup

mkdir -p "$OUT/logs"
DATA=$OUT/join_$ROWS
if [[ ! -s $DATA/big.csv ]]; then
  echo "generating $DATA ($ROWS rows)"
  "$MPIEXEC" -np 2 "$BIN" gen join --rows "$ROWS" --out "$DATA"
fi
RESULTS=$OUT/join_results.json
: >"$RESULTS"
echo "{\"bench\":\"load_average_start\",\"value\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >>"$RESULTS"

# ---- shardflow: a real job ---------------------------------------------------------------------
JOB=$OUT/join_q1_q5.yaml
{
  echo "name: join_q1_q5"
  echo "workdir: $OUT/join_work"
  echo "inputs:"
  echo "  x: {format: csv, path: $DATA/x.csv, schema: {id1: int64, id2: int64, id3: int64, id4: string, id5: string, id6: string, v1: float64}}"
  echo "  small: {format: csv, path: $DATA/small.csv, schema: {id1: int64, id4: string, v2: float64}}"
  echo "  medium: {format: csv, path: $DATA/medium.csv, schema: {id1: int64, id2: int64, id4: string, id5: string, v2: float64}}"
  echo "  big: {format: csv, path: $DATA/big.csv, schema: {id1: int64, id2: int64, id3: int64, id4: string, id5: string, id6: string, v2: float64}}"
  echo "steps:"
  echo "  - {op: join, left: x, right: small, on: [id1], how: inner, output: q1}"
  echo "  - {op: join, left: x, right: medium, on: [id2], how: inner, output: q2}"
  echo "  - {op: join, left: x, right: medium, on: [id2], how: left, output: q3}"
  echo "  - {op: join, left: x, right: medium, on: [id5], how: inner, output: q4}"
  echo "  - {op: join, left: x, right: big, on: [id3], how: inner, output: q5}"
  for q in q1 q2 q3 q4 q5; do
    echo "  - {op: group_by, input: $q, keys: [], aggs: {\"*\": [count], v1: [sum], v2: [sum]}, output: ${q}_check}"
  done
  echo "outputs:"
  for q in q1 q2 q3 q4 q5; do echo "  - {table: ${q}_check, path: ${q}_check.csv}"; done
} >"$JOB"
"$BIN" validate "$JOB" >/dev/null || die "the benchmark job $JOB does not validate"

for np in $RANKS; do
  for ((run = 1; run <= REPEATS; run++)); do
    log=$OUT/logs/join_shardflow.np$np.run$run.log
    echo "== shardflow, $np rank(s), run $run of $REPEATS"
    "$MPIEXEC" -np "$np" "$BIN" run "$JOB" --no-cache --set "workdir=$OUT/join_work_np$np" 2>"$log" ||
      { tail -20 "$log" >&2; die "the shardflow job failed (log: $log)"; }
    "$PY" - "$log" "$OUT/join_work_np$np/outputs" "$np" "$run" >>"$RESULTS" <<'PY'
import csv, json, re, sys
log, outputs, np, run = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
times, stage = {}, {}
for line in open(log):
    m = re.search(r"step \d+ \(join\) '(q\d)': (\d+) rows in [0-9.]+ s \(compute ([0-9.]+) s, stage write ([0-9.]+) s\)", line)
    if m:
        times[m[1]], stage[m[1]] = float(m[3]), float(m[4])
for q in ("q1", "q2", "q3", "q4", "q5"):
    row = next(csv.DictReader(open(f"{outputs}/{q}_check.csv")))
    print(json.dumps({"bench": f"join_{q}", "impl": "shardflow", "ranks": np, "run": run,
                      "seconds": times[q], "stage_seconds": stage[q], "rows": int(row["count"]),
                      "sum_v1": float(row["v1_sum"]), "sum_v2": float(row["v2_sum"] or "nan")}))
PY
  done
done

# ---- peers -------------------------------------------------------------------------------------
for t in $PEER_THREADS; do
  for peer in $PEERS; do
    log=$OUT/logs/join_$peer.t$t.log
    echo "== $peer, $t thread(s)"
    case $peer in
      pandas) [[ $t == "${PEER_THREADS%% *}" ]] || continue  # single-threaded: run once
              cmd=("$PY" "$SRC/benchmarks/peers/join_pandas.py" "$DATA" "$REPEATS") ;;
      *) cmd=(env SHARDFLOW_PEER_THREADS="$t" POLARS_MAX_THREADS="$t" node "$SRC/benchmarks/peers/join_$peer.mjs" "$DATA" "$REPEATS") ;;
    esac
    "${cmd[@]}" 2>"$log" | grep '^{' | tee -a "$RESULTS" || die "$peer failed (log: $log)"
  done
done
echo "{\"bench\":\"load_average_end\",\"value\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >>"$RESULTS"

"$PY" "$SRC/benchmarks/join_report.py" "$RESULTS" "$OUT/join_results.md" "$ROWS"
