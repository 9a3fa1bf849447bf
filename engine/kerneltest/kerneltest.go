// Package kerneltest holds, for every kernel in kernels/, the inputs on which its bits
// are compared with its CPU twin's: awkward sizes (1, 31, 32, 33, a few hundred),
// K = 1 and K = 64, rows of -Inf, NaN, huge and tiny log-variances. The PTX emulator's
// suite (and, on a machine with a GPU, the device suite) runs every case through the
// kernel and through engine/cpu's twin and compares the results bit for bit (NaN as a
// class).
package kerneltest

import (
	"fmt"
	"math/rand"
	"sort"

	"github.com/gmvae/gmvae/engine/cpu"
	"github.com/gmvae/gmvae/kernels"
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
	// Sweep marks a large case (a wide input sweep, a big product) that is run on one
	// launch shape only: one block of the kernel's first block shape (32 threads when
	// it takes any). Launch-shape independence is the small cases' business; one
	// block makes every thread run many iterations of its grid-stride loop, so that
	// the copies of a loop body that the compiler unrolled are run (sweepPair varies
	// the count, so that every remainder copy runs too).
	Sweep bool
}

// shapes returns the launch shapes the harness runs case c of kernel k on.
func (c Case) shapes(k *kernels.Kernel) []Shape {
	s := Shapes(k, c.Work)
	if c.Sweep {
		return s[:1]
	}
	return s
}

// sweepPair returns c and a copy of c whose count argument (Args[count], an int64) is
// less by step: on one block of 32 threads a thread runs n/32 or n/32 + 1 iterations
// of a grid-stride loop over n items, and with step = 64 items the copy adds n/32 - 2
// and n/32 - 1, so that every remainder of a loop unrolled by 4 runs. The buffers stay
// as they are (longer than the count: their tail must come back unchanged).
func sweepPair(c Case, count int, step int64) []Case {
	d := c
	d.Args = Clone(c.Args)
	d.Args[count] = max(c.Args[count].(int64)-step, 0)
	d.Name += fmt.Sprintf(", count - %d", step)
	return []Case{c, d}
}

// sweepVariants returns c, then for each index in nulls a copy with that (nullable
// output) argument null, and, when acc >= 0, a copy with the accumulate flag
// Args[acc] set and every output in outs filled with +0 (x + 0 = x, so the values
// still show): the compiler specialises a loop on such flags, and each version is a
// separate copy of the math.
func sweepVariants(c Case, nulls []int, acc int, outs []int) []Case {
	cs := []Case{c}
	for _, i := range nulls {
		d := c
		d.Args = Clone(c.Args)
		d.Args[i] = nil
		d.Name += fmt.Sprintf(", argument %d null", i)
		cs = append(cs, d)
	}
	if acc >= 0 {
		d := c
		d.Args = Clone(c.Args)
		d.Args[acc] = int64(1)
		for _, i := range outs {
			d.Args[i] = make([]float32, len(c.Args[i].([]float32)))
		}
		d.Name += ", accumulate onto zeros"
		cs = append(cs, d)
	}
	return cs
}

// Generator returns the cases for one kernel; it draws its random inputs from r only,
// so a seed fixes the cases.
type Generator func(r *rand.Rand) []Case

var (
	generators = map[string]Generator{}
	// sweeps are the generators of each kernel's large cases (registerSweep).
	sweeps = map[string][]Generator{}
)

// register records the case generator of the kernel named name; family files call it
// from init.
func register(name string, g Generator) {
	if _, dup := generators[name]; dup {
		panic("kerneltest: duplicate generator for kernel " + name)
	}
	generators[name] = g
}

// registerSweep records a generator of large cases for the kernel named name: wide
// sweeps and the hard inputs of its math (hard.go), GEMM shapes that fill every tile
// position, inputs far from where rounding is exact. They are what kills a change of
// one instruction's rounding (ci/mutants.sh, docs/mutants.md). Their cases come after
// the kernel's own, from a generator seeded by r once those are drawn, so adding
// sweeps never changes the small cases. The harness runs a case marked Sweep on one
// launch shape.
func registerSweep(name string, g Generator) {
	sweeps[name] = append(sweeps[name], g)
}

// Cases returns the cases of the kernel named name and whether it has any.
func Cases(name string, r *rand.Rand) ([]Case, bool) {
	g, ok := generators[name]
	if !ok {
		return nil, false
	}
	cs := g(r)
	if len(sweeps[name]) > 0 {
		rs := rand.New(rand.NewSource(r.Int63()))
		for _, sg := range sweeps[name] {
			cs = append(cs, sg(rs)...)
		}
	}
	return cs, true
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
