#!/usr/bin/env bash
# CSV ingest of shardflow against Polars and DuckDB, round by round, every load a fresh process:
#
#   benchmarks/ingest_comparisons.sh [--rows N] [--out DIR] [--repeats ROUNDS] [--ranks "2"]
#                                    [--peer-threads "2"] [--peers "polars duckdb"] [--idle S]
#
# Defaults: --rows 1e7, --out benchmarks/results, --repeats 5 (rounds), --ranks 2, --peer-threads
# 2, --peers "polars duckdb", --idle 10.
# Data: `shardflow gen groupby --rows N --out DIR/groupby_N.csv` (K = 100; written once), the
# file of groupby_comparisons.sh. Every engine is given the schema.
# Why rounds: what a process pays to load a file is mostly the first touch of the memory it fills,
# and on a VM that cost moves within minutes (see README, Memory). Each round runs every engine
# once, one after the other, each after the file was read into the page cache and --idle seconds
# of quiet (so that no engine inherits memory another just freed); the ratio of a round compares
# engines under the same conditions, and the spread over rounds shows how much the machine moved.
# shardflow: a real job (`shardflow run`, input x, one keyless count), its load time from the
# log line "input 'x': N rows, ... in S s" (read, type, dictionary-unify, profile). Polars:
# pl.readCSV (rechunked); DuckDB: CREATE TABLE AS read_csv (peers/ingest_*.mjs).
# Environment: SHARDFLOW_BUILD_DIR (default <repo>/build-release), MPIEXEC (default mpirun).
# Output: DIR/ingest_results.json (JSON lines), DIR/ingest_results.md, DIR/logs/ingest_*.log.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
PEERS="polars duckdb"
IDLE=10

die() {
  echo "ingest_comparisons.sh: error: $*" >&2
  exit 1
}

bench_extra_option() {
  case $1 in
    --peers) PEERS=${2?--peers needs a value} ;;
    --idle) IDLE=${2?--idle needs a value} ;;
    *) return 1 ;;
  esac
}
source "$SRC/benchmarks/job_bench_lib.sh"
bench_parse_options 2,20 "--rows N --out DIR --repeats ROUNDS --ranks LIST --peer-threads LIST --peers LIST --idle S" "$@"
# The library's defaults suit the other job benchmarks; here rounds and 2 ranks unless given.
[[ " $* " == *" --repeats "* ]] || REPEATS=5
[[ " $* " == *" --ranks "* ]] || RANKS=2
[[ $IDLE =~ ^[0-9]+$ ]] || die "--idle must be a whole number of seconds, got '$IDLE'"
for p in $PEERS; do
  case $p in polars | duckdb) ;; *) die "unknown peer '$p' (peers: polars duckdb)" ;; esac
done
bench_setup

bench_groupby_data
JOB=$OUT/ingest_job.yaml
cat >"$JOB" <<YAML
name: ingest
workdir: $OUT/ingest_work
inputs:
  x: {format: csv, path: $DATA, schema: {id1: string, id2: string, id3: string, id4: int64, id5: int64, id6: int64, v1: int64, v2: int64, v3: float64}}
steps:
  - {op: group_by, input: x, keys: [], aggs: {rows: "count(*)"}, output: n}
outputs:
  - {table: n, path: n.csv}
YAML
"$BIN" validate "$JOB" >/dev/null || die "the benchmark job $JOB does not validate"

RESULTS=$OUT/ingest_results.json
: >"$RESULTS"
echo "{\"bench\":\"load_average_start\",\"value\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >>"$RESULTS"
quiet_and_cached() {
  cat "$DATA" >/dev/null
  sleep "$IDLE"
}
for ((round = 1; round <= REPEATS; round++)); do
  for np in $RANKS; do
    log=$OUT/logs/ingest_shardflow.np$np.round$round.log
    quiet_and_cached
    "$MPIEXEC" -np "$np" "$BIN" run "$JOB" --no-cache --set "workdir=$OUT/ingest_work" 2>"$log" ||
      { tail -20 "$log" >&2; die "the shardflow job failed (log: $log)"; }
    seconds=$(sed -n "s/.*input 'x': \([0-9]*\) rows, .* in \([0-9.]*\) s$/\1 \2/p" "$log" | head -1)
    [[ -n $seconds ]] || die "no load line in $log"
    printf '{"bench":"csv_ingest_first","impl":"shardflow","ranks":%s,"round":%s,"rows":%s,"seconds":%s}\n' \
      "$np" "$round" "${seconds% *}" "${seconds#* }" | tee -a "$RESULTS"
  done
  for t in $PEER_THREADS; do
    for peer in $PEERS; do
      log=$OUT/logs/ingest_$peer.t$t.round$round.log
      quiet_and_cached
      env SHARDFLOW_PEER_THREADS="$t" POLARS_MAX_THREADS="$t" node "$SRC/benchmarks/peers/ingest_$peer.mjs" "$DATA" 2>"$log" |
        sed "s/}\$/,\"round\":$round}/" | tee -a "$RESULTS" || die "$peer failed (log: $log)"
    done
  done
done
echo "{\"bench\":\"load_average_end\",\"value\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >>"$RESULTS"

/usr/bin/python3 "$SRC/benchmarks/ingest_report.py" "$RESULTS" "$OUT/ingest_results.md" "$ROWS"
