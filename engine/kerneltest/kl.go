package kerneltest

// Cases of the kl family (kernels/kl.cu): the sizes and layouts of the mixture cases
// (mixShapes), every nullable output null and not, both accumulate flags, and bad
// values: NaN in m, log-variances of +-80 and past exp's range, a NaN upstream
// gradient. Work is as in mixture.go (32 threads per warp-sized item).

import (
	"fmt"
	"math/rand"

	"github.com/gmvae/gmvae/engine/cpu"
)

func init() {
	register("kl_mixture", klMixtureCases)
	register("kl_mixture_bwd", klMixtureBwdCases)
	register("kl_std_normal", klStdNormalCases)
	register("kl_std_normal_bwd", klStdNormalBwdCases)
}

// klInputs draws m, s (N, D) and mu, lv (layout of sh), with the bad values of
// mixSpoil in (m, mu, lv) and log-variances s of -80 and +80 in row 1.
func klInputs(r *rand.Rand, sh mixShape) (m, s, mu, lv []float32) {
	m, mu, lv = mixInputs(r, sh, -3, 3)
	s = mixUniforms(r, sh.N*sh.D, -3, 3)
	mixSpoil(sh, m, mu, lv)
	if sh.N >= 3 && sh.D >= 2 {
		s[1*sh.D+0] = -80
		s[1*sh.D+1] = 80
	}
	return
}

func klMixtureCases(r *rand.Rand) []Case {
	var cases []Case
	for _, sh := range mixShapes {
		m, s, mu, lv := klInputs(r, sh)
		cases = append(cases, Case{
			Name: sh.name,
			Args: cpu.KernelArgs{int64(sh.N), int64(sh.K), int64(sh.D), m, s, mu, lv, sh.stride(),
				mixGarbage(r, sh.N*sh.K)},
			Work: 32 * sh.N * sh.K,
		})
	}
	return cases
}

func klMixtureBwdCases(r *rand.Rand) []Case {
	var cases []Case
	for i, sh := range mixShapes {
		m, s, mu, lv := klInputs(r, sh)
		gKL := mixNormals(r, sh.N*sh.K, 1)
		if sh.N >= 3 && sh.K >= 2 {
			gKL[1*sh.K+1] = mixNaN
		}
		nQ, nP := sh.N*sh.D, sh.nParams()
		// Output sets by case: all four; q only; params only; dm and dlv; ds and dmu.
		on := [5][4]bool{{true, true, true, true}, {true, true, false, false}, {false, false, true, true},
			{true, false, false, true}, {false, true, true, false}}[i%5]
		work := nQ
		if nP > work {
			work = nP
		}
		cases = append(cases, Case{
			Name: sh.name,
			Args: cpu.KernelArgs{int64(sh.N), int64(sh.K), int64(sh.D), m, s, mu, lv, sh.stride(), gKL,
				mixBuf(on[0], mixNormals(r, nQ, 1)), mixBuf(on[1], mixNormals(r, nQ, 1)), int64(i % 2),
				mixBuf(on[2], mixNormals(r, nP, 1)), mixBuf(on[3], mixNormals(r, nP, 1)), int64((i / 2) % 2)},
			Work: work,
		})
	}
	// No output at all: nothing may be written (and nothing read out of bounds).
	sh := mixShapes[3]
	m, s, mu, lv := klInputs(r, sh)
	cases = append(cases, Case{
		Name: sh.name + " all outputs null",
		Args: cpu.KernelArgs{int64(sh.N), int64(sh.K), int64(sh.D), m, s, mu, lv, sh.stride(),
			mixNormals(r, sh.N*sh.K, 1), nil, nil, int64(0), nil, nil, int64(0)},
		Work: sh.N * sh.D,
	})
	return cases
}

// klStdSizes are the (N, D) sizes of the KL(q || N(0, I)) cases.
var klStdSizes = [][2]int{{0, 5}, {1, 1}, {33, 31}, {8, 32}, {5, 33}, {3, 200}, {200, 3}}

func klStdNormalCases(r *rand.Rand) []Case {
	var cases []Case
	for _, sz := range klStdSizes {
		N, D := sz[0], sz[1]
		m, s := mixNormals(r, N*D, 2), mixUniforms(r, N*D, -4, 4)
		if N >= 3 && D >= 3 {
			m[0] = mixNaN
			s[D+0], s[D+1], s[D+2] = -80, 80, 100 // exp(100) = +Inf
		}
		cases = append(cases, Case{
			Name: fmt.Sprintf("N=%d D=%d", N, D),
			Args: cpu.KernelArgs{int64(N), int64(D), m, s, mixGarbage(r, N)},
			Work: 32 * N,
		})
	}
	return cases
}

