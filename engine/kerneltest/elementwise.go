package kerneltest

import (
	"fmt"
	"math"
	"math/rand"

	"github.com/gmvae/gmvae/engine/cpu"
	"github.com/gmvae/gmvae/kernels"
)

// Cases of the elementwise family (kernels/elementwise.cu). Sizes: n in {0, 1, 31, 32,
// 33, 257, 1000} and (rows, cols) shapes with cols = 0, 1, 31, 32, 33, 64, 257; inputs
// carry NaN, ±Inf, ±0, subnormals and huge values; every buffer has ewkPad garbage
// elements after its n (or rows*cols) values, and outputs are pre-filled with garbage
// (accumulating outputs with finite values), so an unwritten element, a write past the
// end or a read past the end shows as a difference from the twin. The helpers here
// (prefix ewk) are shared with likelihood.go and reduce.go.

// ewkPad is how many garbage elements follow the data in every buffer.
const ewkPad = 3

// ewkSizes are the element counts of the elementwise cases.
var ewkSizes = []int{0, 1, 31, 32, 33, 257, 1000}

// ewkShapes are the (rows, cols) shapes of the row cases: one row, a few rows of
// awkward widths, K = 1 and K = 64 style widths, empty batch and empty rows.
var ewkShapes = [][2]int{{1, 1}, {1, 33}, {3, 31}, {2, 32}, {5, 33}, {3, 257}, {40, 10}, {33, 1}, {16, 64}, {0, 7}, {4, 0}}

// ewkBwdShapes are the smaller shapes of the elementwise backward cases, whose launches
// touch every element (the harness runs each case at several grids).
var ewkBwdShapes = [][2]int{{1, 1}, {1, 33}, {3, 31}, {2, 32}, {5, 33}, {1, 257}, {40, 10}, {33, 1}, {8, 64}, {0, 7}, {4, 0}}

// ewkSpecial are the values planted in inputs.
var ewkSpecial = []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0,
	float32(math.Copysign(0, -1)), 1e-45, -1e-40, 3e38, -3e38, 100, -100, 90, -90, 1, -1}

// ewkGarbage returns n+ewkPad values no kernel would write (huge negative, distinct,
// and a NaN now and then).
func ewkGarbage(r *rand.Rand, n int) []float32 {
	b := make([]float32, n+ewkPad)
	for i := range b {
		if r.Intn(8) == 0 {
			b[i] = float32(math.NaN())
		} else {
			b[i] = float32(-1e30 * (1 + r.Float64()))
		}
	}
	return b
}

// ewkInput returns n values uniform in [lo, hi) followed by ewkPad garbage values; with
// bad set, about one element in 9 is a special value.
func ewkInput(r *rand.Rand, n int, lo, hi float64, bad bool) []float32 {
	b := ewkGarbage(r, n)
	for i := 0; i < n; i++ {
		b[i] = float32(lo + (hi-lo)*r.Float64())
		if bad && r.Intn(9) == 0 {
			b[i] = ewkSpecial[r.Intn(len(ewkSpecial))]
		}
	}
	return b
}

// ewkOut returns an output buffer of n elements: garbage when it is overwritten
// (accumulate = 0), finite values to add to when it accumulates.
func ewkOut(r *rand.Rand, n int, accumulate int64) []float32 {
	if accumulate != 0 {
		return ewkInput(r, n, -2, 2, false)
	}
	return ewkGarbage(r, n)
}

// ewkProbRows returns rows of probabilities (softmax of logits of the given spread,
// with exact zeros when the spread is large) followed by ewkPad garbage values.
func ewkProbRows(r *rand.Rand, rows, cols int, spread float64) []float32 {
	p := ewkGarbage(r, rows*cols)
	l := make([]float64, cols)
	for i := 0; i < rows; i++ {
		m := math.Inf(-1)
		for c := range l {
			l[c] = spread * r.NormFloat64()
			m = math.Max(m, l[c])
		}
		var s float64
		for c := range l {
			l[c] = math.Exp(l[c] - m)
			s += l[c]
		}
		for c := range l {
			p[i*cols+c] = float32(l[c] / s)
		}
	}
	return p
}

// ewkOneLane returns rows x cols values that are zero except in the columns of one
// random lane per row (c = lane mod stride): a row's sum is then exactly that lane's
// partial, so fusing a product into the accumulation or reordering a lane's additions
// changes the result's bits instead of vanishing in the later tree (each nonzero is
// normal * 10^U(-2,2): magnitudes mix).
func ewkOneLane(r *rand.Rand, rows, cols, stride int) []float32 {
	b := ewkGarbage(r, rows*cols)
	for i := 0; i < rows; i++ {
		lane := r.Intn(stride)
		for c := 0; c < cols; c++ {
			b[i*cols+c] = 0
			if c%stride == lane {
				b[i*cols+c] = float32(r.NormFloat64() * math.Pow(10, 4*r.Float64()-2))
			}
		}
	}
	return b
}

