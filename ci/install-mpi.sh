#!/usr/bin/env bash
# Installs Open MPI (Debian's libopenmpi-dev and openmpi-bin: 4.1, with pkg-config's
# mpi-c) for the `mpi` build tag and the mpirun tests, and checks that cgo can find it.
# Only the apt part needs root; it is skipped when mpirun and mpi-c are already there.
set -euo pipefail

if ! command -v mpirun >/dev/null 2>&1 || ! pkg-config --exists mpi-c 2>/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-mpi: Open MPI missing; install it: apt-get install libopenmpi-dev openmpi-bin pkg-config" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends libopenmpi-dev openmpi-bin pkg-config >/dev/null
fi
echo "install-mpi: $(mpirun --version 2>/dev/null | head -n 1); pkg-config mpi-c $(pkg-config --modversion mpi-c)"
