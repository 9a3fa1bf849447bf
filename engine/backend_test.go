package engine

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"

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
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Upload(buf, v); err != nil {
				t.Fatal(err)
			}
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
	if err := b.Launch(k, c.Work, args...); err != nil {
		t.Fatalf("%s %s on %s: %v", name, c.Name, b.Name(), err)
	}
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	out := kerneltest.Clone(c.Args)
	for i, a := range args {
		if buf, ok := a.(*Buf); ok && buf != nil {
			if err := b.Download(out[i].([]float32), buf); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, buf := range bufs {
		if err := b.Release(buf); err != nil {
			t.Fatal(err)
		}
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
		if !ok {
			t.Errorf("kernel %s has no cases", k.Name)
			continue
		}
		for _, c := range cases {
			got := runCase(t, gpu, k.Name, c)
			want := runCase(t, host, k.Name, c)
			if d := kerneltest.Diff(k, got, want); d != "" {
				t.Errorf("%s %s: GPU backend (emulator) differs from CPU backend: %s", k.Name, c.Name, d)
			}
		}
		compared++
	}
	if err := gpu.Pool().CheckLeaks(); err != nil {
		t.Error(err)
	}
	if err := gpu.Close(); err != nil {
		t.Error(err)
	}
	if n, bytes := dev.Allocated(); n != 0 {
		t.Errorf("after Close the emulator still holds %d allocations (%d bytes)", n, bytes)
	}
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
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want it to contain %q", tt.name, err, tt.want)
		}
	}
}
