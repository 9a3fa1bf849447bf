package kerneltest

import (
	"math"
	"math/rand"
	"sort"
	"strings"
)

// Inputs that make the math of gm_math.cuh show its rounding. A random sweep checks
// the last steps of a polynomial (each rounds a value near the result: one input in
// two tells .rn from .rz), but the first steps of a Horner scheme change the result
// only when every later rounding sits near its boundary, once in millions of inputs.
// hardinputs.go lists inputs on which each step does change the result (found by
// TestHardInputsSearch on a model of gm_math.cuh); the kernels that inline a function
// take its hard inputs where their arguments reach it exactly, and a sweep of the
// distributions below.

// hardExhaustive adds hard inputs that TestHardInputsExhaustive found by running a
// function on every float of a range (the random search of hardinputs.go found none
// for these operations): keys as in hardInputs.
var hardExhaustive = map[string][]float32{
	// sigmoid on [-104, 0): d = 1 + e (2 inputs), r = (n - q d) - q err (1), q * err
	// (1), r / d (1) of its div1p(e, e).
	"sigmoid <0": {-0x1.9c041ep+00, -0x1.503cf2p+02, -0x1.d8f49p+02},
	// sigmoid on [0, 104): d = 1 + e (3), q = 1/d (1), q * err (1), r / d (2).
	"sigmoid >=0": {0x1.9ad7e4p+02, 0x1.c4cfp+02, 0x1.62f414p+03, 0x1.db7a48p-01},
	// log on [1, 2^128): the first step of R's Horner scheme (8 inputs, the first
	// four), and fma(k, -L2, 0) (1 input).
	"log >=1": {0x1.60324ap+00, 0x1.60b01p+00, 0x1.6f0792p+00, 0x1.7a0e96p+01, 0x1.652c68p+38},
	// sin(2 pi u) on [0, 2^23): the cosine polynomial's first Horner step (2 inputs,
	// both with q = 1, where the sine is the cosine polynomial of w).
	"sin2pi any": {0x1.04fa62p-03, 0x1.2ff262p-03},
	// Not from a search: exp's edges, where its last scaling rounds. Above 88.7228 the
	// result overflows in that product (+Inf, or the largest float when rounded
	// towards zero), below -87.34 it is subnormal.
	"exp edges": {88.72284, 88.7229, 88.73, 88.75, 88.78, 88.7999, -87.35, -88.5, -95, -100, -103.5, -103.97},
}

