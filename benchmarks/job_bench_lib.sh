# Shared set-up of the benchmarks that time real `shardflow run` jobs against peers
# (join_comparisons.sh, sort_asof_comparisons.sh); sourced, not run. Expects SRC and a `die`
# function; uses SHARDFLOW_BUILD_DIR, MPIEXEC, SHARDFLOW_BUILD_JOBS.

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
