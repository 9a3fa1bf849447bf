package kerneltest

// Inputs for the products by +-1/2 that round only when they are subnormal: KL and
// log-density sums halved at the end (kl_std_normal, gaussian_loglik), and the halved
// gradients of kl_mixture_bwd. Each case makes the halved value one of halfTiny's
// subnormals, whose half lies exactly between two floats: rounding to nearest even
// and towards zero (or up, or down) then give different bits. Without these cases a
// kernel that rounded those halves in another mode passed the comparison
// (docs/mutants.md). The family files register them after their other sweeps.

import (
	"fmt"
	"math"
	"math/rand"

	"github.com/gmvae/gmvae/engine/cpu"
	"github.com/gmvae/gmvae/kernels/fmath"
)

// halfTiny returns subnormal floats k·2^-149 with k ≡ 3 (mod 4), small and large, of
// both signs: k/2 = 2j + 1.5 rounds to 2j + 2 to nearest even and to 2j + 1 towards
// zero.
func halfTiny() []float32 {
	var out []float32
	for _, k := range []int{3, 7, 11, 15, 255, 4095, 1<<20 - 1, 1<<23 - 1} {
		v := float32(math.Ldexp(float64(k), -149))
		out = append(out, v, -v)
	}
	return out
}

// squareRootsOf returns, for each positive target t, a float m with m·m rounding to t
// (the products of kl_std_normal and gaussian_loglik's fma(s, s, 0)), searching the
// floats around sqrt(t)/scale (the value before a product by scale) and keeping
// scale·m rounded; targets without such a float are left out.
func squareRootsOf(targets []float32, scale float32) (pre, post []float32) {
	for _, t := range targets {
		if t <= 0 {
			continue
		}
		m0 := float32(math.Sqrt(float64(t)) / float64(scale))
		c := m0
		for range 64 { // step down to the lowest candidate, then up through all
			c = math.Nextafter32(c, 0)
		}
		for range 128 {
			s := c * scale
			if float32(float64(s)*float64(s)) == t {
				pre, post = append(pre, c), append(post, s)
				break
			}
			c = math.Nextafter32(c, float32(math.Inf(1)))
		}
	}
	return pre, post
}

// lkkGaussLoglikHalves: gaussian_loglik with lv = -log(2 pi) everywhere, so that
// log(2 pi) + lv = 0 and each term is s·s with s = (x - mu) e^(-lv/2); one live term
// per row makes s·s one of halfTiny's subnormals; out = -0.5 sum.
func lkkGaussLoglikHalves(r *rand.Rand) []Case {
	h := fmath.Exp(-0.5 * -fmath.Log2Pi)
	ds, _ := squareRootsOf(halfTiny(), h)
	var cs []Case
	for _, w := range warpRowLayouts(len(ds)) {
		t := w.cols / 32
		n := w.rows * w.cols
		x, mu, lv := make([]float32, n), make([]float32, n), make([]float32, n)
		for i := range lv {
			lv[i] = -fmath.Log2Pi
		}
		for k, at := range w.live {
			x[at] = ds[k/t]
			if k%2 == 1 { // mu carries the difference's sign
				x[at], mu[at] = 0, -x[at]
			}
		}
		cs = append(cs, Case{Name: fmt.Sprintf("rows=%d cols=%d: one term per row, s·s a subnormal whose half rounds", w.rows, w.cols),
			Args: cpu.KernelArgs{x, mu, lv, ewkGarbage(r, w.rows), int64(w.rows), int64(w.cols)}, Work: 32 * w.rows, Sweep: true})
	}
	return cs
}

// klMixtureBwdHalves: kl_mixture_bwd with lv = 105, so e^-lv = 0 and, with s = 0,
// the factors are e^s e^-lv - 1 = -1 (ds) and 1 - (diff² + e^s) e^-lv = 1 (dlv): each
// halved gradient is half a sum of the upstream gradients, which are halfTiny's. Per
// sample (K = 1: ds and dlv each halve one g) and shared (N = 1: dlv halves one g per
// component; ds halves their exact subnormal sum).
func klMixtureBwdHalves(r *rand.Rand) []Case {
	g := halfTiny()
	n := len(g)
	fill := func(n int, v float32) []float32 {
		b := make([]float32, n)
		for i := range b {
			b[i] = v
		}
		return b
	}
	per := Case{Name: fmt.Sprintf("N=%d K=1 D=1 per-sample: lv = 105, g subnormal: halved gradients round", n),
		Args: cpu.KernelArgs{int64(n), int64(1), int64(1), make([]float32, n), make([]float32, n), make([]float32, n), fill(n, 105), int64(1), g,
			mixNormals(r, n, 1), mixNormals(r, n, 1), int64(0), mixNormals(r, n, 1), mixNormals(r, n, 1), int64(0)},
		Work: n, Sweep: true}
	shared := Case{Name: fmt.Sprintf("N=1 K=%d D=1 shared: lv = 105, g subnormal: halved gradients round", n),
		Args: cpu.KernelArgs{int64(1), int64(n), int64(1), []float32{0}, []float32{0}, make([]float32, n), fill(n, 105), int64(0), g,
			mixNormals(r, 1, 1), mixNormals(r, 1, 1), int64(0), mixNormals(r, n, 1), mixNormals(r, n, 1), int64(0)},
		Work: n, Sweep: true}
	var cs []Case
	for _, c := range []Case{per, shared} {
		cs = append(cs, sweepVariants(c, []int{9, 10}, 11, []int{9, 10})...)
		cs = append(cs, sweepVariants(c, []int{12, 13}, 14, []int{12, 13})[1:]...)
	}
	return cs
}
