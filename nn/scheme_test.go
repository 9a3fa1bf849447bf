package nn

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/kernels"
)

// TestSchemes checks what each initialisation scheme draws for a Linear (W, b) and a
// batch-normalised Linear (W, gamma, beta): the bounds, that draws are not constant,
// and their spread against the distribution's (within a few standard errors).
func TestSchemes(t *testing.T) {
	const in, out = 400, 300
	type stats struct{ min, max, mean, sd float64 }
	type want struct {
		lo, hi   float64 // every value in [lo, hi]; lo == hi: all equal to it
		mean, sd float64 // the distribution's
	}
	glorot := math.Sqrt(2.0 / (in + out))
	torch := 1 / math.Sqrt(in)
	uniformSD := func(half float64) float64 { return half / math.Sqrt(3) }
	cases := []struct {
		scheme            Scheme
		w, b, gamma, beta want
	}{
		{"", want{-8 * glorot, 8 * glorot, 0, glorot}, want{0, 0, 0, 0}, want{1, 1, 1, 0}, want{0, 0, 0, 0}},
		{SchemeGlorot, want{-8 * glorot, 8 * glorot, 0, glorot}, want{0, 0, 0, 0}, want{1, 1, 1, 0}, want{0, 0, 0, 0}},
		{SchemeTorch, want{-torch, torch, 0, uniformSD(torch)}, want{-torch, torch, 0, uniformSD(torch)}, want{0, 1, 0.5, uniformSD(0.5)}, want{0, 0, 0, 0}},
	}
	measure := func(v []float32) stats {
		s := stats{min: math.Inf(1), max: math.Inf(-1)}
		for _, x := range v {
			f := float64(x)
			s.min, s.max, s.mean = math.Min(s.min, f), math.Max(s.max, f), s.mean+f
		}
		s.mean /= float64(len(v))
		for _, x := range v {
			s.sd += (float64(x) - s.mean) * (float64(x) - s.mean)
		}
		s.sd = math.Sqrt(s.sd / float64(len(v)))
		return s
	}
	check := func(t *testing.T, name string, v []float32, w want) {
		t.Helper()
		s := measure(v)
		if w.lo == w.hi {
			assert.Equal(t, w.lo, s.min, "%s: min, want all values %g", name, w.lo)
			assert.Equal(t, w.hi, s.max, "%s: max, want all values %g", name, w.hi)
			return
		}
		assert.GreaterOrEqual(t, s.min, w.lo, "%s: min, want a spread inside [%g, %g]", name, w.lo, w.hi)
		assert.LessOrEqual(t, s.max, w.hi, "%s: max, want a spread inside [%g, %g]", name, w.lo, w.hi)
		assert.NotEqual(t, s.min, s.max, "%s: all values %g, want a spread", name, s.min)
		se := w.sd / math.Sqrt(float64(len(v)))
		assert.InDelta(t, w.mean, s.mean, 5*se, "%s: mean, within 5 standard errors", name)
		assert.InDelta(t, w.sd, s.sd, 0.05*w.sd, "%s: s.d., within 5%%", name)
	}
	for _, c := range cases {
		t.Run(string(c.scheme), func(t *testing.T) {
			b := engine.NewCPU()
			ps := NewParams(b)
			ps.SetScheme(c.scheme)
			lin := NewLinear(ps, "l", in, out, kernels.ActTanh)
			bn := NewLinearBN(ps, "bn", in, out, kernels.ActRelu)
			require.NoError(t, ps.Alloc(7))
			defer ps.Release()
			get := func(tn Tensor) []float32 {
				v := make([]float32, tn.P.Len())
				require.NoError(t, b.Download(v, tn.P))
				return v
			}
			check(t, "Linear W", get(lin.W()), c.w)
			check(t, "Linear b", get(lin.B()), c.b)
			check(t, "BN layer W", get(bn.W()), c.w)
			check(t, "BN gamma", get(ps.Tensor(bn.Norm.gamma)), c.gamma)
			check(t, "BN beta", get(ps.Tensor(bn.Norm.beta)), c.beta)
		})
	}
}

func TestSchemeUnknownPanics(t *testing.T) {
	for _, s := range []Scheme{"he", "Torch", " glorot"} {
		assert.Panics(t, func() { NewParams(engine.NewCPU()).SetScheme(s) }, "SetScheme(%q)", s)
		assert.False(t, s.Valid(), "Scheme(%q).Valid()", s)
	}
}
