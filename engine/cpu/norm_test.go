package cpu

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/kernels"
	"github.com/gmvae/gmvae/kernels/fmath"
)

// Tests of the batch-normalisation twins (norm.go): each twin bit for bit against a
// plain per-column transcription of its kernel's text (so the loop interchange and the
// column blocks change nothing), against a float64 reference of the formula within
// its rounding bound, the exact cases (constant column, M = 1, null pointers,
// accumulate, aliasing), the gradient of bn_stats+bn_fwd+bn_bwd against central finite
// differences, and bad values staying in their column.

// normMs and normNs are the awkward batch sizes and widths of the norm tests; normBig
// is a shape large enough for several column blocks on several goroutines.
var (
	normMs  = []int{1, 2, 3, 33, 100}
	normNs  = []int{1, 5, 500}
	normBig = [2]int{300, 1000}
)

// normShapes returns every (M, N) of normMs x normNs, then normBig.
func normShapes() [][2]int {
	var s [][2]int
	for _, m := range normMs {
		for _, n := range normNs {
			s = append(s, [2]int{m, n})
		}
	}
	return append(s, normBig)
}

// normX returns X (m, n): per column an offset and a scale 10^U(-2,2) (so that the
// mean is sometimes large next to the spread), normal values.
func normX(r *rand.Rand, m, n int) []float32 {
	x := make([]float32, m*n)
	for c := 0; c < n; c++ {
		scale := math.Pow(10, 4*r.Float64()-2)
		off := 0.0
		if c%2 == 1 {
			off = 20 * scale * r.NormFloat64()
		}
		for i := 0; i < m; i++ {
			x[i*n+c] = float32(off + scale*r.NormFloat64())
		}
	}
	return x
}

// Per-column transcriptions of the kernels (one column at a time, rows in order),
// which the twins must match bit for bit.

func normStatsSpec(x, mean, invstd, runMean, runVar []float32, m, n int, eps, mom float32) {
	for c := 0; c < n; c++ {
		var s float32
		for i := 0; i < m; i++ {
			s = s + x[i*n+c]
		}
		mu := s / float32(m)
		var q float32
		for i := 0; i < m; i++ {
			d := x[i*n+c] - mu
			q = fmath.FMA(d, d, q)
		}
		v := q / float32(m)
		mean[c] = mu
		invstd[c] = 1 / float32(math.Sqrt(float64(v+eps)))
		if runMean != nil {
			runMean[c] = fmath.FMA(mom, mu, float32((1-mom)*runMean[c]))
		}
		if runVar != nil {
			uv := v
			if m > 1 {
				uv = q / float32(m-1)
			}
			runVar[c] = fmath.FMA(mom, uv, float32((1-mom)*runVar[c]))
		}
	}
}

func normBwdSpec(x, mean, invstd, gamma, dy, dx, dgamma, dbeta []float32, m, n int, acc bool) {
	for c := 0; c < n; c++ {
		var s1, s2 float32
		for i := 0; i < m; i++ {
			g := dy[i*n+c]
			xh := float32((x[i*n+c] - mean[c]) * invstd[c])
			s1 = s1 + g
			s2 = fmath.FMA(g, xh, s2)
		}
		if dbeta != nil {
			if acc {
				dbeta[c] = dbeta[c] + s1
			} else {
				dbeta[c] = s1
			}
		}
		if dgamma != nil {
			if acc {
				dgamma[c] = dgamma[c] + s2
			} else {
				dgamma[c] = s2
			}
		}
		a := s1 / float32(m)
		bb := s2 / float32(m)
		k := float32(gamma[c] * invstd[c])
		for i := 0; i < m; i++ {
			xh := float32((x[i*n+c] - mean[c]) * invstd[c])
			t := fmath.FMA(-xh, bb, dy[i*n+c]-a)
			dx[i*n+c] = float32(k * t)
		}
	}
}

// normRef64 is the float64 reference of bn_stats: mean, biased and unbiased variance
// of every column.
func normRef64(x []float32, m, n int) (mu, v, uv []float64) {
	mu, v, uv = make([]float64, n), make([]float64, n), make([]float64, n)
	for c := 0; c < n; c++ {
		var s float64
		for i := 0; i < m; i++ {
			s += float64(x[i*n+c])
		}
		mu[c] = s / float64(m)
		var q float64
		for i := 0; i < m; i++ {
			d := float64(x[i*n+c]) - mu[c]
			q += d * d
		}
		v[c] = q / float64(m)
		uv[c] = v[c]
		if m > 1 {
			uv[c] = q / float64(m-1)
		}
	}
	return mu, v, uv
}

