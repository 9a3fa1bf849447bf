package kerneltest

// Cases of the mixture family (kernels/mixture.cu): sizes around a warp (1, 31, 32, 33,
// 64, 65, 200), both parameter layouts (shared (K, D) and per sample (N, K, D)), every
// nullable pointer null and not, accumulate on and off, and bad values: NaN in z, rows
// of -Inf log-weights, log-variances of +-80 and past exp's range.
//
// Work, for the kernels that give a warp to each item (a row, or an (n, k) pair), is
// 32 threads per item, so that the largest grid the harness picks spreads the items
// one per warp.

import (
	"fmt"
	"math"
	"math/rand"

	"github.com/gmvae/gmvae/engine/cpu"
)

func init() {
	register("mixture_loglik", mixtureLoglikCases)
	register("lse_softmax", lseSoftmaxCases)
	register("lse_softmax_bwd", lseSoftmaxBwdCases)
	register("mixture_bwd_z", mixtureBwdZCases)
	register("mixture_bwd_params", mixtureBwdParamsCases)
}

var (
	mixNaN    = float32(math.NaN())
	mixPosInf = float32(math.Inf(1))
	mixNegInf = float32(math.Inf(-1))
)

// mixNormals returns n draws of scale * N(0, 1).
func mixNormals(r *rand.Rand, n int, scale float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(scale * r.NormFloat64())
	}
	return out
}

// mixUniforms returns n draws uniform in [lo, hi).
func mixUniforms(r *rand.Rand, n int, lo, hi float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(lo + (hi-lo)*r.Float64())
	}
	return out
}

// mixGarbage returns an output buffer of n recognisable values (not NaN, so that an
// element the kernel forgets to write cannot pass as a NaN result).
func mixGarbage(r *rand.Rand, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(-7777 - r.Intn(1000))
	}
	return out
}

// mixBuf returns a non-nil buffer or nil (a null pointer) as an argument.
func mixBuf(on bool, b []float32) any {
	if !on {
		return nil
	}
	return b
}

// mixShape is one size and layout of the mixture and KL cases.
type mixShape struct {
	name      string
	N, K, D   int
	perSample bool
}

func (s mixShape) stride() int64 {
	if s.perSample {
		return int64(s.K * s.D)
	}
	return 0
}

func (s mixShape) nParams() int {
	if s.perSample {
		return s.N * s.K * s.D
	}
	return s.K * s.D
}

// mixShapes are the sizes shared by the mixture and KL cases (total work kept small
// for the emulator).
var mixShapes = []mixShape{
	{"empty batch N=0", 0, 3, 5, false},
	{"N=1 K=1 D=1", 1, 1, 1, false},
	{"N=1 K=1 D=1 per-sample", 1, 1, 1, true},
	{"N=33 K=2 D=33 per-sample", 33, 2, 33, true},
	{"N=3 K=64 D=3", 3, 64, 3, false},
	{"N=1 K=65 D=2 per-sample", 1, 65, 2, true},
	{"N=3 K=5 D=200", 3, 5, 200, false},
	{"N=31 K=3 D=32", 31, 3, 32, false},
	{"N=40 K=2 D=4", 40, 2, 4, false},
	{"N=4 K=16 D=31 per-sample", 4, 16, 31, true},
}

// mixInputs draws z (N, D), mu and lv (layout of s) with log-variances in [lo, hi).
func mixInputs(r *rand.Rand, s mixShape, lo, hi float64) (z, mu, lv []float32) {
	return mixNormals(r, s.N*s.D, 1.5), mixNormals(r, s.nParams(), 1.5), mixUniforms(r, s.nParams(), lo, hi)
}

