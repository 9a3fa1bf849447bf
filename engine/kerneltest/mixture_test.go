package kerneltest

import (
	"math"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"

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
		require.NoError(t, err)
		twin, err := cpu.TwinOf(name)
		require.NoError(t, err)
		cases, ok := Cases(name, rand.New(rand.NewSource(1)))
		require.True(t, ok, "%s: no cases", name)
		require.NotEmpty(t, cases, "%s: no cases", name)
		for _, c := range cases {
			require.Len(t, c.Args, len(k.Params), "%s %q: args, against the kernel's params", name, c.Name)
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
				require.True(t, good, "%s %q: arg %d (%s) is %T, kernel wants %s", name, c.Name, i, p.Name, c.Args[i], p.Kind)
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
					if math.Float32bits(x[j]) != math.Float32bits(y[j]) && !(x[j] != x[j] && y[j] != y[j]) { // first difference only
						require.Equal(t, math.Float32bits(x[j]), math.Float32bits(y[j]), "%s %q: arg %d element %d differs between two runs (bits; NaN as a class)", name, c.Name, i, j)
					}
				}
			}
		}
	}
}
