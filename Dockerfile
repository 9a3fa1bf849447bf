# The cluster image: the trainer built with the `cuda` and `mpi` tags in an nvidia/cuda
# devel image, run in the matching runtime image with Open MPI, MNIST inside (no
# network needed), the trainer as entrypoint. docs/distributed.md and deploy/ say how
# to run it: one process, mpirun on one node, Slurm, the Kubernetes MPI Operator.
#
#   docker build -t gmvae .                       (or: make image)
#   docker run --rm --gpus all gmvae -device cuda -epochs 1
#
# ci/image-build.sh runs the same build steps outside Docker (CI has no Docker engine);
# keep the two in step.

ARG CUDA_VERSION=11.8.0
ARG UBUNTU=ubuntu22.04

# Go comes from the official image: its /usr/local/go is a static toolchain that runs
# on Ubuntu as it is.
FROM golang:1.26-bookworm AS go

FROM nvidia/cuda:${CUDA_VERSION}-devel-${UBUNTU} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      gcc libc6-dev pkg-config libopenmpi-dev openmpi-bin git ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=go /usr/local/go /usr/local/go
ENV PATH=/usr/local/go/bin:/root/go/bin:${PATH} \
    GOPATH=/root/go \
    GOFLAGS=-trimpath \
    CGO_ENABLED=1
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The same steps as ci/image-build.sh: the binaries (libcuda is linked against the
# devel image's stub and comes from the host driver at run time) and the MNIST files
# out of the module cache.
RUN bash ci/image-build.sh /out

FROM nvidia/cuda:${CUDA_VERSION}-runtime-${UBUNTU}
# Open MPI's runtime (mpirun, orted, libmpi) and ssh, which mpirun uses to start ranks
# on other nodes (the Kubernetes MPI Operator's workers run sshd): pods' host keys are
# new every time, so ssh does not check them, and sshd accepts the operator's mounted
# keys whatever their modes.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      openmpi-bin libopenmpi3 openssh-client openssh-server ca-certificates \
 && mkdir -p /run/sshd \
 && sed -i 's/[ #]\(.*StrictHostKeyChecking \).*/ \1no/g' /etc/ssh/ssh_config \
 && echo '    UserKnownHostsFile /dev/null' >> /etc/ssh/ssh_config \
 && sed -i 's/#\(StrictModes \).*/\1no/g' /etc/ssh/sshd_config \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/bin/ /usr/local/bin/
COPY --from=build /out/mnist/ /usr/share/gmvae/mnist/
# Open MPI in containers:
#   - ranks often run as root in a container; Open MPI refuses that unless told;
#   - the shared-memory transport's single-copy mode (CMA, process_vm_readv) needs
#     ptrace rights that Docker's and Kubernetes' default seccomp profiles deny;
#   - no CPU binding by default: the container's CPU set decides.
# Between nodes: OMPI_MCA_pml=ucx for InfiniBand/RoCE, or OMPI_MCA_btl_tcp_if_include
# and OMPI_MCA_oob_tcp_if_include naming the pods' interface for TCP (deploy/).
# GMVAE_CUDA_OPTIONAL: without it a cuda build stops at start on a machine with no
# usable GPU (cuda/preflight); with it, -device auto falls back to the CPU (and says so)
# and -device cpu works, so the image also runs where no GPU is passed in.
ENV GMVAE_MNIST_DIR=/usr/share/gmvae/mnist \
    GMVAE_CUDA_OPTIONAL=1 \
    OMPI_ALLOW_RUN_AS_ROOT=1 \
    OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
    OMPI_MCA_btl_vader_single_copy_mechanism=none \
    OMPI_MCA_hwloc_base_binding_policy=none \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
WORKDIR /runs
# With no arguments: model A on MNIST on the GPU (-device auto).
ENTRYPOINT ["/usr/local/bin/train"]