// mixSpoil puts the bad values into a case with at least 3 rows: NaN in z of row 0,
// log-variances of -80 and +80 in row 1's parameters (or component 0's, when shared),
// and one past exp's range (-100) with z == mu in the last row (NaN there, by IEEE).
func mixSpoil(s mixShape, z, mu, lv []float32) {
	if s.N < 3 || s.D < 2 {
		return
	}
	z[0*s.D+s.D-1] = mixNaN
	row := 0
	if s.perSample {
		row = 1
	}
	lv[row*s.K*s.D+0] = -80
	lv[row*s.K*s.D+1] = 80
	last := s.N - 1
	p := 0
	if s.perSample {
		p = last * s.K * s.D
	}
	lv[p+s.D-1] = -100
	mu[p+s.D-1] = z[last*s.D+s.D-1]
}

func mixtureLoglikCases(r *rand.Rand) []Case {
	var cases []Case
	for i, s := range mixShapes {
		z, mu, lv := mixInputs(r, s, -3, 3)
		// Log-weights: (K), (N, K) with bad rows, or null, by case.
		var logpi []float32
		var piStride int64
		switch i % 3 {
		case 0:
			logpi = mixNormals(r, s.K, 1)
		case 1:
			logpi, piStride = mixNormals(r, s.N*s.K, 1), int64(s.K)
			if s.N >= 3 && s.K >= 2 {
				for k := 0; k < s.K; k++ {
					logpi[1*s.K+k] = mixNegInf // a row of -Inf log-weights
				}
				logpi[2*s.K+0] = mixNegInf // some -Inf
			}
		}
		mixSpoil(s, z, mu, lv)
		lseOn, respOn := i%4 != 3, i%4 != 2
		cases = append(cases, Case{
			Name: s.name,
			Args: cpu.KernelArgs{int64(s.N), int64(s.K), int64(s.D), z, mu, lv, s.stride(),
				mixBuf(logpi != nil, logpi), piStride, mixGarbage(r, s.N*s.K),
				mixBuf(lseOn, mixGarbage(r, s.N)), mixBuf(respOn, mixGarbage(r, s.N*s.K))},
			Work: 32 * s.N * s.K,
		})
	}
	// Tiny and huge variances across a whole case, L only.
	s := mixShape{"N=9 K=3 D=40 lv in [-80,-78] and [78,80]", 9, 3, 40, true}
	z, mu, _ := mixInputs(r, s, 0, 0)
	lv := make([]float32, s.nParams())
	for j := range lv {
		if j%2 == 0 {
			lv[j] = float32(-80 + 2*r.Float64())
			mu[j] = z[(j/(s.K*s.D))*s.D+j%s.D] + float32(1e-17*r.NormFloat64())
		} else {
			lv[j] = float32(78 + 2*r.Float64())
		}
	}
	cases = append(cases, Case{
		Name: s.name,
		Args: cpu.KernelArgs{int64(s.N), int64(s.K), int64(s.D), z, mu, lv, s.stride(), nil, int64(0),
			mixGarbage(r, s.N*s.K), nil, nil},
		Work: 32 * s.N * s.K,
	})
	return cases
}

// mixLogitRows returns N rows of K logits at the given scale; with bad set, rows of
// all -Inf, one +Inf, two +Inf, a NaN, -Inf entries with a finite maximum, and signed
// zeros (as many as there are rows).
func mixLogitRows(r *rand.Rand, N, K int, scale float64, bad bool) []float32 {
	x := mixNormals(r, N*K, scale)
	if !bad {
		return x
	}
	negZero := float32(math.Copysign(0, -1))
	for n := 0; n < N; n++ {
		row := x[n*K : n*K+K]
		switch n % 8 {
		case 0:
			for k := range row {
				row[k] = mixNegInf
			}
		case 1:
			row[r.Intn(K)] = mixPosInf
		case 2:
			row[0] = mixPosInf
			row[K-1] = mixPosInf
		case 3:
			row[r.Intn(K)] = mixNaN
		case 4:
			for k := range row {
				if k%3 != 1 {
					row[k] = mixNegInf
				}
			}
		case 5:
			for k := range row {
				if k%2 == 0 {
					row[k] = negZero
				} else {
					row[k] = 0
				}
			}
		case 6:
			row[0] = 3e38
		}
	}
	return x
}

