package kerneltest

import (
	"math"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/engine/cpu"
	"github.com/gmvae/gmvae/kernels"
)

// ewkKernels are the kernels whose cases live in elementwise.go, likelihood.go and
// reduce.go.
var ewkKernels = []string{
	"act_fwd", "act_bwd", "ew_fill", "ew_add", "ew_axpby", "ew_mul", "ew_scale", "row_scale",
	"row_dot", "xlogx_rows", "xlogx_rows_bwd", "clamp", "clamp_bwd",
	"bernoulli_loglik", "bernoulli_loglik_bwd", "gaussian_loglik", "gaussian_loglik_bwd",
	"sum_all", "sum_squares", "sum_rows",
	"bn_stats", "bn_fwd", "bn_bwd", "bn_invstd",
}

// TestElementwiseFamilyCases checks the cases of the elementwise, likelihood, reduce and
// norm families before any emulator or GPU sees them: every argument has the Go type of its
// kernel parameter's kind, every case's twin runs, is deterministic, writes nothing in
// the ewkPad garbage tail of any buffer, and the cases stay small (emulator budget),
// but for the sweeps (Case.Sweep), which run on one launch shape.
func TestElementwiseFamilyCases(t *testing.T) {
	for _, name := range ewkKernels {
		k, err := kernels.Lookup(name)
		require.NoError(t, err)
		twin, err := cpu.TwinOf(name)
		require.NoError(t, err)
		cs, ok := Cases(name, rand.New(rand.NewSource(1)))
		require.True(t, ok, "%s: no cases", name)
		require.NotEmpty(t, cs, "%s: no cases", name)
		total := 0
		for _, c := range cs {
			small := !c.Sweep
			require.Len(t, c.Args, len(k.Params), "%s %q: args, against the kernel's params", name, c.Name)
			for i, p := range k.Params {
				a := c.Args[i]
				okType := false
				switch p.Kind {
				case kernels.PtrF32:
					_, okType = a.([]float32)
					okType = okType || a == nil
				case kernels.PtrU32:
					_, okType = a.([]uint32)
					okType = okType || a == nil
				case kernels.I64, kernels.Bool, kernels.ActCode:
					_, okType = a.(int64)
				case kernels.U64:
					_, okType = a.(uint64)
				case kernels.F32:
					_, okType = a.(float32)
				}
				require.True(t, okType, "%s %q: arg %d (%s %s) is %T", name, c.Name, i, p.Kind, p.Name, a)
				if s, ok := a.([]float32); ok && small {
					total += len(s)
				}
			}
			a1, a2 := Clone(c.Args), Clone(c.Args)
			twin(a1)
			twin(a2)
			for i := range c.Args {
				before, ok := c.Args[i].([]float32)
				if !ok {
					continue
				}
				got1, got2 := a1[i].([]float32), a2[i].([]float32)
				for j := range got1 {
					if !ewkSameClass(got1[j], got2[j]) { // first difference only
						require.Equal(t, math.Float32bits(got1[j]), math.Float32bits(got2[j]), "%s %q: twin not deterministic at arg %d elem %d (bits; NaN as a class)", name, c.Name, i, j)
					}
				}
				for j := len(before) - ewkPad; j < len(before); j++ {
					if !ewkSameClass(before[j], got1[j]) {
						require.Equal(t, math.Float32bits(before[j]), math.Float32bits(got1[j]), "%s %q: twin wrote arg %d elem %d in the garbage tail (bits; NaN as a class)", name, c.Name, i, j)
					}
				}
			}
		}
		t.Logf("%s: %d cases, %d floats in the small ones", name, len(cs), total)
		assert.LessOrEqual(t, total, 400000, "%s: floats in all cases but the sweeps; keep them small for the emulator", name)
	}
}

// ewkSameClass reports equal bits, NaN as one class.
func ewkSameClass(a, b float32) bool {
	if a != a || b != b {
		return a != a && b != b
	}
	return math.Float32bits(a) == math.Float32bits(b)
}
