package cpu

import (
	"math"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/kernels"
)

// adamRef is the same AdamW update in float64 (betas and hyper-parameters taken as the
// float64 values of their float32s, bias corrections exact in float64), carrying
// rigorous-in-spirit bounds bm, bv, bp on the float32 twin's distance from it.
//
// Each step of the twin rounds a few times, each rounding off by at most 2^-24 of the
// value rounded: m1 = FMA(b1, m, c1*g) rounds twice (<= 2 * 2^-24 (b1|m| + c1|g|)),
// v1 three times; old errors are multiplied by beta. The update u = mhat/(sqrt(vhat) +
// eps) (+ wd*p) inherits m's absolute error over bc1*den, half of v's relative error,
// and adds about six roundings of |u|; p = FMA(-lr, u, p) adds lr times u's error and
// one rounding of p. The bounds below take each of these terms with a factor 2 margin.
type adamRef struct {
	p, m, v    []float64
	bp, bm, bv []float64
}

func newAdamRef(p []float32) *adamRef {
	n := len(p)
	r := &adamRef{make([]float64, n), make([]float64, n), make([]float64, n),
		make([]float64, n), make([]float64, n), make([]float64, n)}
	for i := range p {
		r.p[i] = float64(p[i])
	}
	return r
}

func (r *adamRef) step(g []float32, t int, lr, beta1, beta2, eps, wd float32) {
	const e = 1.0 / (1 << 24)
	b1, b2 := float64(beta1), float64(beta2)
	c1, c2 := float64(1-beta1), float64(1-beta2) // exact in float32 for beta in [0.5, 1]
	bc1, bc2 := 1-math.Pow(b1, float64(t)), 1-math.Pow(b2, float64(t))
	for i := range r.p {
		gi := float64(g[i])
		r.bm[i] = b1*r.bm[i] + 2*2*e*(b1*math.Abs(r.m[i])+c1*math.Abs(gi))
		r.bv[i] = b2*r.bv[i] + 2*3*e*(b2*r.v[i]+c2*gi*gi)
		r.m[i] = b1*r.m[i] + c1*gi
		r.v[i] = b2*r.v[i] + c2*gi*gi
		den := math.Sqrt(r.v[i]/bc2) + float64(eps)
		um := r.m[i] / bc1 / den
		u := um + float64(wd)*r.p[i]
		relV := 0.0
		if r.v[i] > 0 {
			relV = r.bv[i] / r.v[i]
		}
		bu := 2 * (r.bm[i]/bc1/den + math.Abs(um)*(relV/2+6*e) + float64(wd)*(r.bp[i]+2*e*math.Abs(r.p[i])) + e*math.Abs(u))
		r.p[i] -= float64(lr) * u
		r.bp[i] += 2 * (float64(lr)*bu + e*math.Abs(r.p[i]))
	}
}

// TestAdamStep runs 100 steps of the float32 twin and of the float64 reference of the
// same update side by side, on random gradients of scales 1e-4..1e4, with and without
// weight decay, and checks |m32 - m64| <= bm, |v32 - v64| <= bv, |p32 - p64| <= bp
// after every step (adamRef: the propagated rounding bounds with a factor 2 margin).
func TestAdamStep(t *testing.T) {
	for _, hp := range []struct {
		name                      string
		lr, beta1, beta2, eps, wd float32
	}{
		{"default", 1e-3, 0.9, 0.999, 1e-8, 0},
		{"paper A", 1e-4, 0.9, 0.999, 1e-8, 0},
		{"adamw", 3e-3, 0.9, 0.99, 1e-6, 0.01},
		{"big eps", 1e-2, 0.5, 0.9, 1e-1, 0.5},
	} {
		r := rand.New(rand.NewSource(7))
		const n = 1000
		p, m, v := make([]float32, n), make([]float32, n), make([]float32, n)
		for i := range p {
			p[i] = float32(r.NormFloat64())
		}
		ref := newAdamRef(p)
		g := make([]float32, n)
		worstM, worstV, worstP := 0.0, 0.0, 0.0
		ratio := func(d, b float64) float64 {
			if d == 0 {
				return 0
			}
			return d / b
		}
		for step := 1; step <= 100; step++ {
			for i := range g {
				g[i] = float32(r.NormFloat64() * math.Pow(10, float64(i%9-4)))
			}
			bc1, bc2 := kernels.AdamBiasCorrections(hp.beta1, hp.beta2, step)
			AdamStep(p, g, m, v, n, hp.lr, hp.beta1, hp.beta2, hp.eps, hp.wd, bc1, bc2)
			ref.step(g, step, hp.lr, hp.beta1, hp.beta2, hp.eps, hp.wd)
			for i := 0; i < n; i++ {
				em := ratio(math.Abs(float64(m[i])-ref.m[i]), ref.bm[i])
				ev := ratio(math.Abs(float64(v[i])-ref.v[i]), ref.bv[i])
				ep := ratio(math.Abs(float64(p[i])-ref.p[i]), ref.bp[i])
				worstM, worstV, worstP = math.Max(worstM, em), math.Max(worstV, ev), math.Max(worstP, ep)
				if em > 1 || ev > 1 || ep > 1 { // one require call, at the first element out of bounds
					require.Failf(t, "Adam state beyond its bound of the float64 reference", "%s step %d i=%d: m %g (ref %g +- %g), v %g (ref %g +- %g), p %.9g (ref %.9g +- %g)",
						hp.name, step, i, m[i], ref.m[i], ref.bm[i], v[i], ref.v[i], ref.bv[i], p[i], ref.p[i], ref.bp[i])
				}
			}
		}
		t.Logf("%s: 100 steps, worst error / bound: m %.3f, v %.3f, p %.3f", hp.name, worstM, worstV, worstP)
	}
}

