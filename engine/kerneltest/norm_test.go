package kerneltest

import (
	"math/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/cuda"
	"github.com/gmvae/gmvae/cuda/emu"
	"github.com/gmvae/gmvae/engine/cpu"
	"github.com/gmvae/gmvae/kernels"
)

// launchAliased is Launch with parameter dst sharing the device buffer of parameter
// src (which must be a slice at least as long): the device results come back in a copy
// of args whose dst entry is the same slice as its src entry.
func launchAliased(t *testing.T, dev cuda.Device, fn cuda.Function, k *kernels.Kernel, args cpu.KernelArgs, src, dst int, s Shape) cpu.KernelArgs {
	t.Helper()
	out := Clone(args)
	out[dst] = out[src]
	slots := make([]cuda.Arg, len(args))
	ptrs := make([]cuda.DevicePtr, len(args))
	for i, a := range out {
		switch v := a.(type) {
		case []float32:
			if i == dst {
				continue
			}
			p, err := dev.Alloc(max(int64(4*len(v)), 4))
			require.NoError(t, err)
			defer dev.Free(p)
			if len(v) > 0 {
				require.NoError(t, dev.MemcpyHtoD(p, cuda.Bytes(v)))
			}
			ptrs[i] = p
			slots[i] = cuda.Ptr(p)
		case int64:
			slots[i] = cuda.I64(v)
		case float32:
			slots[i] = cuda.F32(v)
		case nil:
		default:
			require.Failf(t, "unexpected argument type", "argument %d: %T", i, a)
		}
	}
	ptrs[dst] = ptrs[src]
	slots[dst] = slots[src]
	require.NoError(t, dev.Launch(fn, s.Grid, s.Block, 0, nil, slots...))
	for i, a := range out {
		if v, ok := a.([]float32); ok && i != dst && len(v) > 0 {
			require.NoError(t, dev.MemcpyDtoH(cuda.Bytes(v), ptrs[i]))
		}
	}
	return out
}

// TestNormAliasingOnEmulator runs the in-place uses of the norm kernels on the
// emulator, with one device buffer for two parameters, and compares the results bit
// for bit with the twin called on one slice for both: Y = X (bn_fwd), dX = dY
// (bn_bwd) and invstd = v (bn_invstd), on every case of those kernels whose two
// buffers have the same length, at every launch shape.
func TestNormAliasingOnEmulator(t *testing.T) {
	src, err := kernels.Module("norm")
	require.NoError(t, err)
	dev := emu.New(emu.Options{MaxThreadInstructions: 1 << 24})
	defer dev.Close()
	mod, err := dev.LoadModule("norm", src)
	require.NoError(t, err)
	for _, al := range []struct {
		name     string
		src, dst int
	}{
		{"bn_fwd", 0, 5},    // Y = X
		{"bn_bwd", 4, 5},    // dX = dY
		{"bn_invstd", 0, 1}, // invstd = v
	} {
		k, err := kernels.Lookup(al.name)
		require.NoError(t, err)
		fn, err := mod.Function(al.name)
		require.NoError(t, err)
		twin, _ := cpu.TwinOf(al.name)
		cs, _ := Cases(al.name, rand.New(rand.NewSource(2)))
		n := 0
		for ci, c := range cs {
			if len(c.Args[al.src].([]float32)) != len(c.Args[al.dst].([]float32)) {
				continue
			}
			want := Clone(c.Args)
			want[al.dst] = want[al.src]
			twin(want)
			for _, s := range Shapes(k, c.Work) {
				got := launchAliased(t, dev, fn, k, c.Args, al.src, al.dst, s)
				require.Empty(t, Diff(k, got, want), "%s case %d (%s), %v, %s aliasing %s: the emulated kernel differs from its twin",
					al.name, ci, c.Name, s, k.Params[al.dst].Name, k.Params[al.src].Name)
				n++
			}
		}
		assert.NotZero(t, n, "%s: no aliased launches", al.name)
		t.Logf("%s: %d aliased launches match the twin", al.name, n)
	}
	nb, _ := dev.Allocated()
	assert.Zero(t, nb, "device allocations leaked")
}