func lseSoftmaxCases(r *rand.Rand) []Case {
	var cases []Case
	for i, c := range []struct {
		name  string
		N, K  int
		scale float64
		bad   bool
	}{
		{"empty batch N=0", 0, 4, 1, false},
		{"N=1 K=1", 1, 1, 1, false},
		{"N=33 K=31", 33, 31, 3, false},
		{"N=8 K=32 bad rows", 8, 32, 3, true},
		{"N=16 K=33 bad rows", 16, 33, 10, true},
		{"N=5 K=64 scale 1e4", 5, 64, 1e4, false},
		{"N=3 K=100", 3, 100, 2, false},
		{"N=300 K=2", 300, 2, 5, false},
		{"N=9 K=3 bad rows", 9, 3, 1, true},
	} {
		x := mixLogitRows(r, c.N, c.K, c.scale, c.bad)
		lseOn, respOn := i%3 != 1, i%3 != 2
		cases = append(cases, Case{
			Name: c.name,
			Args: cpu.KernelArgs{int64(c.N), int64(c.K), x, mixBuf(lseOn, mixGarbage(r, c.N)),
				mixBuf(respOn, mixGarbage(r, c.N*c.K))},
			Work: 32 * c.N,
		})
	}
	return cases
}

func lseSoftmaxBwdCases(r *rand.Rand) []Case {
	var cases []Case
	for i, c := range []struct {
		name string
		N, K int
		bad  bool
	}{
		{"empty batch N=0", 0, 4, false},
		{"N=1 K=1", 1, 1, false},
		{"N=33 K=31", 33, 31, false},
		{"N=8 K=33 bad rows", 8, 33, true},
		{"N=5 K=64", 5, 64, false},
		{"N=40 K=3 bad rows", 40, 3, true},
		{"N=3 K=65", 3, 65, false},
	} {
		x := mixLogitRows(r, c.N, c.K, 3, c.bad)
		resp := make([]float32, c.N*c.K)
		cpu.LseSoftmax(c.N, c.K, x, nil, resp)
		for mode := 0; mode < 4; mode++ { // glse/gresp null or not; accumulate on odd modes
			glseOn, grespOn := mode != 1, mode != 2
			if c.N > 8 && mode == 3 {
				glseOn, grespOn = false, false
			}
			cases = append(cases, Case{
				Name: c.name,
				Args: cpu.KernelArgs{int64(c.N), int64(c.K), resp, mixBuf(glseOn, mixNormals(r, c.N, 1)),
					mixBuf(grespOn, mixNormals(r, c.N*c.K, 1)), mixNormals(r, c.N*c.K, 1),
					int64((mode + i) % 2)},
				Work: 32 * c.N,
			})
		}
	}
	return cases
}

// mixGradInputs draws a case's inputs and an upstream gradient gL (N, K) with a few
// bad values (NaN in one element, large values) when the case is big enough.
func mixGradInputs(r *rand.Rand, s mixShape) (z, mu, lv, gL []float32) {
	z, mu, lv = mixInputs(r, s, -3, 3)
	mixSpoil(s, z, mu, lv)
	gL = mixNormals(r, s.N*s.K, 1)
	if s.N >= 3 && s.K >= 2 {
		gL[1*s.K+1] = mixNaN
		gL[2*s.K+0] = 1e30
	}
	return
}

func mixtureBwdZCases(r *rand.Rand) []Case {
	var cases []Case
	for i, s := range mixShapes {
		z, mu, lv, gL := mixGradInputs(r, s)
		cases = append(cases, Case{
			Name: s.name,
			Args: cpu.KernelArgs{int64(s.N), int64(s.K), int64(s.D), z, mu, lv, s.stride(), gL,
				mixNormals(r, s.N*s.D, 1), int64(i % 2)},
			Work: s.N * s.D,
		})
	}
	return cases
}

