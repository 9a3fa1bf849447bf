// Package f32 holds the exact float32 fused multiply-add that both sides of the
// bit-exact contract use: the CPU twins (kernels/fmath.FMA wraps it) and the PTX
// emulator's fma.rn.f32 (cuda/emu). It is a leaf package so that the device layer
// (cuda/), which must not import the engine, shares the one implementation.
package f32

import "math"

// FMA returns x*y+z computed with a single rounding to float32, exactly as CUDA's fmaf
// and PTX's fma.rn.f32 do.
//
// float32(math.FMA(x, y, z)) is wrong: it rounds twice (to float64, then to float32).
// Here the product is formed exactly in float64 (24+24 bits fit in 53) and the sum
// s = p + z is rounded once to float64. Rounding to float64 is monotone and every
// float32 rounding midpoint is a float64, so s lies on the same side of every float32
// midpoint as the exact sum, unless s IS a midpoint: only then can float32(s) differ
// from the correctly rounded result. That case (about one in 2^29 for random inputs)
// and results outside float32's normal range take fmaSlow.
func FMA(x, y, z float32) float32 {
	s := float64(float64(x)*float64(y)) + float64(z) // the product is exact
	b := math.Float64bits(s)
	// A float32 midpoint in the normal range has a 1 followed by 28 zeros in the 29
	// float64 mantissa bits below float32's 23. The unsigned compare keeps biased
	// exponents 1023-126 .. 1023+127 (float32's normal range; it wraps below).
	if b&(1<<29-1) != 1<<28 && (b>>52&0x7ff)-(1023-126) < 254 {
		return float32(s)
	}
	return fmaSlow(x, y, z)
}

// fmaSlow is FMA by rounding to odd: the sum is computed with its TwoSum error term
// and rounded to odd in float64, and the odd-rounded float64 is rounded once to
// float32. Rounding to odd at 53 bits followed by rounding to nearest at p <= 51 bits
// equals a direct rounding to p bits (Boldo and Melquiond, "Emulation of FMA and
// correctly rounded sums: proved algorithms using rounding to odd", IEEE TC 2008); it
// holds for float32 subnormal results too.
func fmaSlow(x, y, z float32) float32 {
	p := float64(float64(x) * float64(y)) // exact
	c := float64(z)
	s := p + c
	if s == 0 || math.IsInf(s, 0) || math.IsNaN(s) {
		// s == 0: p+c is exactly zero (a rounded float sum is 0 only when the exact
		// sum is), and p+c in float64 already has the IEEE sign of an exact zero sum.
		return float32(s)
	}
	bb := s - p
	err := (p - (s - bb)) + (c - bb)
	if err != 0 {
		bits := math.Float64bits(s)
		if bits&1 == 0 {
			// Step to the neighbour of s on err's side: that one is odd.
			if (err > 0) == (s > 0) {
				bits++
			} else {
				bits--
			}
			s = math.Float64frombits(bits)
		}
	}
	return float32(s)
}
