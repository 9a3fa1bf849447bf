#!/usr/bin/env bash
# Every check of the project, in the order a failure is cheapest to read:
# install, PTX regeneration/assembly, vet (default and cuda tags), build, tests.
# This is what `make test` and CI (.ci/run) run.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
export GOFLAGS=${GOFLAGS:-}

bash ci/install.sh
bash ci/ptx-check.sh
echo "== go vet (default, and -tags cuda)"
go vet ./...
go vet -tags cuda ./...
echo "== go build (default, and -tags cuda)"
go build ./...
go build -tags cuda ./...
echo "== shellcheck"
shellcheck ci/*.sh .ci/run bench/peer/run.sh bench/cluster/*.sh
echo "== gofmt"
unformatted=$(git ls-files -z "*.go" | xargs -0 gofmt -l)
if [ -n "$unformatted" ]; then echo "gofmt needed: $unformatted"; exit 1; fi
echo "== go test"
go test -count=1 ./...
echo "== the shipped PTX on the emulator, bit for bit against the CPU twins"
go test -count=1 -run 'TestEmulatorMatchesTwins$' -v ./engine/kerneltest/ | grep -E '^kernels compared|^(ok|FAIL)'
echo "== go test -tags cuda (GPU tests skip without a GPU; their emulator twins run)"
GMVAE_CUDA_OPTIONAL=1 go test -count=1 -tags cuda ./cuda/driver/ ./engine/kerneltest/ ./engine/
echo "== fuzzing the readers, the checkpoint loader and the configuration (a fixed number of inputs per target, about 5 s each)"
bash ci/fuzz.sh ./data/ ./checkpoint/ ./trainer/
echo "== the GPU kit (stripped, xz) and the working tree: under 48 MiB together"
bash ci/gpu-kit-size.sh
echo "== multi-rank (MPI) tests, deploy lint, image build steps"
bash ci/mpi-test.sh
