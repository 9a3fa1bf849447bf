#!/usr/bin/env bash
# Installs what the checks need on a fresh Debian machine with Go: gcc (cgo tests),
# nvcc/ptxas (CUDA 11.8, Debian non-free nvidia-cuda-toolkit: PTX regeneration and
# assembly), and the Go modules. Only the apt part needs root; it is skipped when the
# tools are already there.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

need_apt=()
command -v gcc >/dev/null 2>&1 || need_apt+=(gcc libc6-dev)
command -v shellcheck >/dev/null 2>&1 || need_apt+=(shellcheck)
command -v xz >/dev/null 2>&1 || need_apt+=(xz-utils)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install: missing ${need_apt[*]}; install them (apt-get install ${need_apt[*]})" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
bash ci/install-cuda.sh
go mod download
