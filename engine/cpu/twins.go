// Package cpu is the engine's CPU backend: one Go twin per CUDA kernel in kernels/,
// computing the same float32 bits (shared/design/DETERMINISM.md). A twin is named after
// its kernel (kernel gemm_nn, twin GemmNN, test TestGemmNN) so one search finds all
// three.
package cpu

import (
	"fmt"
	"sort"
)

// KernelArgs holds one launch's arguments in the kernel's PTX parameter order, with
// host memory standing in for device memory:
//   - a pointer parameter is a []float32 or []uint32 (a host copy of the device
//     buffer, written in place by the twin), or nil for a null pointer;
//   - an integer parameter (every kernel passes counts as 64-bit) is an int64;
//   - a float parameter is a float32;
//   - an unsigned 64-bit parameter (seeds, RNG stream ids) is a uint64.
type KernelArgs []any

// Twin is the CPU twin of one kernel: it computes, on host buffers, exactly what one
// launch of the kernel computes on device buffers. Launch shape never changes a
// kernel's result (DETERMINISM.md, rule 11), so a twin takes no grid or block.
type Twin func(KernelArgs)

var twins = map[string]Twin{}

// registerTwin records the twin of the kernel named name. It panics on a duplicate
// name, which is a programming error found by any test.
func registerTwin(name string, f Twin) {
	if _, dup := twins[name]; dup {
		panic("cpu: duplicate twin for kernel " + name)
	}
	twins[name] = f
}

// TwinOf returns the twin of the kernel named name (its PTX .entry name).
func TwinOf(name string) (Twin, error) {
	f, ok := twins[name]
	if !ok {
		return nil, fmt.Errorf("cpu: no twin for kernel %q", name)
	}
	return f, nil
}

// TwinNames returns the names of all kernels that have a twin, sorted.
func TwinNames() []string {
	names := make([]string, 0, len(twins))
	for n := range twins {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Argument accessors for twins. They panic with the kernel's parameter index on a
// wrong type: a mismatch between a twin and its kernel's parameter list is a bug.

// F32s returns argument i as a float32 slice (nil for a null pointer).
func (a KernelArgs) F32s(i int) []float32 {
	if a[i] == nil {
		return nil
	}
	s, ok := a[i].([]float32)
	if !ok {
		panic(fmt.Sprintf("cpu: kernel argument %d is %T, want []float32", i, a[i]))
	}
	return s
}

// U32s returns argument i as a uint32 slice (nil for a null pointer).
func (a KernelArgs) U32s(i int) []uint32 {
	if a[i] == nil {
		return nil
	}
	s, ok := a[i].([]uint32)
	if !ok {
		panic(fmt.Sprintf("cpu: kernel argument %d is %T, want []uint32", i, a[i]))
	}
	return s
}

// Int returns argument i as an int (the kernel's parameter is a 64-bit integer).
func (a KernelArgs) Int(i int) int {
	v, ok := a[i].(int64)
	if !ok {
		panic(fmt.Sprintf("cpu: kernel argument %d is %T, want int64", i, a[i]))
	}
	return int(v)
}

// F32 returns argument i as a float32.
func (a KernelArgs) F32(i int) float32 {
	v, ok := a[i].(float32)
	if !ok {
		panic(fmt.Sprintf("cpu: kernel argument %d is %T, want float32", i, a[i]))
	}
	return v
}

// U64 returns argument i as a uint64.
func (a KernelArgs) U64(i int) uint64 {
	v, ok := a[i].(uint64)
	if !ok {
		panic(fmt.Sprintf("cpu: kernel argument %d is %T, want uint64", i, a[i]))
	}
	return v
}
