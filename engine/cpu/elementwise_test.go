package cpu

import (
	"fmt"
	"math"
	"math/big"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/kernels"
	"github.com/gmvae/gmvae/kernels/fmath"
)

// Tests of the elementwise twins (elementwise.go). Helpers prefixed ew are shared with
// likelihood_test.go and reducek_test.go.

// ewU is the float32 unit roundoff, 2^-24.
const ewU = 1.0 / (1 << 24)

var (
	ewNaN  = float32(math.NaN())
	ewInf  = float32(math.Inf(1))
	ewNInf = float32(math.Inf(-1))
	ewNegZ = float32(math.Copysign(0, -1))
)

// ewSizes are the awkward lengths every elementwise and row twin is run at.
var ewSizes = []int{0, 1, 31, 32, 33, 257, 1000}

// ewSame reports whether a and b have the same bits, NaN counting as one class
// (DETERMINISM.md, rule 8).
func ewSame(a, b float32) bool {
	if a != a || b != b {
		return a != a && b != b
	}
	return math.Float32bits(a) == math.Float32bits(b)
}

// ewRequireSame fails unless got and want have the same bits element by element (NaN
// as a class, see ewSame). It is the package's one slice comparison: it stops the test
// at the first differing element with one require call on the bits, naming the element
// and both values.
func ewRequireSame(t *testing.T, want, got []float32, what string) {
	t.Helper()
	require.Equal(t, len(want), len(got), what)
	for i := range want {
		if !ewSame(want[i], got[i]) {
			require.Equal(t, math.Float32bits(want[i]), math.Float32bits(got[i]), "%s: element %d: got %v, want %v (bits; NaN as a class)",
				what, i, got[i], want[i])
		}
	}
}

// ewUlpErr returns |got - want| in float32 ulps at want (ulp(w) = 2^(e-23) for
// 2^e <= |w| < 2^(e+1), at least 2^-149). A want beyond MaxFloat32 stands for the
// float32 overflow: ±Inf of the same sign is then exact.
func ewUlpErr(got float32, want float64) float64 {
	if math.IsNaN(want) || math.IsNaN(float64(got)) {
		if math.IsNaN(want) && math.IsNaN(float64(got)) {
			return 0
		}
		return math.Inf(1)
	}
	if math.Abs(want) >= math.MaxFloat32*(1+0.5*ewU) || math.IsInf(want, 0) {
		if math.IsInf(float64(got), 0) && (got > 0) == (want > 0) {
			return 0
		}
		return math.Inf(1)
	}
	_, e := math.Frexp(want) // want = f * 2^e, 0.5 <= |f| < 1
	ulp := math.Ldexp(1, max(e-24, -149))
	return math.Abs(float64(got)-want) / ulp
}

// ewRandSlice returns n floats uniform in [lo, hi).
func ewRandSlice(r *rand.Rand, n int, lo, hi float64) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(lo + (hi-lo)*r.Float64())
	}
	return s
}

// ewGarbage returns n floats that no twin would compute by accident, to fill outputs.
func ewGarbage(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(-7.25e30 * (1 + r.Float64()))
	}
	return s
}

// ewBad are the special values planted among the inputs.
var ewBad = []float32{ewNaN, ewInf, ewNInf, 0, ewNegZ, 1, -1, 1e-45, -3e-39, 3e38, -3e38, 100, -100, 90, -90}

// ewWithBad returns s with the special values planted at random places.
func ewWithBad(r *rand.Rand, s []float32) []float32 {
	if len(s) == 0 {
		return s
	}
	for _, v := range ewBad {
		s[r.Intn(len(s))] = v
	}
	return s
}

// ewAct64 is the float64 reference of each activation.
func ewAct64(act kernels.Act, x float64) float64 {
	switch act {
	case kernels.ActNone:
		return x
	case kernels.ActRelu:
		if x > 0 || math.IsNaN(x) {
			return x
		}
		return 0
	case kernels.ActTanh:
		return math.Tanh(x)
	case kernels.ActSigmoid:
		if x >= 0 {
			return 1 / (1 + math.Exp(-x))
		}
		e := math.Exp(x)
		return e / (1 + e)
	case kernels.ActSoftplus:
		return ewSoftplus64(x)
	case kernels.ActExp:
		return math.Exp(x)
	}
	return math.NaN()
}

