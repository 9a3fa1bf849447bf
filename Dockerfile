# CPU image of the project as it stands: builds and tests the kernels' CPU twins.
# The CUDA + MPI multi-stage image (nvidia/cuda devel -> runtime, tags cuda and mpi,
# trainer as entrypoint) comes with the data-parallel issue; see shared/design.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN go build -o /out/train ./cmd/train

FROM debian:bookworm-slim
COPY --from=build /out/train /usr/local/bin/train
ENTRYPOINT ["/usr/local/bin/train"]