func klStdNormalBwdCases(r *rand.Rand) []Case {
	var cases []Case
	for i, sz := range klStdSizes {
		N, D := sz[0], sz[1]
		m, s := mixNormals(r, N*D, 2), mixUniforms(r, N*D, -4, 4)
		g := mixNormals(r, N, 1)
		if N >= 3 && D >= 3 {
			g[2] = mixNaN
			s[D+0], s[D+1], s[D+2] = -80, 80, 100
		}
		cases = append(cases, Case{
			Name: fmt.Sprintf("N=%d D=%d", N, D),
			Args: cpu.KernelArgs{int64(N), int64(D), m, s, g, mixBuf(i%3 != 1, mixNormals(r, N*D, 1)),
				mixBuf(i%3 != 2, mixNormals(r, N*D, 1)), int64(i % 2)},
			Work: N * D,
		})
	}
	return cases
}

// klSensitive keeps the arguments h of exp for which e^h - 1 (or 1 - e^h) shows a
// change of e^h's last bit: above about -0.7 the subtraction loses no bit of e^h.
func klSensitive(x float32) bool { return x > -0.7 && x <= 88.8 }

// klRounding keeps the arguments for which e^h - 1, rounded, still often shows such a
// change: e^h above 2^-24 (below 1/2 the subtraction rounds, and a change of e^h's
// last bit moves its result across a rounding boundary in a good share of cases).
func klRounding(x float32) bool { return x > -16.6 && x <= 88.8 }

// klExpArgs returns exp's hard inputs that keep accepts and a sweep of n more.
func klExpArgs(r *rand.Rand, n int, keep func(float32) bool) []float32 {
	return append(hardFor("exp", keep), hardSweep("exp", r, n, keep)...)
}

func init() {
	// kl_std_normal: single-term rows (warpRows) with m = 0 and s = h, exp's hard
	// inputs above -0.7 and a sweep over exp's whole range (e^s - 1 far from exact);
	// dead terms m = s = 0 (t = +0).
	registerSweep("kl_std_normal", func(r *rand.Rand) []Case {
		h := append(klExpArgs(r, 100, klSensitive), hardSweep("exp", r, 200, func(x float32) bool { return x <= 88.8 })...)
		return klStdNormalRows(r, len(h), "s = exp's hard inputs", func(m, s []float32, at, j int) { s[at] = h[j] })
	})
	// kl_std_normal_bwd: s = exp's hard inputs above -16.6 and a sweep, g a power of two.
	registerSweep("kl_std_normal_bwd", func(r *rand.Rand) []Case {
		s := append(klExpArgs(r, 2000, klRounding), hardSweep("exp", r, 2000, func(x float32) bool { return x <= 88.8 })...)
		return klStdNormalBwdSweep(r, s, (len(s)+7)/8, "s = exp's hard inputs and a sweep")
	})
	// kl_mixture: per-sample parameters, K = 1, single-term rows; live terms show e^s
	// (m = mu = 0, lv = 0, s = h: t = e^h - h - 1) or e^-lv (s = 0, lv = -h); dead
	// terms m = mu = s = lv = 0 (t = 1 * 1 + (0 - 0 - 1) = +0).
	registerSweep("kl_mixture", func(r *rand.Rand) []Case {
		h := klExpArgs(r, 100, klSensitive)
		var cs []Case
		for _, w := range warpRowLayouts(len(h)) {
			t := w.cols / 32
			n := w.rows * w.cols
			m, s, mu, lv := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
			for k, at := range w.live {
				if k%2 == 0 {
					s[at] = h[k/t]
				} else {
					lv[at] = -h[k/t]
				}
			}
			cs = append(cs, Case{Name: fmt.Sprintf("N=%d K=1 D=%d per-sample: one term per row, exp's hard inputs", w.rows, w.cols),
				Args: cpu.KernelArgs{int64(w.rows), int64(1), int64(w.cols), m, s, mu, lv, int64(w.cols), mixGarbage(r, w.rows)},
				Work: 32 * w.rows, Sweep: true})
		}
		return cs
	})
	registerSweep("kl_mixture_bwd", klMixtureBwdSweeps)

	// After the sweeps above, so that their draws stay as they were:
	// halves of subnormals (halves.go): KL = 0.5 t with t = m·m one of halfTiny's.
	registerSweep("kl_std_normal", func(r *rand.Rand) []Case {
		ms, _ := squareRootsOf(halfTiny(), 1)
		return klStdNormalRows(r, len(ms), "m·m a subnormal whose half rounds", func(m, s []float32, at, j int) { m[at] = ms[j] })
	})
	registerSweep("kl_mixture_bwd", klMixtureBwdHalves)
	// exp's extremes in every element (extremes.go): e^s - 1 is +Inf or the largest
	// float, or -1 for a subnormal e^s; dmu = -g e^-lv with m - mu = 1, and dlv's
	// 1 - e^s e^-lv with m = mu and s = -1 (finite for the largest float, -Inf for +Inf).
	registerSweep("kl_std_normal_bwd", func(r *rand.Rand) []Case {
		h := expExtremes(r)
		return klStdNormalBwdSweep(r, h, 2*len(h), "s at exp's extremes in every element")
	})
	registerSweep("kl_mixture_bwd", func(r *rand.Rand) []Case {
		h := expExtremes(r)
		N := 2 * len(h)
		return append(klMixtureBwdPerSample(r, h, N, 1, 0, fmt.Sprintf("N=%d K=1 D=2 per-sample: lv and s at exp's extremes, m - mu = 1", N)),
			klMixtureBwdPerSample(r, h, N, 0, -1, fmt.Sprintf("N=%d K=1 D=2 per-sample: lv and s at exp's extremes, m = mu, s = -1", N))...)
	})
}