// TestAdamStepExact checks the documented operation order on one element against a
// hand-written float32 computation, and the special cases: weight decay 0 is exactly
// off, pure weight decay, NaN and Inf gradients, awkward n with nothing written past n.
func TestAdamStepExact(t *testing.T) {
	p, g, m, v := []float32{0.75}, []float32{-0.3}, []float32{0.02}, []float32{0.001}
	lr, b1, b2, eps, wd := float32(1e-3), float32(0.9), float32(0.999), float32(1e-8), float32(0)
	bc1, bc2 := kernels.AdamBiasCorrections(b1, b2, 3)
	m1 := float32(float64(b1)*float64(m[0]) + float64(float32((1-b1)*g[0]))) // exact product, one rounding
	v1 := float32(float64(b2)*float64(v[0]) + float64(float32(float32((1-b2)*g[0])*g[0])))
	u := (m1 / bc1) / (float32(math.Sqrt(float64(v1/bc2))) + eps)
	p1 := float32(float64(p[0]) - float64(lr)*float64(u))
	AdamStep(p, g, m, v, 1, lr, b1, b2, eps, wd, bc1, bc2)
	assert.Equal(t, [3]float32{p1, m1, v1}, [3]float32{p[0], m[0], v[0]}, "one element: (p, m, v)")

	// Zero gradient and zero moments: only the decay acts, p *= 1 - lr*wd (to one
	// rounding: p - lr*(wd*p) with u = 0 + wd*p exact in the fma).
	p = []float32{2, -3, 0}
	AdamStep(p, make([]float32, 3), make([]float32, 3), make([]float32, 3), 3, 0.1, 0.9, 0.999, 1e-8, 0.5, 0.1, 0.001)
	assert.Equal(t, []float32{1.9, -2.85, 0}, p, "pure decay")

	// NaN and Inf gradients make that element's p, m, v NaN (Inf: m = Inf, v = Inf,
	// Inf/Inf = NaN); the other elements are untouched by them.
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	p = []float32{1, 1, 1, 1}
	g = []float32{nan, inf, -inf, 0.5}
	m, v = make([]float32, 4), make([]float32, 4)
	AdamStep(p, g, m, v, 4, 1e-3, 0.9, 0.999, 1e-8, 0, 0.1, 0.001)
	for i := 0; i < 3; i++ {
		assert.True(t, math.IsNaN(float64(p[i])), "g = %g: p = %g, want NaN", g[i], p[i])
	}
	assert.False(t, math.IsNaN(float64(p[3])) || math.IsNaN(float64(m[3])) || math.IsNaN(float64(v[3])),
		"finite element became NaN: (p, m, v) = (%g, %g, %g)", p[3], m[3], v[3])

	// Awkward n: every element below n updated as the single-element call does, nothing
	// past n touched.
	r := rand.New(rand.NewSource(3))
	for _, n := range []int{0, 1, 3, 4, 5, 31, 33, 1000} {
		const pad = 3
		p, g, m, v := randGarbage(n, pad), randGarbage(n, pad), randGarbage(n, pad), randGarbage(n, pad)
		for i := 0; i < n; i++ {
			p[i], g[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
			m[i], v[i] = float32(r.NormFloat64()*0.1), float32(r.Float64()*0.01)
		}
		p0, m0, v0 := append([]float32(nil), p...), append([]float32(nil), m...), append([]float32(nil), v...)
		AdamStep(p, g, m, v, n, 1e-3, 0.9, 0.999, 1e-8, 0.01, 0.271, 0.00399)
		for i := 0; i < n; i++ {
			pe, me, ve := []float32{p0[i]}, []float32{m0[i]}, []float32{v0[i]}
			AdamStep(pe, g[i:i+1], me, ve, 1, 1e-3, 0.9, 0.999, 1e-8, 0.01, 0.271, 0.00399)
			require.Equal(t, [3]float32{pe[0], me[0], ve[0]}, [3]float32{p[i], m[i], v[i]}, "n=%d i=%d: (p, m, v) against the one-element step", n, i)
		}
		randCheckTail(t, "AdamStep p", p, n)
		randCheckTail(t, "AdamStep m", m, n)
		randCheckTail(t, "AdamStep v", v, n)
	}

	// The registered twin takes the kernel's parameter order.
	f, err := TwinOf("adam_step")
	require.NoError(t, err)
	pa, ma, va := []float32{0.75}, []float32{0.02}, []float32{0.001}
	pb, mb, vb := []float32{0.75}, []float32{0.02}, []float32{0.001}
	ga := []float32{-0.3}
	f(KernelArgs{pa, ga, ma, va, int64(1), float32(1e-3), float32(0.9), float32(0.999), float32(1e-8),
		float32(0.1), bc1, bc2})
	AdamStep(pb, ga, mb, vb, 1, 1e-3, 0.9, 0.999, 1e-8, 0.1, bc1, bc2)
	assert.Equal(t, [3]float32{pb[0], mb[0], vb[0]}, [3]float32{pa[0], ma[0], va[0]}, "registered twin differs from AdamStep: (p, m, v)")
}

// BenchmarkAdamStep measures one step on 2^20 parameters.
func BenchmarkAdamStep(b *testing.B) {
	const n = 1 << 20
	p, g, m, v := seqUniform(n, 1, 1), seqUniform(n, 2, 2), make([]float32, n), make([]float32, n)
	b.SetBytes(4 * 4 * n)
	for i := 0; i < b.N; i++ {
		bc1, bc2 := kernels.AdamBiasCorrections(0.9, 0.999, i+1)
		AdamStep(p, g, m, v, n, 1e-3, 0.9, 0.999, 1e-8, 0, bc1, bc2)
	}
}
