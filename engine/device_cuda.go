//go:build cuda

package engine

import (
	"errors"

	"github.com/gmvae/gmvae/cuda/driver"
)

// With the cuda tag, OpenBackend("cuda") opens a GPU through the CUDA driver.
func init() {
	cudaCount = driver.Count
	cudaOpener = func(ordinal int) (Backend, func() error, error) {
		dev, err := driver.Open(ordinal)
		if err != nil {
			return nil, nil, err
		}
		g := NewGPU(dev, GPUOptions{})
		return g, func() error { return errors.Join(g.Close(), dev.Close()) }, nil
	}
}
