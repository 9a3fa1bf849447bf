package engine

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/cuda/emu"
	"github.com/gmvae/gmvae/engine/cpu"
	"github.com/gmvae/gmvae/engine/kerneltest"
	"github.com/gmvae/gmvae/kernels"
)

// runCase runs one kernel case on backend b through Backend.Launch (buffers uploaded,
// arguments converted as an op would pass them) and returns the arguments with every
// buffer downloaded, in the twins' conventions.
func runCase(t *testing.T, b Backend, name string, c kerneltest.Case) cpu.KernelArgs {
	t.Helper()
	k := kernels.MustLookup(name)
	args := make([]any, len(c.Args))
	var bufs []*Buf
	for i, a := range c.Args {
		switch v := a.(type) {
		case []float32:
			buf, err := b.New(len(v), fmt.Sprintf("%s arg %d", name, i))
			require.NoError(t, err)
			require.NoError(t, b.Upload(buf, v))
			bufs = append(bufs, buf)
			args[i] = buf
		case int64:
			switch k.Params[i].Kind {
			case kernels.Bool:
				args[i] = v != 0
			case kernels.ActCode:
				args[i] = kernels.Act(v)
			default:
				args[i] = int(v)
			}
		case nil:
			args[i] = (*Buf)(nil)
		default:
			args[i] = v
		}
	}
	require.NoError(t, b.Launch(k, c.Work, args...), "%s %s on %s", name, c.Name, b.Name())
	require.NoError(t, b.Sync())
	out := kerneltest.Clone(c.Args)
	for i, a := range args {
		if buf, ok := a.(*Buf); ok && buf != nil {
			require.NoError(t, b.Download(out[i].([]float32), buf))
		}
	}
	for _, buf := range bufs {
		require.NoError(t, b.Release(buf))
	}
	return out
}

// TestGPUBackendMatchesCPU runs every kernel's cases through the GPU backend on the
// PTX emulator and through the CPU backend and compares every buffer bit for bit
// (NaN as a class). Unlike the kerneltest suite, this drives the engine's own argument
// packing, module loading, launch shapes and memory pool.
func TestGPUBackendMatchesCPU(t *testing.T) {
	dev := emu.New(emu.Options{})
	gpu := NewGPU(dev, GPUOptions{})
	host := NewCPU()
	compared := 0
	for _, k := range kernels.All() {
		cases, ok := kerneltest.Cases(k.Name, rand.New(rand.NewSource(7)))
		if !assert.True(t, ok, "kernel %s has no cases", k.Name) {
			continue
		}
		for _, c := range cases {
			got := runCase(t, gpu, k.Name, c)
			want := runCase(t, host, k.Name, c)
			assert.Empty(t, kerneltest.Diff(k, got, want), "%s %s: GPU backend (emulator) differs from CPU backend", k.Name, c.Name)
		}
		compared++
	}
	assert.NoError(t, gpu.Pool().CheckLeaks())
	assert.NoError(t, gpu.Close())
	n, bytes := dev.Allocated()
	assert.Zero(t, n, "after Close the emulator still holds allocations (%d bytes)", bytes)
	t.Logf("GPU backend on the emulator = CPU backend on %d kernels; pool: %v", compared, gpu.Pool().Stats())
}

func TestLaunchErrors(t *testing.T) {
	gpu := NewGPU(emu.New(emu.Options{}), GPUOptions{})
	host := NewCPU()
	x, _ := gpu.New(4, "x")
	hx, _ := host.New(4, "hx")
	tests := []struct {
		name string
		b    Backend
		args []any
		want string
	}{
		{"too few args", gpu, []any{x}, "1 arguments, the kernel has 3 parameters"},
		{"wrong kind", gpu, []any{x, 4, int64(3)}, "argument value is int64, want float"},
		{"other backend's buffer", gpu, []any{hx, 4, float32(1)}, "lives on another backend"},
		{"cpu wrong kind", host, []any{hx, 4.0, float32(1)}, "argument n is float64, want long long"},
	}
	for _, tt := range tests {
		err := tt.b.Launch(kernels.MustLookup("ew_fill"), 4, tt.args...)
		assert.ErrorContains(t, err, tt.want, tt.name)
	}
}

// TestCPUMemoryBudget: a buffer that would take the CPU backend past the memory the
// machine has is an error naming it and the sizes, not a fatal out-of-memory; released
// buffers give their memory back.
func TestCPUMemoryBudget(t *testing.T) {
	c := &CPU{budgeted: true, budget: 1000}
	a, err := c.New(200, "a")
	require.NoError(t, err)
	_, err = c.New(100, "too much")
	require.ErrorContains(t, err, `buffer "too much" of 100 floats`)
	require.ErrorContains(t, err, "more than the 1 KB it may hold (90 % of what the machine had available)")
	require.ErrorIs(t, err, ErrOutOfMemory)
	require.NoError(t, c.Release(a))
	_, err = c.New(250, "fits again")
	require.NoError(t, err)
	assert.Positive(t, memAvailable(), "this machine reports its available memory (Linux)")

	l := NewCPU()
	l.SetMemoryLimit(1000)
	_, err = l.New(300, "past the limit")
	require.ErrorIs(t, err, ErrOutOfMemory)
	require.ErrorContains(t, err, "more than the 1 KB it may hold (its memory limit)")
}
