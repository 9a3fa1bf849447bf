package fmath

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/kernels/fmath/internal/cfma"
)

func TestFMASpecialValues(t *testing.T) {
	inf := float32(math.Inf(1))
	nan := float32(math.NaN())
	negZero := float32(math.Copysign(0, -1))
	tests := []struct {
		name    string
		x, y, z float32
		want    float32
	}{
		{"exact", 2, 3, 4, 10},
		{"zero product plus neg zero", negZero, 1, negZero, negZero},
		{"neg zero product plus zero", negZero, 1, 0, 0},
		{"cancel to zero", 1, 1, -1, 0},
		{"inf", inf, 2, 1, inf},
		{"inf minus inf", inf, 1, -inf, nan},
		{"zero times inf", 0, inf, 1, nan},
		{"nan", nan, 1, 1, nan},
		// 1+2^-23 squared = 1 + 2^-22 + 2^-46; minus 1 leaves 2^-22 + 2^-46 exactly
		// representable only with one rounding.
		{"single rounding", 1 + 0x1p-23, 1 + 0x1p-23, -1, 0x1p-22 + 0x1p-46},
		{"subnormal result", 0x1p-100, 0x1p-40, 0, 0x1p-140},
		{"overflow", math.MaxFloat32, 2, 0, inf},
	}
	for _, tt := range tests {
		got := FMA(tt.x, tt.y, tt.z)
		if math.IsNaN(float64(tt.want)) {
			assert.True(t, math.IsNaN(float64(got)), "%s: FMA(%g, %g, %g) = %g, want NaN", tt.name, tt.x, tt.y, tt.z, got)
			continue
		}
		assert.Equal(t, math.Float32bits(tt.want), math.Float32bits(got), "%s: FMA(%g, %g, %g) = %g, want %g (bits)",
			tt.name, tt.x, tt.y, tt.z, got, tt.want)
	}
}