// ewSoftplus64 is log(1+e^x) = max(x,0) + log1p(e^-|x|) in float64.
func ewSoftplus64(x float64) float64 {
	return math.Max(x, 0) + math.Log1p(math.Exp(-math.Abs(x)))
}

var ewActs = []kernels.Act{kernels.ActNone, kernels.ActRelu, kernels.ActTanh, kernels.ActSigmoid, kernels.ActSoftplus, kernels.ActExp}

// TestActFwd: ActFwd is fmath.Activate elementwise (bits), within 8 ulps of float64
// (the math helper's own sweeps hold the tight per-function bounds; this guards the
// wiring), NaN as a class; an unknown code gives NaN; in-place works; the parallel path
// (70000 elements) gives the bits of a plain loop.
func TestActFwd(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for _, act := range ewActs {
		for _, n := range append(ewSizes, 70000) {
			x := ewWithBad(r, ewRandSlice(r, n, -30, 30))
			y := ewGarbage(r, n)
			ActFwd(x, y, n, act)
			for i := range x {
				require.Truef(t, ewSame(fmath.Activate(act, x[i]), y[i]), "act %d x=%v", act, x[i])
				require.LessOrEqual(t, ewUlpErr(y[i], ewAct64(act, float64(x[i]))), 8.0, "act %d x=%v: got %v, want %v (ulps)",
					act, x[i], y[i], ewAct64(act, float64(x[i])))
			}
			in := append([]float32(nil), x...)
			ActFwd(in, in, n, act) // in place
			ewRequireSame(t, y, in, fmt.Sprintf("act %d n=%d in place", act, n))
		}
	}
	y := []float32{1, 2}
	ActFwd([]float32{1, 2}, y, 2, 17)
	assert.True(t, y[0] != y[0] && y[1] != y[1], "unknown act code must give NaN")
	// The registered twin truncates the long long code to 32 bits, as (int)act does.
	tw, err := TwinOf("act_fwd")
	require.NoError(t, err)
	y = []float32{9}
	tw(KernelArgs{[]float32{0.5}, y, int64(1), int64(1<<32 + kernels.ActTanh)})
	assert.Equal(t, fmath.Tanh(0.5), y[0])
}

// ewFD returns the central finite difference of f at x in float64, step
// h = 1e-6 * max(1, |x|): truncation ~h^2 times the third derivative, rounding
// ~1e-16/h, both ~1e-10 here.
func ewFD(f func(float64) float64, x float64) float64 {
	h := 1e-6 * math.Max(1, math.Abs(x))
	return (f(x+h) - f(x-h)) / (2 * h)
}

// ewGradClose checks a float32 gradient against a float64 one: |got - want| <=
// rel * |want| + abs. The bounds are set per test from the float32 rounding steps.
func ewGradClose(t *testing.T, got float32, want, rel, abs float64, what string) {
	t.Helper()
	require.InDelta(t, want, float64(got), rel*math.Abs(want)+abs, "%s: rel bound %g, abs %g", what, rel, abs)
}

// TestActBwd: dx = dy * f'(x) against central differences of the float64 activation
// (|err| <= 1e-5 |dx| + 1e-6 |dy|: f' is a few float32 roundings, the FD ~1e-10);
// y = nil gives the bits of y = ActFwd(x); accumulate adds last; x at the ReLU kink
// is skipped by the FD check (ReLU's gradient at 0 is pinned to 0 instead).
func TestActBwd(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	for _, act := range ewActs {
		for _, n := range append(ewSizes, 70000) {
			x := ewRandSlice(r, n, -8, 8)
			y := make([]float32, n)
			ActFwd(x, y, n, act)
			dy := ewRandSlice(r, n, -2, 2)
			dx := ewGarbage(r, n)
			ActBwd(x, y, dy, dx, n, act, false)
			for i := range x {
				if act == kernels.ActRelu && math.Abs(float64(x[i])) < 1e-5 {
					continue
				}
				xi := float64(x[i])
				fd := ewFD(func(v float64) float64 { return ewAct64(act, v) }, xi)
				ewGradClose(t, dx[i], float64(dy[i])*fd, 1e-5, 1e-6*math.Abs(float64(dy[i])),
					fmt.Sprintf("act %d x=%v", act, x[i]))
			}
			dx2 := ewGarbage(r, n)
			ActBwd(x, nil, dy, dx2, n, act, false)
			ewRequireSame(t, dx, dx2, "y = nil")
			old := ewRandSlice(r, n, -1, 1)
			acc := append([]float32(nil), old...)
			ActBwd(x, y, dy, acc, n, act, true)
			for i := range acc {
				require.True(t, ewSame(old[i]+dx[i], acc[i]), "accumulate")
			}
		}
	}
	// ReLU at 0 and NaN: gradient 0.
	dx := []float32{5, 5, 5}
	ActBwd([]float32{0, ewNegZ, ewNaN}, nil, []float32{1, 1, 1}, dx, 3, kernels.ActRelu, false)
	assert.Equal(t, []float32{0, 0, 0}, dx)
}

