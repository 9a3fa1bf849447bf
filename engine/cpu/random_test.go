package cpu

import (
	"fmt"
	"math"
	"math/rand"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/kernels"
	"github.com/gmvae/gmvae/kernels/fmath"
	"github.com/gmvae/gmvae/kernels/philox"
)

// The statistical tests use fixed seeds, so they are deterministic; their thresholds
// sit at about 5 standard deviations (or a p-value near 1e-4 for Kolmogorov-Smirnov)
// so that any seed would pass with overwhelming probability while a real defect (a
// wrong word order, a biased transform, a stream collision) fails by far.

var randSizes = []int{0, 1, 3, 4, 5, 31, 32, 33, 1000}

const randSentinel = float32(-12345.5)

// randGarbage returns n+pad elements of a recognisable garbage value, so that a write
// past n, or an element left unwritten, shows.
func randGarbage(n, pad int) []float32 {
	b := make([]float32, n+pad)
	for i := range b {
		b[i] = randSentinel
	}
	return b
}

// randCheckTail fails unless buf[n:] still holds the garbage value.
func randCheckTail(t *testing.T, what string, buf []float32, n int) {
	t.Helper()
	for i := n; i < len(buf); i++ {
		require.Equal(t, randSentinel, buf[i], "%s n=%d: element %d past n was written", what, n, i)
	}
}

// seqUniform is RandUniform written sequentially from PhiloxBlock: the reference for
// the stream convention (element i = word i%4 of block i/4).
func seqUniform(n int, seed, stream uint64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = philox.Uniform(philox.Block(seed, stream, uint64(i/4))[i%4])
	}
	return out
}

// randEqual fails unless got and want have the same bits (NaN payloads included,
// unlike ewRequireSame): one require call, at the first differing element.
func randEqual(t *testing.T, what string, got, want []float32) {
	t.Helper()
	require.Len(t, got, len(want), what)
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			require.Equal(t, math.Float32bits(want[i]), math.Float32bits(got[i]), "%s: element %d = %g, want %g (bits)", what, i, got[i], want[i])
		}
	}
}

// TestRandUniform: exact values, range, mean, variance and a chi-square test on 2^20
// samples; awkward sizes with nothing written past n.
func TestRandUniform(t *testing.T) {
	const n = 1 << 20
	out := make([]float32, n)
	RandUniform(out, n, 12345, kernels.StreamID(3, 1))
	randEqual(t, "RandUniform vs sequential", out, seqUniform(n, 12345, kernels.StreamID(3, 1)))

	var sum, sum2 float64
	const bins = 1024
	var count [bins]int
	for _, u := range out {
		k := float64(u)*(1<<24) - 1                   // exactly an even integer 2k
		if !(u > 0 && u < 1) || math.Mod(k, 2) != 0 { // 2^20 samples: no assert per sample
			require.Failf(t, "not a uniform of the engine's grid", "u = %g is not (2k+1)/2^24 in (0,1)", u)
		}
		sum += float64(u)
		sum2 += float64(u) * float64(u)
		count[int(float64(u)*bins)]++
	}
	mean := sum / n
	variance := sum2/n - mean*mean
	var chi2 float64
	e := float64(n) / bins
	for _, c := range count {
		chi2 += (float64(c) - e) * (float64(c) - e) / e
	}
	t.Logf("uniform, 2^20 samples: mean %.6f, variance %.6f, chi2 %.1f (1023 dof: 1023 +- 45)", mean, variance, chi2)
	assert.InDelta(t, 0.5, mean, 5*math.Sqrt(1.0/12/n), "mean")
	// Var of the sample variance of U(0,1): (1/80 - 1/144)/n.
	assert.InDelta(t, 1.0/12, variance, 5*math.Sqrt((1.0/80-1.0/144)/n), "variance")
	// chi2 with 1023 degrees of freedom: mean 1023, s.d. sqrt(2046) = 45.2.
	assert.InDelta(t, 1023, chi2, 5*45.2, "chi2")

	for _, n := range randSizes {
		buf := randGarbage(n, 5)
		RandUniform(buf, n, 9, 4)
		randEqual(t, "RandUniform", buf[:n], seqUniform(n, 9, 4))
		randCheckTail(t, "RandUniform", buf, n)
	}
}

