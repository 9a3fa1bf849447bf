package f32

import (
	"math"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestFastPathEqualsRoundToOdd checks FMA's fast path (one float64 rounding, taken when
// the float64 sum is not a float32 midpoint) against the round-to-odd algorithm on
// random inputs and on inputs built to land on, just above and just below float32
// rounding midpoints, where a double rounding would go wrong. The exhaustive comparison
// with C's fmaf lives in kernels/fmath (cgo).
func TestFastPathEqualsRoundToOdd(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	check := func(x, y, z float32) {
		got, want := FMA(x, y, z), fmaSlow(x, y, z)
		if math.Float32bits(got) != math.Float32bits(want) && !(got != got && want != want) {
			require.Equalf(t, math.Float32bits(want), math.Float32bits(got),
				"FMA(%g, %g, %g) = %g, round-to-odd gives %g (bits; any two NaNs match)", x, y, z, got, want)
		}
	}
	for i := 0; i < 2_000_000; i++ {
		x := math.Float32frombits(r.Uint32())
		y := math.Float32frombits(r.Uint32())
		z := math.Float32frombits(r.Uint32())
		check(x, y, z)
		// Midpoint hunting: x*y = 1 + a*2^-12 style products whose low bits fall near a
		// float32 half-ulp, with z cancelling the high part.
		a := float32(1 + float64(r.Intn(1<<12))*0x1p-12)
		b := float32(1 + float64(r.Intn(1<<12))*0x1p-12)
		p := float64(a) * float64(b)
		hi := float32(p)
		for _, dz := range []float32{0, 0x1p-40, -0x1p-40, 0x1p-60, -0x1p-60} {
			check(a, b, -hi+dz)
			check(a, b, dz)
		}
		// Tiny results in the float32 subnormal range.
		check(float32(r.NormFloat64())*0x1p-70, float32(r.NormFloat64())*0x1p-70, float32(r.NormFloat64())*0x1p-140)
	}
}
