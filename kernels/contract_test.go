package kernels

import (
	"math"
	"math/big"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStreamID(t *testing.T) {
	for _, c := range []struct {
		step   uint64
		tensor uint32
		want   uint64
	}{{0, 0, 0}, {0, 7, 7}, {3, 5, 3<<32 | 5}, {math.MaxUint32, math.MaxUint32, math.MaxUint64}} {
		assert.Equal(t, c.want, StreamID(c.step, c.tensor), "StreamID(%d, %d)", c.step, c.tensor)
	}
	seen := map[uint64]bool{}
	for step := uint64(0); step < 50; step++ {
		for tensor := uint32(0); tensor < 50; tensor++ {
			s := StreamID(step, tensor)
			require.False(t, seen[s], "StreamID(%d, %d) = %#x repeats", step, tensor, s)
			seen[s] = true
		}
	}
	assert.Panics(t, func() { StreamID(1<<32, 0) }, "StreamID(2^32, 0)")
}

// TestAdamBiasCorrections compares bc = 1 - beta^t with the exactly computed value
// (big.Float, exact power) rounded once to float32, for t = 1..3000 and the usual
// betas. A value of math.Pow within 1 float64 ulp can only differ from the correctly
// rounded float32 when the exact value is within 2^-53 relative of a float32 rounding
// midpoint; the test counts such cases (expected: none) and allows none.
func TestAdamBiasCorrections(t *testing.T) {
	for _, beta := range []float32{0.5, 0.9, 0.99, 0.999, 0.9999} {
		pow := new(big.Float).SetPrec(0).SetFloat64(1) // exact: precision grows below
		b := new(big.Float).SetFloat64(float64(beta))
		one := new(big.Float).SetFloat64(1)
		for step := 1; step <= 3000; step++ {
			pow.SetPrec(uint(24*step+64)).Mul(pow, b) // beta has 24 bits: exact
			exact := new(big.Float).SetPrec(uint(24*step+128)).Sub(one, pow)
			want, _ := exact.Float32()
			bc1, bc2 := AdamBiasCorrections(beta, beta, step)
			require.Equal(t, want, bc1, "beta %g t %d: bc1 against the exact value rounded once", beta, step)
			require.Equal(t, want, bc2, "beta %g t %d: bc2 against the exact value rounded once", beta, step)
		}
	}
	bc1, bc2 := AdamBiasCorrections(0.9, 0.999, 1)
	assert.Equal(t, 1-float32(0.9), bc1, "t=1: bc1")
	assert.Equal(t, 1-float32(0.999), bc2, "t=1: bc2")
	assert.Panics(t, func() { AdamBiasCorrections(0.9, 0.999, 0) }, "t=0")
}