// TestRandStreams: the same (seed, stream, i) gives the same number whatever n and
// whatever the split across goroutines; a different seed or stream gives different,
// uncorrelated numbers.
func TestRandStreams(t *testing.T) {
	const n = 100003 // several goroutine chunks, n % 4 = 3
	ref := make([]float32, n)
	RandNormal(ref, n, 77, kernels.StreamID(10, 2))
	for _, m := range []int{1, 2, 3, 4, 5, 31, 33, 1000, 4099 * 4, n} {
		out := randGarbage(m, 0)
		RandNormal(out, m, 77, kernels.StreamID(10, 2))
		randEqual(t, "prefix", out, ref[:m])
	}
	for i := 0; i < n; i += 997 {
		v := philox.Normal4(philox.Block(77, kernels.StreamID(10, 2), uint64(i/4)))
		require.Equal(t, v[i%4], ref[i], "element %d, against the block's normal", i)
	}

	corr := func(a, b []float32) float64 {
		var sab, saa, sbb float64
		for i := range a {
			sab += float64(a[i]) * float64(b[i])
			saa += float64(a[i]) * float64(a[i])
			sbb += float64(b[i]) * float64(b[i])
		}
		return sab / math.Sqrt(saa*sbb)
	}
	for _, o := range []struct {
		name         string
		seed, stream uint64
	}{
		{"tensor+1", 77, kernels.StreamID(10, 3)},
		{"step+1", 77, kernels.StreamID(11, 2)},
		{"seed+1", 78, kernels.StreamID(10, 2)},
		{"seed+2^32", 77 + 1<<32, kernels.StreamID(10, 2)},
	} {
		out := make([]float32, n)
		RandNormal(out, n, o.seed, o.stream)
		same := 0
		for i := range out {
			if out[i] == ref[i] {
				same++
			}
		}
		c := corr(ref, out)
		t.Logf("%s: correlation %.5f, equal elements %d of %d", o.name, c, same, n)
		assert.LessOrEqual(t, same, 10, "%s: equal elements", o.name)
		assert.LessOrEqual(t, math.Abs(c), 5/math.Sqrt(n), "%s: |correlation|", o.name)
	}
	// Neighbouring elements of one stream are uncorrelated too (lags 1..4: the words of
	// one block and of the next).
	for lag := 1; lag <= 4; lag++ {
		assert.LessOrEqual(t, math.Abs(corr(ref[:n-lag], ref[lag:])), 5/math.Sqrt(n), "lag %d: |correlation|", lag)
	}
}

