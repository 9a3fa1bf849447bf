package kerneltest

import (
	"fmt"
	"math"
	"math/rand"

	"github.com/gmvae/gmvae/engine/cpu"
	"github.com/gmvae/gmvae/kernels"
)

// Cases of the norm family (kernels/norm.cu): bn_stats, bn_fwd, bn_bwd, bn_invstd at
// awkward shapes (M = 1, 2, 3, 33, 100; N = 1, 5, 31, 33, 500; an empty batch and no
// columns), with NaN, ±Inf, ±0, subnormals and huge values in some columns, constant
// columns (an integer one: variance exactly 0, with eps = 0 invstd = +Inf; and one of
// a random value: a tiny variance from the rounded mean), null running
// statistics and null dgamma/dbeta, accumulate on and off, every activation code (and
// an unknown one), momentum 0, 0.01 and 1. Buffers carry ewkPad garbage elements past their
// data and outputs are pre-filled with garbage (or with finite values where the kernel
// reads them: running statistics, accumulated gradients). Aliasing (Y = X in bn_fwd,
// dX = dY in bn_bwd, invstd = v in bn_invstd) needs one device buffer for two
// parameters, which Case cannot say: norm_test.go runs those on the emulator.
//
// bn_stats and bn_bwd have N work items (one column each); bn_fwd has M*N and
// bn_invstd n.

// normShape is one (M, N) batch shape of the norm cases.
type normShape struct {
	m, n int
	bad  bool // plant special values in X (and dY)
}

// normShapes are the shapes of bn_stats and bn_bwd.
var normShapes = []normShape{
	{1, 1, false}, {1, 5, true}, {2, 5, false}, {2, 33, true}, {3, 31, false},
	{33, 32, true}, {33, 1, false}, {100, 500, false}, {100, 33, true}, {0, 3, false},
	{4, 0, false},
}

// normBatch returns X (m, n) plus ewkPad garbage: normal values times a per-column
// scale and offset (10^U(-3,3), some columns far from 0 so that mean and variance do
// not cancel trivially), with column 1 a constant small integer (variance exactly 0)
// and column 4 a constant random value (variance tiny, not always 0), and with bad
// set about one element in 9 of the columns c % 3 == 2 a special value.
func normBatch(r *rand.Rand, m, n int, bad bool) []float32 {
	x := ewkGarbage(r, m*n)
	scale := make([]float64, n)
	off := make([]float64, n)
	for c := range scale {
		scale[c] = math.Pow(10, 6*r.Float64()-3)
		if r.Intn(3) == 0 {
			off[c] = 100 * scale[c] * r.NormFloat64()
		}
	}
	konst1, konst4 := float32(r.Intn(7)-3), float32(r.NormFloat64())
	for i := 0; i < m; i++ {
		for c := 0; c < n; c++ {
			v := float32(off[c] + scale[c]*r.NormFloat64())
			switch c {
			case 1:
				v = konst1
			case 4:
				v = konst4
			}
			if bad && c%3 == 2 && r.Intn(9) == 0 {
				v = ewkSpecial[r.Intn(len(ewkSpecial))]
			}
			x[i*n+c] = v
		}
	}
	return x
}

// normStats returns mean and invstd of X as bn_stats computes them (from the twin),
// each with ewkPad garbage past n.
func normStats(r *rand.Rand, x []float32, m, n int, eps float32) (mean, invstd []float32) {
	mean, invstd = ewkGarbage(r, n), ewkGarbage(r, n)
	if m > 0 {
		cpu.BnStats(x, mean, invstd, nil, nil, m, n, eps, 0.1)
	}
	return mean, invstd
}

// normOpt returns s as a kernel argument, or nil (a null pointer) when null is set.
func normOpt(s []float32, null bool) any {
	if null {
		return nil
	}
	return s
}

