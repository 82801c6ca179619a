#!/usr/bin/env bash
# Side-by-side benchmark of shardflow against DuckDB and Polars on the db-benchmark group-by table,
# all in one run on this machine (see benchmarks/README.md for what each number means).
#
#   benchmarks/run_comparisons.sh [--rows N] [--out DIR] [--repeats R] [--shuffle-rows N]
#                                 [--peer-threads "1 2"] [--ranks "1 2"] [--rounds K]
#
# Defaults: --rows 10000000, --out benchmarks/results, --repeats 3, --ranks "1 2",
# --peer-threads "1 2", --shuffle-rows: the bench_shuffle default, --rounds 1. With --rounds K the
# whole sequence (shardflow, then the peers) runs K times and every engine keeps its best time, so
# a burst of load from something else on the machine cannot favour one engine over another.
# Environment: SHARDFLOW_BUILD_DIR (default <repo>/build-release, configured Release if missing),
#              MPIEXEC (default mpirun).
# Output: DIR/groupby_N.csv (generated once with `shardflow gen groupby`), DIR/results.json (one JSON
# object per line), DIR/results.md (tables + target verdicts), DIR/logs/*.log (stderr of each run).
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
ROWS=10000000
OUT=$SRC/benchmarks/results
REPEATS=3
SHUFFLE_ROWS=
PEER_THREADS="1 2"
RANKS="1 2"
ROUNDS=1

die() {
  echo "run_comparisons.sh: error: $*" >&2
  exit 1
}

while [[ $# -gt 0 ]]; do
  case $1 in
    --rows) ROWS=${2:?--rows needs a value}; shift 2 ;;
    --out) OUT=${2:?--out needs a value}; shift 2 ;;
    --repeats) REPEATS=${2:?--repeats needs a value}; shift 2 ;;
    --shuffle-rows) SHUFFLE_ROWS=${2:?--shuffle-rows needs a value}; shift 2 ;;
    --peer-threads) PEER_THREADS=${2:?--peer-threads needs a value}; shift 2 ;;
    --ranks) RANKS=${2:?--ranks needs a value}; shift 2 ;;
    --rounds) ROUNDS=${2:?--rounds needs a value}; shift 2 ;;
    -h | --help) sed -n '2,18p' "$0"; exit 0 ;;
    *) die "unknown option '$1' (options: --rows N --out DIR --repeats R --shuffle-rows N --peer-threads LIST --ranks LIST --rounds K)" ;;
  esac
done
# Accept 1e7-style row counts.
ROWS=$(awk -v n="$ROWS" 'BEGIN { if (n !~ /^[0-9.]+([eE][0-9]+)?$/) exit 1; printf "%d", n }') ||
  die "--rows must be a non-negative number like 10000000 or 1e7"
[[ $REPEATS =~ ^[1-9][0-9]*$ ]] || die "--repeats must be a positive integer, got '$REPEATS'"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a positive integer, got '$ROUNDS'"

BUILD=${SHARDFLOW_BUILD_DIR:-$SRC/build-release}
MPIEXEC=${MPIEXEC:-mpirun}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# ---- build (Release) -------------------------------------------------------------------------
if [[ ! -f $BUILD/CMakeCache.txt ]]; then
  cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD/CMakeCache.txt")
[[ $BUILD_TYPE == Release ]] ||
  die "$BUILD is configured as '$BUILD_TYPE'; timings need a Release build: set SHARDFLOW_BUILD_DIR to a Release build dir or reconfigure with -DCMAKE_BUILD_TYPE=Release"
DRIVERS=()
for d in bench_csv_ingest bench_group_by bench_shuffle; do
  if [[ -f $SRC/benchmarks/$d.cpp ]]; then
    DRIVERS+=("$d")
  else
    echo "run_comparisons.sh: note: benchmarks/$d.cpp does not exist; its numbers are skipped" >&2
  fi
done
ninja -C "$BUILD" -j "${SHARDFLOW_BUILD_JOBS:-2}" shardflow "${DRIVERS[@]}"
BIN=$BUILD/shardflow

# ---- peers' node modules ---------------------------------------------------------------------
if [[ ! -d $SRC/benchmarks/node_modules/@duckdb/node-api || ! -d $SRC/benchmarks/node_modules/nodejs-polars ]]; then
  # `npm install`, not `npm ci`: nodejs-polars lists its platform packages as optional
  # dependencies without versions, which npm cannot record in a lock file, so `npm ci` always
  # reports the lock as out of sync. package-lock.json still pins every version installed.
  (cd "$SRC/benchmarks" && npm install --no-audit --no-fund)
fi

# ---- data ------------------------------------------------------------------------------------
mkdir -p "$OUT/logs"
DATA=$OUT/groupby_$ROWS.csv
if [[ ! -s $DATA ]]; then
  echo "generating $DATA ($ROWS rows)"
  "$MPIEXEC" -np 2 "$BIN" gen groupby --rows "$ROWS" --out "$DATA"
fi

RESULTS=$OUT/results.json
: >"$RESULTS"
# Other load on the machine skews every number; the report shows the load average before and after.
export SHARDFLOW_BENCH_LOAD_START
SHARDFLOW_BENCH_LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# Runs one benchmark command, appends its JSON lines to results.json, keeps stderr in logs/.
run() {
  local name=$1
  shift
  echo "== $name: $*"
  local out
  if ! out=$("$@" 2>"$OUT/logs/$name.log"); then
    cat "$OUT/logs/$name.log" >&2
    die "'$*' failed (log: $OUT/logs/$name.log)"
  fi
  grep '^{' <<<"$out" | tee -a "$RESULTS" || die "'$*' printed no JSON result line (log: $OUT/logs/$name.log)"
}

for ((round = 1; round <= ROUNDS; round++)); do
  echo "== round $round of $ROUNDS"
  # ---- shardflow -------------------------------------------------------------------------------
  for np in $RANKS; do
    for d in "${DRIVERS[@]}"; do
      case $d in
        bench_shuffle) args=(${SHUFFLE_ROWS:+"$SHUFFLE_ROWS"}) ;;
        *) args=("$DATA" "$REPEATS") ;;
      esac
      # bench_shuffle takes [rows_per_rank] [repeats]; repeats only goes with an explicit row count.
      if [[ $d == bench_shuffle && -n $SHUFFLE_ROWS ]]; then args+=("$REPEATS"); fi
      run "$d.np$np.round$round" "$MPIEXEC" -np "$np" "$BUILD/benchmarks/$d" "${args[@]}"
    done
  done

  # ---- peers -----------------------------------------------------------------------------------
  for t in $PEER_THREADS; do
    for peer in duckdb polars; do
      run "$peer.t$t.round$round" env SHARDFLOW_PEER_THREADS="$t" POLARS_MAX_THREADS="$t" node "$SRC/benchmarks/peers/$peer.mjs" "$DATA" "$REPEATS"
    done
  done

done

# ---- report ----------------------------------------------------------------------------------
echo
echo "Targets (2 ranks vs 2 threads):"
node "$SRC/benchmarks/report.mjs" "$RESULTS" "$OUT/results.md"
echo
echo "wrote $RESULTS and $OUT/results.md"