// TestRandNormal: mean, variance, fourth moment, a Kolmogorov-Smirnov test against the
// normal CDF on 10^6 samples, the tails, and the cut-off at sqrt(48 ln 2) = 5.768.
func TestRandNormal(t *testing.T) {
	const n = 1000000
	out := make([]float32, n)
	RandNormal(out, n, 2024, kernels.StreamID(0, 9))
	var s1, s2, s4 float64
	var over3, over4 int
	maxAbs := 0.0
	xs := make([]float64, n)
	for i, v := range out {
		x := float64(v)
		if math.IsNaN(x) || math.IsInf(x, 0) { // 10^6 samples: no assert per sample
			require.Failf(t, "non-finite normal", "element %d = %g", i, x)
		}
		xs[i] = x
		s1 += x
		s2 += x * x
		s4 += x * x * x * x
		a := math.Abs(x)
		if a > 3 {
			over3++
		}
		if a > 4 {
			over4++
		}
		maxAbs = math.Max(maxAbs, a)
	}
	mean := s1 / n
	variance := s2/n - mean*mean
	m4 := s4 / n
	sort.Float64s(xs)
	d := 0.0
	for i, x := range xs {
		f := 0.5 * math.Erfc(-x/math.Sqrt2)
		d = math.Max(d, math.Max(math.Abs(f-float64(i)/n), math.Abs(float64(i+1)/n-f)))
	}
	tail := func(k float64) float64 { return math.Erfc(k/math.Sqrt2) * n }
	e3, e4 := tail(3), tail(4) // 2700, 63.3
	t.Logf("normal, 10^6 samples: mean %.5f, variance %.5f, E[x^4] %.4f, KS sqrt(n)*D = %.3f, "+
		"|x|>3: %d (expected %.0f), |x|>4: %d (expected %.1f), max |x| %.3f",
		mean, variance, m4, d*math.Sqrt(n), over3, e3, over4, e4, maxAbs)
	assert.InDelta(t, 0, mean, 5/math.Sqrt(n), "mean")
	assert.InDelta(t, 1, variance, 5*math.Sqrt(2.0/n), "variance")
	assert.InDelta(t, 3, m4, 5*math.Sqrt(96.0/n), "E[x^4]")
	assert.LessOrEqual(t, maxAbs, math.Sqrt(48*math.Ln2)+1e-5, "max |x| beyond the cut-off")
	// sqrt(n)*D follows Kolmogorov's distribution: P(> 1.95) = 0.001, P(> 2.3) = 1e-4.
	assert.LessOrEqual(t, d*math.Sqrt(n), 2.3, "Kolmogorov-Smirnov: sqrt(n)*D")
	assert.InDelta(t, e3, float64(over3), 5*math.Sqrt(e3), "tails: samples beyond 3")
	assert.InDelta(t, e4, float64(over4), 5*math.Sqrt(e4), "tails: samples beyond 4")

	for _, n := range randSizes {
		buf := randGarbage(n, 5)
		RandNormal(buf, n, 9, 4)
		for i := 0; i < n; i++ {
			require.Equal(t, philox.Normal4(philox.Block(9, 4, uint64(i/4)))[i%4], buf[i], "n=%d: element %d", n, i)
		}
		randCheckTail(t, "RandNormal", buf, n)
	}
}

// TestGumbel: mean (Euler's gamma), variance (pi^2/6), the range, and the transform
// against float64 on the same uniforms (bound 2^-19 * max(1, |ref|): two logs of a few
// ulps each; near u = 1, log(u) is small but accurate in relative terms, and the outer
// log turns that relative error into an absolute one).
func TestGumbel(t *testing.T) {
	const n = 1 << 20
	out := make([]float32, n)
	Gumbel(out, n, 5, kernels.StreamID(1, 1))
	u := seqUniform(n, 5, kernels.StreamID(1, 1))
	var s1, s2, worst float64
	for i, g := range out {
		x := float64(g)
		ref := -math.Log(-math.Log(float64(u[i])))
		e := math.Abs(x-ref) / math.Max(1, math.Abs(ref))
		worst = math.Max(worst, e)
		if e > math.Ldexp(1, -19) || !(x >= -2.82 && x <= 16.64) { // 2^20 samples: no assert per sample
			require.Failf(t, "gumbel off its float64 reference or out of range", "u = %g: gumbel %g, float64 %g", u[i], x, ref)
		}
		s1 += x
		s2 += x * x
	}
	mean := s1 / n
	variance := s2/n - mean*mean
	t.Logf("gumbel, 2^20 samples: mean %.5f (0.57722), variance %.5f (1.64493), worst error %.2f * 2^-24",
		mean, variance, worst*(1<<24))
	assert.InDelta(t, 0.5772156649, mean, 5*math.Sqrt(math.Pi*math.Pi/6/n), "mean")
	// Var of the sample variance: (mu4 - sigma^4)/n with mu4 = 5.4 sigma^4.
	assert.InDelta(t, math.Pi*math.Pi/6, variance, 5*math.Sqrt(4.4/n)*math.Pi*math.Pi/6, "variance")
	// The extreme uniforms give the extreme values, finite.
	lo := -fmath.Log(-fmath.Log(philox.Uniform(0)))
	hi := -fmath.Log(-fmath.Log(philox.Uniform(math.MaxUint32)))
	t.Logf("gumbel range: [%g, %g]", lo, hi)
	assert.True(t, lo > -2.82 && lo < -2.81, "gumbel range [%g, %g], want about [-2.8115, 16.6355]", lo, hi)
	assert.True(t, hi > 16.63 && hi < 16.64, "gumbel range [%g, %g], want about [-2.8115, 16.6355]", lo, hi)

	for _, n := range randSizes {
		buf := randGarbage(n, 5)
		Gumbel(buf, n, 9, 4)
		u := seqUniform(n, 9, 4)
		for i := 0; i < n; i++ {
			require.Equal(t, -fmath.Log(-fmath.Log(u[i])), buf[i], "n=%d: element %d", n, i)
		}
		randCheckTail(t, "Gumbel", buf, n)
	}
}

