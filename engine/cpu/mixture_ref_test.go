package cpu

// Float64 references for the mixture and KL twins, and the helpers their tests share.
// The references compute the same math in float64 from the same float32 inputs, plus a
// "magnitude" per output: the sum of the absolute values of everything the output sums
// (with the same signs taken positive). A twin's error is bounded relative to that
// magnitude, since cancellation can make the result itself arbitrarily small.

import (
	"math"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"
)

// mixEps is the unit roundoff of float32 (half an ulp of 1).
const mixEps = 1.0 / (1 << 24)

// mixIn is one set of inputs of the mixture and KL kernels. z doubles as the mean m of
// q in the KL tests, with s its log-variance.
type mixIn struct {
	N, K, D int
	ps      int // param_stride: 0 (shared (K, D)) or K*D (per sample (N, K, D))
	pis     int // pi_stride: 0 ((K) weights) or K ((N, K) weights)
	z, s    []float32
	mu, lv  []float32
	logpi   []float32 // nil: zero weights
}

// mixNewIn draws inputs: z, mu ~ 1.5*N(0,1); s, lv uniform in [lvLo, lvHi]; log
// weights (if withPi) log of a random positive vector, per sample when piPerSample.
func mixNewIn(r *rand.Rand, N, K, D int, perSample, withPi, piPerSample bool, lvLo, lvHi float64) mixIn {
	in := mixIn{N: N, K: K, D: D}
	nParams := K * D
	if perSample {
		in.ps = K * D
		nParams = N * K * D
	}
	in.z = mixNormals(r, N*D, 1.5)
	in.s = mixUniforms(r, N*D, lvLo, lvHi)
	in.mu = mixNormals(r, nParams, 1.5)
	in.lv = mixUniforms(r, nParams, lvLo, lvHi)
	if withPi {
		nPi := K
		if piPerSample {
			in.pis = K
			nPi = N * K
		}
		in.logpi = make([]float32, nPi)
		for i := range in.logpi {
			in.logpi[i] = float32(math.Log(0.05 + r.Float64()))
		}
	}
	return in
}

func mixNormals(r *rand.Rand, n int, scale float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(scale * r.NormFloat64())
	}
	return out
}

func mixUniforms(r *rand.Rand, n int, lo, hi float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(lo + (hi-lo)*r.Float64())
	}
	return out
}

