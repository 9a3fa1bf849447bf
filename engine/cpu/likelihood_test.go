package cpu

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Tests of the likelihood twins (likelihood.go). Helpers from elementwise_test.go.

// lkBernTerm64 is x*l - softplus(l) in float64, in the stable form
// (x - [l > 0])*l - log1p(exp(-|l|)) (the float64 naive form cancels for x = 1, l >> 1).
func lkBernTerm64(x, l float64) float64 {
	a := x
	if l > 0 {
		a = x - 1
	}
	t := -math.Log1p(math.Exp(-math.Abs(l)))
	if a != 0 {
		t += a * l
	}
	return t
}

// lkBernData returns x (binary, or fractional when frac) and logits ~ N(0, scale^2).
func lkBernData(r *rand.Rand, n int, frac bool, scale float64) (x, l []float32) {
	x, l = make([]float32, n), make([]float32, n)
	for i := range x {
		if frac {
			x[i] = float32(r.Float64())
		} else {
			x[i] = float32(r.Intn(2))
		}
		l[i] = float32(scale * r.NormFloat64())
	}
	return x, l
}

// TestBernoulliLoglik: against the float64 stable form. For x in [0,1] every term is
// <= 0, so sum|t| = |sum| and the bound is relative: ewSumBound with termUlps = 6
// (softplus's few ulps, the x-1 rounding, the fma). Logits up to ±100, binary and
// fractional x, awkward shapes.
func TestBernoulliLoglik(t *testing.T) {
	r := rand.New(rand.NewSource(11))
	for _, rows := range []int{0, 1, 5, 40} {
		for _, cols := range append(ewSizes, 784) {
			for _, frac := range []bool{false, true} {
				for _, scale := range []float64{1, 8, 100} {
					x, l := lkBernData(r, rows*cols, frac, scale)
					if len(l) > 4 {
						l[0], l[1], l[2], l[3] = 100, -100, 30, -30
					}
					out := ewGarbage(r, rows)
					BernoulliLoglik(x, l, out, rows, cols)
					for row := 0; row < rows; row++ {
						var ref, abs float64
						for c := 0; c < cols; c++ {
							v := lkBernTerm64(float64(x[row*cols+c]), float64(l[row*cols+c]))
							ref += v
							abs += math.Abs(v)
						}
						require.InDelta(t, ref, float64(out[row]), ewSumBound(cols, 6, abs), "rows=%d cols=%d frac=%v scale=%g row %d",
							rows, cols, frac, scale, row)
					}
				}
			}
		}
	}
}

// TestBernoulliLoglikBadValues pins the special cases (same on the GPU): infinite
// logits give the exact limits, never NaN; NaN in x or l gives NaN; confident correct
// predictions keep their tiny log-likelihood instead of rounding to 0.
func TestBernoulliLoglikBadValues(t *testing.T) {
	tests := []struct {
		x, l float32
		want float32
	}{
		{1, ewInf, 0},
		{0, ewNInf, 0},
		{0, ewInf, ewNInf},
		{1, ewNInf, ewNInf},
		{0.5, ewInf, ewNInf},
		{0.5, ewNInf, ewNInf},
		{ewNaN, 1, ewNaN},
		{0, ewNaN, ewNaN},
		{1, ewNaN, ewNaN},
		{1, 100, float32(-math.Exp(-100))}, // subnormal, exact to the last bit here
		{0, -100, float32(-math.Exp(-100))},
		{0, 100, -100},
		{1, -100, -100},
		{1, 0, float32(-math.Ln2)},
	}
	for _, tt := range tests {
		out := []float32{-9}
		BernoulliLoglik([]float32{tt.x}, []float32{tt.l}, out, 1, 1)
		if tt.want != tt.want {
			assert.True(t, out[0] != out[0], "x=%v l=%v: got %v, want NaN", tt.x, tt.l, out[0])
			continue
		}
		e := ewUlpErr(out[0], float64(tt.want))
		if math.IsInf(float64(tt.want), 0) || tt.want == 0 {
			e = 0
			if out[0] != tt.want {
				e = math.Inf(1)
			}
		}
		assert.LessOrEqual(t, e, 2.0, "x=%v l=%v: got %v, want %v", tt.x, tt.l, out[0], tt.want)
	}
	// x = 1, l = 30: log sigmoid(30) = -9.36e-14, kept to a few ulps.
	out := []float32{0}
	BernoulliLoglik([]float32{1}, []float32{30}, out, 1, 1)
	assert.LessOrEqual(t, ewUlpErr(out[0], -math.Log1p(math.Exp(-30))), 4.0, "got %v", out[0])
}