// TestBnStats: BnStats against the per-column transcription bit for bit (with and
// without running statistics), and against float64. Bounds, u = 2^-24, A = sum |x|:
// the mean's sequential sum and division give |dmu| <= (m+1) u A / m; the variance's
// fma chain, the rounded differences and the division give (m+4) u var, and the
// error in mu adds dmu^2 (the linear term cancels around the exact mean), so
// |dvar| <= 1.01 (m+4) u var + 2 dmu^2; invstd then has relative error
// dvar / (2 (var + eps)) + 3u; the running statistics add 3 roundings of their terms.
func TestBnStats(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for _, sh := range normShapes() {
		m, n := sh[0], sh[1]
		for _, pars := range [][2]float32{{1e-5, 0.1}, {1e-3, 1}, {0.5, 0}} {
			eps, mom := pars[0], pars[1]
			name := fmt.Sprintf("m=%d n=%d eps=%g momentum=%g", m, n, eps, mom)
			x := normX(r, m, n)
			rm0, rv0 := ewRandSlice(r, n, -2, 2), ewRandSlice(r, n, 0, 3)
			mean, invstd := ewGarbage(r, n), ewGarbage(r, n)
			rm, rv := append([]float32(nil), rm0...), append([]float32(nil), rv0...)
			BnStats(x, mean, invstd, rm, rv, m, n, eps, mom)

			wm, wi := make([]float32, n), make([]float32, n)
			wrm, wrv := append([]float32(nil), rm0...), append([]float32(nil), rv0...)
			normStatsSpec(x, wm, wi, wrm, wrv, m, n, eps, mom)
			ewRequireSame(t, wm, mean, name+": mean")
			ewRequireSame(t, wi, invstd, name+": invstd")
			ewRequireSame(t, wrm, rm, name+": run_mean")
			ewRequireSame(t, wrv, rv, name+": run_var")

			// Null running statistics: the same mean and invstd.
			mean2, invstd2 := ewGarbage(r, n), ewGarbage(r, n)
			BnStats(x, mean2, invstd2, nil, nil, m, n, eps, mom)
			ewRequireSame(t, mean, mean2, name+": mean, null running stats")
			ewRequireSame(t, invstd, invstd2, name+": invstd, null running stats")

			mu64, v64, uv64 := normRef64(x, m, n)
			for c := 0; c < n; c++ {
				var a float64
				for i := 0; i < m; i++ {
					a += math.Abs(float64(x[i*n+c]))
				}
				dmu := float64(m+1) * ewU * a / float64(m)
				dvar := 1.01*float64(m+4)*ewU*v64[c] + 2*dmu*dmu
				require.InDelta(t, mu64[c], float64(mean[c]), dmu, "%s: mean[%d]", name, c)
				want := 1 / math.Sqrt(v64[c]+float64(eps))
				rel := dvar/(2*(v64[c]+float64(eps))) + 3*ewU
				require.InDelta(t, want, float64(invstd[c]), rel*want, "%s: invstd[%d] (relative bound %g)", name, c, rel)
				keep := float64(1 - mom)
				wantRM := float64(mom)*mu64[c] + keep*float64(rm0[c])
				tolRM := float64(mom)*dmu + 3*ewU*(math.Abs(float64(mom)*mu64[c])+math.Abs(keep*float64(rm0[c])))
				require.InDelta(t, wantRM, float64(rm[c]), tolRM, "%s: run_mean[%d]", name, c)
				duv := dvar * float64(m) / float64(max(m-1, 1))
				wantRV := float64(mom)*uv64[c] + keep*float64(rv0[c])
				tolRV := float64(mom)*(duv+2*ewU*uv64[c]) + 3*ewU*(math.Abs(float64(mom)*uv64[c])+math.Abs(keep*float64(rv0[c])))
				require.InDelta(t, wantRV, float64(rv[c]), tolRV, "%s: run_var[%d]", name, c)
			}
		}
	}
}

