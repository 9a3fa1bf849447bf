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
	PtrF32  ParamKind = iota // float* (PTX .u64); Go: *engine.Buf, the twin: []float32
	PtrU32                   // unsigned int* (PTX .u64)
	I64                      // long long count or index (PTX .u64); Go: int
	U64                      // unsigned long long seed or stream id (PTX .u64); Go: uint64
	F32                      // float scalar (PTX .f32); Go: float32
	Bool                     // long long flag, 0 or 1, such as accumulate (PTX .u64); Go: bool
	ActCode                  // long long activation code, GM_ACT_* (PTX .u64); Go: Act
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
	case Bool:
		return "long long (0/1)"
	case ActCode:
		return "long long (GM_ACT_*)"
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
	// Len is, for a pointer parameter, the number of elements the kernel may touch: a
	// Go expression over the kernel's other parameters, named as in the generated ops
	// (GoParamName: "param_stride" is paramStride), and the helpers of package ops
	// (mixParams, strided). The typed op refuses a buffer shorter than that. "" for
	// scalars.
	Len string
}

// Constructors of the kernel table's parameters, by kind.
func buf(name, length string) Param { return Param{Name: name, Kind: PtrF32, Len: length} }
func i64(name string) Param         { return Param{Name: name, Kind: I64} }
func u64(name string) Param         { return Param{Name: name, Kind: U64} }
func f32(name string) Param         { return Param{Name: name, Kind: F32} }
func flag(name string) Param        { return Param{Name: name, Kind: Bool} }
func act(name string) Param         { return Param{Name: name, Kind: ActCode} }

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
	// Threads is how many threads a launch wants (one per work item of the kernel's
	// mapping: an element, 32 per row for a warp-per-row kernel, 256 per 64x64 GEMM
	// tile, one per Philox block of 4 numbers): a Go expression over the parameters as
	// for Param.Len. It only sizes the grid; results never depend on it.
	Threads string
	// GoName is the name of the kernel's typed op (package ops) and of its CPU twin
	// (engine/cpu); "" means the kernel's name in CamelCase (mixture_loglik:
	// MixtureLoglik).
	GoName string
}

// Go returns the name of the kernel's typed op and CPU twin.
func (k *Kernel) Go() string {
	if k.GoName != "" {
		return k.GoName
	}
	return camel(k.Name, true)
}

// GoParamName returns the Go name of parameter name in the typed op: lower camel case
// (param_stride: paramStride, N: n, KL: kl, dY: dY).
func GoParamName(name string) string { return camel(name, false) }

// camel joins the underscore-separated words of s in camel case; an all-capital word
// is lowered first (KL: Kl, or kl at the start of a lower-camel name).
func camel(s string, upper bool) string {
	var b strings.Builder
	for i, w := range strings.Split(s, "_") {
		if w == "" {
			continue
		}
		if strings.ToUpper(w) == w {
			w = strings.ToLower(w)
		}
		if i > 0 || upper {
			w = strings.ToUpper(w[:1]) + w[1:]
		} else {
			w = strings.ToLower(w[:1]) + w[1:]
		}
		b.WriteString(w)
	}
	return b.String()
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

// MustLookup returns the description of the kernel named name; it panics when there is
// none (package-level variables of the generated ops, checked by their tests).
func MustLookup(name string) *Kernel {
	k, err := Lookup(name)
	if err != nil {
		panic(err)
	}
	return k
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