// TestBinarize: x = (u < p) exactly, the edge values of p, and Bernoulli frequencies.
func TestBinarize(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	const reps = 1000
	for _, e := range []struct{ p, want float32 }{
		{0, 0}, {-1, 0}, {float32(math.Copysign(0, -1)), 0}, {-inf, 0}, {nan, 0},
		{float32(math.Ldexp(1, -24)), 0}, // u >= 2^-24 is never < 2^-24
		{1, 1}, {2, 1}, {inf, 1},
	} {
		p := make([]float32, reps)
		for i := range p {
			p[i] = e.p
		}
		x := randGarbage(reps, 0)
		Binarize(p, x, reps, 1, 2)
		for i := range x {
			require.Equal(t, e.want, x[i], "p = %g: x[%d]", e.p, i)
		}
	}
	const n = 1 << 18
	for _, pv := range []float32{0.1, 0.3, 0.5, 0.9} {
		p := make([]float32, n)
		for i := range p {
			p[i] = pv
		}
		x := randGarbage(n, 3)
		Binarize(p, x, n, 31, kernels.StreamID(2, 8))
		u := seqUniform(n, 31, kernels.StreamID(2, 8))
		ones := 0
		for i := 0; i < n; i++ {
			if (x[i] == 1) != (u[i] < p[i]) || (x[i] != 0 && x[i] != 1) { // no assert per element
				require.Failf(t, "Binarize: want x = (u < p), 0 or 1", "p=%g: x[%d] = %g with u = %g", pv, i, x[i], u[i])
			}
			if x[i] == 1 {
				ones++
			}
		}
		freq := float64(ones) / n
		assert.InDelta(t, float64(pv), freq, 5*math.Sqrt(float64(pv)*(1-float64(pv))/n), "p = %g: frequency of ones", pv)
		randCheckTail(t, "Binarize", x, n)
	}
	for _, n := range randSizes {
		p := make([]float32, n)
		for i := range p {
			p[i] = float32(i%7) / 6
		}
		x := randGarbage(n, 5)
		Binarize(p, x, n, 9, 4)
		u := seqUniform(n, 9, 4)
		for i := 0; i < n; i++ {
			if (x[i] == 1) != (u[i] < p[i]) || (x[i] != 0 && x[i] != 1) {
				require.Failf(t, "Binarize: want x = (u < p), 0 or 1", "n=%d: x[%d] = %g with u = %g, p = %g", n, i, x[i], u[i], p[i])
			}
		}
		randCheckTail(t, "Binarize", x, n)
	}
}