// TestBnStatsExact pins what must be exact: a constant column whose sum is exact has
// mean = that value, variance 0, invstd = 1/sqrt(eps) (and +Inf with eps = 0) and the
// running variance moves towards 0; with m = 1 the running variance uses the biased
// variance (0), never 0/0.
func TestBnStatsExact(t *testing.T) {
	inv := func(eps float32) float32 { return 1 / float32(math.Sqrt(float64(eps))) }
	for _, m := range normMs {
		for _, k := range []float32{0, -2, 3.5, 1e6} {
			for _, eps := range []float32{1e-5, 0} {
				x := make([]float32, m*2)
				for i := 0; i < m; i++ {
					x[i*2] = k
					x[i*2+1] = float32(i) // a second column that varies (when m > 1)
				}
				mean, invstd := make([]float32, 2), make([]float32, 2)
				rm, rv := []float32{4, 4}, []float32{2, 2}
				BnStats(x, mean, invstd, rm, rv, m, 2, eps, 0.25)
				what := fmt.Sprintf("m=%d k=%v eps=%v", m, k, eps)
				require.Equal(t, k, mean[0], "%s: constant column: mean", what)
				require.Equal(t, inv(eps), invstd[0], "%s: constant column: invstd", what)
				require.Equal(t, fmath.FMA(0.25, k, float32(0.75*4)), rm[0], "%s: run_mean", what)
				require.Equal(t, float32(0.75*2), rv[0], "%s: run_var (variance 0)", what)
				if m == 1 {
					require.Equal(t, [3]float32{0, inv(eps), 1.5}, [3]float32{mean[1], invstd[1], rv[1]}, "%s: m = 1: (mean, invstd, run_var)", what)
				}
			}
		}
	}
	// Unbiased running variance: column 0..m-1 of m = 3 has q = 2, var = 2/3, uv = 1.
	mean, invstd, rv := make([]float32, 1), make([]float32, 1), []float32{0}
	BnStats([]float32{0, 1, 2}, mean, invstd, nil, rv, 3, 1, 0, 1)
	require.Equal(t, [3]float32{1, 1, 1 / float32(math.Sqrt(float64(float32(2)/3)))}, [3]float32{mean[0], rv[0], invstd[0]},
		"m=3 of 0,1,2: (mean, run_var, invstd)")
}

// TestBnFwd: BnFwd against its per-element definition bit for bit (every activation,
// Y aliasing X), and with ActNone against float64: xh takes two roundings and the fma
// one, |err| <= 3u (|gamma xh| + |beta|) + 2^-149.
func TestBnFwd(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	for _, sh := range normShapes() {
		m, n := sh[0], sh[1]
		x := normX(r, m, n)
		mean, invstd := make([]float32, n), make([]float32, n)
		BnStats(x, mean, invstd, nil, nil, m, n, 1e-5, 0)
		gamma, beta := ewRandSlice(r, n, -2, 2), ewRandSlice(r, n, -2, 2)
		for _, act := range append(ewActs, 9) {
			name := fmt.Sprintf("m=%d n=%d act=%d", m, n, act)
			y := ewGarbage(r, m*n)
			BnFwd(x, mean, invstd, gamma, beta, y, m, n, act)
			want := make([]float32, m*n)
			for i := range want {
				c := i % n
				xh := float32((x[i] - mean[c]) * invstd[c])
				want[i] = fmath.Activate(act, fmath.FMA(gamma[c], xh, beta[c]))
			}
			ewRequireSame(t, want, y, name)
			// In place: Y = X.
			xy := append([]float32(nil), x...)
			BnFwd(xy, mean, invstd, gamma, beta, xy, m, n, act)
			ewRequireSame(t, want, xy, name+" in place")
			if act != kernels.ActNone {
				continue
			}
			for i := range y {
				c := i % n
				xh := (float64(x[i]) - float64(mean[c])) * float64(invstd[c])
				w := float64(gamma[c])*xh + float64(beta[c])
				tol := 3*ewU*(math.Abs(float64(gamma[c])*xh)+math.Abs(float64(beta[c]))) + 0x1p-149
				require.InDelta(t, w, float64(y[i]), tol, "%s: y[%d]", name, i)
			}
		}
	}
}

