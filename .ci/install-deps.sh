#!/usr/bin/env bash
# Installs everything shardflow needs to build, test and run on Debian 12 (as root, or via sudo).
# Idempotent: packages already present are skipped by apt.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
packages=(
  build-essential cmake ninja-build pkg-config git
  openmpi-bin libopenmpi-dev libhdf5-openmpi-dev hdf5-tools
  libeigen3-dev libopenblas-dev libboost-program-options-dev
  libspdlog-dev libfmt-dev libyaml-cpp-dev libxxhash-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-h5py python3-numpy python3-pandas python3-yaml python3-sklearn
  # yaml: tests/support/check_mlflow_run.py; sklearn: tests/e2e/test_lbfgs.sh (scikit-learn optima)
  chromium python3-pil  # tests/e2e/test_run_report.sh: renders report.html headless, reads the PNG
  procps hostname util-linux coreutils
  slurm-wlm munge
  iproute2 iputils-ping bc  # tests/multihost: network namespaces, bridges, reachability, timings
  clang libclang-rt-dev  # tests/fuzz: libFuzzer with ASan+UBSan
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# Node.js and npm for the benchmark peers and their install test (tests/e2e/test_benchmark_deps.sh);
# most images ship them already, so Debian's packages are installed only when npm is missing.
if ! command -v npm >/dev/null 2>&1; then
  echo "installing: nodejs npm"
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends nodejs npm
fi
