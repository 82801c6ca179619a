#!/usr/bin/env bash
# Configures and builds the libFuzzer harnesses with clang, ASan and UBSan (docs/fuzzing.md).
# Usage: tests/fuzz/build.sh [BUILD_DIR] [extra cmake args...]   (default BUILD_DIR: build-fuzz)
# Only the libraries the harnesses link are built; the tests and benchmarks are off.
set -euo pipefail
cd "$(dirname "$0")/../.."
build_dir="${1:-build-fuzz}"
shift || true
# -O1 with line tables: fast enough to fuzz, symbolized stacks, and assertions stay on (no NDEBUG).
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
  -DSHARDFLOW_FUZZ=ON -DSHARDFLOW_WERROR=ON -DSHARDFLOW_BUILD_TESTS=OFF \
  -DSHARDFLOW_BUILD_BENCHMARKS=OFF "$@"
cmake --build "$build_dir" -j "$(nproc)" --target fuzzers