// TestBnBwd: BnBwd against the per-column transcription bit for bit (accumulate on and
// off, null dgamma and dbeta, dX aliasing dY), and against the float64 formula
// dx = gamma invstd (dy - mean(dy) - xh mean(dy xh)) with the float32 mean and invstd
// as inputs. Bounds: the sums are sequential chains, |ds1| <= m u sum|dy| and
// |ds2| <= (m+2) u sum|dy xh|; dx then errs by |k| (|da| + |xh| |dbb| + 3u (|dy| +
// |a| + |xh bb|)) + 2u |dx|, with da, dbb the sums' errors over m plus a rounding.
func TestBnBwd(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for _, sh := range normShapes() {
		m, n := sh[0], sh[1]
		x := normX(r, m, n)
		mean, invstd := make([]float32, n), make([]float32, n)
		BnStats(x, mean, invstd, nil, nil, m, n, 1e-5, 0)
		gamma := ewRandSlice(r, n, -2, 2)
		dy := ewRandSlice(r, m*n, -1, 1)
		for _, acc := range []bool{false, true} {
			name := fmt.Sprintf("m=%d n=%d accumulate=%v", m, n, acc)
			g0, b0 := ewRandSlice(r, n, -1, 1), ewRandSlice(r, n, -1, 1)
			dx, dg, db := ewGarbage(r, m*n), append([]float32(nil), g0...), append([]float32(nil), b0...)
			BnBwd(x, mean, invstd, gamma, dy, dx, dg, db, m, n, acc)
			wdx, wdg, wdb := make([]float32, m*n), append([]float32(nil), g0...), append([]float32(nil), b0...)
			normBwdSpec(x, mean, invstd, gamma, dy, wdx, wdg, wdb, m, n, acc)
			ewRequireSame(t, wdx, dx, name+": dX")
			ewRequireSame(t, wdg, dg, name+": dgamma")
			ewRequireSame(t, wdb, db, name+": dbeta")

			// Null dgamma and dbeta (each, both): the same dX; dX = dY in place.
			for _, nulls := range [][2]bool{{true, false}, {false, true}, {true, true}} {
				dx2 := ewGarbage(r, m*n)
				dg2, db2 := append([]float32(nil), g0...), append([]float32(nil), b0...)
				if nulls[0] {
					dg2 = nil
				}
				if nulls[1] {
					db2 = nil
				}
				BnBwd(x, mean, invstd, gamma, dy, dx2, dg2, db2, m, n, acc)
				ewRequireSame(t, dx, dx2, fmt.Sprintf("%s: dX with null dgamma=%v dbeta=%v", name, nulls[0], nulls[1]))
				if dg2 != nil {
					ewRequireSame(t, dg, dg2, name+": dgamma with null dbeta")
				}
				if db2 != nil {
					ewRequireSame(t, db, db2, name+": dbeta with null dgamma")
				}
			}
			dxy := append([]float32(nil), dy...)
			BnBwd(x, mean, invstd, gamma, dxy, dxy, nil, nil, m, n, acc)
			ewRequireSame(t, dx, dxy, name+": dX = dY in place")

			for c := 0; c < n; c++ {
				var s1, s2, a1, a2 float64
				xh := make([]float64, m)
				for i := 0; i < m; i++ {
					xh[i] = (float64(x[i*n+c]) - float64(mean[c])) * float64(invstd[c])
					g := float64(dy[i*n+c])
					s1 += g
					s2 += g * xh[i]
					a1 += math.Abs(g)
					a2 += math.Abs(g * xh[i])
				}
				ds1, ds2 := float64(m)*ewU*a1, float64(m+2)*ewU*a2
				w1, w2 := s1, s2
				if acc {
					w1 += float64(b0[c])
					w2 += float64(g0[c])
				}
				require.InDelta(t, w1, float64(db[c]), ds1+ewU*math.Abs(w1), "%s: dbeta[%d]", name, c)
				require.InDelta(t, w2, float64(dg[c]), ds2+ewU*math.Abs(w2), "%s: dgamma[%d]", name, c)
				fm := float64(m)
				a, bb := s1/fm, s2/fm
				da, dbb := ds1/fm+ewU*math.Abs(a), ds2/fm+ewU*math.Abs(bb)
				k := float64(gamma[c]) * float64(invstd[c])
				for i := 0; i < m; i++ {
					g := float64(dy[i*n+c])
					w := k * (g - a - xh[i]*bb)
					tol := math.Abs(k)*(da+math.Abs(xh[i])*dbb+3*ewU*(math.Abs(g)+math.Abs(a)+math.Abs(xh[i]*bb))) +
						2*ewU*math.Abs(w) + 0x1p-149
					require.InDelta(t, w, float64(dx[i*n+c]), tol, "%s: dX[%d,%d]", name, i, c)
				}
			}
		}
	}
}

// normLoss64 is the float64 reference of the forward that TestBnGradients
// differentiates: batch mean and biased variance per column, y = act(gamma xh + beta),
// loss = sum w y. It also returns the pre-activations (to spot ReLU kinks).
func normLoss64(x, gamma, beta, w []float64, m, n int, act kernels.Act, eps float64) (float64, []float64) {
	pre := make([]float64, m*n)
	var loss float64
	for c := 0; c < n; c++ {
		var s float64
		for i := 0; i < m; i++ {
			s += x[i*n+c]
		}
		mu := s / float64(m)
		var q float64
		for i := 0; i < m; i++ {
			d := x[i*n+c] - mu
			q += d * d
		}
		is := 1 / math.Sqrt(q/float64(m)+eps)
		for i := 0; i < m; i++ {
			p := gamma[c]*(x[i*n+c]-mu)*is + beta[c]
			pre[i*n+c] = p
			loss += w[i*n+c] * ewAct64(act, p)
		}
	}
	return loss, pre
}