// hardFor returns the hard inputs of function fn ("exp", "log", "log1p", "tanh",
// "sigmoid", "softplus", "sin", "cos", "sin2pi", "cos2pi"), of every bucket, that keep
// accepts (all when keep is nil), sorted, without duplicates.
func hardFor(fn string, keep func(x float32) bool) []float32 {
	var out []float32
	seen := map[uint32]bool{}
	for _, table := range []map[string][]float32{hardInputs, hardExhaustive} {
		for key, xs := range table {
			if !strings.HasPrefix(key, fn+" ") {
				continue
			}
			for _, x := range xs {
				b := math.Float32bits(x)
				if seen[b] || (keep != nil && !keep(x)) {
					continue
				}
				seen[b] = true
				out = append(out, x)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// hardLogUniform returns a magnitude log-uniform in [lo, hi).
func hardLogUniform(r *rand.Rand, lo, hi float64) float64 {
	return math.Exp(math.Log(lo) + (math.Log(hi)-math.Log(lo))*r.Float64())
}

// hardSign returns v or -v, at random.
func hardSign(r *rand.Rand, v float64) float64 {
	if r.Intn(2) == 0 {
		return -v
	}
	return v
}

// hardExpArg draws x = k*ln2 + r with k in [klo, khi] and |r| <= ln2/2, half of the
// draws with |r| in its outer third, where the polynomial's high terms matter most.
func hardExpArg(r *rand.Rand, klo, khi int) float64 {
	k := float64(klo + r.Intn(khi-klo+1))
	rr := 0.3466 * r.Float64()
	if r.Intn(2) == 0 {
		rr = 0.23 + 0.1166*r.Float64()
	}
	return k*math.Ln2 + hardSign(r, rr)
}

// hardDraw draws one argument of function fn from a distribution that exercises every
// branch and the whole range of its reduced argument.
func hardDraw(fn string, r *rand.Rand) float32 {
	switch fn {
	case "exp", "softplus":
		switch r.Intn(8) {
		case 0, 1:
			return float32(hardExpArg(r, -150, 128))
		case 2:
			return float32(hardExpArg(r, -1, 0)) // [-1.04, 0.35]: where a sum of e^x stays sensitive
		}
		return float32(hardExpArg(r, -30, 30))
	case "sigmoid":
		return -hardDraw("exp", r)
	case "log":
		m := math.Sqrt(0.5) + (math.Sqrt(2)-math.Sqrt(0.5))*r.Float64()
		switch r.Intn(4) {
		case 0:
			return float32(math.Ldexp(m, r.Intn(276)-149))
		case 1:
			return float32(m) // k = 0
		}
		return float32(math.Ldexp(m, r.Intn(40)-30))
	case "log1p":
		switch r.Intn(3) {
		case 0:
			return float32(2*r.Float64() - 1)
		case 1:
			return float32(hardSign(r, hardLogUniform(r, 1e-8, 1)))
		}
		return float32(hardLogUniform(r, 1, 1e30))
	case "tanh":
		if r.Intn(2) == 0 {
			return float32(hardSign(r, 0.55*r.Float64()))
		}
		return float32(hardSign(r, 0.55+8.55*r.Float64()))
	case "sin", "cos":
		switch r.Intn(4) {
		case 0:
			return float32(hardSign(r, hardLogUniform(r, 131072, 3e38)))
		case 1:
			return float32(hardSign(r, math.Pi/4*r.Float64()))
		}
		k := float64(r.Intn(160000) - 80000)
		if r.Intn(2) == 0 {
			k = float64(r.Intn(64) - 32)
		}
		rr := math.Pi / 4 * r.Float64()
		if r.Intn(2) == 0 {
			rr = math.Pi / 4 * (0.6 + 0.4*r.Float64())
		}
		return float32(k*math.Pi/2 + hardSign(r, rr))
	case "sin2pi", "cos2pi":
		if r.Intn(2) == 0 { // a uniform of (0, 1) as gm_uniform01 makes it
			return float32(2*r.Intn(1<<23)+1) * 0x1p-24
		}
		return float32(8*r.Float64() - 4)
	}
	panic("kerneltest: no distribution for " + fn)
}

// hardSweep returns n draws of hardDraw(fn) that keep accepts (nil: all).
func hardSweep(fn string, r *rand.Rand, n int, keep func(x float32) bool) []float32 {
	out := make([]float32, 0, n)
	for len(out) < n {
		x := hardDraw(fn, r)
		if keep == nil || keep(x) {
			out = append(out, x)
		}
	}
	return out
}

// warpRows is one layout of single-term rows for a kernel that sums each row over one
// warp (lane l adds columns l, l+32, ... and the warp then combines the lanes): rows
// of cols = 32*t columns, t the lane loop's trip count, and live[i*t+j] the flat
// index of live term i in its row's iteration j (lane 0, column 32*j). A compiler
// unrolls the lane loop into a main body and remainder copies; with trip counts 1 to
// 5 and a live term in every iteration, each copy computes every live term. Every
// other entry is to be made dead (its term exactly 0), so that the row's sum is the
// live term itself and a change in its last bit reaches the output.
type warpRows struct {
	rows, cols int
	live       []int
}

// warpRowLayouts returns the layouts of n live terms for trip counts 1..5.
func warpRowLayouts(n int) []warpRows {
	var out []warpRows
	for t := 1; t <= 5; t++ {
		w := warpRows{rows: n * t, cols: 32 * t}
		for i := 0; i < n; i++ {
			for j := 0; j < t; j++ {
				w.live = append(w.live, (i*t+j)*w.cols+32*j)
			}
		}
		out = append(out, w)
	}
	return out
}

// hardPow2 returns 2^e as a float32 for e in [-149, 127].
func hardPow2(e int) float32 { return float32(math.Ldexp(1, e)) }
