#!/usr/bin/env bash
# README command 2: install, build, and run the whole test suite (unit, MPI at 1-4 ranks, e2e,
# interop with h5py, and a real local Slurm), then the libFuzzer harnesses under ASan+UBSan for a
# bounded time each (docs/fuzzing.md). Extra arguments go to both ctest runs (e.g. -L mpi).
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install-deps.sh
bash .ci/build.sh build
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ctest --test-dir build --output-on-failure --no-tests=error -j 2 --timeout 900 "$@"
# Fuzzing: a clang build of only the libraries the harnesses link, then ctest label `fuzz`. Not
# built alongside the suite, even at the lowest priority: oversubscribed MPI tests yield the CPU
# while they poll, and a compiler takes it (test_group_by at 4 ranks went from 5 s to over 120 s).
# -O0 (half the compile time of -O1); the harnesses give each input a large stack (docs/fuzzing.md).
bash tests/fuzz/build.sh build-fuzz
ctest --test-dir build-fuzz --output-on-failure --no-tests=error -j 2 --timeout 900 -L fuzz "$@"
