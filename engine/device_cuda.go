//go:build cuda

package engine

import (
	"errors"

	"github.com/gmvae/gmvae/cuda/driver"
)

// With the cuda tag, OpenBackend("cuda") opens GPU 0 through the CUDA driver.
func init() {
	cudaOpener = func() (Backend, func() error, error) {
		dev, err := driver.Open(0)
		if err != nil {
			return nil, nil, err
		}
		g := NewGPU(dev, GPUOptions{})
		return g, func() error { return errors.Join(g.Close(), dev.Close()) }, nil
	}
}