func mixtureBwdParamsCases(r *rand.Rand) []Case {
	var cases []Case
	for i, s := range mixShapes {
		z, mu, lv, gL := mixGradInputs(r, s)
		n := s.nParams()
		work := n
		cases = append(cases, Case{
			Name: s.name,
			Args: cpu.KernelArgs{int64(s.N), int64(s.K), int64(s.D), z, mu, lv, s.stride(), gL,
				mixBuf(i%3 != 1, mixNormals(r, n, 1)), mixBuf(i%3 != 2, mixNormals(r, n, 1)), int64(i % 2)},
			Work: work,
		})
	}
	// Shared parameters summed over many rows.
	s := mixShape{"N=300 K=2 D=3 shared, long sum over n", 300, 2, 3, false}
	z, mu, lv, gL := mixGradInputs(r, s)
	cases = append(cases, Case{
		Name: s.name,
		Args: cpu.KernelArgs{int64(s.N), int64(s.K), int64(s.D), z, mu, lv, int64(0), gL,
			mixGarbage(r, s.nParams()), mixGarbage(r, s.nParams()), int64(0)},
		Work: s.nParams(),
	})
	return cases
}

// mixLseRows returns rows for the log-sum-exp and softmax of gm_row_lse_softmax, in
// the layouts of warpRowLayouts: each row holds its maximum 0 at column 1, one live
// entry h at column 32*j and -Inf elsewhere (e^-Inf = 0 adds nothing), so that
// resp = e^h / (1 + e^h) and lse = log(1 + e^h) show e^h's bits (the sum only for h
// near 0). h are exp's hard inputs below 0 and a sweep of the given size; trip
// counts 1..maxTrips.
func mixLseRows(r *rand.Rand, sweep, maxTrips int) (h []float32, ws []warpRows, xs [][]float32) {
	neg := func(x float32) bool { return x < 0 && x >= -104 } // resp = e^h / 1: subnormal e^h too
	h = append(hardFor("exp", neg), hardSweep("exp", r, sweep, neg)...)
	h = append(h, mixLogTargets()...)
	for _, w := range warpRowLayouts(len(h))[:maxTrips] {
		t := w.cols / 32
		x := make([]float32, w.rows*w.cols)
		for i := range x {
			x[i] = mixNegInf
		}
		for k, at := range w.live {
			x[at] = h[k/t]
			x[at-at%w.cols+1] = 0
		}
		ws, xs = append(ws, w), append(xs, x)
	}
	return h, ws, xs
}

// mixLogTargets returns, for each hard input s of log in (1, 2) (hard.go), an h < 0
// with 1 + e^h rounding to s (found near log(s - 1)): a row of mixLseRows holding h
// sums to exactly s, so the row's lse = log(s) takes log's hard inputs.
func mixLogTargets() []float32 {
	exp := cpu.MathFn(cpu.MathFnExp)
	var out []float32
	for _, s := range hardFor("log", func(x float32) bool { return x > 1 && x < 2 }) {
		h0 := float32(math.Log(float64(s) - 1))
		for i := 0; i < 400; i++ {
			step := (i + 1) / 2
			if i%2 == 1 {
				step = -step
			}
			h := math.Float32frombits(uint32(int32(math.Float32bits(h0)) + int32(step)))
			if 1+exp(h) == s {
				out = append(out, h)
				break
			}
		}
	}
	return out
}

// mixExpScale returns a power of two d with d*d*e^h near 2^34 (even exponent: d is
// exact), so that (z - mu)^2 e^-lv dominates log(2 pi) + lv in a mixture term. Below
// h = -64, d*d overflows to +Inf and so does the term: those cases do not show e^h,
// but they kill two mutants of their own, and a cap at 2^126 (d*d*e^h still far above
// log(2 pi) + lv down to h = -81) killed nothing more (docs/mutants.md), so they stay.
func mixExpScale(h float32) float32 {
	j := 34 - int(math.Round(float64(h)*math.Log2E))
	if j%2 != 0 {
		j++
	}
	return hardPow2(j / 2)
}

