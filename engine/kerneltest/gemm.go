package kerneltest

import (
	"fmt"
	"math"
	"math/rand"

	"github.com/gmvae/gmvae/engine/cpu"
	"github.com/gmvae/gmvae/kernels"
)

// Cases of the gemm family (kernels/gemm.cu): gemm_nn, gemm_nt, gemm_tn at shapes that
// are not multiples of the 64 x 64 tile or the 16-deep k-tile (1, 3, 17, 31, 33, 65,
// 70; K = 0, 1, 3, 9, 16, 17, 32), an empty batch (M = 0), bias null and not, every
// activation code (and an unknown one, which gives NaN), accumulate with and without
// bias, and bad values (NaN, +-Inf, -0, products that underflow or overflow). C is
// pre-filled with garbage past M*N (and inside it when accumulate = 0) so that a
// stray or missing write shows. colsum: awkward M and N, accumulate, bad values.
//
// The tiled products take one 64 x 64 tile per block of 256 threads; their Work is
// tiles*256 so that the harness's "one work item per thread" grid is one block per
// tile (besides its grids of 1 and 3 blocks).
func init() {
	for _, name := range []string{"gemm_nn", "gemm_nt", "gemm_tn"} {
		register(name, gemmCases)
	}
	register("colsum", colsumCases)
}

// gemmGarbage returns n floats of garbage (NaN, huge, large) plus 7 past the end.
func gemmGarbage(r *rand.Rand, n int) []float32 {
	b := make([]float32, n+7)
	for i := range b {
		switch r.Intn(3) {
		case 0:
			b[i] = float32(math.NaN())
		case 1:
			b[i] = -1e30
		default:
			b[i] = float32(r.NormFloat64() * 1e6)
		}
	}
	return b
}

// gemmValues returns n normal(0, 1) floats; with bad, about one in eight is one of
// the special values instead.
func gemmValues(r *rand.Rand, n int, bad bool) []float32 {
	inf := float32(math.Inf(1))
	special := []float32{0, float32(math.Copysign(0, -1)), float32(math.NaN()), inf, -inf,
		1e-25, -1e-25, 1e25, -3e-40}
	b := make([]float32, n)
	for i := range b {
		b[i] = float32(r.NormFloat64())
		if bad && r.Intn(8) == 0 {
			b[i] = special[r.Intn(len(special))]
		}
	}
	return b
}

func gemmCases(r *rand.Rand) []Case {
	type shape struct {
		m, n, k    int
		bias       bool
		act, accum int
		bad        bool
	}
	shapes := []shape{
		{1, 1, 1, false, 0, 0, false},
		{3, 17, 0, true, 1, 0, false},   // K = 0: C = act(bias)
		{2, 5, 0, true, 0, 1, false},    // K = 0 with accumulate: C = C_old + (0 + bias)
		{0, 5, 3, true, 0, 0, false},    // empty batch
		{4, 0, 3, true, 0, 0, false},    // no columns
		{17, 31, 16, true, 2, 0, false}, // one full k-tile
		{33, 65, 17, false, 0, 1, false},
		{70, 3, 17, true, 3, 0, false},
		{31, 33, 32, true, 0, 1, false}, // two full k-tiles
		{9, 9, 9, true, 0, 0, true},
		{9, 9, 9, true, 1, 1, true},
		{65, 2, 1, false, 5, 0, true},
	}
	shapes = append(shapes,
		shape{5, 7, 3, true, 4, 1, false},   // softplus after accumulate
		shape{3, 2, 2, true, 9, 0, false},   // 9 is not an activation code: NaN
		shape{2, 3, 2, false, -1, 0, false}, // nor is -1
	)
	var cs []Case
	for _, s := range shapes {
		a, b := gemmValues(r, s.m*s.k, s.bad), gemmValues(r, s.k*s.n, s.bad)
		var bias []float32
		if s.bias {
			bias = gemmValues(r, s.n, s.bad)
		}
		c := gemmGarbage(r, s.m*s.n)
		if s.accum != 0 {
			copy(c, gemmValues(r, s.m*s.n, s.bad))
		}
		tiles := ((s.m + 63) / 64) * ((s.n + 63) / 64)
		var biasArg any // a nil []float32 would not be a null pointer in an interface
		if bias != nil {
			biasArg = bias
		}
		cs = append(cs, Case{
			Name: fmt.Sprintf("M=%d N=%d K=%d bias=%v act=%d accumulate=%d bad=%v",
				s.m, s.n, s.k, s.bias, s.act, s.accum, s.bad),
			Args: cpu.KernelArgs{a, b, biasArg, c, int64(s.m), int64(s.n), int64(s.k),
				int64(s.act), int64(s.accum)},
			Work: tiles * 256,
		})
	}
	return cs
}

