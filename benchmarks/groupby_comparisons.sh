#!/usr/bin/env bash
# Side-by-side benchmark of shardflow's group_by step against DuckDB, Polars, pandas and Dask on
# the ten db-benchmark group-by questions q1-q10, all in one run on this machine:
#
#   benchmarks/groupby_comparisons.sh [--rows N] [--out DIR] [--repeats R] [--ranks "1 2"]
#                                     [--peer-threads "2"] [--peers "duckdb polars pandas dask"]
#
# Defaults: --rows 1e7, --out benchmarks/results, --repeats 3, --ranks "1 2", --peer-threads 2,
# --peers: all four, where dask is left out (with a note) when `import dask.dataframe` fails and
# pandas above 1e7 rows (as db-benchmark); name them in --peers to insist.
# Data: `shardflow gen groupby --rows N --out DIR/groupby_N.csv` (K = 100; written once).
# shardflow runs a real job (q1-q10 as group_by steps, each followed by a keyless group_by giving
# the row count and the sums of the answer's columns) `repeats` times with --no-cache; each
# question's time is its step's compute time from the job's metrics.json (input in memory; the
# stage file the job then writes for reruns is reported apart), so "first" is what a job pays and
# "best" the best of the runs; the job's CSV read is the load time (every engine reads the file
# from the page cache: it is read once before each run). The peers load the CSV into
# memory first (timed apart) and run each question `repeats` times in one process: "first" is the
# first run after loading. Every answer's row count and checksums (the sum of each answer column,
# as db-benchmark's) are checked against DuckDB's. Peak memory: per rank for shardflow (the
# largest rank), the process's for the peers (Dask: the client process only).
# A peer that fails (e.g. killed for memory) is reported as failed, with the answers it gave.
# Environment: SHARDFLOW_BUILD_DIR (default <repo>/build-release), MPIEXEC (default mpirun),
#              SHARDFLOW_PYTHON (default /usr/bin/python3, with python3-pandas; python3-dask).
# Output: DIR/groupby_results.json (JSON lines), DIR/groupby_results.md, DIR/logs/groupby_*.log.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
ALL_PEERS="duckdb polars pandas dask"
PEERS=
PEERS_GIVEN=0

die() {
  echo "groupby_comparisons.sh: error: $*" >&2
  exit 1
}

# --peers LIST, beside the options of bench_parse_options.
bench_extra_option() {
  [[ $1 == --peers ]] || return 1
  PEERS=${2?--peers needs a value}
  PEERS_GIVEN=1
}
source "$SRC/benchmarks/job_bench_lib.sh"
bench_parse_options 2,23 "--rows N --out DIR --repeats R --ranks LIST --peer-threads LIST --peers LIST" "$@"
[[ $PEERS_GIVEN == 1 ]] || PEERS=$ALL_PEERS
for p in $PEERS; do
  case $p in duckdb | polars | pandas | dask) ;; *) die "unknown peer '$p' (peers: $ALL_PEERS)" ;; esac
done

# Debian's Python, which has python3-pandas (a python3 earlier in PATH may not).
PY=${SHARDFLOW_PYTHON:-/usr/bin/python3}
has_peer() { [[ " $PEERS " == *" $1 "* ]]; }
drop_peer() { PEERS=$(echo " $PEERS " | sed "s/ $1 / /; s/^ *//; s/ *$//"); }
if has_peer pandas && ! "$PY" -c 'import pandas' 2>/dev/null; then
  die "pandas is missing for $PY: install it with 'apt-get install python3-pandas' (or leave pandas out with --peers \"duckdb polars\")"
fi
if has_peer pandas && [[ $PEERS_GIVEN == 0 ]] && ((ROWS > 10000000)); then
  echo "note: pandas left out above 1e7 rows (as in db-benchmark); --peers \"... pandas\" to run it"
  drop_peer pandas
fi
if has_peer dask && ! "$PY" -c 'import dask.dataframe' 2>/dev/null; then
  [[ $PEERS_GIVEN == 0 ]] ||
    die "dask is missing for $PY: install it with 'apt-get install python3-dask' (or leave dask out of --peers)"
  echo "note: dask left out: 'import dask.dataframe' fails for $PY (apt-get install python3-dask to add it)"
  drop_peer dask
fi
bench_setup

bench_groupby_data
# Every engine's load is measured from the page cache: the file is read once right before each
# run, so that no engine pays for reading what an earlier program's memory use evicted.
warm_page_cache() { cat "$DATA" >/dev/null; }
RESULTS=$OUT/groupby_results.json
: >"$RESULTS"
echo "{\"bench\":\"load_average_start\",\"value\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >>"$RESULTS"