// TestReparam: eps are the stream's normals; z against float64 m + exp(lv/2)*eps with
// bound |z - ref| <= 2^-20 * (|m| + |s*eps|) (a few ulps: exp's error, then one fma
// rounding); bad values.
func TestReparam(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	worst := 0.0
	for _, n := range randSizes {
		m := make([]float32, n)
		lv := make([]float32, n)
		for i := 0; i < n; i++ {
			m[i] = float32(r.NormFloat64() * 3)
			lv[i] = float32(r.Float64()*20 - 10)
		}
		eps := randGarbage(n, 3)
		z := randGarbage(n, 3)
		Reparam(m, lv, eps, z, n, 100, kernels.StreamID(4, 4))
		want := randGarbage(n, 3)
		RandNormal(want, n, 100, kernels.StreamID(4, 4))
		randEqual(t, "eps is the stream's normals", eps, want)
		for i := 0; i < n; i++ {
			s := math.Exp(0.5 * float64(lv[i]))
			ref := float64(m[i]) + s*float64(eps[i])
			scale := math.Abs(float64(m[i])) + math.Abs(s*float64(eps[i]))
			e := math.Abs(float64(z[i])-ref) / scale
			worst = math.Max(worst, e)
			if e > math.Ldexp(1, -20) {
				require.Failf(t, "z beyond 2^-20 relative of its float64 reference", "n=%d i=%d m=%g lv=%g eps=%g: z = %g, float64 %g", n, i, m[i], lv[i], eps[i], z[i], ref)
			}
		}
		randCheckTail(t, "Reparam z", z, n)
		randCheckTail(t, "Reparam eps", eps, n)
	}
	t.Logf("reparam: worst error %.2f * 2^-24 of |m| + |s*eps|", worst*(1<<24))

	// Bad values: lv = -Inf gives z = m; lv = +Inf or 200 (exp overflows) gives +-Inf
	// with eps's sign; NaN in m or lv gives NaN; m = -Inf stays -Inf.
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	m := []float32{1, 2, 3, 4, nan, 5, -inf}
	lv := []float32{-inf, inf, 200, nan, 0, -200, 0}
	n := len(m)
	eps, z := make([]float32, n), make([]float32, n)
	Reparam(m, lv, eps, z, n, 3, 3)
	sign := func(x float32) int { return int(math.Copysign(1, float64(x))) }
	ctx := fmt.Sprintf("bad values: m %v lv %v eps %v -> z %v", m, lv, eps, z)
	assert.Equal(t, float32(1), z[0], "z[0]: %s", ctx)
	assert.True(t, math.IsInf(float64(z[1]), sign(eps[1])), "z[1], want the infinity of eps's sign: %s", ctx)
	assert.True(t, math.IsInf(float64(z[2]), sign(eps[2])), "z[2], want the infinity of eps's sign: %s", ctx)
	assert.True(t, math.IsNaN(float64(z[3])), "z[3], want NaN: %s", ctx)
	assert.True(t, math.IsNaN(float64(z[4])), "z[4], want NaN: %s", ctx)
	assert.Equal(t, float32(5), z[5], "z[5]: %s", ctx)
	assert.True(t, math.IsInf(float64(z[6]), -1), "z[6], want -Inf: %s", ctx)
}

// TestReparamBwd: the gradient against central finite differences of the float64
// forward L = sum_i dz_i * z_i(m, lv) with eps fixed (step 1e-6, bound 1e-6 relative +
// 1e-9), the float32 formula against float64 (bound 2^-20 relative), the accumulate
// mode and null outputs.
func TestReparamBwd(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	for _, n := range randSizes {
		m := make([]float32, n)
		lv := make([]float32, n)
		dz := make([]float32, n)
		for i := 0; i < n; i++ {
			m[i] = float32(r.NormFloat64())
			lv[i] = float32(r.Float64()*8 - 4)
			dz[i] = float32(r.NormFloat64())
		}
		eps, z := make([]float32, n), make([]float32, n)
		Reparam(m, lv, eps, z, n, 8, 8)
		dm, dlv := randGarbage(n, 3), randGarbage(n, 3)
		ReparamBwd(lv, eps, dz, dm, dlv, n, false)

		// L = sum_i dz_i z_i and z_i depends on (m_i, lv_i) only, so each partial is a
		// one-variable central difference.
		f := func(mi, lvi, e float64) float64 { return mi + math.Exp(0.5*lvi)*e }
		const h = 1e-6
		for i := 0; i < n; i++ {
			c, e, mi, li := float64(dz[i]), float64(eps[i]), float64(m[i]), float64(lv[i])
			fdm := c * (f(mi+h, li, e) - f(mi-h, li, e)) / (2 * h)
			fdlv := c * (f(mi, li+h, e) - f(mi, li-h, e)) / (2 * h)
			ref := c * e * 0.5 * math.Exp(0.5*li)
			if math.Abs(float64(dm[i])-fdm) > 1e-6*math.Abs(fdm)+1e-9 ||
				math.Abs(float64(dlv[i])-fdlv) > 1e-6*math.Abs(fdlv)+1e-9 ||
				math.Abs(float64(dlv[i])-ref) > math.Ldexp(1, -20)*math.Abs(ref) || dm[i] != dz[i] {
				require.Failf(t, "ReparamBwd off its references", "n=%d i=%d: dm %g (fd %g, want dz %g), dlv %g (fd %g, float64 %g)", n, i, dm[i], fdm, dz[i], dlv[i], fdlv, ref)
			}
		}
		randCheckTail(t, "ReparamBwd dm", dm, n)
		randCheckTail(t, "ReparamBwd dlv", dlv, n)

		// accumulate: old + new.
		dm2, dlv2 := make([]float32, n), make([]float32, n)
		for i := range dm2 {
			dm2[i] = float32(i) * 0.25
			dlv2[i] = -float32(i) * 0.5
		}
		ReparamBwd(lv, eps, dz, dm2, dlv2, n, true)
		for i := 0; i < n; i++ {
			require.Equal(t, [2]float32{float32(i)*0.25 + dm[i], -float32(i)*0.5 + dlv[i]}, [2]float32{dm2[i], dlv2[i]}, "accumulate n=%d i=%d: (dm, dlv)", n, i)
		}

		// Null outputs.
		dlv3 := make([]float32, n)
		ReparamBwd(lv, eps, dz, nil, dlv3, n, false)
		randEqual(t, "dm = nil", dlv3, dlv[:n])
		dm3 := make([]float32, n)
		ReparamBwd(lv, eps, dz, dm3, nil, n, false)
		randEqual(t, "dlv = nil", dm3, dm[:n])
	}
}