func init() {
	// mixture_loglik: (1) single-term rows of L (per-sample parameters, K = 1, L only):
	// the live term has lv = -h for exp's hard inputs and z - mu a power of two
	// (mixExpScale), dead terms z = mu = 0, lv = -log(2 pi) (t = +0); (2) rows of L
	// equal to the log-weights (D = 1, z = mu, lv = -log(2 pi): L = logpi exactly)
	// holding mixLseRows, with lse and resp.
	registerSweep("mixture_loglik", func(r *rand.Rand) []Case {
		keep := func(x float32) bool { return x >= -77 && x <= 88.8 }
		h := append(hardFor("exp", keep), hardSweep("exp", r, 100, keep)...)
		cs := mixLoglikTermRows(r, h, mixExpScale, "exp's hard inputs")
		_, ws, xs := mixLseRows(r, 0, 4) // a warp per element of L: no sweep
		for i, w := range ws {
			N, K := w.rows, w.cols
			lv := make([]float32, K)
			for k := range lv {
				lv[k] = -1.837877
			}
			cs = append(cs, sweepVariants(Case{Name: fmt.Sprintf("N=%d K=%d D=1: L = logpi, rows of 0, one hard exp input, -Inf", N, K),
				Args: cpu.KernelArgs{int64(N), int64(K), int64(1), make([]float32, N), make([]float32, K), lv, int64(0),
					xs[i], int64(K), mixGarbage(r, N*K), mixGarbage(r, N), mixGarbage(r, N*K)},
				Work: 32 * N * K, Sweep: true}, []int{10, 11}, -1, nil)...)
		}
		return cs
	})
	registerSweep("lse_softmax", func(r *rand.Rand) []Case {
		var cs []Case
		_, ws, xs := mixLseRows(r, 300, 5)
		for i, w := range ws {
			cs = append(cs, sweepVariants(Case{Name: fmt.Sprintf("N=%d K=%d: rows of 0, one hard exp input, -Inf", w.rows, w.cols),
				Args: cpu.KernelArgs{int64(w.rows), int64(w.cols), xs[i], mixGarbage(r, w.rows), mixGarbage(r, w.rows*w.cols)},
				Work: 32 * w.rows, Sweep: true}, []int{3, 4}, -1, nil)...)
		}
		x := mixNormals(r, 64*100, 3)
		cs = append(cs, Case{Name: "N=64 K=100 logits of spread 3",
			Args: cpu.KernelArgs{int64(64), int64(100), x, mixGarbage(r, 64), mixGarbage(r, 64*100)}, Work: 32 * 64, Sweep: true})
		return cs
	})
	// mixture_bwd_z: the loop over k with one live step (gL = 1; the others gL = 0,
	// lv = 0), at every position of loops of 1 to 8 steps: z - mu = 1 and lv = -h, so
	// dz = -e^h. Per-sample parameters; column d carries h[d].
	registerSweep("mixture_bwd_z", func(r *rand.Rand) []Case {
		keep := func(x float32) bool { return x >= -87 && x <= 88.8 }
		h := append(hardFor("exp", keep), hardSweep("exp", r, 200, keep)...)
		var cs []Case
		for L := 1; L <= 8; L++ {
			N, K, D := L, L, len(h)
			z := make([]float32, N*D)
			for i := range z {
				z[i] = 1
			}
			lv := make([]float32, N*K*D)
			gL := make([]float32, N*K)
			for n := 0; n < N; n++ {
				gL[n*K+n] = 1
				for d := 0; d < D; d++ {
					lv[n*K*D+n*D+d] = -h[d]
				}
			}
			cs = append(cs, sweepVariants(Case{Name: fmt.Sprintf("N=%d K=%d D=%d per-sample: one live k per row", N, K, D),
				Args: cpu.KernelArgs{int64(N), int64(K), int64(D), z, make([]float32, N*K*D), lv, int64(K * D), gL,
					mixGarbage(r, N*D), int64(0)},
				Work: N * D, Sweep: true}, nil, 9, []int{8})...)
		}
		return cs
	})
	// mixture_bwd_params: lv = -h, z - mu = 1 (dmu = g e^h, dlv = -g (1 - e^h)/2);
	// per-sample parameters (N samples of D = 8, elementwise) and shared ones (K
	// components of D = 8, N = 1: e^-lv is outside the loop over n); each output null
	// in turn and accumulated.
	registerSweep("mixture_bwd_params", func(r *rand.Rand) []Case {
		keep := func(x float32) bool { return x >= -87 && x <= 88.8 }
		h := append(hardFor("exp", keep), hardSweep("exp", r, 2000, keep)...)
		return mixBwdParamsSweep(r, h, (len(h)+7)/8, "lv = -h, z - mu = 1")
	})

	// After the sweeps above, so that their draws stay as they were: exp's extremes
	// in every element (extremes.go), in mixture_loglik's terms (z - mu a power of two
	// keeping (z - mu)² finite) and mixture_bwd_params (dmu = g e^h).
	registerSweep("mixture_loglik", func(r *rand.Rand) []Case {
		scale := func(v float32) float32 { return hardPow2(max(min(extremeScale(v, 34)/2, 63), -74)) }
		return mixLoglikTermRows(r, expExtremes(r), scale, "lv at exp's extremes")
	})
	registerSweep("mixture_bwd_params", func(r *rand.Rand) []Case {
		h := expExtremes(r)
		return mixBwdParamsSweep(r, h, 2*len(h), "lv at exp's extremes, z - mu = 1")
	})
}