// TestBernoulliLoglikBwd: dl = g (x - sigmoid(l)) against central differences of the
// float64 forward (|err| <= 1e-5 |dl| + 1e-6 |g|); confident predictions keep their
// gradient (x = 1, l = 30 gives g*sigmoid(-30) to a few ulps); ±Inf logits give x-1 or
// x; NaN gives NaN; accumulate adds last.
func TestBernoulliLoglikBwd(t *testing.T) {
	r := rand.New(rand.NewSource(12))
	for _, rows := range []int{0, 1, 5, 40} {
		for _, cols := range ewSizes {
			for _, frac := range []bool{false, true} {
				x, l := lkBernData(r, rows*cols, frac, 6)
				g := ewRandSlice(r, rows, -2, 2)
				dl := ewGarbage(r, rows*cols)
				BernoulliLoglikBwd(x, l, g, dl, rows, cols, false)
				for i := range dl {
					gr, xi := float64(g[i/cols]), float64(x[i])
					fd := ewFD(func(v float64) float64 { return lkBernTerm64(xi, v) }, float64(l[i]))
					ewGradClose(t, dl[i], gr*fd, 1e-5, 1e-6*math.Abs(gr), fmt.Sprintf("x=%v l=%v", x[i], l[i]))
				}
				old := ewRandSlice(r, rows*cols, -1, 1)
				acc := append([]float32(nil), old...)
				BernoulliLoglikBwd(x, l, g, acc, rows, cols, true)
				for i := range acc {
					require.True(t, ewSame(old[i]+dl[i], acc[i]), "accumulate")
				}
			}
		}
	}
	x := []float32{1, 0, 1, 0, 0.25, 1, ewNaN}
	l := []float32{30, -30, ewInf, ewInf, ewNInf, ewNaN, 0}
	dl := ewGarbage(r, len(x))
	BernoulliLoglikBwd(x, l, []float32{2}, dl, 1, len(x), false)
	s30 := 2 / (1 + math.Exp(30))
	assert.LessOrEqual(t, ewUlpErr(dl[0], s30), 4.0, "x=1 l=30: got %v want %v", dl[0], s30)
	assert.LessOrEqual(t, ewUlpErr(dl[1], -s30), 4.0, "x=0 l=-30: got %v want %v", dl[1], -s30)
	assert.Equal(t, []float32{0, -2, 0.5}, dl[2:5])
	assert.True(t, dl[5] != dl[5] && dl[6] != dl[6], "NaN gives NaN")
}

// lkGaussTerm64 is log(2 pi) + lv + (x-mu)^2 exp(-lv) in float64.
func lkGaussTerm64(x, mu, lv float64) float64 {
	d := x - mu
	return math.Log(2*math.Pi) + lv + d*d*math.Exp(-lv)
}

// TestGaussianLoglik: against float64. Terms mix signs (lv < 0), so the bound is
// relative to the sum of the magnitudes of the pieces: ewSumBound(cols, 8, sum_c
// |log 2pi| + |lv| + s^2) / 2 (termUlps = 8: the rounded constant log 2pi, the add,
// exp's ulp doubled by the square, the two products, the fma).
func TestGaussianLoglik(t *testing.T) {
	r := rand.New(rand.NewSource(13))
	for _, rows := range []int{0, 1, 5, 40} {
		for _, cols := range append(ewSizes, 784) {
			for _, lvScale := range []float64{0.5, 4, 30} {
				n := rows * cols
				x := ewRandSlice(r, n, -3, 3)
				mu := ewRandSlice(r, n, -3, 3)
				lv := ewRandSlice(r, n, -lvScale, lvScale)
				if n > 3 {
					mu[0] = x[0] // exact mean
					lv[1], lv[2] = 90, -20
				}
				out := ewGarbage(r, rows)
				GaussianLoglik(x, mu, lv, out, rows, cols)
				for row := 0; row < rows; row++ {
					var ref, mag float64
					for c := 0; c < cols; c++ {
						i := row*cols + c
						xi, mi, li := float64(x[i]), float64(mu[i]), float64(lv[i])
						ref += lkGaussTerm64(xi, mi, li)
						mag += math.Log(2*math.Pi) + math.Abs(li) + (xi-mi)*(xi-mi)*math.Exp(-li)
					}
					ref *= -0.5
					require.InDelta(t, ref, float64(out[row]), 0.5*ewSumBound(cols, 8, mag), "rows=%d cols=%d lv±%g row %d",
						rows, cols, lvScale, row)
				}
			}
		}
	}
}

