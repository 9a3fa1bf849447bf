package kerneltest

import (
	"math"
	"math/rand"
	"testing"

	"github.com/gmvae/gmvae/engine/cpu"
	"github.com/gmvae/gmvae/kernels"
)

// mixFamily are the kernels of mixture.cu and kl.cu.
var mixFamily = []string{"mixture_loglik", "lse_softmax", "lse_softmax_bwd", "mixture_bwd_z",
	"mixture_bwd_params", "kl_mixture", "kl_mixture_bwd", "kl_std_normal", "kl_std_normal_bwd"}

// TestMixtureCases checks that every case of the mixture and kl families matches its
// kernel's parameter list (count and kinds), runs through the twin, and gives the same
// bits twice (the twin is deterministic and the case does not depend on state).
func TestMixtureCases(t *testing.T) {
	for _, name := range mixFamily {
		k, err := kernels.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		twin, err := cpu.TwinOf(name)
		if err != nil {
			t.Fatal(err)
		}
		cases, ok := Cases(name, rand.New(rand.NewSource(1)))
		if !ok || len(cases) == 0 {
			t.Fatalf("%s: no cases", name)
		}
		for _, c := range cases {
			if len(c.Args) != len(k.Params) {
				t.Fatalf("%s %q: %d args, kernel has %d params", name, c.Name, len(c.Args), len(k.Params))
			}
			for i, p := range k.Params {
				var good bool
				switch p.Kind {
				case kernels.PtrF32:
					_, isF := c.Args[i].([]float32)
					good = isF || c.Args[i] == nil
				case kernels.I64, kernels.Bool, kernels.ActCode:
					_, good = c.Args[i].(int64)
				case kernels.F32:
					_, good = c.Args[i].(float32)
				default:
					good = false
				}
				if !good {
					t.Fatalf("%s %q: arg %d (%s) is %T, kernel wants %s", name, c.Name, i, p.Name, c.Args[i], p.Kind)
				}
			}
			a, b := Clone(c.Args), Clone(c.Args)
			twin(a)
			twin(b)
			for i := range a {
				x, isF := a[i].([]float32)
				if !isF {
					continue
				}
				y := b[i].([]float32)
				for j := range x {
					if math.Float32bits(x[j]) != math.Float32bits(y[j]) && !(x[j] != x[j] && y[j] != y[j]) {
						t.Fatalf("%s %q: arg %d element %d differs between two runs", name, c.Name, i, j)
					}
				}
			}
		}
	}
}
