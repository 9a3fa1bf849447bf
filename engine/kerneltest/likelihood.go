package kerneltest

import (
	"fmt"
	"math"
	"math/rand"

	"github.com/gmvae/gmvae/engine/cpu"
)

// Cases of the likelihood family (kernels/likelihood.cu), on the shapes of ewkShapes
// plus an MNIST-width row: binary and fractional x, logits of small and huge spread
// with ±100, ±Inf and NaN planted; Gaussian rows with x == mu, lv = ±90, ±200, ±Inf
// and NaN planted. Buffers padded and outputs pre-filled as in elementwise.go.

// lkkShapes adds an MNIST-width row to ewkShapes.
var lkkShapes = append(append([][2]int(nil), ewkShapes...), [2]int{1, 784})

// lkkBern returns x (binary, or fractional when frac) and logits of the given spread,
// with specials planted in the logits when bad.
func lkkBern(r *rand.Rand, n int, frac, bad bool, spread float64) (x, l []float32) {
	x, l = ewkGarbage(r, n), ewkGarbage(r, n)
	special := []float32{100, -100, 30, -30, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 0}
	for i := 0; i < n; i++ {
		if frac {
			x[i] = float32(r.Float64())
		} else {
			x[i] = float32(r.Intn(2))
		}
		l[i] = float32(spread * r.NormFloat64())
		if bad && r.Intn(7) == 0 {
			l[i] = special[r.Intn(len(special))]
		}
	}
	if bad && n > 0 && r.Intn(2) == 0 {
		x[r.Intn(n)] = float32(math.NaN())
	}
	return x, l
}

// lkkGauss returns x, mu, lv for n elements with x == mu and extreme lv planted when
// bad.
func lkkGauss(r *rand.Rand, n int, bad bool) (x, mu, lv []float32) {
	x, mu, lv = ewkInput(r, n, -3, 3, false), ewkInput(r, n, -3, 3, false), ewkInput(r, n, -6, 6, false)
	special := []float32{90, -90, 200, -200, 300, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())}
	for i := 0; bad && i < n; i++ {
		switch r.Intn(8) {
		case 0:
			mu[i] = x[i]
		case 1:
			lv[i] = special[r.Intn(len(special))]
		case 2:
			mu[i] = x[i]
			lv[i] = special[r.Intn(len(special))]
		}
	}
	return x, mu, lv
}

func init() {
	register("bernoulli_loglik", func(r *rand.Rand) []Case {
		var cs []Case
		for _, sh := range append(append([][2]int(nil), ewkBwdShapes...), [2]int{1, 784}) {
			rows, cols := sh[0], sh[1]
			for _, v := range []struct {
				frac, bad bool
				spread    float64
			}{{false, false, 3}, {false, true, 50}, {true, true, 50}} {
				if cols > 300 && !v.bad {
					continue // the wide row once, with specials
				}
				x, l := lkkBern(r, rows*cols, v.frac, v.bad, v.spread)
				cs = append(cs, Case{Name: fmt.Sprintf("rows=%d cols=%d fractional=%v specials=%v", rows, cols, v.frac, v.bad),
					Args: cpu.KernelArgs{x, l, ewkGarbage(r, rows), int64(rows), int64(cols)}, Work: rows})
			}
		}
		return cs
	})
	register("bernoulli_loglik_bwd", func(r *rand.Rand) []Case {
		var cs []Case
		for _, sh := range ewkBwdShapes {
			rows, cols := sh[0], sh[1]
			for _, acc := range []int64{0, 1} {
				for _, bad := range []bool{acc == 0} { // overwrite with specials, accumulate without
					x, l := lkkBern(r, rows*cols, !bad, bad, 20)
					cs = append(cs, Case{Name: fmt.Sprintf("rows=%d cols=%d accumulate=%d specials=%v", rows, cols, acc, bad),
						Args: cpu.KernelArgs{x, l, ewkInput(r, rows, -2, 2, bad), ewkOut(r, rows*cols, acc),
							int64(rows), int64(cols), acc}, Work: rows * cols})
				}
			}
		}
		return cs
	})
	register("gaussian_loglik", func(r *rand.Rand) []Case {
		var cs []Case
		for _, sh := range lkkShapes {
			rows, cols := sh[0], sh[1]
			for _, bad := range []bool{false, true} {
				x, mu, lv := lkkGauss(r, rows*cols, bad)
				cs = append(cs, Case{Name: fmt.Sprintf("rows=%d cols=%d extreme lv=%v", rows, cols, bad),
					Args: cpu.KernelArgs{x, mu, lv, ewkGarbage(r, rows), int64(rows), int64(cols)}, Work: rows})
			}
		}
		return cs
	})
	register("gaussian_loglik_bwd", func(r *rand.Rand) []Case {
		var cs []Case
		for _, sh := range ewkBwdShapes {
			rows, cols := sh[0], sh[1]
			n := rows * cols
			for _, acc := range []int64{0, 1} {
				outsList := []string{"both"}
				if acc == 1 {
					outsList = []string{"dmu only", "dlv only"}
				}
				for _, outs := range outsList {
					x, mu, lv := lkkGauss(r, n, true)
					var dmu, dlv any = ewkOut(r, n, acc), ewkOut(r, n, acc)
					switch outs {
					case "dmu only":
						dlv = nil
					case "dlv only":
						dmu = nil
					}
					cs = append(cs, Case{Name: fmt.Sprintf("rows=%d cols=%d accumulate=%d %s, extreme lv", rows, cols, acc, outs),
						Args: cpu.KernelArgs{x, mu, lv, ewkInput(r, rows, -2, 2, false), dmu, dlv,
							int64(rows), int64(cols), acc}, Work: n})
				}
			}
		}
		return cs
	})
}