// TestBnGradients checks bn_stats + bn_fwd + bn_bwd as one function: the twins'
// gradients of loss = sum w ⊙ Y (w random; act none and ReLU, ReLU's backward by
// ActBwd) with respect to X, gamma and beta against central finite differences of the
// float64 reference (step 1e-6 times the value's scale). Bound: 2e-4 relative to the
// gradient's scale (float32 rounding of a few dozen operations, FD error ~1e-9).
// A perturbation that moves some pre-activation across ReLU's kink is skipped.
func TestBnGradients(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	const eps = 1e-5
	for _, sh := range [][2]int{{1, 3}, {2, 5}, {3, 5}, {33, 5}, {100, 1}} {
		for _, act := range []kernels.Act{kernels.ActNone, kernels.ActRelu} {
			m, n := sh[0], sh[1]
			name := fmt.Sprintf("m=%d n=%d act=%d", m, n, act)
			x := normX(r, m, n)
			gamma, beta := ewRandSlice(r, n, 0.5, 2), ewRandSlice(r, n, -1, 1)
			w := ewRandSlice(r, m*n, -1, 1)

			// Forward and backward with the twins.
			mean, invstd := make([]float32, n), make([]float32, n)
			BnStats(x, mean, invstd, nil, nil, m, n, eps, 0.1)
			pre, y := make([]float32, m*n), make([]float32, m*n)
			BnFwd(x, mean, invstd, gamma, beta, pre, m, n, kernels.ActNone)
			BnFwd(x, mean, invstd, gamma, beta, y, m, n, act)
			ewRequireSame(t, func() []float32 { s := make([]float32, m*n); ActFwd(pre, s, m*n, act); return s }(), y, name+": bn_fwd's activation")
			dpre := make([]float32, m*n)
			ActBwd(pre, y, w, dpre, m*n, act, false)
			dx, dg, db := make([]float32, m*n), make([]float32, n), make([]float32, n)
			BnBwd(x, mean, invstd, gamma, dpre, dx, dg, db, m, n, false)

			to64 := func(s []float32) []float64 {
				d := make([]float64, len(s))
				for i, v := range s {
					d[i] = float64(v)
				}
				return d
			}
			x64, g64, b64, w64 := to64(x), to64(gamma), to64(beta), to64(w)
			_, pre0 := normLoss64(x64, g64, b64, w64, m, n, act, eps)
			skipped, checked := 0, 0
			// check compares got with the finite differences over v; h is the step's
			// scale and mag the gradient's scale at element i.
			check := func(what string, v []float64, got []float32, h, mag func(i int) float64) {
				for i := range v {
					save := v[i]
					hi := 1e-6 * math.Max(math.Abs(save), h(i))
					v[i] = save + hi
					lp, prep := normLoss64(x64, g64, b64, w64, m, n, act, eps)
					v[i] = save - hi
					lm, prem := normLoss64(x64, g64, b64, w64, m, n, act, eps)
					v[i] = save
					if act == kernels.ActRelu {
						kink := false
						for j := range pre0 {
							kink = kink || (prep[j] > 0) != (pre0[j] > 0) || (prem[j] > 0) != (pre0[j] > 0)
						}
						if kink {
							skipped++
							continue
						}
					}
					checked++
					fd := (lp - lm) / (2 * hi)
					// LessOrEqual fails on a NaN error, as !(err <= bound) did.
					require.LessOrEqual(t, math.Abs(float64(got[i])-fd), 2e-4*(math.Abs(fd)+mag(i)), "%s: %s[%d] = %v, finite difference %v", name, what, i, got[i], fd)
				}
			}
			// Scales: dX is |gamma| invstd times terms of size |w| <= 1 (three of them);
			// dgamma and dbeta are sums of m terms of size |w| |xh| and |w|.
			check("dX", x64, dx, func(i int) float64 { return 1 / float64(invstd[i%n]) },
				func(i int) float64 { return 3 * math.Abs(float64(gamma[i%n])) * float64(invstd[i%n]) })
			check("dgamma", g64, dg, func(int) float64 { return 1 }, func(int) float64 { return float64(m) })
			check("dbeta", b64, db, func(int) float64 { return 1 }, func(int) float64 { return float64(m) })
			t.Logf("%s: %d finite differences checked, %d skipped at ReLU kinks", name, checked, skipped)
			assert.LessOrEqual(t, skipped, checked/10, "%s: finite differences that crossed a ReLU kink (of %d)", name, skipped+checked)
		}
	}
}