// fmaCase returns the i-th adversarial fma input of a deterministic stream, from one of
// several classes aimed at what a float32 fma can get wrong.
func fmaCase(i uint64) (x, y, z float32) {
	h := mix(i)
	h2 := mix(h)
	h3 := mix(h2)
	// mant returns a random float32 in [1, 2) with a full 24-bit mantissa.
	mant := func(b uint64) float32 { return math.Float32frombits(0x3f800000 | uint32(b)&0x7fffff) }
	scale := func(v float32, e int) float32 { return float32(math.Ldexp(float64(v), e)) }
	sign := func(v float32, b uint64) float32 {
		if b&1 != 0 {
			return -v
		}
		return v
	}
	a := sign(mant(h), h>>40)
	b := sign(mant(h>>23), h>>41)
	switch h3 % 8 {
	case 0:
		// x*y is exactly a float32 rounding midpoint (odd A*B with 25 bits) and z is
		// below half a float64 ulp of it: float64 rounds the sum back onto the midpoint
		// and the tie then goes to the even neighbour, whichever side z was on.
		A := uint64(1<<11) + h2%(1<<13-1<<11) | 1
		lo, hi := (uint64(1<<24)+A-1)/A, (uint64(1<<25)-1)/A
		B := (lo + h2>>20%(hi-lo+1)) | 1
		if A*B >= 1<<25 {
			B -= 2
		}
		ea, eb := int(h2>>40%40)-20, int(h2>>46%40)-20
		x = sign(float32(math.Ldexp(float64(A), ea)), h>>40)
		y = sign(float32(math.Ldexp(float64(B), eb)), h>>41)
		p := float64(x) * float64(y)
		_, e := math.Frexp(p)
		z = sign(scale(mant(h3>>8), e-55-int(h3>>40%20)), h3>>50)
	case 1:
		// x*y + z lands on (or within a few units of 2^-60 of) a float32 rounding
		// midpoint: the case double rounding through float64 gets wrong.
		ea, eb := int(h2%40)-20, int(h2>>8%40)-20
		x, y = scale(a, ea), scale(b, eb)
		p := float64(x) * float64(y)
		pr := float32(p)
		_, e := math.Frexp(float64(pr))
		half := math.Ldexp(1, e-25)
		if h2>>20&1 != 0 {
			half = -half
		}
		// shift the sum by a multiple of ulp/2 so that z covers small and large
		// magnitudes, then aim at the midpoint.
		k := float64(int(h2>>21%9) - 4)
		t := float64(pr) + half + k*2*half
		z = float32(t - p)
		if h2>>30&1 != 0 {
			z = math.Nextafter32(z, float32(math.Inf(int(h2>>31&1)*2-1)))
		}
	case 2:
		// cancellation: z = -(x*y) rounded, or a neighbour of it.
		ea, eb := int(h2%60)-30, int(h2>>8%60)-30
		if h2>>40&3 == 0 { // short mantissas: x*y is a float32 and the sum cancels to 0
			a = math.Float32frombits(math.Float32bits(a) &^ 0xfff)
			b = math.Float32frombits(math.Float32bits(b) &^ 0xfff)
		}
		x, y = scale(a, ea), scale(b, eb)
		z = -float32(float64(x) * float64(y))
		for s := int(h2 >> 20 % 5); s > 0; s-- {
			z = math.Nextafter32(z, float32(math.Inf(int(h2>>30&1)*2-1)))
		}
	case 3:
		// subnormal and underflowing results.
		ea := int(h2%100) - 120
		eb := -126 - ea - int(h2>>8%30)
		x, y = scale(a, ea), scale(b, eb)
		z = math.Float32frombits(uint32(h2>>16) & 0x807fffff) // a subnormal or zero
		if h2>>50&3 == 0 {
			z = 0
		}
	case 4:
		// near overflow.
		ea := int(h2%60) + 40
		eb := 127 - ea + int(h2>>8%3) - 1
		x, y = scale(a, ea), scale(b, eb)
		z = sign(scale(mant(h2>>20), 126+int(h2>>44%2)), h2>>50)
	case 5:
		// random exponent spread over the whole range, z with a wide offset.
		x = math.Float32frombits(uint32(h2))
		y = math.Float32frombits(uint32(h2 >> 32))
		z = math.Float32frombits(uint32(h >> 32))
	case 6:
		// signed zeros, infinities and NaNs mixed with finite values.
		pick := func(b uint64, v float32) float32 {
			switch b % 8 {
			case 0:
				return 0
			case 1:
				return float32(math.Copysign(0, -1))
			case 2:
				return float32(math.Inf(1))
			case 3:
				return float32(math.Inf(-1))
			case 4:
				return float32(math.NaN())
			}
			return v
		}
		x, y = pick(h2, a), pick(h2>>3, b)
		z = pick(h2>>6, sign(mant(h2>>20), h2>>50))
	default:
		// z much smaller than x*y (sticky bits far below the product), or much larger.
		ea, eb := int(h2%40)-20, int(h2>>8%40)-20
		x, y = scale(a, ea), scale(b, eb)
		ez := ea + eb + int(h2>>16%80) - 40
		z = sign(scale(mant(h2>>24), ez), h2>>50)
	}
	return x, y, z
}

// fmaCases is the number of adversarial inputs TestFMAAgainstC compares.
func fmaCases(t *testing.T) int {
	if testing.Short() {
		return 1 << 22
	}
	return 24 << 20
}

