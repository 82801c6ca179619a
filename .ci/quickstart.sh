#!/usr/bin/env bash
# README command 1: install, build, and run the quickstart job on 2 ranks with generated data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install-deps.sh
bash .ci/build.sh build
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Through `shardflow launch` (mpirun underneath): Ctrl-C stops at a checkpoint with exit 75.
build/shardflow launch -np 2 --oversubscribe -- run jobs/quickstart.yaml "$@"
echo
echo "quickstart outputs:"
build/shardflow inspect runs/quickstart/outputs/by_segment.h5
build/shardflow inspect runs/quickstart/model.h5
cat runs/quickstart/metrics.json