// ewExactAxpby returns alpha*x + b rounded once to float32 (b = beta*y already rounded),
// computed exactly with math/big.
func ewExactAxpby(alpha, x, b float32) float32 {
	if alpha != alpha || x != x || b != b || math.IsInf(float64(alpha), 0) ||
		math.IsInf(float64(x), 0) || math.IsInf(float64(b), 0) {
		return float32(float64(alpha)*float64(x) + float64(b)) // IEEE specials
	}
	p := new(big.Float).SetPrec(400).Mul(big.NewFloat(float64(alpha)), big.NewFloat(float64(x)))
	s := new(big.Float).SetPrec(400).Add(p, big.NewFloat(float64(b)))
	f, _ := s.Float32()
	if f == 0 {
		// An exact zero sum has the sign rule of IEEE addition (round to nearest):
		// -0 only when both addends are -0.
		return float32(float64(alpha)*float64(x) + float64(b))
	}
	return f
}

// TestEwOps: fill, add, mul, scale are one correctly rounded float32 operation each
// (exact against float32(float64 op), since a float64 sum or product of two float32s
// is exact or rounded once to a float32-representable tie-free value); axpby is one
// fma after one rounded product, checked against an exact math/big computation; beta
// = 0 never reads y; outputs may alias inputs.
func TestEwOps(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for _, n := range append(ewSizes, 70000) {
		a := ewWithBad(r, ewRandSlice(r, n, -1e3, 1e3))
		b := ewWithBad(r, ewRandSlice(r, n, -1e3, 1e3))
		y := ewGarbage(r, n)
		EwFill(y, n, -2.5)
		for i := range y {
			require.Equal(t, float32(-2.5), y[i])
		}
		EwAdd(a, b, y, n)
		for i := range y {
			require.True(t, ewSame(float32(float64(a[i])+float64(b[i])), y[i]), "add %v %v", a[i], b[i])
		}
		EwMul(a, b, y, n)
		for i := range y {
			require.True(t, ewSame(float32(float64(a[i])*float64(b[i])), y[i]), "mul %v %v", a[i], b[i])
		}
		EwScale(a, y, n, -0.37)
		for i := range y {
			require.True(t, ewSame(float32(float64(a[i])*float64(float32(-0.37))), y[i]), "scale %v", a[i])
		}
		for _, ab := range [][2]float32{{0.3, 0.7}, {-1.5, 1}, {1e-3, -2}, {2, 0}, {2, ewNegZ}} {
			alpha, beta := ab[0], ab[1]
			yy := append([]float32(nil), b...)
			EwAxpby(a, yy, n, alpha, beta)
			for i := range yy {
				var want float32
				if beta == 0 {
					want = float32(float64(alpha) * float64(a[i]))
				} else {
					want = ewExactAxpby(alpha, a[i], float32(float64(beta)*float64(b[i])))
				}
				require.True(t, ewSame(want, yy[i]), "axpby alpha=%v beta=%v x=%v y=%v: got %v want %v",
					alpha, beta, a[i], b[i], yy[i], want)
			}
		}
		// In place: y aliases a.
		want := make([]float32, n)
		EwAdd(a, b, want, n)
		in := append([]float32(nil), a...)
		EwAdd(in, b, in, n)
		ewRequireSame(t, want, in, "add in place")
		EwMul(a, b, want, n)
		in = append(in[:0], a...)
		EwMul(in, b, in, n)
		ewRequireSame(t, want, in, "mul in place")
	}
	// beta = 0 ignores NaN/Inf in y (BLAS convention).
	y := []float32{ewNaN, ewInf, ewNInf}
	EwAxpby([]float32{1, 2, 3}, y, 3, 2, 0)
	assert.Equal(t, []float32{2, 4, 6}, y)
	// beta != 0 propagates them.
	y = []float32{ewNaN, ewInf}
	EwAxpby([]float32{1, 2}, y, 2, 2, 1)
	assert.True(t, y[0] != y[0])
	assert.Equal(t, ewInf, y[1])
}