// TestFMAAgainstC compares FMA with C's fmaf (glibc's is correctly rounded) on tens of
// millions of adversarial inputs: products near rounding midpoints, cancellation,
// subnormal results, overflow, signed zeros, random exponents. Bits must be equal
// (NaN as a class).
func TestFMAAgainstC(t *testing.T) {
	if !cfma.Available {
		t.Skip("cgo disabled: no C fmaf to compare with")
	}
	n := fmaCases(t)
	start := time.Now()
	workers := runtime.GOMAXPROCS(0)
	const batch = 1 << 16
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		bad      int
		firstBad string
		dbl      int // float32(math.FMA(...)) differing from fmaf
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			x := make([]float32, batch)
			y := make([]float32, batch)
			z := make([]float32, batch)
			want := make([]float32, batch)
			locBad, locDbl := 0, 0
			locFirst := ""
			for base := w * batch; base < n; base += workers * batch {
				m := min(batch, n-base)
				for i := 0; i < m; i++ {
					x[i], y[i], z[i] = fmaCase(uint64(base + i))
				}
				cfma.Fmaf(x[:m], y[:m], z[:m], want[:m])
				for i := 0; i < m; i++ {
					got := FMA(x[i], y[i], z[i])
					if !sameBits(got, want[i]) {
						locBad++
						if locFirst == "" {
							locFirst = fmt.Sprintf("FMA(%g, %g, %g) = %g (%#x), fmaf gives %g (%#x)",
								x[i], y[i], z[i], got, math.Float32bits(got), want[i], math.Float32bits(want[i]))
						}
					}
					if !sameBits(float32(math.FMA(float64(x[i]), float64(y[i]), float64(z[i]))), want[i]) {
						locDbl++
					}
				}
			}
			mu.Lock()
			bad += locBad
			dbl += locDbl
			if firstBad == "" {
				firstBad = locFirst
			}
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	t.Logf("%d inputs in %v on %d goroutines; float32(math.FMA) differs from fmaf on %d (%.2f%%)",
		n, time.Since(start).Round(time.Millisecond), workers, dbl, 100*float64(dbl)/float64(n))
	require.Zero(t, bad, "%d of %d inputs differ from C's fmaf; first: %s", bad, n, firstBad)
}

// TestDoubleRoundingIsWrong documents why FMA exists: float32(math.FMA(x, y, z)) rounds
// twice (to float64, then to float32), and the first rounding can land exactly on a
// float32 midpoint that the exact result was off, so that the second goes the wrong
// way.
func TestDoubleRoundingIsWrong(t *testing.T) {
	// (1+2^-12)^2 + 2^-70 = 1 + 2^-11 + 2^-24 + 2^-70: just above the midpoint between
	// 1+2^-11 and 1+2^-11+2^-23, so the correct result is the upper one; float64 drops
	// the 2^-70 and the tie then goes to the even, lower one.
	x, z := float32(1+0x1p-12), float32(0x1p-70)
	want := float32(1 + 0x1p-11 + 0x1p-23)
	assert.Equal(t, want, FMA(x, x, z), "FMA(1+2^-12, 1+2^-12, 2^-70)")
	naive := float32(math.FMA(float64(x), float64(x), float64(z)))
	assert.NotEqual(t, want, naive, "float32(math.FMA) gave the correct %g: the example is wrong", naive)

	found := 0
	var example string
	const n = 1 << 20
	for i := uint64(0); i < n; i++ {
		a, b, c := fmaCase(i)
		good := FMA(a, b, c)
		naive := float32(math.FMA(float64(a), float64(b), float64(c)))
		if !sameBits(good, naive) {
			if found == 0 {
				example = fmt.Sprintf("x=%g y=%g z=%g: FMA %g (%#x), float32(math.FMA) %g (%#x)",
					a, b, c, good, math.Float32bits(good), naive, math.Float32bits(naive))
			}
			found++
		}
	}
	require.NotZero(t, found, "no input found where float32(math.FMA) is wrong; the midpoint generator is broken")
	t.Logf("float32(math.FMA) wrong on %d of %d adversarial inputs (%.2f%%), e.g. %s",
		found, n, 100*float64(found)/n, example)
}

// sameBits reports whether a and b have the same bits, or are both NaN.
func sameBits(a, b float32) bool {
	if a != a && b != b {
		return true
	}
	return math.Float32bits(a) == math.Float32bits(b)
}

// assertSameBits fails t unless got has want's bits (any two NaNs match, see sameBits);
// the failure shows both bit patterns.
func assertSameBits(t *testing.T, want, got float32, msgAndArgs ...any) bool {
	t.Helper()
	if sameBits(want, got) {
		return true
	}
	return assert.Equal(t, math.Float32bits(want), math.Float32bits(got), msgAndArgs...)
}
