// Package ops is the engine's op set: one typed Go function per kernel of the kernel
// table (package kernels), generated from it into ops_gen.go by
// `go run ./kernels/cmd/kernelgen`. Each function checks that its buffers are long
// enough for the kernel (the table's Len of each pointer parameter), then launches the
// kernel on the given backend with the table's thread count: models and layers never
// name a kernel by string or compute launch geometry. Only this package (and the kernel
// tests) calls engine.Backend.Launch.
package ops

import (
	"fmt"

	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/kernels"
)

// gemmThreads is the thread count of a gemm_nn, gemm_nt or gemm_tn launch with an
// (m, n) output: 256 threads per 64x64 tile.
func gemmThreads(m, n int) int { return ((m + 63) / 64) * ((n + 63) / 64) * 256 }

// mixParams is the length of a mixture's per-component parameters (mu, lv) for n rows
// of k components of d dimensions: (k, d) shared by every row when stride is 0, else one
// (k, d) block per row, stride apart.
func mixParams(n, k, d, stride int) int { return strided(n, k*d, stride) }

// strided is the length of n rows of k elements stride apart (stride 0: one row, shared).
func strided(n, k, stride int) int {
	if n <= 0 || k <= 0 {
		return 0
	}
	if stride == 0 {
		return k
	}
	return (n-1)*stride + k
}

// lenCheck collects the first buffer that is too short for a launch.
type lenCheck struct{ err error }

// need records an error when buf is not nil and shorter than want elements.
func (c *lenCheck) need(k *kernels.Kernel, param string, buf *engine.Buf, want int) {
	if c.err == nil && buf != nil && buf.Len() < want {
		c.err = fmt.Errorf("ops: %s: buffer %s has %d elements, the launch needs %d", k.Name, param, buf.Len(), want)
	}
}
