#!/usr/bin/env bash
# Configures and builds shardflow. Usage: .ci/build.sh [BUILD_DIR] [extra cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${1:-build}"
shift || true
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" -DSHARDFLOW_WERROR=ON "$@"
cmake --build "$build_dir" -j "$(nproc)"
