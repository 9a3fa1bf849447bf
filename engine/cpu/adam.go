package cpu

import (
	"math"

	"github.com/gmvae/gmvae/kernels/fmath"
)

// Twin of kernels/adam.cu: the optimizer step.

func init() {
	registerTwin("adam_step", func(a KernelArgs) {
		AdamStep(a.F32s(0), a.F32s(1), a.F32s(2), a.F32s(3), a.Int(4),
			a.F32(5), a.F32(6), a.F32(7), a.F32(8), a.F32(9), a.F32(10), a.F32(11))
	})
}

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

// AdamBiasCorrections returns Adam's bias corrections for step t >= 1:
// bc1 = 1 - beta1^t and bc2 = 1 - beta2^t, computed in float64 from the exact float32
// values of beta1 and beta2 (math.Pow, which for an integer exponent is exponentiation
// by squaring in pure Go: the same bits on amd64 and arm64), then rounded to float32. The host passes them to adam_step, so the GPU and the CPU
// use the same values. It panics when t < 1 (bc would be 0: a programming error).
func AdamBiasCorrections(beta1, beta2 float32, t int) (bc1, bc2 float32) {
	if t < 1 {
		panic("cpu: AdamBiasCorrections: step t must be >= 1")
	}
	bc1 = float32(1 - math.Pow(float64(beta1), float64(t)))
	bc2 = float32(1 - math.Pow(float64(beta2), float64(t)))
	return bc1, bc2
}