func init() {
	register("bn_stats", func(r *rand.Rand) []Case {
		var cs []Case
		for si, s := range normShapes {
			for _, nulls := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
				if s.m*s.n > 1000 && nulls != [2]bool{false, false} {
					continue // the big shape once
				}
				eps, mom := float32(1e-5), float32(0.1)
				switch (si + 3*boolInt(nulls[0])) % 5 {
				case 1:
					eps = 0 // constant column: invstd = 1/sqrt(0) = +Inf
				case 2:
					mom = 1
				case 3:
					eps, mom = 1e-3, 0
				case 4:
					mom = 0.01 // 1 - momentum rounds up to nearest (0.1's rounds down either way)
				}
				x := normBatch(r, s.m, s.n, s.bad)
				runMean, runVar := ewkInput(r, s.n, -2, 2, false), ewkInput(r, s.n, 0, 3, false)
				cs = append(cs, Case{
					Name: fmt.Sprintf("M=%d N=%d bad=%v eps=%g momentum=%g run_mean null=%v run_var null=%v",
						s.m, s.n, s.bad, eps, mom, nulls[0], nulls[1]),
					Args: cpu.KernelArgs{x, ewkGarbage(r, s.n), ewkGarbage(r, s.n), normOpt(runMean, nulls[0]),
						normOpt(runVar, nulls[1]), int64(s.m), int64(s.n), eps, mom},
					Work: s.n,
				})
			}
		}
		return cs
	})
	register("bn_fwd", func(r *rand.Rand) []Case {
		var cs []Case
		add := func(s normShape, act kernels.Act, rawStats bool) {
			x := normBatch(r, s.m, s.n, s.bad)
			mean, invstd := normStats(r, x, s.m, s.n, 1e-5)
			if rawStats {
				// Statistics that did not come from X (evaluation mode), with specials.
				mean, invstd = ewkInput(r, s.n, -3, 3, true), ewkInput(r, s.n, 0, 5, true)
			}
			gamma, beta := ewkInput(r, s.n, -2, 2, s.bad), ewkInput(r, s.n, -2, 2, s.bad)
			cs = append(cs, Case{
				Name: fmt.Sprintf("M=%d N=%d bad=%v act=%d eval stats=%v", s.m, s.n, s.bad, act, rawStats),
				Args: cpu.KernelArgs{x, mean, invstd, gamma, beta, ewkGarbage(r, s.m*s.n),
					int64(s.m), int64(s.n), int64(act)},
				Work: s.m * s.n,
			})
		}
		for i, s := range normShapes {
			if s.m*s.n > 5000 {
				add(s, kernels.ActNone, false)
				add(s, kernels.ActRelu, false)
				continue
			}
			add(s, ewkActs[i%len(ewkActs)], i%2 == 1)
		}
		for _, act := range append(ewkActs, 9, -1) { // 9, -1: unknown codes, NaN out
			add(normShape{7, 33, true}, act, false)
		}
		return cs
	})
	register("bn_bwd", func(r *rand.Rand) []Case {
		var cs []Case
		for si, s := range normShapes {
			for v := 0; v < 4; v++ {
				if s.m*s.n > 1000 && v > 0 {
					continue // the big shape once
				}
				acc := int64(v & 1)
				nullG, nullB := v == 2, v == 3
				if si%2 == 1 && v == 1 {
					nullG, nullB = true, true
				}
				x := normBatch(r, s.m, s.n, s.bad)
				mean, invstd := normStats(r, x, s.m, s.n, 1e-5)
				gamma := ewkInput(r, s.n, -2, 2, false)
				dy := ewkInput(r, s.m*s.n, -1, 1, s.bad)
				cs = append(cs, Case{
					Name: fmt.Sprintf("M=%d N=%d bad=%v accumulate=%d dgamma null=%v dbeta null=%v",
						s.m, s.n, s.bad, acc, nullG, nullB),
					Args: cpu.KernelArgs{x, mean, invstd, gamma, dy, ewkGarbage(r, s.m*s.n),
						normOpt(ewkOut(r, s.n, acc), nullG), normOpt(ewkOut(r, s.n, acc), nullB),
						int64(s.m), int64(s.n), acc},
					Work: s.n,
				})
			}
		}
		return cs
	})
	register("bn_invstd", func(r *rand.Rand) []Case {
		var cs []Case
		for _, n := range ewkSizes {
			for _, eps := range []float32{1e-5, 0, 1e-3} {
				v := ewkInput(r, n, 0, 4, true) // specials: negative (NaN), 0, +-Inf, huge
				cs = append(cs, Case{
					Name: fmt.Sprintf("n=%d eps=%g with specials", n, eps),
					Args: cpu.KernelArgs{v, ewkGarbage(r, n), int64(n), eps},
					Work: n,
				})
			}
		}
		return cs
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func init() {
	// bn_fwd: mean 0, invstd 1, gamma 1, beta 0, so that Y = act(X) exactly: each
	// smooth activation on its hard inputs (hard.go) and a sweep.
	registerSweep("bn_fwd", func(r *rand.Rand) []Case {
		var cs []Case
		for _, a := range ewkActFns {
			x := append(hardFor(a.fn, nil), hardSweep(a.fn, r, 2000, nil)...)
			const N = 16
			M := (len(x) + N - 1) / N
			X := make([]float32, M*N)
			for i := range X {
				X[i] = x[i%len(x)]
			}
			mean, invstd, gamma, beta := make([]float32, N), make([]float32, N), make([]float32, N), make([]float32, N)
			for c := 0; c < N; c++ {
				invstd[c], gamma[c] = 1, 1
			}
			cs = append(cs, sweepPair(Case{Name: fmt.Sprintf("M=%d N=%d act=%d: Y = act(X), %s's hard inputs", M, N, a.act, a.fn),
				Args: cpu.KernelArgs{X, mean, invstd, gamma, beta, ewkGarbage(r, M*N), int64(M), int64(N), int64(a.act)},
				Work: M * N, Sweep: true}, 6, 64/N)...)
		}
		return cs
	})
}
