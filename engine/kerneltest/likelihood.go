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
