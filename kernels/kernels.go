// Package kernels holds the engine's CUDA kernels: the CUDA C sources (*.cu), the
// shared __host__ __device__ math header, the PTX generated from them with the fixed
// flags of the Makefile (committed, embedded here), and a description of every kernel's
// parameters and launch shape.
//
// The Go twin of every kernel lives in engine/cpu; the twin of gm_math.cuh in
// kernels/fmath; the twin of gm_reduce.cuh in engine/cpu/reduce.go.
package kernels

import (
	"embed"
	"fmt"
	"sort"
	"strings"
)

//go:embed *.ptx
var ptxFiles embed.FS

// Module returns the PTX text of the module named name (the .cu file's stem, e.g.
// "gemm" for gemm.cu).
func Module(name string) (string, error) {
	b, err := ptxFiles.ReadFile(name + ".ptx")
	if err != nil {
		return "", fmt.Errorf("kernels: no PTX module %q", name)
	}
	return string(b), nil
}

// Modules returns the names of all embedded PTX modules, sorted.
func Modules() []string {
	entries, err := ptxFiles.ReadDir(".")
	if err != nil {
		panic(err) // the embedded FS always has its root
	}
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".ptx"))
	}
	sort.Strings(names)
	return names
}

// ParamKind is the kind of one kernel parameter. Every scalar travels in an 8-byte
// slot on the host side (gorgonia.org/cu's Launch reads 8 bytes behind each pointer).
type ParamKind int

const (
	PtrF32 ParamKind = iota // float* (PTX .u64)
	PtrU32                  // unsigned int* (PTX .u64)
	I64                     // long long count or index (PTX .u64)
	U64                     // unsigned long long seed or stream id (PTX .u64)
	F32                     // float scalar (PTX .f32)
)

// String returns the kind's name as used in error messages.
func (k ParamKind) String() string {
	switch k {
	case PtrF32:
		return "float*"
	case PtrU32:
		return "unsigned*"
	case I64:
		return "long long"
	case U64:
		return "unsigned long long"
	case F32:
		return "float"
	}
	return fmt.Sprintf("ParamKind(%d)", int(k))
}

// PTXType returns the PTX .param type that nvcc emits for the kind.
func (k ParamKind) PTXType() string {
	if k == F32 {
		return ".f32"
	}
	return ".u64"
}

// Param is one kernel parameter.
type Param struct {
	Name string
	Kind ParamKind
}

// Block says which block shapes a kernel accepts.
type Block struct {
	// X, Y: a required block shape; X = 0 means any multiple of 32 in x, up to 1024
	// threads, with y = 1.
	X, Y int
}

// Kernel describes one PTX entry. Every kernel accepts any grid size >= 1 (it loops
// over its work items with a grid stride), and its results never depend on the grid
// or on the block shape among those it accepts (DETERMINISM.md, rule 11).
type Kernel struct {
	Name   string  // the PTX .entry name (extern "C", so unmangled)
	Module string  // the .cu file's stem
	Params []Param // in PTX order
	Block  Block
	// SharedBytes is the dynamic shared memory the kernel needs for a given block
	// (most kernels use static shared memory only: nil).
	SharedBytes func(b Block) int
	// Doc is one line: what the kernel computes, with shapes.
	Doc string
}

var registry = map[string]*Kernel{}

// register adds k to the kernel table; family files call it from init.
func register(k Kernel) {
	if _, dup := registry[k.Name]; dup {
		panic("kernels: duplicate kernel " + k.Name)
	}
	kk := k
	registry[k.Name] = &kk
}

// Lookup returns the description of the kernel named name.
func Lookup(name string) (*Kernel, error) {
	k, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("kernels: unknown kernel %q", name)
	}
	return k, nil
}

// All returns every described kernel, sorted by module then name.
func All() []*Kernel {
	ks := make([]*Kernel, 0, len(registry))
	for _, k := range registry {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool {
		if ks[i].Module != ks[j].Module {
			return ks[i].Module < ks[j].Module
		}
		return ks[i].Name < ks[j].Name
	})
	return ks
}