// TestGaussianLoglikBadValues pins huge/tiny/infinite log-variances, x == mu and NaN
// (the GPU computes the same; documented in likelihood.cu).
func TestGaussianLoglikBadValues(t *testing.T) {
	l2p := math.Log(2 * math.Pi)
	tests := []struct {
		name      string
		x, mu, lv float32
		want      float64 // float64 value; ±Inf and NaN exact
	}{
		{"lv=+90", 1, 0, 90, -0.5 * lkGaussTerm64(1, 0, 90)},
		{"lv=-90 x==mu", 0.5, 0.5, -90, -0.5 * (l2p - 90)},
		{"lv=-90 tiny d", 1e-20, 0, -90, -0.5 * lkGaussTerm64(float64(float32(1e-20)), 0, -90)},
		{"lv=-90 d=1 overflows", 1, 0, -90, math.Inf(-1)},
		{"lv=-200 x==mu", 3, 3, -200, -0.5 * (l2p - 200)},
		{"lv=-200 x!=mu", 3, 2, -200, math.Inf(-1)},
		{"lv=300 (h=0)", 1e30, 0, 300, -0.5 * (l2p + 300)},
		{"lv=+Inf", 1, 0, ewInf, math.Inf(-1)},
		{"lv=-Inf x==mu", 1, 1, ewNInf, math.Inf(1)},
		{"lv=-Inf x!=mu", 1, 0, ewNInf, math.NaN()},
		{"x=+Inf", ewInf, 0, 0, math.Inf(-1)},
		{"x=NaN", ewNaN, 0, 0, math.NaN()},
		{"mu=NaN", 0, ewNaN, 0, math.NaN()},
		{"lv=NaN", 0, 0, ewNaN, math.NaN()},
	}
	for _, tt := range tests {
		out := []float32{-9}
		GaussianLoglik([]float32{tt.x}, []float32{tt.mu}, []float32{tt.lv}, out, 1, 1)
		e := ewUlpErr(out[0], tt.want)
		assert.LessOrEqual(t, e, 16.0, "%s: got %v, want %v", tt.name, out[0], tt.want)
	}
	// One NaN poisons its row only.
	x := []float32{0, 0, 0, 0}
	lv := []float32{0, ewNaN, 0, 0}
	out := []float32{-9, -9}
	GaussianLoglik(x, make([]float32, 4), lv, out, 2, 2)
	assert.True(t, out[0] != out[0])
	assert.InDelta(t, -float64(l2p), float64(out[1]), 1e-6)
}

// TestGaussianLoglikBwd: dmu and dlv against central differences of the float64 forward
// (|err| <= 1e-4 |grad| + 1e-5 |g| (1 + s^2): exp's few ulps enter squared, and the
// dlv fma cancels near s^2 = 1); nil outputs; accumulate adds last; x == mu with an
// infinite h gives dmu = 0 and dlv = -g/2, never NaN.
func TestGaussianLoglikBwd(t *testing.T) {
	r := rand.New(rand.NewSource(14))
	for _, rows := range []int{0, 1, 5, 40} {
		for _, cols := range ewSizes {
			n := rows * cols
			x := ewRandSlice(r, n, -3, 3)
			mu := ewRandSlice(r, n, -3, 3)
			lv := ewRandSlice(r, n, -5, 5)
			g := ewRandSlice(r, rows, -2, 2)
			dmu, dlv := ewGarbage(r, n), ewGarbage(r, n)
			GaussianLoglikBwd(x, mu, lv, g, dmu, dlv, rows, cols, false)
			for i := 0; i < n; i++ {
				gr := float64(g[i/cols])
				xi, mi, li := float64(x[i]), float64(mu[i]), float64(lv[i])
				s2 := (xi - mi) * (xi - mi) * math.Exp(-li)
				abs := 1e-5 * math.Abs(gr) * (1 + s2)
				fdMu := ewFD(func(v float64) float64 { return -0.5 * lkGaussTerm64(xi, v, li) }, mi)
				fdLv := ewFD(func(v float64) float64 { return -0.5 * lkGaussTerm64(xi, mi, v) }, li)
				what := fmt.Sprintf("x=%v mu=%v lv=%v", x[i], mu[i], lv[i])
				ewGradClose(t, dmu[i], gr*fdMu, 1e-4, abs, "dmu "+what)
				ewGradClose(t, dlv[i], gr*fdLv, 1e-4, abs, "dlv "+what)
			}
			// nil outputs compute the other one with the same bits.
			only := ewGarbage(r, n)
			GaussianLoglikBwd(x, mu, lv, g, nil, only, rows, cols, false)
			ewRequireSame(t, dlv, only, "dmu = nil")
			GaussianLoglikBwd(x, mu, lv, g, only, nil, rows, cols, false)
			ewRequireSame(t, dmu, only, "dlv = nil")
			// accumulate.
			oldMu, oldLv := ewRandSlice(r, n, -1, 1), ewRandSlice(r, n, -1, 1)
			am, al := append([]float32(nil), oldMu...), append([]float32(nil), oldLv...)
			GaussianLoglikBwd(x, mu, lv, g, am, al, rows, cols, true)
			for i := 0; i < n; i++ {
				require.True(t, ewSame(oldMu[i]+dmu[i], am[i]) && ewSame(oldLv[i]+dlv[i], al[i]), "accumulate")
			}
		}
	}
	x := []float32{2, 2, 1, 1, ewNaN}
	mu := []float32{2, 2, 0, 0, 0}
	lv := []float32{-200, ewNInf, ewInf, 90, 0}
	dmu, dlv := ewGarbage(r, 5), ewGarbage(r, 5)
	GaussianLoglikBwd(x, mu, lv, []float32{4}, dmu, dlv, 1, 5, false)
	assert.Equal(t, []float32{0, 0, 0}, dmu[:3])
	assert.Equal(t, []float32{-2, -2, -2}, dlv[:3])
	assert.LessOrEqual(t, ewUlpErr(dmu[3], 4*math.Exp(-90)), 8.0, "lv=90 dmu (subnormal) %v", dmu[3])
	assert.True(t, dmu[4] != dmu[4] && dlv[4] != dlv[4], "NaN gives NaN")
}