var ewkActs = []kernels.Act{kernels.ActNone, kernels.ActRelu, kernels.ActTanh, kernels.ActSigmoid, kernels.ActSoftplus, kernels.ActExp}

func init() {
	register("act_fwd", func(r *rand.Rand) []Case {
		var cs []Case
		for _, act := range append(ewkActs, 9) { // 9: unknown code, NaN out
			for _, n := range ewkSizes {
				if act == 9 && n > 33 {
					continue
				}
				cs = append(cs, Case{
					Name: fmt.Sprintf("act=%d n=%d with specials", act, n),
					Args: cpu.KernelArgs{ewkInput(r, n, -20, 20, true), ewkGarbage(r, n), int64(n), int64(act)},
					Work: n,
				})
			}
		}
		return cs
	})
	register("act_bwd", func(r *rand.Rand) []Case {
		var cs []Case
		for _, act := range ewkActs {
			for _, n := range []int{0, 1, 33, 257} {
				for _, acc := range []int64{0, 1} {
					for _, withY := range []bool{true, false} {
						x := ewkInput(r, n, -10, 10, true)
						var y any // nil: y recomputed from x
						if withY {
							yy := ewkGarbage(r, n)
							cpu.ActFwd(x, yy, n, act)
							y = yy
						}
						cs = append(cs, Case{
							Name: fmt.Sprintf("act=%d n=%d accumulate=%d y=%v", act, n, acc, withY),
							Args: cpu.KernelArgs{x, y, ewkInput(r, n, -3, 3, true), ewkOut(r, n, acc),
								int64(n), int64(act), acc},
							Work: n,
						})
					}
				}
			}
		}
		return cs
	})
	register("ew_fill", func(r *rand.Rand) []Case {
		var cs []Case
		for _, n := range ewkSizes {
			for _, v := range []float32{0, float32(math.Copysign(0, -1)), -2.5, float32(math.NaN())} {
				cs = append(cs, Case{Name: fmt.Sprintf("n=%d value=%v", n, v),
					Args: cpu.KernelArgs{ewkGarbage(r, n), int64(n), v}, Work: n})
			}
		}
		return cs
	})
	for _, name := range []string{"ew_add", "ew_mul"} {
		register(name, func(r *rand.Rand) []Case {
			var cs []Case
			for _, n := range ewkSizes {
				cs = append(cs, Case{Name: fmt.Sprintf("n=%d with specials", n),
					Args: cpu.KernelArgs{ewkInput(r, n, -1e3, 1e3, true), ewkInput(r, n, -1e3, 1e3, true),
						ewkGarbage(r, n), int64(n)}, Work: n})
			}
			return cs
		})
	}
	register("ew_axpby", func(r *rand.Rand) []Case {
		var cs []Case
		for _, n := range ewkSizes {
			for _, ab := range [][2]float32{{0.3, 0.7}, {-1.5, 1}, {2, 0}, {1e-3, float32(math.Copysign(0, -1))}, {1, -1}} {
				y := ewkInput(r, n, -10, 10, true)
				if ab[1] == 0 {
					y = ewkGarbage(r, n) // beta = 0: y is not read
				}
				cs = append(cs, Case{Name: fmt.Sprintf("n=%d alpha=%v beta=%v", n, ab[0], ab[1]),
					Args: cpu.KernelArgs{ewkInput(r, n, -10, 10, true), y, int64(n), ab[0], ab[1]}, Work: n})
			}
		}
		return cs
	})
	register("ew_scale", func(r *rand.Rand) []Case {
		var cs []Case
		for _, n := range ewkSizes {
			for _, a := range []float32{-0.37, 0, 1e30} {
				cs = append(cs, Case{Name: fmt.Sprintf("n=%d alpha=%v", n, a),
					Args: cpu.KernelArgs{ewkInput(r, n, -10, 10, true), ewkGarbage(r, n), int64(n), a}, Work: n})
			}
		}
		return cs
	})
	register("row_scale", func(r *rand.Rand) []Case {
		var cs []Case
		for _, sh := range ewkShapes {
			rows, cols := sh[0], sh[1]
			cs = append(cs, Case{Name: fmt.Sprintf("rows=%d cols=%d with specials", rows, cols),
				Args: cpu.KernelArgs{ewkInput(r, rows*cols, -10, 10, true), ewkInput(r, rows, -3, 3, true),
					ewkGarbage(r, rows*cols), int64(rows), int64(cols)}, Work: rows * cols})
		}
		return cs
	})
	register("row_dot", func(r *rand.Rand) []Case {
		var cs []Case
		for _, sh := range ewkShapes {
			rows, cols := sh[0], sh[1]
			for _, bad := range []bool{false, true} {
				cs = append(cs, Case{Name: fmt.Sprintf("rows=%d cols=%d specials=%v", rows, cols, bad),
					Args: cpu.KernelArgs{ewkInput(r, rows*cols, -2, 2, bad), ewkInput(r, rows*cols, -2, 2, bad),
						ewkGarbage(r, rows), int64(rows), int64(cols)}, Work: rows})
			}
		}
		cs = append(cs, Case{Name: "rows=16 cols=100 one lane per row nonzero (fusion/order show)",
			Args: cpu.KernelArgs{ewkOneLane(r, 16, 100, 32), ewkInput(r, 1600, -2, 2, false),
				ewkGarbage(r, 16), int64(16), int64(100)}, Work: 16})
		return cs
	})
	register("xlogx_rows", func(r *rand.Rand) []Case {
		var cs []Case
		for _, sh := range ewkShapes {
			rows, cols := sh[0], sh[1]
			for _, spread := range []float64{1, 60} { // 60: exact zeros in p
				cs = append(cs, Case{Name: fmt.Sprintf("rows=%d cols=%d softmax spread %g", rows, cols, spread),
					Args: cpu.KernelArgs{ewkProbRows(r, rows, cols, spread), ewkGarbage(r, rows),
						int64(rows), int64(cols)}, Work: rows})
			}
			cs = append(cs, Case{Name: fmt.Sprintf("rows=%d cols=%d specials (p<0, NaN, Inf, -0)", rows, cols),
				Args: cpu.KernelArgs{ewkInput(r, rows*cols, 0, 1, true), ewkGarbage(r, rows),
					int64(rows), int64(cols)}, Work: rows})
		}
		return cs
	})
	register("xlogx_rows_bwd", func(r *rand.Rand) []Case {
		var cs []Case
		for _, sh := range ewkBwdShapes {
			rows, cols := sh[0], sh[1]
			for _, acc := range []int64{0, 1} {
				cs = append(cs, Case{Name: fmt.Sprintf("rows=%d cols=%d accumulate=%d softmax with zeros", rows, cols, acc),
					Args: cpu.KernelArgs{ewkProbRows(r, rows, cols, 60), ewkInput(r, rows, -2, 2, false),
						ewkOut(r, rows*cols, acc), int64(rows), int64(cols), acc}, Work: rows * cols})
			}
			cs = append(cs, Case{Name: fmt.Sprintf("rows=%d cols=%d specials", rows, cols),
				Args: cpu.KernelArgs{ewkInput(r, rows*cols, 0, 1, true), ewkInput(r, rows, -2, 2, true),
					ewkGarbage(r, rows*cols), int64(rows), int64(cols), int64(0)}, Work: rows * cols})
		}
		return cs
	})
	register("clamp", func(r *rand.Rand) []Case {
		var cs []Case
		for _, n := range ewkSizes {
			for _, b := range [][2]float32{{-6, 4}, {0, 0}, {float32(math.Inf(-1)), 1}} {
				x := ewkInput(r, n, -10, 10, true)
				if n >= 2 {
					x[0], x[1] = b[0], b[1] // exactly at the bounds
				}
				cs = append(cs, Case{Name: fmt.Sprintf("n=%d lo=%v hi=%v", n, b[0], b[1]),
					Args: cpu.KernelArgs{x, ewkGarbage(r, n), int64(n), b[0], b[1]}, Work: n})
			}
		}
		return cs
	})
	register("clamp_bwd", func(r *rand.Rand) []Case {
		var cs []Case
		for _, n := range ewkSizes {
			for _, acc := range []int64{0, 1} {
				x := ewkInput(r, n, -10, 10, true)
				if n >= 2 {
					x[0], x[1] = -6, 4
				}
				cs = append(cs, Case{Name: fmt.Sprintf("n=%d accumulate=%d lo=-6 hi=4", n, acc),
					Args: cpu.KernelArgs{x, ewkInput(r, n, -3, 3, true), ewkOut(r, n, acc), int64(n),
						float32(-6), float32(4), acc}, Work: n})
			}
		}
		return cs
	})
}

