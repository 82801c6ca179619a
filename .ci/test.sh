#!/usr/bin/env bash
# README command 2: install, build, and run the whole test suite (unit, MPI at 1-4 ranks, e2e,
# interop with h5py, and a real local Slurm), then the libFuzzer harnesses under ASan+UBSan for a
# bounded time each (docs/fuzzing.md). Extra arguments go to both ctest runs (e.g. -L mpi).
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install-deps.sh
bash .ci/build.sh build
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# The fuzzers' clang build (only the libraries the harnesses link) runs at the lowest CPU
# priority while the suite runs: many tests wait (on signals, timeouts, Slurm), and the build
# fills those gaps instead of adding its own minutes afterwards; the tests keep priority.
mkdir -p build-fuzz
nice -n 19 bash tests/fuzz/build.sh build-fuzz >build-fuzz/build.log 2>&1 &
fuzz_build=$!
suite=0
ctest --test-dir build --output-on-failure --no-tests=error -j 2 --timeout 900 "$@" || suite=$?
fuzz_built=0
wait "$fuzz_build" || fuzz_built=$?
if [ "$fuzz_built" != 0 ]; then
  tail -n 40 build-fuzz/build.log >&2
  echo "test.sh: the fuzz build failed (exit $fuzz_built; log: build-fuzz/build.log)" >&2
  exit 1
fi
[ "$suite" = 0 ] || exit "$suite"
ctest --test-dir build-fuzz --output-on-failure --no-tests=error -j 2 --timeout 900 -L fuzz "$@"
