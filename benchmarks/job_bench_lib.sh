# Shared set-up of the benchmarks that time real `shardflow run` jobs against peers
# (join_comparisons.sh, sort_asof_comparisons.sh, groupby_comparisons.sh, ingest_comparisons.sh);
# sourced, not run.
# Expects SRC and a `die` function; uses SHARDFLOW_BUILD_DIR, MPIEXEC, SHARDFLOW_BUILD_JOBS.

# bench_parse_options HELP_LINES USAGE ARGS...: the options every job benchmark takes, with their
# defaults: --rows N (1e7; 1e7 notation accepted), --out DIR (benchmarks/results), --repeats R (3),
# --ranks LIST ("1 2"), --peer-threads LIST ("2"); -h/--help prints lines HELP_LINES (a sed range
# such as 2,19) of the script. Sets ROWS, OUT, REPEATS, RANKS, PEER_THREADS. An option it does not
# know goes to bench_extra_option NAME VALUE... (the remaining arguments) when the script defines
# it, which returns 0 when it took NAME and the VALUE after it; otherwise, and for a bad value, it
# dies naming the options (USAGE).
bench_parse_options() {
  local help_lines=$1 usage=$2
  shift 2
  ROWS=10000000
  OUT=$SRC/benchmarks/results
  REPEATS=3
  RANKS="1 2"
  PEER_THREADS="2"
  while [[ $# -gt 0 ]]; do
    case $1 in
      --rows) ROWS=${2:?--rows needs a value}; shift 2 ;;
      --out) OUT=${2:?--out needs a value}; shift 2 ;;
      --repeats) REPEATS=${2:?--repeats needs a value}; shift 2 ;;
      --ranks) RANKS=${2:?--ranks needs a value}; shift 2 ;;
      --peer-threads) PEER_THREADS=${2:?--peer-threads needs a value}; shift 2 ;;
      -h | --help) sed -n "${help_lines}p" "$0"; exit 0 ;;
      *)
        if declare -F bench_extra_option >/dev/null && bench_extra_option "$@"; then
          shift 2
        else
          die "unknown option '$1' (options: $usage)"
        fi
        ;;
    esac
  done
  ROWS=$(bench_rows "$ROWS")
  [[ $REPEATS =~ ^[1-9][0-9]*$ ]] || die "--repeats must be a positive integer, got '$REPEATS'"
}

# bench_rows VALUE: prints VALUE as an integer row count (accepts 1e7); dies on anything else.
bench_rows() {
  awk -v n="$1" 'BEGIN { if (n !~ /^[0-9.]+([eE][0-9]+)?$/) exit 1; printf "%d", n }' ||
    die "--rows must be a non-negative number like 10000000 or 1e7"
}

# bench_setup: a Release build of shardflow in $BUILD (configured if missing; a non-Release build
# is refused, its timings mean nothing), the peers' node packages, Open MPI as root. Sets BUILD,
# BIN and MPIEXEC.
bench_setup() {
  BUILD=${SHARDFLOW_BUILD_DIR:-$SRC/build-release}
  MPIEXEC=${MPIEXEC:-mpirun}
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  if [[ ! -f $BUILD/CMakeCache.txt ]]; then
    cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release
  fi
  local build_type
  build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD/CMakeCache.txt")
  [[ $build_type == Release ]] ||
    die "$BUILD is configured as '$build_type'; timings need a Release build: set SHARDFLOW_BUILD_DIR to a Release build dir"
  ninja -C "$BUILD" -j "${SHARDFLOW_BUILD_JOBS:-2}" shardflow
  BIN=$BUILD/shardflow
  if [[ ! -d $SRC/benchmarks/node_modules/@duckdb/node-api || ! -d $SRC/benchmarks/node_modules/nodejs-polars ]]; then
    (cd "$SRC/benchmarks" && npm install --no-audit --no-fund)
  fi
}

# bench_groupby_data: DIR/logs, and the db-benchmark group-by table of ROWS rows in
# DATA=$OUT/groupby_$ROWS.csv, generated once (`shardflow gen groupby`, K = 100) and reused.
bench_groupby_data() {
  mkdir -p "$OUT/logs"
  DATA=$OUT/groupby_$ROWS.csv
  if [[ ! -s $DATA ]]; then
    echo "generating $DATA ($ROWS rows)"
    "$MPIEXEC" -np 2 "$BIN" gen groupby --rows "$ROWS" --out "$DATA"
  fi
}
