#!/usr/bin/env bash
# Installs nvcc and ptxas (CUDA 11.8) from Debian's non-free nvidia-cuda-toolkit when
# they are missing. Adds the contrib and non-free components to apt's sources first.
set -euo pipefail
if command -v nvcc >/dev/null 2>&1 && command -v ptxas >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-cuda: nvcc is missing and this is not root; install nvidia-cuda-toolkit" >&2
  exit 1
fi
src=/etc/apt/sources.list.d/debian.sources
if [ -f "$src" ]; then
  if ! grep -q 'non-free' "$src"; then
    sed -i 's/^Components: main$/Components: main contrib non-free non-free-firmware/' "$src"
  fi
elif [ -f /etc/apt/sources.list ]; then
  sed -i -E '/^deb /{/non-free/!s/ main( |$)/ main contrib non-free /}' /etc/apt/sources.list
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends nvidia-cuda-toolkit >/dev/null
nvcc --version | tail -2