// TestBnBadValues: NaN and ±Inf in X or dY stay in their column. Bad X: that
// column's invstd, running variance, Y, dX and dgamma are NaN, its mean and running
// mean NaN (NaN, or Inf of both signs) or ±Inf (Inf of one sign); its dbeta = sum dY
// does not read X and is unchanged. Bad dY: that column's dX, dgamma, dbeta are NaN or
// ±Inf. Every other column has the bits of a run without the bad values. No panic.
func TestBnBadValues(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	const m, n = 7, 5
	type plant struct {
		vals     []float32 // planted at rows 1, 4, ... of column 2
		meanWant float64   // 0: NaN; else the sign of the Inf mean
	}
	for _, p := range []plant{
		{[]float32{ewNaN}, 0},
		{[]float32{ewInf}, 1},
		{[]float32{ewNInf, ewNInf}, -1},
		{[]float32{ewInf, ewNInf}, 0},
	} {
		clean := normX(r, m, n)
		x := append([]float32(nil), clean...)
		for j, v := range p.vals {
			x[(1+3*j)*n+2] = v
		}
		name := fmt.Sprintf("X column 2 holds %v", p.vals)
		gamma, beta := ewRandSlice(r, n, -2, 2), ewRandSlice(r, n, -2, 2)
		dy := ewRandSlice(r, m*n, -1, 1)
		run := func(x, dy []float32) (st, y, dx, dg, db []float32) {
			mean, invstd, rm, rv := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
			BnStats(x, mean, invstd, rm, rv, m, n, 1e-5, 0.1)
			y = make([]float32, m*n)
			BnFwd(x, mean, invstd, gamma, beta, y, m, n, kernels.ActRelu)
			dx, dg, db = make([]float32, m*n), make([]float32, n), make([]float32, n)
			BnBwd(x, mean, invstd, gamma, dy, dx, dg, db, m, n, false)
			return append(append(append(mean, invstd...), rm...), rv...), y, dx, dg, db
		}
		st0, y0, dx0, dg0, db0 := run(clean, dy)
		st, y, dx, dg, db := run(x, dy)
		for c := 0; c < n; c++ {
			for i := 0; i < m; i++ {
				for _, pr := range [][3]any{{"Y", y0, y}, {"dX", dx0, dx}} {
					want, got := pr[1].([]float32)[i*n+c], pr[2].([]float32)[i*n+c]
					if c == 2 {
						require.True(t, got != got, "%s: %s[%d,%d] = %v, want NaN", name, pr[0], i, c, got)
					} else {
						require.True(t, ewSame(want, got), "%s: %s[%d,%d] = %v, want %v (column unaffected; bits, NaN as a class)", name, pr[0], i, c, got, want)
					}
				}
			}
			for s := 0; s < 4; s++ {
				got := st[s*n+c]
				switch {
				case c != 2:
					require.True(t, ewSame(st0[s*n+c], got), "%s: statistic %d of column %d changed: %v, want %v (bits, NaN as a class)", name, s, c, got, st0[s*n+c])
				case s == 0 || s == 2: // mean, run_mean
					if p.meanWant == 0 {
						require.True(t, got != got, "%s: statistic %d of column 2 = %v, want NaN", name, s, got)
					} else {
						require.True(t, math.IsInf(float64(got), int(p.meanWant)), "%s: statistic %d of column 2 = %v, want the infinity of sign %v", name, s, got, p.meanWant)
					}
				default: // invstd, run_var
					require.True(t, got != got, "%s: statistic %d of column 2 = %v, want NaN", name, s, got)
				}
			}
			// dbeta = sum dY never reads X; dgamma = sum dY xh is NaN in column 2.
			if c == 2 {
				require.True(t, dg[c] != dg[c], "%s: dgamma of column 2 = %v, want NaN", name, dg[c])
			} else {
				require.True(t, ewSame(dg0[c], dg[c]), "%s: dgamma of column %d changed: %v, want %v", name, c, dg[c], dg0[c])
			}
			require.True(t, ewSame(db0[c], db[c]), "%s: dbeta of column %d changed: %v, want %v", name, c, db[c], db0[c])
		}
	}
	// NaN or Inf in dY: that column's gradients are non-finite, the others unchanged.
	for _, bad := range []float32{ewNaN, ewInf, ewNInf} {
		x := normX(r, m, n)
		mean, invstd := make([]float32, n), make([]float32, n)
		BnStats(x, mean, invstd, nil, nil, m, n, 1e-5, 0)
		gamma, dy := ewRandSlice(r, n, 0.5, 2), ewRandSlice(r, m*n, -1, 1)
		dx0, dg0, db0 := make([]float32, m*n), make([]float32, n), make([]float32, n)
		BnBwd(x, mean, invstd, gamma, dy, dx0, dg0, db0, m, n, false)
		dy[3*n+1] = bad
		dx, dg, db := make([]float32, m*n), make([]float32, n), make([]float32, n)
		BnBwd(x, mean, invstd, gamma, dy, dx, dg, db, m, n, false)
		for c := 0; c < n; c++ {
			if c == 1 {
				require.True(t, math.IsNaN(float64(db[c])) || math.IsInf(float64(db[c]), 0), "dY holds %v: dbeta[1] = %v, want non-finite", bad, db[c])
				for i := 0; i < m; i++ {
					v := float64(dx[i*n+c])
					require.True(t, math.IsNaN(v) || math.IsInf(v, 0), "dY holds %v: dX[%d,1] = %v, want non-finite", bad, i, v)
				}
				continue
			}
			require.True(t, ewSame(dg0[c], dg[c]), "dY holds %v: column %d's dgamma changed: %v, want %v", bad, c, dg[c], dg0[c])
			require.True(t, ewSame(db0[c], db[c]), "dY holds %v: column %d's dbeta changed: %v, want %v", bad, c, db[c], db0[c])
			for i := 0; i < m; i++ {
				require.True(t, ewSame(dx0[i*n+c], dx[i*n+c]), "dY holds %v: dX[%d,%d] changed: %v, want %v", bad, i, c, dx[i*n+c], dx0[i*n+c])
			}
		}
	}
}

