#!/usr/bin/env bash
# Installs what tests/slurm/local_slurm.sh needs on Debian 12 / Ubuntu: the Slurm daemons and
# clients (slurm-wlm: slurmctld, slurmd, sbatch, srun with the PMIx plugin) and munge.
# Does nothing when they are already installed. Needs root.
set -euo pipefail
if dpkg-query -W -f='${Status}\n' slurm-wlm munge 2>/dev/null | grep -c '^install ok installed$' | grep -qx 2; then
  echo "install-slurm.sh: slurm-wlm and munge are already installed"
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "install-slurm.sh: error: installing packages needs root; rerun as root or with sudo" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends slurm-wlm munge
