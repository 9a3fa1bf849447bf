package kerneltest

import (
	"fmt"
	"math"
	"math/rand"

	"github.com/gmvae/gmvae/engine/cpu"
	"github.com/gmvae/gmvae/kernels"
)

// Cases of adam_step (kernels/adam.cu): awkward sizes, several hyper-parameter sets
// (weight decay off and on, early and late steps' bias corrections), gradients over
// many scales with zeros, subnormals, NaN and +-Inf, and garbage past n in every
// buffer (p, m, v are updated in place, so elements past n must come back unchanged).
func init() {
	register("adam_step", func(r *rand.Rand) []Case {
		type hyper struct {
			lr, beta1, beta2, eps, wd float32
			t                         int
		}
		hps := []hyper{
			{1e-3, 0.9, 0.999, 1e-8, 0, 1},
			{1e-4, 0.9, 0.999, 1e-8, 0, 1000},
			{3e-3, 0.9, 0.99, 1e-6, 0.01, 7},
			{1e-2, 0.5, 0.9, 1e-1, 0.5, 3},
			// lr = 1: p's new value is about -u, so every bit of the update (and of
			// the weight-decay fma) shows in p; with small lr most are rounded away.
			{1, 0.9, 0.999, 1e-8, 0.7, 5},
		}
		inf := float32(math.Inf(1))
		special := []float32{0, float32(math.Copysign(0, -1)), 1e-40, -1e-45, 1e30, -1e30,
			float32(math.NaN()), inf, -inf}
		var cs []Case
		for hi, hp := range hps {
			for _, n := range []int{0, 1, 3, 4, 5, 31, 32, 33, 257, 1000} {
				if hi > 1 && n > 130 {
					continue
				}
				p, g := randGarbage(r, n), randGarbage(r, n)
				m, v := randGarbage(r, n), randGarbage(r, n)
				for i := 0; i < n; i++ {
					p[i] = float32(r.NormFloat64())
					g[i] = float32(r.NormFloat64() * math.Pow(10, float64(r.Intn(9)-4)))
					if i%13 == 6 {
						g[i] = special[(i/13)%len(special)]
					}
					if hp.t > 1 {
						m[i] = float32(r.NormFloat64() * 0.1)
						v[i] = float32(r.Float64() * 0.01)
					} else {
						m[i], v[i] = 0, 0
					}
				}
				bc1, bc2 := kernels.AdamBiasCorrections(hp.beta1, hp.beta2, hp.t)
				cs = append(cs, Case{
					Name: fmt.Sprintf("n=%d lr=%g betas=(%g,%g) eps=%g wd=%g t=%d", n, hp.lr, hp.beta1, hp.beta2, hp.eps, hp.wd, hp.t),
					Args: cpu.KernelArgs{p, g, m, v, int64(n), hp.lr, hp.beta1, hp.beta2, hp.eps, hp.wd, bc1, bc2},
					Work: n,
				})
			}
		}
		return cs
	})
}

func init() {
	// Betas below 1/2, where 1 - beta is not exact (beta = 0.1, 0.3 + 1 ulp), with
	// moments and gradients of every scale: lr = 1 so that the update's bits show in p.
	registerSweep("adam_step", func(r *rand.Rand) []Case {
		var cs []Case
		for _, b := range [][2]float32{{0.1, 0.30000004}, {0.9, 0.999}, {0.45, 0.2}} {
			const n = 2000
			p, g, m, v := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
			for i := 0; i < n; i++ {
				p[i] = float32(r.NormFloat64())
				g[i] = float32(r.NormFloat64() * math.Pow(10, 4*r.Float64()-2))
				m[i] = float32(r.NormFloat64() * math.Pow(10, 4*r.Float64()-3))
				v[i] = float32(r.Float64() * math.Pow(10, 4*r.Float64()-4))
			}
			bc1, bc2 := kernels.AdamBiasCorrections(b[0], b[1], 3)
			cs = append(cs, sweepPair(Case{Name: fmt.Sprintf("n=%d lr=1 betas=(%g,%g) wd=0.3 t=3", n, b[0], b[1]),
				Args: cpu.KernelArgs{p, g, m, v, int64(n), float32(1), b[0], b[1], float32(1e-3), float32(0.3), bc1, bc2},
				Work: n, Sweep: true}, 4, 64)...)
		}
		return cs
	})
}
