package kerneltest

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/kernels/fmath"
)

// TestHalfTinyInputs: the halves sweeps reach what they aim at: every halfTiny value
// is a subnormal whose half rounds differently to nearest even and towards zero, and
// every one of them is the rounded square of a float, directly and after the product
// by gaussian_loglik's e^(log(2 pi)/2).
func TestHalfTinyInputs(t *testing.T) {
	vs := halfTiny()
	require.Len(t, vs, 16)
	for _, v := range vs {
		require.Less(t, math.Abs(float64(v)), 0x1p-126, "%g is subnormal", v)
		half := float64(v) / 2 // exact in float64
		rn, rz := float32(half), float32(math.Trunc(math.Ldexp(half, 149)))*float32(math.Ldexp(1, -149))
		require.NotEqual(t, rn, float32(rz), "half of %g: nearest even %g, towards zero %g", v, rn, rz)
	}
	positive := vs[0:16:16]
	for _, scale := range []float32{1, fmath.Exp(0.5 * fmath.Log2Pi)} {
		pre, post := squareRootsOf(positive, scale)
		require.Len(t, pre, 8, "scale %g: a float whose rounded square is each positive target", scale)
		for i := range pre {
			require.Equal(t, pre[i]*scale, post[i])
			require.Equal(t, positive[2*i], float32(float64(post[i])*float64(post[i])), "scale %g", scale)
		}
	}
}