// TestRowScale: y[r,c] = x[r,c]*s[r], one rounded product (exact against float64),
// at awkward shapes, with bad values, in place.
func TestRowScale(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	for _, rows := range []int{0, 1, 3, 70} {
		for _, cols := range ewSizes {
			x := ewWithBad(r, ewRandSlice(r, rows*cols, -10, 10))
			s := ewWithBad(r, ewRandSlice(r, rows, -3, 3))
			y := ewGarbage(r, rows*cols)
			RowScale(x, s, y, rows, cols)
			for i := range y {
				want := float32(float64(x[i]) * float64(s[i/cols]))
				require.True(t, ewSame(want, y[i]), "rows=%d cols=%d i=%d", rows, cols, i)
			}
			RowScale(x, s, x, rows, cols)
			ewRequireSame(t, y, x, "row_scale in place")
		}
	}
}

// ewSumBound is the error bound of a Sum32 row sum of cols terms, each with relative
// error at most termUlps*u, against the exact sum: every lane adds ceil(cols/32) terms
// sequentially, the butterfly adds 5 levels, so |err| <= (ceil(cols/32) + 5 +
// termUlps) * u * sum|t| (first order; the factor 1.01 covers the second order), plus
// termUlps * 2^-149 per term for terms in the subnormal range, whose error is absolute.
func ewSumBound(cols int, termUlps float64, sumAbs float64) float64 {
	return 1.01*(float64((cols+31)/32)+5+termUlps)*ewU*sumAbs +
		float64(cols)*termUlps*math.SmallestNonzeroFloat32
}

// TestRowDot: against a float64 reference within ewSumBound (products are rounded:
// termUlps = 1); NaN and Inf propagate; cols = 0 gives +0.
func TestRowDot(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	for _, rows := range []int{0, 1, 5, 64} {
		for _, cols := range ewSizes {
			a := ewRandSlice(r, rows*cols, -2, 2)
			b := ewRandSlice(r, rows*cols, -2, 2)
			out := ewGarbage(r, rows)
			RowDot(a, b, out, rows, cols)
			for row := 0; row < rows; row++ {
				var ref, abs float64
				for c := 0; c < cols; c++ {
					p := float64(a[row*cols+c]) * float64(b[row*cols+c])
					ref += p
					abs += math.Abs(p)
				}
				if cols == 0 {
					require.True(t, ewSame(0, out[row]), "cols=0 gives +0")
				}
				require.InDelta(t, ref, float64(out[row]), ewSumBound(cols, 1, abs), "rows=%d cols=%d row %d", rows, cols, row)
			}
		}
	}
	out := []float32{0, 0, 0}
	RowDot([]float32{1, ewNaN, 1, ewInf, 1, 2}, []float32{1, 1, 1, 1, 0, 0}, out, 3, 2)
	assert.True(t, out[0] != out[0], "NaN propagates")
	assert.Equal(t, ewInf, out[1])
	assert.Equal(t, float32(0), out[2])
}

