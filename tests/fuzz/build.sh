#!/usr/bin/env bash
# Configures and builds the libFuzzer harnesses with clang, ASan and UBSan (docs/fuzzing.md).
# Usage: tests/fuzz/build.sh [BUILD_DIR] [extra cmake args...]   (default BUILD_DIR: build-fuzz)
# Only the libraries the harnesses link are built; the tests and benchmarks are off.
set -euo pipefail
cd "$(dirname "$0")/../.."
build_dir="${1:-build-fuzz}"
shift || true
# Line tables for symbolized stacks; assertions stay on (no NDEBUG). SHARDFLOW_FUZZ_OPT (default
# -O0, which compiles in half the time of -O1) is the optimization level. The harnesses run each
# input on a thread with a 256 MiB stack (fuzz_common.hpp): unoptimized ASan frames are about ten
# times larger, and the 1000-level expression seeds would overflow the main thread's 8 MiB.
opt="${SHARDFLOW_FUZZ_OPT:--O0}"
case "$opt" in -O0 | -O1 | -O2 | -O3 | -Og) ;; *) echo "tests/fuzz/build.sh: SHARDFLOW_FUZZ_OPT must be -O0, -O1, -O2, -O3 or -Og, got '$opt'" >&2; exit 2 ;; esac
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$opt -gline-tables-only" \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="$opt -gline-tables-only" \
  -DSHARDFLOW_FUZZ=ON -DSHARDFLOW_WERROR=ON -DSHARDFLOW_BUILD_TESTS=OFF \
  -DSHARDFLOW_BUILD_BENCHMARKS=OFF "$@"
cmake --build "$build_dir" -j "$(nproc)" --target fuzzers
