package engine

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gmvae/gmvae/cuda/emu"
)

// Devices lists the names OpenBackend accepts.
var Devices = []string{"auto", "cpu", "emu", "cuda"}

// ErrNoCUDA is wrapped by OpenBackend's error for -device cuda in a binary built
// without the cuda tag.
var ErrNoCUDA = errors.New("this binary was built without CUDA support; rebuild with -tags cuda, or use -device cpu")

// cudaOpener opens GPU ordinal as a backend and cudaCount counts the visible GPUs;
// they are set by device_cuda.go (build tag cuda) and nil otherwise.
var (
	cudaOpener func(ordinal int) (Backend, func() error, error)
	cudaCount  func() (int, error)
)

// CUDABuilt reports whether this binary was built with the cuda tag.
func CUDABuilt() bool { return cudaOpener != nil }

// OpenBackend opens the backend named by name and returns it with the function that
// closes it (always non-nil when err is nil):
//
//   - "cpu": the Go twins (NewCPU);
//   - "emu": the GPU backend over the PTX emulator (slow, exact: for tests and
//     debugging);
//   - "cuda": the GPU backend over device 0 (OpenBackendLocal: another) through the
//     CUDA driver; a binary built without the cuda tag returns an error wrapping
//     ErrNoCUDA;
//   - "auto" (or ""): cuda when the binary was built with the cuda tag and a GPU
//     answers, else cpu.
//
// Every backend computes the same bits (shared/design/DETERMINISM.md): the choice
// changes only the speed.
func OpenBackend(name string) (Backend, func() error, error) {
	return OpenBackendLocal(name, 0)
}

// OpenBackendLocal is OpenBackend for the process of local rank localRank on its node
// (dist.Comm.LocalRank: one process per GPU): cuda, and auto when it picks cuda, open
// GPU localRank % (the number of visible GPUs) instead of GPU 0. Local rank 0 opens
// GPU 0 without counting them.
func OpenBackendLocal(name string, localRank int) (Backend, func() error, error) {
	open := func() (Backend, func() error, error) {
		ordinal := 0
		if localRank > 0 {
			n, err := cudaCount()
			if err != nil {
				return nil, nil, err
			}
			if n < 1 {
				return nil, nil, errors.New("no GPU visible")
			}
			ordinal = localRank % n
		}
		return cudaOpener(ordinal)
	}
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "cpu":
		return NewCPU(), func() error { return nil }, nil
	case "emu":
		dev := emu.New(emu.Options{})
		g := NewGPU(dev, GPUOptions{})
		return g, func() error { return errors.Join(g.Close(), dev.Close()) }, nil
	case "cuda":
		if cudaOpener == nil {
			return nil, nil, fmt.Errorf("engine: device cuda: %w", ErrNoCUDA)
		}
		b, closer, err := open()
		if err != nil {
			return nil, nil, fmt.Errorf("engine: device cuda: %w", err)
		}
		return b, closer, nil
	case "auto", "":
		if cudaOpener != nil {
			if b, closer, err := open(); err == nil {
				return b, closer, nil
			}
		}
		return NewCPU(), func() error { return nil }, nil
	}
	return nil, nil, fmt.Errorf("engine: unknown device %q (want one of %s)", name, strings.Join(Devices, ", "))
}