func colsumCases(r *rand.Rand) []Case {
	type shape struct {
		m, n, accum int
		bad         bool
	}
	shapes := []shape{
		{0, 5, 0, false}, // no rows: out = +0
		{0, 3, 1, false}, // no rows, accumulate: out unchanged (+ +0)
		{1, 1, 0, false},
		{31, 33, 1, false},
		{33, 32, 0, true},
		{100, 31, 1, true},
		{3, 300, 0, false},
		{2, 0, 0, false},
	}
	var cs []Case
	for _, s := range shapes {
		x := gemmValues(r, s.m*s.n, s.bad)
		out := gemmGarbage(r, s.n)
		if s.accum != 0 {
			copy(out, gemmValues(r, s.n, s.bad))
		}
		cs = append(cs, Case{
			Name: fmt.Sprintf("M=%d N=%d accumulate=%d bad=%v", s.m, s.n, s.accum, s.bad),
			Args: cpu.KernelArgs{x, out, int64(s.m), int64(s.n), int64(s.accum)},
			Work: s.n,
		})
	}
	return cs
}

func init() {
	for _, name := range []string{"gemm_nn", "gemm_nt", "gemm_tn"} {
		registerSweep(name, gemmSweeps)
	}
}

// gemmSweeps are the large cases of the products. Tiles: shapes of more than one 64 x
// 64 tile in M and N, with a partial tile in each, so that every one of a thread's
// 4 x 4 accumulators reaches C; K with two full 16-deep k-tiles and a partial one, K
// one full k-tile, and K below one k-tile (the fully unrolled k-tile path and the
// remainder loop each run every accumulator). Epilogue: K = 1 and B = powers of two,
// so that C[m,n] = act(A[m] * B[n]) with A[m] * B[n] exact and column 0 (B = 1) the
// activation of A itself: A holds the hard inputs of each activation's math (hard.go)
// and a sweep of its distribution, 64 columns of scaled copies each.
func gemmSweeps(r *rand.Rand) []Case {
	var cs []Case
	// k-tile remainders K mod 16 = 5, 0, 6, 7, 3: the remainder loop, unrolled by 4,
	// runs its main body and each of its 1-, 2- and 3-step tails.
	for _, s := range []struct{ m, n, k, accum int }{{130, 70, 37, 0}, {64, 64, 16, 1}, {70, 129, 5, 0}, {65, 66, 22, 0}, {64, 64, 7, 1}, {66, 64, 3, 0}} {
		a, b := gemmValues(r, s.m*s.k, false), gemmValues(r, s.k*s.n, false)
		bias := gemmValues(r, s.n, false)
		c := gemmGarbage(r, s.m*s.n)
		if s.accum != 0 {
			copy(c, gemmValues(r, s.m*s.n, false))
		}
		tiles := ((s.m + 63) / 64) * ((s.n + 63) / 64)
		cs = append(cs, Case{
			Name:  fmt.Sprintf("M=%d N=%d K=%d: every tile position, full and partial k-tiles", s.m, s.n, s.k),
			Args:  cpu.KernelArgs{a, b, bias, c, int64(s.m), int64(s.n), int64(s.k), int64(0), int64(s.accum)},
			Work:  tiles * 256,
			Sweep: true,
		})
	}
	const n = 64
	b := make([]float32, n)
	for j := range b {
		b[j] = float32(math.Ldexp(1, j%9-4)) // 1, 2, 4, 8, 16, 1/16 ... : column 0 is 1
		if j%2 == 1 {
			b[j] = -b[j]
		}
	}
	b[0] = 1
	for _, e := range []struct {
		act   kernels.Act
		fn    string
		sweep int
	}{{kernels.ActTanh, "tanh", 1000}, {kernels.ActSigmoid, "sigmoid", 1000}, {kernels.ActSoftplus, "softplus", 1000}, {kernels.ActExp, "exp", 1000}} {
		a := append(hardFor(e.fn, nil), hardSweep(e.fn, r, e.sweep, nil)...)
		m := len(a)
		c := Case{
			Name:  fmt.Sprintf("M=%d N=%d K=1 act=%d: %s's hard inputs and a sweep", m, n, e.act, e.fn),
			Args:  cpu.KernelArgs{a, append([]float32(nil), b...), nil, gemmGarbage(r, m*n), int64(m), int64(n), int64(1), int64(e.act), int64(0)},
			Work:  ((m + 63) / 64) * 256,
			Sweep: true,
		}
		// The epilogue with a bias of zeros (v + 0 = v) and accumulating onto zeros.
		withBias := c
		withBias.Args = Clone(c.Args)
		withBias.Args[2] = make([]float32, n)
		withBias.Name += ", bias 0"
		cs = append(cs, sweepVariants(c, nil, 8, []int{3})...)
		cs = append(cs, withBias)
	}
	return cs
}
