package cpu

import (
	"math"

	"github.com/gmvae/gmvae/kernels/fmath"
)

// Twin of kernels/adam.cu: the optimizer step.

// adamGrain: below 2*adamGrain parameters one goroutine does the step.
const adamGrain = 1 << 16

// AdamStep performs one Adam step with decoupled weight decay (AdamW) in place on the
// parameters p and the moments m, v, given the gradient g; p, g, m, v are (n). With
// c1 = 1 - beta1 and c2 = 1 - beta2 (one float32 subtraction each), for every i, in
// this order:
//
//	m1   = FMA(beta1, m[i], c1*g[i])
//	v1   = FMA(beta2, v[i], (c2*g[i])*g[i])
//	u    = (m1/bc1) / (sqrt(v1/bc2) + eps)
//	u    = FMA(weightDecay, p[i], u)          only when weightDecay != 0
//	p[i] = FMA(-lr, u, p[i]);  m[i] = m1;  v[i] = v1
//
// that is p <- p - lr*(mhat/(sqrt(vhat)+eps) + wd*p). bc1, bc2 are the bias corrections
// 1 - beta^t of step t (AdamBiasCorrections). A NaN or Inf gradient makes that
// element's m, v and p NaN for good: check the loss and gradients before stepping.
// Twin of adam_step. On amd64 with AVX2+FMA the loop runs 8 parameters per step in
// adamStep8 (ew_amd64.s), lane by lane the same operations.
func AdamStep(p, g, m, v []float32, n int, lr, beta1, beta2, eps, weightDecay, bc1, bc2 float32) {
	p, g, m, v = p[:n], g[:n], m[:n], v[:n]
	c1 := 1 - beta1
	c2 := 1 - beta2
	useWd := 0
	if weightDecay != 0 {
		useWd = 1
	}
	ewParallel(n, adamGrain, func(lo, hi int) {
		if ewAsm {
			// The vector kernel on the multiple of 8, the loop below on the rest.
			if n8 := (hi - lo) &^ 7; n8 > 0 {
				adamStep8(&p[lo], &g[lo], &m[lo], &v[lo], n8, -lr, beta1, beta2, eps, weightDecay,
					bc1, bc2, c1, c2, useWd)
				lo += n8
			}
		}
		for i := lo; i < hi; i++ {
			gi := g[i]
			pi := p[i]
			m1 := fmath.FMA(beta1, m[i], float32(c1*gi))
			v1 := fmath.FMA(beta2, v[i], float32(float32(c2*gi)*gi))
			mhat := m1 / bc1
			vhat := v1 / bc2
			u := mhat / (float32(math.Sqrt(float64(vhat))) + eps)
			if weightDecay != 0 {
				u = fmath.FMA(weightDecay, pi, u)
			}
			p[i] = fmath.FMA(-lr, u, pi)
			m[i] = m1
			v[i] = v1
		}
	})
}
