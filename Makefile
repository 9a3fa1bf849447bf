# The one place where kernel compile flags live (shared/design/ARCHITECTURE.md).
#
#   make kernels   regenerate the committed PTX from kernels/*.cu
#   make test      every check CI runs (README's test command)
#   make ptx-check regenerate PTX into a scratch dir and fail on any difference,
#                  assemble with ptxas for sm_70/80/90, lint
#   make bench     CPU twin benchmarks
#   make mpi-test  multi-rank tests (mpirun -np 2, 4), deploy lint, image build steps
#   make mutants   the mutation test of the kernel comparisons (docs/mutants.md)
#   make gpu-kit-size  build the GPU kit and check it fits (under 48 MiB with the tree)
#   make image     the Docker image (needs Docker); make image-build: its steps without
#   make fuzz      every fuzz target (ci/fuzz.sh), 60 times CI's execution count each (~5 min)

GO       ?= go
NVCC     ?= nvcc
PTXAS    ?= ptxas
NVFLAGS  := -ptx -arch=compute_70 -fmad=false -ftz=false -prec-div=true -prec-sqrt=true -lineinfo
# nvcc writes the source's absolute path into the PTX (.file) and hashes it into
# internal symbol names, so PTX is compiled from this fixed staging directory: the
# output is then the same bits in every clone.
PTX_STAGE := /tmp/gmvae-kernels-stage

CU_SOURCES := $(wildcard kernels/*.cu)
CU_HEADERS := $(wildcard kernels/*.cuh)

.PHONY: all kernels ptx-check test test-go vet build bench mpi-test image image-build gpu-build fuzz \
	mutants gpu-kit-size

all: build

# kernels: regenerate every kernels/*.ptx.
kernels:
	@bash ci/gen-ptx.sh kernels

ptx-check:
	@bash ci/ptx-check.sh

build:
	$(GO) build ./...

vet:
	$(GO) vet ./...
	$(GO) vet -tags cuda ./...

test-go:
	$(GO) test -count=1 ./...

# test: every check, as CI runs it (installs nvcc and gcc first when missing).
test:
	@bash ci/test.sh

bench:
	$(GO) test -run '^$$' -bench . -benchtime 2x ./engine/...

# mpi-test: the multi-rank tests under mpirun -np 2 and 4 (installs Open MPI; part of test).
mpi-test:
	@bash ci/mpi-test.sh

# image: the Docker image (needs a Docker engine); image-build: its build steps
# outside Docker, into image-out/ (what CI checks).
image:
	docker build -t gmvae .

image-build:
	@bash ci/image-build.sh image-out

# gpu-build: the cuda-tagged binaries for a lent GPU machine (shared/design/GPU-RUNS.md).
gpu-build:
	@bash ci/gpu-build.sh

# fuzz: every fuzz target of data/, checkpoint/ and trainer/ (or of FUZZPKGS), one after another,
# FUZZSCALE times the execution count in each target's doc comment (CI runs ci/fuzz.sh at 1, ~5 s a target).
FUZZSCALE ?= 60
FUZZPKGS ?=
fuzz:
	@FUZZSCALE=$(FUZZSCALE) bash ci/fuzz.sh $(FUZZPKGS)

# gpu-kit-size: build the GPU kit and fail when it and the working tree pass 48 MiB.
gpu-kit-size:
	@bash ci/gpu-kit-size.sh

# mutants: change one float instruction of the shipped PTX from .rn to .rz at a time
# (100 sites, evenly spread) and check that the emulator comparison catches at least
# 90 % of the non-equivalent changes. MUTANTS_ARGS passes options (ci/mutants.sh).
mutants:
	@bash ci/mutants.sh $(MUTANTS_ARGS)
