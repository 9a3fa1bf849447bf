package kerneltest

// Sweeps at the two ends of exp's range, in every element: exp's last scaling p·2^k
// (gm_math.cuh:102) rounds only when e^x overflows (88.72 < x <= 88.8: +Inf to
// nearest, the largest float towards zero) or is subnormal (x below -87.34). The
// other sweeps put such arguments in a few elements only, which left some unrolled
// copies of the loops without one (docs/mutants.md). Each case here repeats a handful
// of extreme arguments over every element, in the layouts of the kernel's other
// sweeps.

import (
	"fmt"
	"math/rand"

	"github.com/gmvae/gmvae/engine/cpu"
)

// expExtremes returns exp arguments whose result overflows (to +Inf when rounded to
// nearest) or is subnormal: fixed ones and eight drawn uniformly from each range.
func expExtremes(r *rand.Rand) []float32 {
	xs := []float32{88.7229, 88.73, 88.75, 88.79, 88.8, -87.4, -88, -90, -93, -96, -100, -103, -103.9}
	for range 8 {
		xs = append(xs, 88.723+0.077*r.Float32(), -103.9+16.5*r.Float32())
	}
	return xs
}

// extremeScale is lkkExpScale(h, target) kept within float32's powers of two.
func extremeScale(h float32, target int) int { return max(min(lkkExpScale(h, target), 127), -149) }

