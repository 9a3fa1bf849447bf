package kerneltest

import (
	"fmt"
	"math"

	"github.com/gmvae/gmvae/cuda"
	"github.com/gmvae/gmvae/engine/cpu"
	"github.com/gmvae/gmvae/kernels"
)

// This file runs a kernel's cases on a cuda.Device (the PTX emulator in CI, a GPU
// when one is at hand) and compares the device's results with the CPU twin's, bit
// for bit (NaN as a class).

// Shape is one launch shape.
type Shape struct {
	Grid, Block cuda.Dim3
}

func (s Shape) String() string { return fmt.Sprintf("grid %v block %v", s.Grid, s.Block) }

// Shapes returns the launch shapes on which a case of kernel k is run: blocks of
// 32 and 128 threads when the kernel accepts any multiple of 32 (else its required
// block), each with a grid of 1 block, of 3 blocks and of enough blocks for one work
// item per thread (capped at maxGrid).
func Shapes(k *kernels.Kernel, work int) []Shape {
	var blocks []cuda.Dim3
	if k.Block.X == 0 {
		blocks = []cuda.Dim3{{X: 32, Y: 1, Z: 1}, {X: 128, Y: 1, Z: 1}}
	} else {
		y := max(k.Block.Y, 1)
		blocks = []cuda.Dim3{{X: k.Block.X, Y: y, Z: 1}}
	}
	const maxGrid = 512
	var out []Shape
	for _, b := range blocks {
		threads := b.Count()
		grids := []int{1, 3}
		if work > 0 {
			grids = append(grids, min(maxGrid, (work+threads-1)/threads))
		}
		seen := map[int]bool{}
		for _, g := range grids {
			if g < 1 || seen[g] {
				continue
			}
			seen[g] = true
			out = append(out, Shape{Grid: cuda.Dim3{X: g, Y: 1, Z: 1}, Block: b})
		}
	}
	return out
}

// CheckArgs reports whether args fit the kernel's parameter kinds.
func CheckArgs(k *kernels.Kernel, args cpu.KernelArgs) error {
	if len(args) != len(k.Params) {
		return fmt.Errorf("%d arguments for %d parameters", len(args), len(k.Params))
	}
	for i, p := range k.Params {
		a := args[i]
		ok := false
		switch p.Kind {
		case kernels.PtrF32:
			_, ok = a.([]float32)
			ok = ok || a == nil
		case kernels.PtrU32:
			_, ok = a.([]uint32)
			ok = ok || a == nil
		case kernels.I64, kernels.Bool, kernels.ActCode:
			_, ok = a.(int64)
		case kernels.U64:
			_, ok = a.(uint64)
		case kernels.F32:
			_, ok = a.(float32)
		}
		if !ok {
			return fmt.Errorf("argument %d (%s %s) is %T", i, p.Kind, p.Name, a)
		}
	}
	return nil
}

// Launch copies args to dev (every slice into its own allocation; nil slices become
// null pointers), launches fn with shape s, copies every slice back and frees the
// allocations. It returns the device's results in a copy of args.
func Launch(dev cuda.Device, fn cuda.Function, k *kernels.Kernel, args cpu.KernelArgs, s Shape) (cpu.KernelArgs, error) {
	if err := CheckArgs(k, args); err != nil {
		return nil, err
	}
	out := Clone(args)
	slots := make([]cuda.Arg, len(args))
	var ptrs []cuda.DevicePtr
	defer func() {
		for _, p := range ptrs {
			dev.Free(p)
		}
	}()
	devPtr := make([]cuda.DevicePtr, len(args))
	for i, a := range args {
		var b []byte
		switch v := a.(type) {
		case []float32:
			b = cuda.Bytes(v)
		case []uint32:
			b = cuda.Bytes(v)
		case int64:
			slots[i] = cuda.I64(v)
			continue
		case uint64:
			slots[i] = cuda.U64(v)
			continue
		case float32:
			slots[i] = cuda.F32(v)
			continue
		case nil:
			continue // null pointer
		}
		// An empty slice gets a 4-byte allocation that is never written: a kernel
		// that touches it faults (uninitialised read).
		p, err := dev.Alloc(max(int64(len(b)), 4))
		if err != nil {
			return nil, err
		}
		ptrs = append(ptrs, p)
		devPtr[i] = p
		slots[i] = cuda.Ptr(p)
		if len(b) > 0 {
			if err := dev.MemcpyHtoD(p, b); err != nil {
				return nil, err
			}
		}
	}
	shared := 0
	if k.SharedBytes != nil {
		shared = k.SharedBytes(kernels.Block{X: s.Block.X, Y: s.Block.Y})
	}
	if err := dev.Launch(fn, s.Grid, s.Block, shared, nil, slots...); err != nil {
		return nil, err
	}
	for i, a := range out {
		var b []byte
		switch v := a.(type) {
		case []float32:
			b = cuda.Bytes(v)
		case []uint32:
			b = cuda.Bytes(v)
		default:
			continue
		}
		if len(b) > 0 {
			if err := dev.MemcpyDtoH(b, devPtr[i]); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// Diff compares two argument lists slice by slice, bit for bit with NaN as a class,
// and describes the first few differences ("" when equal).
func Diff(k *kernels.Kernel, got, want cpu.KernelArgs) string {
	var msg string
	n := 0
	note := func(format string, a ...any) {
		if n < 6 {
			msg += fmt.Sprintf(format, a...) + "\n"
		}
		n++
	}
	for i := range want {
		name := fmt.Sprint(i)
		if i < len(k.Params) {
			name = k.Params[i].Name
		}
		switch w := want[i].(type) {
		case []float32:
			g := got[i].([]float32)
			for j := range w {
				if !SameF32(g[j], w[j]) {
					note("%s[%d]: device %g (%#08x), twin %g (%#08x)", name, j, g[j], math.Float32bits(g[j]), w[j], math.Float32bits(w[j]))
				}
			}
		case []uint32:
			g := got[i].([]uint32)
			for j := range w {
				if g[j] != w[j] {
					note("%s[%d]: device %#08x, twin %#08x", name, j, g[j], w[j])
				}
			}
		}
	}
	if n > 6 {
		msg += fmt.Sprintf("... %d differences in all\n", n)
	}
	return msg
}

// SameF32 reports whether a and b have the same bits, any two NaNs counting as equal.
func SameF32(a, b float32) bool {
	if a != a || b != b {
		return a != a && b != b
	}
	return math.Float32bits(a) == math.Float32bits(b)
}