# ---- shardflow: a real job ---------------------------------------------------------------------
# question, keys, aggs (db-benchmark's; list form where it names its output columns well), and the
# checksums: each output column of the answer and the name of its sum (the peers' column names).
QUESTIONS=(
  "q1|id1|{v1: [sum]}|v1_sum:v1"
  "q2|id1, id2|{v1: [sum]}|v1_sum:v1"
  "q3|id3|{v1: [sum], v3: [mean]}|v1_sum:v1 v3_mean:v3"
  "q4|id4|{v1: [mean], v2: [mean], v3: [mean]}|v1_mean:v1 v2_mean:v2 v3_mean:v3"
  "q5|id6|{v1: [sum], v2: [sum], v3: [sum]}|v1_sum:v1 v2_sum:v2 v3_sum:v3"
  "q6|id4, id5|{median_v3: \"median(v3)\", sd_v3: \"stddev(v3)\"}|median_v3:median_v3 sd_v3:sd_v3"
  "q7|id3|{range_v1_v2: \"max(v1) - min(v2)\"}|range_v1_v2:range_v1_v2"
  "q8|id6|{largest2_v3: \"top_k(v3, 2)\"}|largest2_v3:largest2_v3"
  "q9|id2, id4|{r2: \"pow(corr(v1, v2), 2)\"}|r2:r2"
  "q10|id1, id2, id3, id4, id5, id6|{v3: [sum], \"*\": [count]}|v3_sum:v3 count:count"
)
JOB=$OUT/groupby_q1_q10.yaml
{
  echo "name: groupby_q1_q10"
  echo "workdir: $OUT/groupby_work"
  echo "inputs:"
  echo "  x: {format: csv, path: $DATA, schema: {id1: string, id2: string, id3: string, id4: int64, id5: int64, id6: int64, v1: int64, v2: int64, v3: float64}}"
  echo "steps:"
  for spec in "${QUESTIONS[@]}"; do
    IFS='|' read -r q keys aggs chk <<<"$spec"
    echo "  - {op: group_by, input: x, keys: [$keys], aggs: $aggs, output: $q}"
    sums=""
    for c in $chk; do sums+=", ${c#*:}: \"sum(\\\"${c%%:*}\\\")\""; done
    echo "  - {op: group_by, input: $q, keys: [], aggs: {rows: \"count(*)\"$sums}, output: ${q}_check}"
  done
  echo "outputs:"
  for spec in "${QUESTIONS[@]}"; do echo "  - {table: ${spec%%|*}_check, path: ${spec%%|*}_check.csv}"; done
} >"$JOB"
"$BIN" validate "$JOB" >/dev/null || die "the benchmark job $JOB does not validate"

for np in $RANKS; do
  for ((run = 1; run <= REPEATS; run++)); do
    log=$OUT/logs/groupby_shardflow.np$np.run$run.log
    work=$OUT/groupby_work_np$np
    echo "== shardflow, $np rank(s), run $run of $REPEATS"
    warm_page_cache
    "$MPIEXEC" -np "$np" "$BIN" run "$JOB" --no-cache --set "workdir=$work" 2>"$log" ||
      { tail -20 "$log" >&2; die "the shardflow job failed (log: $log)"; }
    "$PY" - "$log" "$work" "$np" "$run" >>"$RESULTS" <<'PY'
import csv, json, math, re, sys
log, work, np, run = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
metrics = json.load(open(f"{work}/metrics.json"))
steps = {s["name"]: s for s in metrics["steps"]}
load = [float(m[1]) for m in re.finditer(r"input 'x': \d+ rows, .* in ([0-9.]+) s", open(log).read())]
print(json.dumps({"bench": "groupby_load", "impl": "shardflow", "ranks": np, "run": run, "seconds": load[0]}))
def number(text):
    if text == "":
        return None  # a null sum: no non-null values
    v = float(text)
    return v if math.isfinite(v) else str(v).replace("nan", "NaN").replace("inf", "Infinity")
for q in [f"q{i}" for i in range(1, 11)]:
    row = next(csv.DictReader(open(f"{work}/outputs/{q}_check.csv")))
    s = steps[q]
    print(json.dumps({"bench": f"groupby_{q}", "impl": "shardflow", "ranks": np, "run": run,
                      "seconds": s["compute_seconds"], "stage_seconds": s["stage_seconds"],
                      "peak_bytes": s["peak_rss_bytes"], "rows": int(row.pop("rows")),
                      "chk": {k: number(v) for k, v in row.items()}}))
print(json.dumps({"bench": "groupby_peak_memory", "impl": "shardflow", "ranks": np, "run": run,
                  "bytes": metrics["memory"]["peak_rss_bytes"]}))
PY
  done
done

# ---- peers -------------------------------------------------------------------------------------
for t in $PEER_THREADS; do
  for peer in $PEERS; do
    log=$OUT/logs/groupby_$peer.t$t.log
    case $peer in
      pandas) [[ $t == "${PEER_THREADS%% *}" ]] || continue # single-threaded: run once
              echo "== pandas, 1 thread"
              cmd=("$PY" "$SRC/benchmarks/peers/groupby_pandas.py" "$DATA" "$REPEATS") ;;
      dask) echo "== dask, $t single-threaded worker process(es)"
            cmd=("$PY" "$SRC/benchmarks/peers/groupby_dask.py" "$DATA" "$REPEATS" "$t") ;;
      *) echo "== $peer, $t thread(s)"
         cmd=(env SHARDFLOW_PEER_THREADS="$t" POLARS_MAX_THREADS="$t" node "$SRC/benchmarks/peers/groupby_$peer.mjs" "$DATA" "$REPEATS") ;;
    esac
    warm_page_cache
    # A peer that fails (Polars runs out of this machine's memory at 1e8 rows) is reported as
    # failed, with what it answered before, instead of ending the comparison.
    status=0
    "${cmd[@]}" 2>"$log" >"$log.out" || status=$?
    grep '^{' "$log.out" | tee -a "$RESULTS" || true
    if ((status != 0)); then
      reason="exit status $status"
      if ((status > 128)); then
        reason="killed by signal $((status - 128))"
        ((status - 128 == 9)) && reason+=" (SIGKILL: most likely the kernel's out-of-memory killer; see dmesg)"
      fi
      echo "== $peer failed: $reason (log: $log)" >&2
      printf '{"bench":"groupby_failed","impl":"%s","threads":%s,"reason":"%s"}\n' "$peer" "$t" "$reason" >>"$RESULTS"
    fi
  done
done
echo "{\"bench\":\"load_average_end\",\"value\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >>"$RESULTS"

"$PY" "$SRC/benchmarks/groupby_report.py" "$RESULTS" "$OUT/groupby_results.md" "$ROWS"
