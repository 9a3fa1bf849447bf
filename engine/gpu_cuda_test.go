//go:build cuda

package engine

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/cuda/driver/drivertest"
	"github.com/gmvae/gmvae/engine/cpu"
	"github.com/gmvae/gmvae/engine/kerneltest"
	"github.com/gmvae/gmvae/kernels"
)

// largeCases are launches at training sizes and beyond (millions of elements, K up to
// 64, D up to 512), where the CPU twin is still affordable on a GPU machine's cores.
func largeCases() map[string][]kerneltest.Case {
	u := func(n int, lo, hi float32, stream uint64) []float32 {
		x := make([]float32, n)
		cpu.RandUniform(x, n, 99, stream)
		for i := range x {
			x[i] = lo + float32((hi-lo)*x[i])
		}
		return x
	}
	out := map[string][]kerneltest.Case{}
	add := func(k string, c kerneltest.Case) { out[k] = append(out[k], c) }
	for _, s := range [][3]int{{100, 784, 512}, {1000, 512, 512}, {257, 1025, 129}} {
		m, kk, n := s[0], s[1], s[2]
		tiles := ((m + 63) / 64) * ((n + 63) / 64) * 256
		for _, name := range []string{"gemm_nn", "gemm_nt", "gemm_tn"} {
			add(name, kerneltest.Case{Name: fmt.Sprintf("%dx%dx%d", m, kk, n), Work: tiles,
				Args: cpu.KernelArgs{u(m*kk, -1, 1, 1), u(kk*n, -1, 1, 2), u(n, -1, 1, 3), u(m*n, 0, 0, 4),
					int64(m), int64(n), int64(kk), int64(2), int64(0)}})
		}
	}
	for _, s := range [][3]int{{4096, 64, 512}, {1024, 16, 200}} {
		n, k, d := s[0], s[1], s[2]
		add("mixture_loglik", kerneltest.Case{Name: fmt.Sprintf("N=%d K=%d D=%d shared", n, k, d), Work: n * 256,
			Args: cpu.KernelArgs{int64(n), int64(k), int64(d), u(n*d, -3, 3, 5), u(k*d, -3, 3, 6), u(k*d, -5, 5, 7),
				int64(0), u(k, -3, 0, 8), int64(0), u(n*k, 0, 0, 9), u(n, 0, 0, 10), u(n*k, 0, 0, 11)}})
		add("kl_mixture", kerneltest.Case{Name: fmt.Sprintf("N=%d K=%d D=%d per sample", n, k, d), Work: 32 * n * k,
			Args: cpu.KernelArgs{int64(n), int64(k), int64(d), u(n*d, -3, 3, 12), u(n*d, -5, 5, 13),
				u(n*k*d, -3, 3, 14), u(n*k*d, -5, 5, 15), int64(k * d), u(n*k, 0, 0, 16)}})
	}
	const big = 1 << 22
	add("act_fwd", kerneltest.Case{Name: "tanh 4M", Work: big,
		Args: cpu.KernelArgs{u(big, -20, 20, 17), u(big, 0, 0, 18), int64(big), int64(2)}})
	add("reparam", kerneltest.Case{Name: "4M", Work: big / 4,
		Args: cpu.KernelArgs{u(big, -3, 3, 19), u(big, -10, 10, 20), u(big, 0, 0, 21), u(big, 0, 0, 22),
			int64(big), uint64(5), uint64(6)}})
	add("adam_step", kerneltest.Case{Name: "4M", Work: big,
		Args: cpu.KernelArgs{u(big, -1, 1, 23), u(big, -1, 1, 24), u(big, -1, 1, 25), u(big, 0, 1, 26), int64(big),
			float32(1e-3), float32(0.9), float32(0.999), float32(1e-8), float32(1e-4), float32(0.1), float32(0.001)}})
	add("sum_squares", kerneltest.Case{Name: "4M", Work: 256,
		Args: cpu.KernelArgs{u(big, -1, 1, 27), u(1, 0, 0, 28), int64(big)}})
	add("bernoulli_loglik", kerneltest.Case{Name: "10000x784", Work: 32 * 10000,
		Args: cpu.KernelArgs{u(10000*784, 0, 1, 29), u(10000*784, -20, 20, 30), u(10000, 0, 0, 31),
			int64(10000), int64(784)}})
	return out
}

// TestGPUBackendLargeSizes runs the large cases through the GPU backend on the real
// device and through the CPU backend and compares the bits.
func TestGPUBackendLargeSizes(t *testing.T) {
	dev := drivertest.Open(t)
	defer dev.Close()
	gpu := NewGPU(dev, GPUOptions{})
	defer gpu.Close()
	host := NewCPU()
	for name, cases := range largeCases() {
		k, err := kernels.Lookup(name)
		require.NoError(t, err)
		for _, c := range cases {
			got := runCase(t, gpu, name, c)
			want := runCase(t, host, name, c)
			if assert.Empty(t, kerneltest.Diff(k, got, want), "%s %s: GPU differs from CPU", name, c.Name) {
				t.Logf("%s %s: bit-equal", name, c.Name)
			}
		}
	}
}