// ewkActFns names the math of each smooth activation (hard.go).
var ewkActFns = []struct {
	act kernels.Act
	fn  string
}{{kernels.ActTanh, "tanh"}, {kernels.ActSigmoid, "sigmoid"}, {kernels.ActSoftplus, "softplus"}, {kernels.ActExp, "exp"}}

// ewkPow2s returns n values +-2^k, k in [-3, 3]: a product with one of them is exact,
// so an upstream gradient of them passes its partner's bits through unchanged (scaled).
func ewkPow2s(r *rand.Rand, n int) []float32 {
	b := make([]float32, n)
	for i := range b {
		b[i] = float32(hardSign(r, math.Ldexp(1, r.Intn(7)-3)))
	}
	return b
}

func init() {
	// act_fwd, act_bwd: every smooth activation on its hard inputs and a sweep of
	// 4000; act_bwd with y recomputed (dy a power of two, so the derivative's bits
	// reach dx) and, for softplus, whose derivative is a sigmoid of x, with y given.
	registerSweep("act_fwd", func(r *rand.Rand) []Case {
		var cs []Case
		for _, a := range ewkActFns {
			x := append(hardFor(a.fn, nil), hardSweep(a.fn, r, 4000, nil)...)
			n := len(x)
			cs = append(cs, sweepPair(Case{Name: fmt.Sprintf("act=%d n=%d: %s's hard inputs and a sweep", a.act, n, a.fn),
				Args: cpu.KernelArgs{x, ewkGarbage(r, n), int64(n), int64(a.act)}, Work: n, Sweep: true}, 2, 64)...)
		}
		return cs
	})
	registerSweep("act_bwd", func(r *rand.Rand) []Case {
		var cs []Case
		for _, a := range ewkActFns {
			x := append(hardFor(a.fn, nil), hardSweep(a.fn, r, 4000, nil)...)
			if a.act == kernels.ActSoftplus { // the derivative is sigmoid(x)
				x = append(x, append(hardFor("sigmoid", nil), hardSweep("sigmoid", r, 4000, nil)...)...)
			}
			n := len(x)
			for _, withY := range []bool{false, true} {
				var y any
				if withY {
					yy := ewkGarbage(r, n)
					cpu.ActFwd(x, yy, n, a.act)
					y = yy
				}
				c := Case{Name: fmt.Sprintf("act=%d n=%d y=%v: %s's hard inputs and a sweep", a.act, n, withY, a.fn),
					Args: cpu.KernelArgs{x, y, ewkPow2s(r, n), ewkGarbage(r, n), int64(n), int64(a.act), int64(0)},
					Work: n, Sweep: true}
				for _, v := range sweepVariants(c, nil, 6, []int{3}) {
					cs = append(cs, sweepPair(v, 4, 64)...)
				}
			}
		}
		return cs
	})
}