func init() {
	// kl_std_normal_bwd: s = the extremes (e^s - 1 = +Inf or the largest float; -1
	// for a subnormal e^s), g a power of two.
	registerSweep("kl_std_normal_bwd", func(r *rand.Rand) []Case {
		h := expExtremes(r)
		const D = 8
		N := 2 * len(h)
		s := make([]float32, N*D)
		for i := range s {
			s[i] = h[i%len(h)]
		}
		c := Case{Name: fmt.Sprintf("N=%d D=%d: s at exp's extremes in every element", N, D),
			Args: cpu.KernelArgs{int64(N), int64(D), mixNormals(r, N*D, 2), s, ewkPow2s(r, N),
				mixNormals(r, N*D, 1), mixNormals(r, N*D, 1), int64(0)}, Work: N * D, Sweep: true}
		var cs []Case
		for _, v := range sweepVariants(c, []int{5, 6}, 7, []int{5, 6}) {
			cs = append(cs, sweepPair(v, 0, 64/D)...)
		}
		return cs
	})
	// mixture_bwd_params: lv = -h at the extremes, z - mu = 1 (dmu = g e^h), per-sample
	// and shared, as in its other sweep.
	registerSweep("mixture_bwd_params", func(r *rand.Rand) []Case {
		h := expExtremes(r)
		const D = 8
		rows := 2 * len(h)
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
			c := Case{Name: fmt.Sprintf("N=%d K=%d D=%d shared=%v: lv at exp's extremes, z - mu = 1", N, K, D, shared),
				Args: cpu.KernelArgs{int64(N), int64(K), int64(D), z, make([]float32, rows*D), append([]float32(nil), lv...), stride,
					ewkPow2s(r, N*K), mixGarbage(r, rows*D), mixGarbage(r, rows*D), int64(0)},
				Work: rows * D, Sweep: true}
			for _, v := range sweepVariants(c, []int{8, 9}, 10, []int{8, 9}) {
				cs = append(cs, sweepPair(v, count, 64/D)...)
			}
		}
		return cs
	})
	// kl_mixture_bwd, per-sample parameters elementwise (K = 1, D = 2): lv = -h in
	// column 0, s = h in column 1. Column 0 has m - mu = 1 and s = 0 (dmu = -g e^h), or
	// m = mu and s = -1, where dlv's 1 - e^s e^h stays finite when e^h is the largest
	// float (and is -Inf when it is +Inf).
	registerSweep("kl_mixture_bwd", func(r *rand.Rand) []Case {
		h := expExtremes(r)
		N, K, D := 2*len(h), 1, 2
		var cs []Case
		for _, diff := range []float32{1, 0} {
			m, s := make([]float32, N*D), make([]float32, N*D)
			mu, lv := make([]float32, N*D), make([]float32, N*D)
			for n := 0; n < N; n++ {
				m[n*D+0] = diff
				if diff == 0 {
					s[n*D+0] = -1
				}
				lv[n*D+0] = -h[n%len(h)]
				s[n*D+1] = h[n%len(h)]
			}
			for _, v := range sweepVariants(Case{Name: fmt.Sprintf("N=%d K=1 D=%d per-sample: lv and s at exp's extremes, m - mu = %g", N, D, diff),
				Args: cpu.KernelArgs{int64(N), int64(K), int64(D), m, s, mu, lv, int64(K * D), ewkPow2s(r, N),
					nil, nil, int64(0), mixNormals(r, N*D, 1), mixNormals(r, N*D, 1), int64(0)},
				Work: N * D, Sweep: true}, []int{12, 13}, 14, []int{12, 13}) {
				cs = append(cs, sweepPair(v, 0, 32)...)
			}
		}
		return cs
	})
	// gaussian_loglik_bwd: lv = -2h at the extremes, x - mu a power of two making s
	// about 1 where float32 allows.
	registerSweep("gaussian_loglik_bwd", func(r *rand.Rand) []Case {
		h := expExtremes(r)
		const cols = 8
		rows := 2 * len(h)
		n := rows * cols
		x, mu, lv := make([]float32, n), make([]float32, n), make([]float32, n)
		for i := 0; i < n; i++ {
			v := h[i%len(h)]
			lv[i] = -2 * v
			x[i] = hardPow2(extremeScale(v, 0))
			if i%2 == 1 {
				x[i], mu[i] = 0, x[i]
			}
		}
		c := Case{Name: fmt.Sprintf("rows=%d cols=%d: lv at exp's extremes", rows, cols),
			Args: cpu.KernelArgs{x, mu, lv, ewkPow2s(r, rows), ewkGarbage(r, n), ewkGarbage(r, n),
				int64(rows), int64(cols), int64(0)}, Work: n, Sweep: true}
		var cs []Case
		for _, v := range sweepVariants(c, []int{4, 5}, 8, []int{4, 5}) {
			cs = append(cs, sweepPair(v, 6, 64/cols)...)
		}
		return cs
	})
	// reparam_bwd: lv = 2h at the extremes, eps = 1: dlv = dz e^h / 2.
	registerSweep("reparam_bwd", func(r *rand.Rand) []Case {
		h := expExtremes(r)
		n := 8 * len(h)
		lv, eps := make([]float32, n), make([]float32, n)
		for i := range lv {
			lv[i], eps[i] = 2*h[i%len(h)], 1
		}
		c := Case{Name: fmt.Sprintf("n=%d lv at exp's extremes, eps = 1", n),
			Args: cpu.KernelArgs{lv, eps, ewkPow2s(r, n), randGarbage(r, n), randGarbage(r, n), int64(n), int64(0)},
			Work: n, Sweep: true}
		var cs []Case
		for _, v := range sweepVariants(c, []int{3}, 6, []int{3, 4}) {
			cs = append(cs, sweepPair(v, 5, 64)...)
		}
		return cs
	})
	// mixture_loglik: single-term rows, the live term's lv = -h at the extremes and
	// z - mu a power of two (e^-lv = +Inf or the largest float; subnormal e^-lv scaled
	// up), dead terms z = mu = 0, lv = -log(2 pi).
	registerSweep("mixture_loglik", func(r *rand.Rand) []Case {
		h := expExtremes(r)
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
				z[at] = hardPow2(max(min(extremeScale(v, 34)/2, 63), -74))
				if k%2 == 1 {
					z[at], mu[at] = 0, z[at]
				}
			}
			cs = append(cs, Case{Name: fmt.Sprintf("N=%d K=1 D=%d per-sample: one term per row, lv at exp's extremes", w.rows, w.cols),
				Args: cpu.KernelArgs{int64(w.rows), int64(1), int64(w.cols), z, mu, lv, int64(w.cols), nil, int64(0),
					mixGarbage(r, w.rows), nil, nil},
				Work: 32 * w.rows, Sweep: true})
		}
		return cs
	})
}