// mixFill returns n copies of v (output buffers pre-filled with garbage).
func mixFill(n int, v float32) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func mixTo64(x []float32) []float64 {
	if x == nil {
		return nil
	}
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

// mixIn64 is mixIn in float64 (for the references and finite differences).
type mixIn64 struct {
	N, K, D, ps, pis int
	z, s, mu, lv     []float64
	logpi            []float64
}

func (in mixIn) to64() mixIn64 {
	return mixIn64{N: in.N, K: in.K, D: in.D, ps: in.ps, pis: in.pis, z: mixTo64(in.z), s: mixTo64(in.s),
		mu: mixTo64(in.mu), lv: mixTo64(in.lv), logpi: mixTo64(in.logpi)}
}

// refMixtureLoglik returns L[n,k] = logpi + log N(z_n; mu_k, lv_k) in float64 and its
// magnitude |logpi| + 1/2 sum_d (log(2 pi) + |lv| + (z-mu)^2 exp(-lv)).
func refMixtureLoglik(in mixIn64) (L, mag []float64) {
	L = make([]float64, in.N*in.K)
	mag = make([]float64, in.N*in.K)
	log2pi := math.Log(2 * math.Pi)
	for n := 0; n < in.N; n++ {
		for k := 0; k < in.K; k++ {
			var s, a float64
			for d := 0; d < in.D; d++ {
				p := n*in.ps + k*in.D + d
				diff := in.z[n*in.D+d] - in.mu[p]
				q := diff * diff * math.Exp(-in.lv[p])
				s += log2pi + in.lv[p] + q
				a += log2pi + math.Abs(in.lv[p]) + q
			}
			var lp float64
			if in.logpi != nil {
				lp = in.logpi[n*in.pis+k]
			}
			L[n*in.K+k] = lp - 0.5*s
			mag[n*in.K+k] = math.Abs(lp) + 0.5*a
		}
	}
	return L, mag
}

// refLseSoftmax returns the row-wise log-sum-exp and softmax of x (N, K) in float64,
// for rows of finite values (and -Inf entries with a finite maximum).
func refLseSoftmax(N, K int, x []float64) (lse, resp []float64) {
	lse = make([]float64, N)
	resp = make([]float64, N*K)
	for n := 0; n < N; n++ {
		row := x[n*K : n*K+K]
		m := math.Inf(-1)
		for _, v := range row {
			m = math.Max(m, v)
		}
		var s float64
		for _, v := range row {
			s += math.Exp(v - m)
		}
		lse[n] = m + math.Log(s)
		for k, v := range row {
			resp[n*K+k] = math.Exp(v - lse[n])
		}
	}
	return lse, resp
}

// refLseSoftmaxBwd returns gx = glse*resp + resp*(gresp - sum_j gresp_j resp_j) and its
// magnitude |glse| resp + resp (|gresp| + sum_j |gresp_j| resp_j). glse, gresp may be nil.
func refLseSoftmaxBwd(N, K int, resp, glse, gresp []float64) (gx, mag []float64) {
	gx = make([]float64, N*K)
	mag = make([]float64, N*K)
	for n := 0; n < N; n++ {
		var dot, adot float64
		if gresp != nil {
			for k := 0; k < K; k++ {
				dot += gresp[n*K+k] * resp[n*K+k]
				adot += math.Abs(gresp[n*K+k] * resp[n*K+k])
			}
		}
		for k := 0; k < K; k++ {
			r := resp[n*K+k]
			if gresp != nil {
				gx[n*K+k] = r * (gresp[n*K+k] - dot)
				mag[n*K+k] = math.Abs(r) * (math.Abs(gresp[n*K+k]) + adot)
			}
			if glse != nil {
				gx[n*K+k] += glse[n] * r
				mag[n*K+k] += math.Abs(glse[n] * r)
			}
		}
	}
	return gx, mag
}

// mixGrads64 holds float64 gradients and their magnitudes.
type mixGrads64 struct {
	dz, dmu, dlv, ds      []float64
	dzMag, dmuMag, dlvMag []float64
	dsMag                 []float64
}

// refMixtureBwd returns the gradients of sum_{n,k} gL[n,k] L[n,k] with respect to z,
// mu and lv (mu, lv summed over n when shared), with magnitudes.
func refMixtureBwd(in mixIn64, gL []float64) mixGrads64 {
	nP := len(in.mu)
	g := mixGrads64{dz: make([]float64, in.N*in.D), dzMag: make([]float64, in.N*in.D),
		dmu: make([]float64, nP), dmuMag: make([]float64, nP), dlv: make([]float64, nP), dlvMag: make([]float64, nP)}
	for n := 0; n < in.N; n++ {
		for k := 0; k < in.K; k++ {
			gk := gL[n*in.K+k]
			for d := 0; d < in.D; d++ {
				p := n*in.ps + k*in.D + d
				diff := in.z[n*in.D+d] - in.mu[p]
				e := math.Exp(-in.lv[p])
				a := diff * e
				g.dz[n*in.D+d] -= gk * a
				g.dzMag[n*in.D+d] += math.Abs(gk * a)
				g.dmu[p] += gk * a
				g.dmuMag[p] += math.Abs(gk * a)
				g.dlv[p] += -0.5 * gk * (1 - diff*a)
				g.dlvMag[p] += 0.5 * math.Abs(gk) * (1 + diff*a)
			}
		}
	}
	return g
}

// refKlMixture returns KL[n,k] = KL(N(z_n, s_n) || N(mu_k, lv_k)) in float64 and its
// magnitude 1/2 sum_d (|lv| + |s| + (exp(s) + (z-mu)^2) exp(-lv) + 1).
func refKlMixture(in mixIn64) (KL, mag []float64) {
	KL = make([]float64, in.N*in.K)
	mag = make([]float64, in.N*in.K)
	for n := 0; n < in.N; n++ {
		for k := 0; k < in.K; k++ {
			var s, a float64
			for d := 0; d < in.D; d++ {
				p := n*in.ps + k*in.D + d
				i := n*in.D + d
				diff := in.z[i] - in.mu[p]
				q := (math.Exp(in.s[i]) + diff*diff) * math.Exp(-in.lv[p])
				s += in.lv[p] - in.s[i] + q - 1
				a += math.Abs(in.lv[p]) + math.Abs(in.s[i]) + q + 1
			}
			KL[n*in.K+k] = 0.5 * s
			mag[n*in.K+k] = 0.5 * a
		}
	}
	return KL, mag
}

// refKlMixtureBwd returns the gradients of sum gKL[n,k] KL[n,k] with respect to m (in
// dz), s, mu and lv, with magnitudes.
func refKlMixtureBwd(in mixIn64, gKL []float64) mixGrads64 {
	nP := len(in.mu)
	nQ := in.N * in.D
	g := mixGrads64{dz: make([]float64, nQ), dzMag: make([]float64, nQ), ds: make([]float64, nQ),
		dsMag: make([]float64, nQ), dmu: make([]float64, nP), dmuMag: make([]float64, nP),
		dlv: make([]float64, nP), dlvMag: make([]float64, nP)}
	for n := 0; n < in.N; n++ {
		for k := 0; k < in.K; k++ {
			gk := gKL[n*in.K+k]
			for d := 0; d < in.D; d++ {
				p := n*in.ps + k*in.D + d
				i := n*in.D + d
				diff := in.z[i] - in.mu[p]
				e := math.Exp(-in.lv[p])
				es := math.Exp(in.s[i])
				g.dz[i] += gk * diff * e
				g.dzMag[i] += math.Abs(gk * diff * e)
				g.ds[i] += 0.5 * gk * (es*e - 1)
				g.dsMag[i] += 0.5 * math.Abs(gk) * (es*e + 1)
				g.dmu[p] -= gk * diff * e
				g.dmuMag[p] += math.Abs(gk * diff * e)
				q := (es + diff*diff) * e
				g.dlv[p] += 0.5 * gk * (1 - q)
				g.dlvMag[p] += 0.5 * math.Abs(gk) * (1 + q)
			}
		}
	}
	return g
}

// refKlStdNormal returns KL(N(z_n, s_n) || N(0, I)) per row and its magnitude
// 1/2 sum_d (exp(s) + m^2 + 1 + |s|).
func refKlStdNormal(N, D int, m, s []float64) (KL, mag []float64) {
	KL = make([]float64, N)
	mag = make([]float64, N)
	for n := 0; n < N; n++ {
		for d := 0; d < D; d++ {
			i := n*D + d
			es := math.Exp(s[i])
			KL[n] += 0.5 * (es + m[i]*m[i] - 1 - s[i])
			mag[n] += 0.5 * (es + m[i]*m[i] + 1 + math.Abs(s[i]))
		}
	}
	return KL, mag
}

// mixCheckClose fails unless |got[i] - want[i]| <= ulps*mixEps*mag[i] + abs for every
// i (or got[i] is the infinity of want[i]'s sign and the magnitude is within a factor
// 4 of float32's overflow, where the kernels' sums, e.g. 2*KL before halving, overflow);
// it reports the largest error in units of mixEps*mag (so that a bound can be read
// off the log with -v).
func mixCheckClose(t *testing.T, what string, got []float32, want, mag []float64, ulps, abs float64) {
	t.Helper()
	require.Len(t, got, len(want), what)
	worst, at := 0.0, -1
	for i := range got {
		if math.IsInf(float64(got[i]), 0) && mag[i] > math.MaxFloat32/4 && (got[i] > 0) == (want[i] > 0) {
			continue // the result, or the sum of twice it, overflows float32
		}
		err := math.Abs(float64(got[i]) - want[i])
		if !(err <= ulps*mixEps*mag[i]+abs) { // NaN fails too; one require call, at the first element out of bounds
			require.LessOrEqual(t, err, ulps*mixEps*mag[i]+abs, "%s: element %d = %.9g, want %.12g (bound = %g*eps*%.4g + %g)",
				what, i, got[i], want[i], ulps, mag[i], abs)
		}
		if mag[i] > 0 {
			if r := err / (mixEps * mag[i]); r > worst {
				worst, at = r, i
			}
		}
	}
	if at >= 0 {
		t.Logf("%s: worst error %.2f eps*magnitude (bound %g) at %d", what, worst, ulps, at)
	}
}

// mixCentralDiff returns the fourth-order central difference
// (-f(x+2h) + 8 f(x+h) - 8 f(x-h) + f(x-2h)) / 12h of f with respect to x[i], with
// step h*max(1, |x[i]|), restoring x[i]. Its truncation error is O(h^4), so a step
// of 1e-4 keeps both truncation and float64 cancellation near 1e-12 relative.
func mixCentralDiff(f func() float64, x []float64, i int, h float64) float64 {
	old := x[i]
	step := h * math.Max(1, math.Abs(old))
	at := func(k float64) float64 {
		x[i] = old + k*step
		return f()
	}
	d := (-at(2) + 8*at(1) - 8*at(-1) + at(-2)) / (12 * step)
	x[i] = old
	return d
}

// mixDot returns sum_i w[i]*x[i].
func mixDot(w, x []float64) float64 {
	var s float64
	for i := range w {
		s += w[i] * x[i]
	}
	return s
}