func init() {
	// xlogx_rows: single-term rows (warpRows) with p = log's hard inputs and a sweep,
	// dead entries p = 0 (0 log 0 = +0).
	registerSweep("xlogx_rows", func(r *rand.Rand) []Case {
		h := append(hardFor("log", nil), hardSweep("log", r, 200, nil)...)
		var cs []Case
		for _, w := range warpRowLayouts(len(h)) {
			t := w.cols / 32
			p := make([]float32, w.rows*w.cols+ewkPad)
			for k, at := range w.live {
				p[at] = h[k/t]
			}
			cs = append(cs, Case{Name: fmt.Sprintf("rows=%d cols=%d: one term per row, log's hard inputs", w.rows, w.cols),
				Args: cpu.KernelArgs{p, ewkGarbage(r, w.rows), int64(w.rows), int64(w.cols)}, Work: 32 * w.rows, Sweep: true})
		}
		return cs
	})
	// xlogx_rows_bwd: p = log's hard inputs and a sweep, g a power of two.
	registerSweep("xlogx_rows_bwd", func(r *rand.Rand) []Case {
		h := append(hardFor("log", nil), hardSweep("log", r, 4000, nil)...)
		const cols = 16
		rows := (len(h) + cols - 1) / cols
		p := make([]float32, rows*cols+ewkPad)
		for i := 0; i < rows*cols; i++ {
			p[i] = h[i%len(h)]
		}
		c := Case{Name: fmt.Sprintf("rows=%d cols=%d: log's hard inputs", rows, cols),
			Args: cpu.KernelArgs{p, append(ewkPow2s(r, rows), 0, 0, 0), ewkGarbage(r, rows*cols), int64(rows), int64(cols), int64(0)},
			Work: rows * cols, Sweep: true}
		var cs []Case
		for _, v := range sweepVariants(c, nil, 5, []int{2}) {
			cs = append(cs, sweepPair(v, 3, 64/cols)...)
		}
		return cs
	})
}
