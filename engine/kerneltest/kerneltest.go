// Package kerneltest holds, for every kernel in kernels/, the inputs on which its bits
// are compared with its CPU twin's: awkward sizes (1, 31, 32, 33, a few hundred),
// K = 1 and K = 64, rows of -Inf, NaN, huge and tiny log-variances. The PTX emulator's
// suite (and, on a machine with a GPU, the device suite) runs every case through the
// kernel and through engine/cpu's twin and compares the results bit for bit (NaN as a
// class).
package kerneltest

import (
	"math/rand"
	"sort"

	"github.com/gmvae/gmvae/engine/cpu"
)

// Case is one launch's inputs.
type Case struct {
	// Name says what is awkward about the case, e.g. "N=33 K=1 row of -Inf".
	Name string
	// Args are the kernel's arguments in PTX parameter order (cpu.KernelArgs
	// conventions). Slices are both inputs and outputs: the harness copies each one to
	// the device, launches, copies every slice back, and compares it with the twin's
	// result on its own copy. Output buffers should be pre-filled (e.g. with NaN or
	// random values) so that an element the kernel forgets to write is caught.
	Args cpu.KernelArgs
	// Work is the number of independent work items (rows, elements, tiles) the launch
	// covers; the harness uses it to choose a few grid sizes, from 1 block to enough
	// blocks for one item per thread. 0 means "any".
	Work int
}

// Generator returns the cases for one kernel; it draws its random inputs from r only,
// so a seed fixes the cases.
type Generator func(r *rand.Rand) []Case

var generators = map[string]Generator{}

// register records the case generator of the kernel named name; family files call it
// from init.
func register(name string, g Generator) {
	if _, dup := generators[name]; dup {
		panic("kerneltest: duplicate generator for kernel " + name)
	}
	generators[name] = g
}

// Cases returns the cases of the kernel named name and whether it has any.
func Cases(name string, r *rand.Rand) ([]Case, bool) {
	g, ok := generators[name]
	if !ok {
		return nil, false
	}
	return g(r), true
}

// Names returns the kernels that have case generators, sorted.
func Names() []string {
	names := make([]string, 0, len(generators))
	for n := range generators {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Clone returns a deep copy of args: every slice is copied, scalars are shared.
func Clone(args cpu.KernelArgs) cpu.KernelArgs {
	out := make(cpu.KernelArgs, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case []float32:
			out[i] = append([]float32(nil), v...)
		case []uint32:
			out[i] = append([]uint32(nil), v...)
		default:
			out[i] = v
		}
	}
	return out
}