// klMixtureBwdSweeps: the sums over k (dm, ds) and over n (shared dmu, dlv) with one
// live term each, at every position of loops of 1 to 8 steps (so that every unrolled
// copy of the loop body computes one); the other steps have g = 0 and lv = 0 (they add
// +0). A live term shows e^-lv (m - mu = 1, s = 0: dm = e^h, ds = (e^h - 1)/2 with
// lv = -h) or e^s (lv = 0, s = h: ds = (e^h - 1)/2); then per-sample parameters,
// elementwise, the same two kinds.
func klMixtureBwdSweeps(r *rand.Rand) []Case {
	h := klExpArgs(r, 60, klRounding)
	var cs []Case
	for L := 1; L <= 8; L++ {
		// dm, ds: loop over k = 0..K-1 with K = L; rows n = (value, position).
		K, D := L, 2
		N := len(h) * L
		m, s := make([]float32, N*D), make([]float32, N*D)
		mu, lv := make([]float32, N*K*D), make([]float32, N*K*D)
		gKL := make([]float32, N*K)
		for n := 0; n < N; n++ {
			v, j := h[n/L], n%L
			gKL[n*K+j] = 1
			m[n*D+0] = 1
			lv[n*K*D+j*D+0] = -v // d = 0: e^-lv through dm and ds
			s[n*D+1] = v         // d = 1: e^s through ds
		}
		cs = append(cs, sweepVariants(Case{Name: fmt.Sprintf("N=%d K=%d D=%d per-sample, dm ds: one live k per row", N, K, D),
			Args: cpu.KernelArgs{int64(N), int64(K), int64(D), m, s, mu, lv, int64(K * D), gKL,
				mixNormals(r, N*D, 1), mixNormals(r, N*D, 1), int64(0), nil, nil, int64(0)},
			Work: N * D, Sweep: true}, []int{9, 10}, 11, []int{9, 10})...)
		// Shared dmu, dlv: loop over n = 0..N-1 with N = L; component k is live at
		// n = k only, every column d has s = h[d] (dlv's r = 1 - e^h at each step).
		N, K, D = L, L, len(h)
		m, s = make([]float32, N*D), make([]float32, N*D)
		mu, lv = make([]float32, K*D), make([]float32, K*D)
		gKL = make([]float32, N*K)
		for n := 0; n < N; n++ {
			copy(s[n*D:], h)
			gKL[n*K+n] = 1
		}
		cs = append(cs, sweepVariants(Case{Name: fmt.Sprintf("N=%d K=%d D=%d shared, dmu dlv: one live n per component", N, K, D),
			Args: cpu.KernelArgs{int64(N), int64(K), int64(D), m, s, mu, lv, int64(0), gKL,
				nil, nil, int64(0), mixNormals(r, K*D, 1), mixNormals(r, K*D, 1), int64(0)},
			Work: K * D, Sweep: true}, []int{12, 13}, 14, []int{12, 13})...)
	}
	// Shared, e^-lv outside the loop over n: N = 1, m - mu = 1, dmu = -e^h.
	{
		N, K, D := 1, len(h), 1
		lv := make([]float32, K)
		for k := range lv {
			lv[k] = -h[k]
		}
		cs = append(cs, sweepVariants(Case{Name: fmt.Sprintf("N=1 K=%d D=1 shared, dmu dlv: lv = -h", K),
			Args: cpu.KernelArgs{int64(N), int64(K), int64(D), []float32{1}, []float32{0}, make([]float32, K), lv, int64(0),
				ewkPow2s(r, K), nil, nil, int64(0), mixNormals(r, K, 1), mixNormals(r, K, 1), int64(0)},
			Work: K, Sweep: true}, []int{12, 13}, 14, []int{12, 13})...)
	}
	// Per-sample dmu, dlv, elementwise: K = 1, D = 2 as above.
	return append(cs, klMixtureBwdPerSample(r, h, len(h), 1, 0, fmt.Sprintf("N=%d K=1 D=2 per-sample, dmu dlv", len(h)))...)
}

