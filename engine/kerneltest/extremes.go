package kerneltest

// Arguments at the two ends of exp's range, for every element: exp's last scaling
// p·2^k (gm_math.cuh:102) rounds only when e^x overflows (88.72 < x <= 88.8: +Inf to
// nearest, the largest float towards zero) or is subnormal (x below -87.34). The
// other sweeps put such arguments in a few elements only, which left some unrolled
// copies of the loops without one (docs/mutants.md). The family files (kl.go,
// likelihood.go, mixture.go, random.go) repeat these over every element of the
// layouts of their other sweeps, registered after those.

import "math/rand"

// expExtremes returns exp arguments whose result overflows (to +Inf when rounded to
// nearest) or is subnormal: fixed ones and eight drawn uniformly from each range.
func expExtremes(r *rand.Rand) []float32 {
	xs := []float32{88.7229, 88.73, 88.75, 88.79, 88.8, -87.4, -88, -90, -93, -96, -100, -103, -103.9}
	for range 8 {
		xs = append(xs, 88.723+0.077*r.Float32(), -103.9+16.5*r.Float32())
	}
	return xs
}

// extremeScale is lkkExpScale(h, target) kept within float32's powers of two.
func extremeScale(h float32, target int) int { return max(min(lkkExpScale(h, target), 127), -149) }