// mixLoglikTermRows: mixture_loglik's single-term rows of L (per-sample parameters,
// K = 1, L only): the live term j has lv = -h[j] and z - mu = scale(h[j]) (the sign
// on z or on mu in turn), dead terms z = mu = 0, lv = -log(2 pi) (t = +0).
func mixLoglikTermRows(r *rand.Rand, h []float32, scale func(float32) float32, what string) []Case {
	var cs []Case
	for _, w := range warpRowLayouts(len(h)) {
		t := w.cols / 32
		n := w.rows * w.cols
		z, mu, lv := make([]float32, n), make([]float32, n), make([]float32, n)
		for i := range lv {
			lv[i] = -1.837877
		}
		for k, at := range w.live {
			v := h[k/t]
			lv[at] = -v
			z[at] = scale(v)
			if k%2 == 1 {
				z[at], mu[at] = 0, z[at]
			}
		}
		cs = append(cs, Case{Name: fmt.Sprintf("N=%d K=1 D=%d per-sample: one term per row, %s", w.rows, w.cols, what),
			Args: cpu.KernelArgs{int64(w.rows), int64(1), int64(w.cols), z, mu, lv, int64(w.cols), nil, int64(0),
				mixGarbage(r, w.rows), nil, nil},
			Work: 32 * w.rows, Sweep: true})
	}
	return cs
}

// mixBwdParamsSweep: mixture_bwd_params with lv = -h (cycling through h over rows of
// D = 8) and z - mu = 1 (dmu = g e^h, dlv = -g (1 - e^h)/2), per-sample (N = rows) and
// shared (K = rows, N = 1: e^-lv outside the loop over n); each output null in turn,
// accumulated, and with 8 rows fewer.
func mixBwdParamsSweep(r *rand.Rand, h []float32, rows int, what string) []Case {
	const D = 8
	lv := make([]float32, rows*D)
	for i := range lv {
		lv[i] = -h[i%len(h)]
	}
	var cs []Case
	for _, shared := range []bool{false, true} {
		N, K, stride, count := rows, 1, int64(D), 0
		if shared {
			N, K, stride, count = 1, rows, 0, 1
		}
		z := make([]float32, N*D)
		for i := range z {
			z[i] = 1
		}
		c := Case{Name: fmt.Sprintf("N=%d K=%d D=%d shared=%v: %s", N, K, D, shared, what),
			Args: cpu.KernelArgs{int64(N), int64(K), int64(D), z, make([]float32, rows*D), append([]float32(nil), lv...), stride,
				ewkPow2s(r, N*K), mixGarbage(r, rows*D), mixGarbage(r, rows*D), int64(0)},
			Work: rows * D, Sweep: true}
		for _, v := range sweepVariants(c, []int{8, 9}, 10, []int{8, 9}) {
			cs = append(cs, sweepPair(v, count, 64/D)...)
		}
	}
	return cs
}