// lkkExpScale returns j such that 2^j * e^h is near 2^target: the power of two that
// brings exp(h) to a chosen magnitude exactly.
func lkkExpScale(h float32, target int) int {
	return target - int(math.Round(float64(h)*math.Log2E))
}

func init() {
	// bernoulli_loglik: single-term rows (warpRows), the live term -softplus(h) for
	// softplus's hard inputs h <= 0 and a sweep (x = 0 with l = h, or x = 1 with
	// l = -h: a = 0 and the term is -softplus(-|l|) exactly), dead terms x = 0,
	// l = -Inf (-0); then rows of random terms.
	registerSweep("bernoulli_loglik", func(r *rand.Rand) []Case {
		neg := func(x float32) bool { return x <= 0 }
		h := append(hardFor("softplus", neg), hardSweep("softplus", r, 300, neg)...)
		var cs []Case
		for _, w := range warpRowLayouts(len(h)) {
			t := w.cols / 32
			n := w.rows * w.cols
			x, l := ewkGarbage(r, n), ewkGarbage(r, n)
			for i := 0; i < n; i++ {
				x[i], l[i] = 0, float32(math.Inf(-1))
			}
			for k, at := range w.live {
				v := h[k/t]
				if k%2 == 1 {
					x[at], l[at] = 1, -v
				} else {
					l[at] = v
				}
			}
			cs = append(cs, Case{Name: fmt.Sprintf("rows=%d cols=%d: one term per row, softplus's hard inputs", w.rows, w.cols),
				Args: cpu.KernelArgs{x, l, ewkGarbage(r, w.rows), int64(w.rows), int64(w.cols)}, Work: 32 * w.rows, Sweep: true})
		}
		x, l := lkkBern(r, 64*100, true, false, 8)
		cs = append(cs, Case{Name: "rows=64 cols=100 fractional x, logits of spread 8",
			Args: cpu.KernelArgs{x, l, ewkGarbage(r, 64), int64(64), int64(100)}, Work: 64 * 32, Sweep: true})
		return cs
	})
	// bernoulli_loglik_bwd: sigmoid's hard inputs h <= 0 and a sweep, as x = 0 with
	// l = h (d = -sigmoid(h)) and x = 1 with l = -h (d = sigmoid(h)); g a power of two.
	registerSweep("bernoulli_loglik_bwd", func(r *rand.Rand) []Case {
		neg := func(x float32) bool { return x <= 0 }
		h := append(hardFor("sigmoid", neg), hardSweep("sigmoid", r, 4000, neg)...)
		const cols = 8
		rows := (2*len(h) + cols - 1) / cols
		n := rows * cols
		x, l := ewkGarbage(r, n), ewkGarbage(r, n)
		for i := 0; i < n; i++ {
			v := h[(i/2)%len(h)]
			if i%2 == 0 {
				x[i], l[i] = 0, v
			} else {
				x[i], l[i] = 1, -v
			}
		}
		c := Case{Name: fmt.Sprintf("rows=%d cols=%d: sigmoid's hard inputs", rows, cols),
			Args: cpu.KernelArgs{x, l, ewkPow2s(r, rows), ewkGarbage(r, n), int64(rows), int64(cols), int64(0)},
			Work: n, Sweep: true}
		var cs []Case
		for _, v := range sweepVariants(c, nil, 6, []int{3}) {
			cs = append(cs, sweepPair(v, 4, 64/cols)...)
		}
		return cs
	})
	// gaussian_loglik: single-term rows; the live term has lv = -2h for exp's hard
	// inputs h (and a sweep) and x - mu a power of two that makes s = (x-mu)*e^h about
	// 2^17, so that s*s dominates log(2 pi) + lv and the sum is -0.5 s^2 plus a
	// rounding: a change of e^h's last bit shows. Dead terms: x = mu = 0 and
	// lv = -log(2 pi) (t = +0).
	registerSweep("gaussian_loglik", func(r *rand.Rand) []Case {
		keep := func(x float32) bool { return x >= -77 && x <= 88.8 }
		h := append(hardFor("exp", keep), hardSweep("exp", r, 300, keep)...)
		// e^h subnormal (h in [-88.7, -87.34]): with x - mu = 2^127, s = 2^127 e^h is
		// about 1 to 4 and its rounding can still show in log(2 pi) + lv + s^2.
		sub := func(x float32) bool { return x >= -88.7 && x < -87.34 }
		hs := append(hardFor("exp", sub), hardSweep("exp", r, 300, sub)...)
		var cs []Case
		for _, w := range warpRowLayouts(len(h)) {
			t := w.cols / 32
			n := w.rows * w.cols
			x, mu, lv := ewkGarbage(r, n), ewkGarbage(r, n), ewkGarbage(r, n)
			for i := 0; i < n; i++ {
				x[i], mu[i], lv[i] = 0, 0, -1.837877
			}
			for k, at := range w.live {
				v := h[k/t]
				lv[at] = -2 * v
				x[at] = hardPow2(lkkExpScale(v, 17))
				if k%2 == 1 { // mu carries the difference's sign
					x[at], mu[at] = 0, x[at]
				}
			}
			if t == 1 { // the subnormal ones, in a few spare rows of the first layout
				extra := len(hs)
				x = append(x[:n:n], make([]float32, extra*w.cols)...)
				mu = append(mu[:n:n], make([]float32, extra*w.cols)...)
				lv = append(lv[:n:n], make([]float32, extra*w.cols)...)
				for i := n; i < len(lv); i++ {
					lv[i] = -1.837877
				}
				for i, v := range hs {
					at := n + i*w.cols
					lv[at], x[at] = -2*v, hardPow2(127)
				}
				w.rows += extra
				n = w.rows * w.cols
				x, mu, lv = append(x, ewkGarbage(r, 0)...), append(mu, ewkGarbage(r, 0)...), append(lv, ewkGarbage(r, 0)...)
			}
			cs = append(cs, Case{Name: fmt.Sprintf("rows=%d cols=%d: one term per row, exp's hard inputs", w.rows, w.cols),
				Args: cpu.KernelArgs{x, mu, lv, ewkGarbage(r, w.rows), int64(w.rows), int64(w.cols)}, Work: 32 * w.rows, Sweep: true})
		}
		return cs
	})
	// gaussian_loglik_bwd: lv = -2h for exp's hard inputs and a sweep, x - mu a power
	// of two making s about 1 (dmu = g s e^h, dlv = g (s^2 - 1)/2 show e^h's bits).
	registerSweep("gaussian_loglik_bwd", func(r *rand.Rand) []Case {
		// Down to -88.02: e^h subnormal, the power of two up to 2^127.
		keep := func(x float32) bool { return x >= -88.02 && x <= 88.8 }
		h := append(hardFor("exp", keep), hardSweep("exp", r, 4000, keep)...)
		return lkkGaussBwdSweep(r, h, (len(h)+7)/8, "exp's hard inputs")
	})

	// After the sweeps above, so that their draws stay as they were: halves of
	// subnormals (halves.go) and exp's extremes in every element (extremes.go).
	registerSweep("gaussian_loglik", lkkGaussLoglikHalves)
	registerSweep("gaussian_loglik_bwd", func(r *rand.Rand) []Case {
		h := expExtremes(r)
		return lkkGaussBwdSweep(r, h, 2*len(h), "lv at exp's extremes")
	})
}