// TestRandomTwinsRegistered checks that each kernel's registered twin is its typed
// function with the kernel's parameter order.
func TestRandomTwinsRegistered(t *testing.T) {
	const n = 37
	call := func(name string, args KernelArgs) {
		f, err := TwinOf(name)
		require.NoError(t, err)
		f(args)
	}
	out, want := make([]float32, n), make([]float32, n)
	call("rand_uniform", KernelArgs{out, int64(n), uint64(5), uint64(6)})
	randEqual(t, "rand_uniform", out, seqUniform(n, 5, 6))
	call("rand_normal", KernelArgs{out, int64(n), uint64(5), uint64(6)})
	RandNormal(want, n, 5, 6)
	randEqual(t, "rand_normal", out, want)
	call("gumbel", KernelArgs{out, int64(n), uint64(5), uint64(6)})
	Gumbel(want, n, 5, 6)
	randEqual(t, "gumbel", out, want)
	p := seqUniform(n, 1, 1)
	call("binarize", KernelArgs{p, out, int64(n), uint64(5), uint64(6)})
	Binarize(p, want, n, 5, 6)
	randEqual(t, "binarize", out, want)
	m, lv := seqUniform(n, 2, 2), seqUniform(n, 3, 3)
	eps, z, eps2, z2 := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	call("reparam", KernelArgs{m, lv, eps, z, int64(n), uint64(5), uint64(6)})
	Reparam(m, lv, eps2, z2, n, 5, 6)
	randEqual(t, "reparam eps", eps, eps2)
	randEqual(t, "reparam z", z, z2)
	dm, dlv, dm2, dlv2 := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	call("reparam_bwd", KernelArgs{lv, eps, z, dm, dlv, int64(n), int64(1)})
	ReparamBwd(lv, eps, z, dm2, dlv2, n, true)
	randEqual(t, "reparam_bwd dm", dm, dm2)
	randEqual(t, "reparam_bwd dlv", dlv, dlv2)
	call("reparam_bwd", KernelArgs{lv, eps, z, nil, dlv, int64(n), int64(0)})
}

// BenchmarkRandNormal measures the normal twin on 2^20 elements (a batch of 1300
// MNIST-sized tensors' worth of eps is rarely more).
func BenchmarkRandNormal(b *testing.B) {
	const n = 1 << 20
	out := make([]float32, n)
	b.SetBytes(4 * n)
	for i := 0; i < b.N; i++ {
		RandNormal(out, n, 1, uint64(i))
	}
}

// BenchmarkBinarize measures dynamic binarisation of a batch of 100 MNIST images.
func BenchmarkBinarize(b *testing.B) {
	const n = 100 * 784
	p, x := seqUniform(n, 3, 3), make([]float32, n)
	b.SetBytes(4 * n)
	for i := 0; i < b.N; i++ {
		Binarize(p, x, n, 1, uint64(i))
	}
}