// TestBnInvstd: BnInvstd against float64 (three correctly rounded steps: relative
// error <= 3u, or exact specials: v < -eps gives NaN, +Inf gives +0, v + eps = ±0
// gives +Inf (-0 + +0 = +0), NaN gives NaN), and in place (invstd aliasing v).
func TestBnInvstd(t *testing.T) {
	r := rand.New(rand.NewSource(6))
	for _, n := range ewSizes {
		for _, eps := range []float32{1e-5, 0} {
			v := ewRandSlice(r, n, 0, 10)
			for i := range v {
				if r.Intn(4) == 0 {
					v[i] *= float32(math.Pow(10, 30*r.Float64()-15))
				}
			}
			out := ewGarbage(r, n)
			BnInvstd(v, out, n, eps)
			for i := range v {
				want := 1 / math.Sqrt(float64(v[i]+eps))
				if !(math.IsInf(want, 1) && math.IsInf(float64(out[i]), 1)) {
					// LessOrEqual fails on a NaN error, as !(err <= bound) did.
					require.LessOrEqual(t, math.Abs(float64(out[i])-want), 3*ewU*want, "n=%d eps=%v: invstd(%v) = %v, want %v", n, eps, v[i], out[i], want)
				}
			}
			in := append([]float32(nil), v...)
			BnInvstd(in, in, n, eps)
			ewRequireSame(t, out, in, "BnInvstd in place")
		}
	}
	v := []float32{-1, ewInf, 0, ewNegZ, ewNaN}
	out := make([]float32, len(v))
	BnInvstd(v, out, len(v), 0)
	want := []float32{ewNaN, 0, ewInf, ewInf, ewNaN}
	ewRequireSame(t, want, out, "BnInvstd specials")
}