// ewSoftmaxRows returns rows of softmax(scale * normal) probabilities (float32), with
// exact zeros when scale is large.
func ewSoftmaxRows(r *rand.Rand, rows, cols int, scale float64) []float32 {
	p := make([]float32, rows*cols)
	for i := 0; i < rows; i++ {
		l := make([]float64, cols)
		m := math.Inf(-1)
		for c := range l {
			l[c] = scale * r.NormFloat64()
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

// TestXlogxRows: negative entropy of probability rows against float64 within
// ewSumBound with termUlps = 4 (gm_log's error plus the product's rounding); the
// special values: 0 log 0 = +0, 1 log 1 = 0, p < 0 -> NaN, NaN -> NaN, +Inf -> +Inf.
func TestXlogxRows(t *testing.T) {
	r := rand.New(rand.NewSource(6))
	for _, rows := range []int{0, 1, 7, 50} {
		for _, cols := range []int{0, 1, 2, 10, 31, 32, 33, 64, 257} {
			for _, scale := range []float64{0.5, 5, 80} {
				p := ewSoftmaxRows(r, rows, cols, scale)
				out := ewGarbage(r, rows)
				XlogxRows(p, out, rows, cols)
				for row := 0; row < rows; row++ {
					var ref, abs float64
					for c := 0; c < cols; c++ {
						v := float64(p[row*cols+c])
						if v > 0 {
							ref += v * math.Log(v)
							abs += math.Abs(v * math.Log(v))
						}
					}
					require.InDelta(t, ref, float64(out[row]), ewSumBound(cols, 4, abs), "rows=%d cols=%d scale=%g", rows, cols, scale)
				}
			}
		}
	}
	tests := []struct {
		p    []float32
		want float32
	}{
		{[]float32{0, 0, 1}, 0},
		{[]float32{ewNegZ, 1}, 0},
		{[]float32{0.5, 0.5}, float32(0.5 * fmath.Log(0.5) * 2)},
		{[]float32{-0.1, 1}, ewNaN},
		{[]float32{ewNaN, 0}, ewNaN},
		{[]float32{ewInf, 0}, ewInf},
	}
	for _, tt := range tests {
		out := []float32{-9}
		XlogxRows(tt.p, out, 1, len(tt.p))
		assert.True(t, ewSame(tt.want, out[0]), "p=%v: got %v want %v", tt.p, out[0], tt.want)
	}
}

// TestXlogxRowsBwd: dp = g (log p + 1) against central differences of the float64
// forward for p in (1e-3, 1) (|err| <= 1e-5 |dp| + 1e-6 |g|: one log and two
// roundings); p = 0 gives the finite g*(log 2^-149 + 1) ~= -102.28 g; accumulate adds
// last; and through a softmax backward the finite value yields the exact zero gradient
// of the zero-probability logits (the reason for the choice), where -Inf gives NaN.
func TestXlogxRowsBwd(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	for _, rows := range []int{0, 1, 5, 40} {
		for _, cols := range ewSizes {
			p := ewRandSlice(r, rows*cols, 1e-3, 1)
			g := ewRandSlice(r, rows, -2, 2)
			dp := ewGarbage(r, rows*cols)
			XlogxRowsBwd(p, g, dp, rows, cols, false)
			for i := range dp {
				row := i / cols
				fd := ewFD(func(v float64) float64 { return v * math.Log(v) }, float64(p[i]))
				ewGradClose(t, dp[i], float64(g[row])*fd, 1e-5, 1e-6*math.Abs(float64(g[row])), "xlogx bwd")
			}
			old := ewRandSlice(r, rows*cols, -1, 1)
			acc := append([]float32(nil), old...)
			XlogxRowsBwd(p, g, acc, rows, cols, true)
			for i := range acc {
				require.True(t, ewSame(old[i]+dp[i], acc[i]), "accumulate")
			}
		}
	}
	dp := []float32{7, 7, 7, 7}
	XlogxRowsBwd([]float32{0, ewNegZ, -0.5, ewNaN}, []float32{2}, dp, 1, 4, false)
	atZero := float32(2 * (fmath.Log(math.SmallestNonzeroFloat32) + 1))
	assert.Equal(t, atZero, dp[0])
	assert.Equal(t, atZero, dp[1])
	assert.InDelta(t, 2*(-149*math.Ln2+1), float64(dp[0]), 1e-4)
	assert.True(t, dp[2] != dp[2] && dp[3] != dp[3], "p < 0 and NaN give NaN")

	// Softmax chain: p = softmax(l) with exact zeros; the gradient of sum p log p with
	// respect to l is p_k (log p_k - sum_j p_j log p_j) (0 where p_k = 0). The softmax
	// backward dl_k = p_k (dp_k - sum_j p_j dp_j) with our dp gives it, finite.
	l := []float64{0, -1, -200, 3, -500}
	p := make([]float32, len(l))
	var s float64
	for k := range l {
		s += math.Exp(l[k] - 3)
	}
	for k := range l {
		p[k] = float32(math.Exp(l[k]-3) / s)
	}
	require.Equal(t, float32(0), p[2])
	dpp := make([]float32, len(p))
	XlogxRowsBwd(p, []float32{1}, dpp, 1, len(p), false)
	var dot, ent float64
	for k := range p {
		dot += float64(p[k]) * float64(dpp[k])
		if p[k] > 0 {
			ent += float64(p[k]) * math.Log(float64(p[k]))
		}
	}
	for k := range p {
		got := float64(p[k]) * (float64(dpp[k]) - dot)
		want := 0.0
		if p[k] > 0 {
			want = float64(p[k]) * (math.Log(float64(p[k])) - ent)
		}
		assert.InDelta(t, want, got, 1e-6, "softmax chain, logit %d", k)
	}
}

// TestClamp pins every special case of Clamp and ClampBwd: NaN passes (forward NaN,
// backward dy), ±Inf clip, signed zeros unchanged, the bounds themselves pass the
// gradient, in place works, accumulate adds last; plus the parallel path.
func TestClamp(t *testing.T) {
	const lo, hi = float32(-6), float32(4)
	x := []float32{ewNaN, ewInf, ewNInf, 0, ewNegZ, lo, hi, -6.0000005, 4.0000005, 1.5, -100, 100}
	want := []float32{ewNaN, hi, lo, 0, ewNegZ, lo, hi, lo, hi, 1.5, lo, hi}
	wantG := []float32{3, 0, 0, 3, 3, 3, 3, 0, 0, 3, 0, 0}
	n := len(x)
	y := ewGarbage(rand.New(rand.NewSource(8)), n)
	Clamp(x, y, n, lo, hi)
	ewRequireSame(t, want, y, "clamp")
	in := append([]float32(nil), x...)
	Clamp(in, in, n, lo, hi)
	ewRequireSame(t, want, in, "clamp in place")
	dy := make([]float32, n)
	for i := range dy {
		dy[i] = 3
	}
	dx := ewGarbage(rand.New(rand.NewSource(9)), n)
	ClampBwd(x, dy, dx, n, lo, hi, false)
	ewRequireSame(t, wantG, dx, "clamp_bwd")
	ClampBwd(x, dy, dx, n, lo, hi, true)
	for i := range dx {
		require.Equal(t, 2*wantG[i], dx[i], "accumulate")
	}

	// Central differences away from the bounds, on the parallel path too.
	r := rand.New(rand.NewSource(10))
	for _, n := range append(ewSizes, 70000) {
		x := ewRandSlice(r, n, -10, 10)
		dy := ewRandSlice(r, n, -1, 1)
		dx := ewGarbage(r, n)
		ClampBwd(x, dy, dx, n, lo, hi, false)
		for i := range x {
			xi := float64(x[i])
			if math.Abs(xi-float64(lo)) < 1e-4 || math.Abs(xi-float64(hi)) < 1e-4 {
				continue
			}
			fd := ewFD(func(v float64) float64 { return math.Min(math.Max(v, float64(lo)), float64(hi)) }, xi)
			ewGradClose(t, dx[i], float64(dy[i])*fd, 1e-6, 0, "clamp_bwd fd")
		}
	}
}

// TestEwZeroSizes: every twin accepts n = 0 / rows = 0 / cols = 0 with nil slices
// where a kernel would get null or empty buffers, writing nothing (cols = 0 row
// reductions write +0 per row).
func TestEwZeroSizes(t *testing.T) {
	ActFwd(nil, nil, 0, kernels.ActTanh)
	ActBwd(nil, nil, nil, nil, 0, kernels.ActTanh, true)
	EwFill(nil, 0, 1)
	EwAdd(nil, nil, nil, 0)
	EwAxpby(nil, nil, 0, 1, 1)
	EwMul(nil, nil, nil, 0)
	EwScale(nil, nil, 0, 2)
	RowScale(nil, nil, nil, 0, 5)
	RowScale(nil, []float32{1, 2}, nil, 2, 0)
	Clamp(nil, nil, 0, 0, 1)
	ClampBwd(nil, nil, nil, 0, 0, 1, false)
	XlogxRowsBwd(nil, []float32{1}, nil, 1, 0, false)
	out := []float32{5, 5}
	RowDot(nil, nil, out, 2, 0)
	assert.Equal(t, []float32{0, 0}, out)
	out = []float32{5, 5}
	XlogxRows(nil, out, 2, 0)
	assert.Equal(t, []float32{0, 0}, out)
}

// BenchmarkActFwd measures the tanh twin on 1M elements (all cores).
func BenchmarkActFwd(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	n := 1 << 20
	x := ewRandSlice(r, n, -5, 5)
	y := make([]float32, n)
	b.SetBytes(int64(8 * n))
	for b.Loop() {
		ActFwd(x, y, n, kernels.ActTanh)
	}
}
