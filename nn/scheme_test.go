package nn

import (
	"math"
	"testing"

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
			if s.min != w.lo || s.max != w.hi {
				t.Errorf("%s: values in [%g, %g], want all %g", name, s.min, s.max, w.lo)
			}
			return
		}
		if s.min < w.lo || s.max > w.hi || s.min == s.max {
			t.Errorf("%s: values in [%g, %g], want a spread inside [%g, %g]", name, s.min, s.max, w.lo, w.hi)
		}
		se := w.sd / math.Sqrt(float64(len(v)))
		if math.Abs(s.mean-w.mean) > 5*se {
			t.Errorf("%s: mean %g, want %g ± %g", name, s.mean, w.mean, 5*se)
		}
		if math.Abs(s.sd-w.sd) > 0.05*w.sd {
			t.Errorf("%s: s.d. %g, want %g within 5%%", name, s.sd, w.sd)
		}
	}
	for _, c := range cases {
		t.Run(string(c.scheme), func(t *testing.T) {
			b := engine.NewCPU()
			ps := NewParams(b)
			ps.SetScheme(c.scheme)
			lin := NewLinear(ps, "l", in, out, kernels.ActTanh)
			bn := NewLinearBN(ps, "bn", in, out, kernels.ActRelu)
			if err := ps.Alloc(7); err != nil {
				t.Fatal(err)
			}
			defer ps.Release()
			get := func(tn Tensor) []float32 {
				v := make([]float32, tn.P.Len())
				if err := b.Download(v, tn.P); err != nil {
					t.Fatal(err)
				}
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
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("SetScheme(%q) did not panic", s)
				}
			}()
			NewParams(engine.NewCPU()).SetScheme(s)
		}()
		if s.Valid() {
			t.Errorf("Scheme(%q).Valid() = true", s)
		}
	}
}