// klMixtureBwdPerSample: kl_mixture_bwd with per-sample parameters, elementwise (K = 1,
// D = 2), N samples cycling through h: lv = -h in column 0, with m - mu = diff and
// s = s0 there, and s = h in column 1; g powers of two; dmu and dlv each null in turn,
// accumulated, and with 32 samples fewer.
func klMixtureBwdPerSample(r *rand.Rand, h []float32, N int, diff, s0 float32, name string) []Case {
	K, D := 1, 2
	m, s := make([]float32, N*D), make([]float32, N*D)
	mu, lv := make([]float32, N*D), make([]float32, N*D)
	gKL := ewkPow2s(r, N)
	for n := 0; n < N; n++ {
		m[n*D+0] = diff
		s[n*D+0] = s0
		lv[n*D+0] = -h[n%len(h)]
		s[n*D+1] = h[n%len(h)]
	}
	var cs []Case
	for _, v := range sweepVariants(Case{Name: name,
		Args: cpu.KernelArgs{int64(N), int64(K), int64(D), m, s, mu, lv, int64(K * D), gKL,
			nil, nil, int64(0), mixNormals(r, N*D, 1), mixNormals(r, N*D, 1), int64(0)},
		Work: N * D, Sweep: true}, []int{12, 13}, 14, []int{12, 13}) {
		cs = append(cs, sweepPair(v, 0, 32)...)
	}
	return cs
}

// klStdNormalRows returns kl_std_normal's single-term rows (warpRowLayouts) for n live
// values: live(m, s, at, j) sets element at, the term of value j; dead terms have
// m = s = 0 (t = +0).
func klStdNormalRows(r *rand.Rand, n int, what string, live func(m, s []float32, at, j int)) []Case {
	var cs []Case
	for _, w := range warpRowLayouts(n) {
		t := w.cols / 32
		size := w.rows * w.cols
		m, s := make([]float32, size), make([]float32, size)
		for k, at := range w.live {
			live(m, s, at, k/t)
		}
		cs = append(cs, Case{Name: fmt.Sprintf("N=%d D=%d: one term per row, %s", w.rows, w.cols, what),
			Args: cpu.KernelArgs{int64(w.rows), int64(w.cols), m, s, mixGarbage(r, w.rows)}, Work: 32 * w.rows, Sweep: true})
	}
	return cs
}

// klStdNormalBwdSweep: kl_std_normal_bwd on N rows of D = 8 whose s cycle through
// vals, g powers of two; dm and ds each null in turn, accumulated, and with 8 rows
// fewer.
func klStdNormalBwdSweep(r *rand.Rand, vals []float32, N int, what string) []Case {
	const D = 8
	ss := make([]float32, N*D)
	for i := range ss {
		ss[i] = vals[i%len(vals)]
	}
	c := Case{Name: fmt.Sprintf("N=%d D=%d: %s", N, D, what),
		Args: cpu.KernelArgs{int64(N), int64(D), mixNormals(r, N*D, 2), ss, ewkPow2s(r, N),
			mixNormals(r, N*D, 1), mixNormals(r, N*D, 1), int64(0)}, Work: N * D, Sweep: true}
	var cs []Case
	for _, v := range sweepVariants(c, []int{5, 6}, 7, []int{5, 6}) {
		cs = append(cs, sweepPair(v, 0, 64/D)...)
	}
	return cs
}