// TestBnTwins runs the registered twins through KernelArgs (the kernels' parameter
// order), with nil for null pointers, and checks that short slices panic.
func TestBnTwins(t *testing.T) {
	f := func(name string) Twin {
		tw, err := TwinOf(name)
		require.NoError(t, err)
		return tw
	}
	// X = [[1, 2], [3, 6]]: means 2, 4; biased variances 1, 4; unbiased 2, 8.
	x := []float32{1, 2, 3, 6}
	mean, invstd, rm, rv := make([]float32, 2), make([]float32, 2), []float32{0, 0}, []float32{1, 1}
	f("bn_stats")(KernelArgs{x, mean, invstd, rm, rv, int64(2), int64(2), float32(0), float32(0.5)})
	ewRequireSame(t, []float32{2, 4}, mean, "bn_stats mean")
	ewRequireSame(t, []float32{1, 0.5}, invstd, "bn_stats invstd")
	ewRequireSame(t, []float32{1, 2}, rm, "bn_stats run_mean")
	ewRequireSame(t, []float32{1.5, 4.5}, rv, "bn_stats run_var")
	f("bn_stats")(KernelArgs{x, mean, invstd, nil, nil, int64(2), int64(2), float32(0), float32(0.5)})

	y := make([]float32, 4)
	f("bn_fwd")(KernelArgs{x, mean, invstd, []float32{2, 1}, []float32{10, 0}, y, int64(2), int64(2), int64(kernels.ActRelu)})
	ewRequireSame(t, []float32{8, 0, 12, 1}, y, "bn_fwd")

	dx, dg, db := make([]float32, 4), []float32{1, 1}, []float32{1, 1}
	f("bn_bwd")(KernelArgs{x, mean, invstd, []float32{2, 1}, []float32{1, 0, 3, 1}, dx, dg, db, int64(2), int64(2), int64(1)})
	// Column 0: xh = -1, 1; s1 = 4, s2 = 2; a = 2, bb = 1; k = 2: dX = 2*(1-2+1), 2*(3-2-1) = 0, 0.
	// Column 1: xh = -1, 1; s1 = 1, s2 = 1; a = bb = 0.5; k = 0.5: dX = 0.5*(0-0.5+0.5), 0.5*(1-0.5-0.5) = 0, 0.
	ewRequireSame(t, []float32{0, 0, 0, 0}, dx, "bn_bwd dX")
	ewRequireSame(t, []float32{3, 2}, dg, "bn_bwd dgamma (accumulated)")
	ewRequireSame(t, []float32{5, 2}, db, "bn_bwd dbeta (accumulated)")
	f("bn_bwd")(KernelArgs{x, mean, invstd, []float32{2, 1}, []float32{1, 0, 3, 1}, dx, nil, nil, int64(2), int64(2), int64(0)})

	v := []float32{3, 0.25}
	f("bn_invstd")(KernelArgs{v, v, int64(2), float32(1)})
	ewRequireSame(t, []float32{0.5, float32(1 / math.Sqrt(1.25))}, v, "bn_invstd in place")

	for _, c := range []struct {
		name string
		call func()
	}{
		{"BnStats short x", func() { BnStats(make([]float32, 5), make([]float32, 3), make([]float32, 3), nil, nil, 2, 3, 0, 0) }},
		{"BnStats short run_var", func() {
			BnStats(make([]float32, 6), make([]float32, 3), make([]float32, 3), nil, make([]float32, 2), 2, 3, 0, 0)
		}},
		{"BnFwd short beta", func() {
			BnFwd(make([]float32, 6), make([]float32, 3), make([]float32, 3), make([]float32, 3), make([]float32, 2), make([]float32, 6), 2, 3, 0)
		}},
		{"BnBwd short dX", func() {
			BnBwd(make([]float32, 6), make([]float32, 3), make([]float32, 3), make([]float32, 3), make([]float32, 6), make([]float32, 5), nil, nil, 2, 3, false)
		}},
		{"BnBwd short dgamma", func() {
			BnBwd(make([]float32, 6), make([]float32, 3), make([]float32, 3), make([]float32, 3), make([]float32, 6), make([]float32, 6), make([]float32, 1), nil, 2, 3, false)
		}},
		{"BnInvstd short", func() { BnInvstd(make([]float32, 3), make([]float32, 2), 3, 0) }},
		{"BnStats negative m", func() { BnStats(nil, nil, nil, nil, nil, -1, 0, 0, 0) }},
	} {
		assert.Panics(t, c.call, c.name)
	}
}

// BenchmarkBn times one training step's batch normalisation at M = 100, N = 500:
// statistics, forward, backward.
func BenchmarkBn(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	const m, n = 100, 500
	x := normX(r, m, n)
	mean, invstd, rm, rv := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	gamma, beta := ewRandSlice(r, n, 0.5, 2), ewRandSlice(r, n, -1, 1)
	y, dy, dx, dg, db := make([]float32, m*n), ewRandSlice(r, m*n, -1, 1), make([]float32, m*n), make([]float32, n), make([]float32, n)
	for _, k := range []struct {
		name string
		f    func()
	}{
		{"stats", func() { BnStats(x, mean, invstd, rm, rv, m, n, 1e-5, 0.1) }},
		{"fwd", func() { BnFwd(x, mean, invstd, gamma, beta, y, m, n, kernels.ActRelu) }},
		{"bwd", func() { BnBwd(x, mean, invstd, gamma, dy, dx, dg, db, m, n, true) }},
	} {
		b.Run(k.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				k.f()
			}
		})
	}
}