// lkkGaussBwdSweep: gaussian_loglik_bwd on rows of 8 columns cycling through h:
// lv = -2h and x - mu a power of two making s = (x - mu) e^h about 1 where float32
// allows (the sign on x or on mu in turn), g powers of two; dmu and dlv each null in
// turn, accumulated, and with 8 rows fewer.
func lkkGaussBwdSweep(r *rand.Rand, h []float32, rows int, what string) []Case {
	const cols = 8
	n := rows * cols
	x, mu, lv := ewkGarbage(r, n), ewkGarbage(r, n), ewkGarbage(r, n)
	for i := 0; i < n; i++ {
		v := h[i%len(h)]
		lv[i] = -2 * v
		x[i], mu[i] = hardPow2(extremeScale(v, 0)), 0
		if i%2 == 1 {
			x[i], mu[i] = 0, x[i]
		}
	}
	c := Case{Name: fmt.Sprintf("rows=%d cols=%d: %s", rows, cols, what),
		Args: cpu.KernelArgs{x, mu, lv, ewkPow2s(r, rows), ewkGarbage(r, n), ewkGarbage(r, n),
			int64(rows), int64(cols), int64(0)}, Work: n, Sweep: true}
	var cs []Case
	for _, v := range sweepVariants(c, []int{4, 5}, 8, []int{4, 5}) {
		cs = append(cs, sweepPair(v, 6, 64/cols)...)
	}
	return cs
}
