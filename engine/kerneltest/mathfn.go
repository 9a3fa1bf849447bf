package kerneltest

import (
	"fmt"
	"math"
	"math/rand"

	"github.com/gmvae/gmvae/engine/cpu"
)

// mathSpecials are the inputs every math_eval function is checked on: signed zeros,
// infinities, NaN, subnormals, the float range's ends and the implementations'
// thresholds (exp's overflow and underflow, tanh's switches, sin/cos's switch to
// Payne-Hanek, sincos2pi's exact reduction), each with its neighbours and negation.
func mathSpecials() []float32 {
	v := []float64{0, 0x1p-149, 0x1p-140, 0x1p-127, 0x1p-126, 1.5e-39, 0x1p-30, 0x1p-13, 0x1p-12,
		1e-4, 0.125, 0.25, 0.3, 0.5, 0.55, 0.7071067811865476, 0.75, 1, 1.4142135623730951, 2,
		math.Pi / 4, math.Pi / 2, math.Pi, 5, 9.1, 17.4, 20, 87.3, 88.7, 88.72283, 88.72284, 88.8,
		89, 100, 103.27893, 103.97, 103.98, 104, 105, 1e5, 131072, 0x1p22, 8388607.5, 0x1p23, 0x1p24,
		1e10, 1e30, math.MaxFloat32}
	var out []float32
	for _, x := range v {
		f := float32(x)
		up := math.Nextafter32(f, float32(math.Inf(1)))
		down := math.Nextafter32(f, 0)
		out = append(out, f, -f, up, -up, down, -down)
	}
	return append(out, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
		math.Float32frombits(0xffc00001), -1, -1-0x1p-23, -1+0x1p-24)
}

// mathRandom returns n inputs of wide range: random bit patterns (any class), values
// uniform in [-12, 12], log-uniform magnitudes from 1e-40 to 1e38 with a random sign,
// and values in [-2, 2] (the sincos2pi range).
func mathRandom(r *rand.Rand, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		switch i % 4 {
		case 0:
			out[i] = math.Float32frombits(r.Uint32())
		case 1:
			out[i] = float32(24*r.Float64() - 12)
		case 2:
			out[i] = float32(math.Copysign(math.Pow(10, 78*r.Float64()-40), r.Float64()-0.5))
		default:
			out[i] = float32(4*r.Float64() - 2)
		}
	}
	return out
}

func init() {
	register("math_eval", func(r *rand.Rand) []Case {
		// y is longer than n and pre-filled with random values: an element the kernel
		// forgets, or writes past n, differs from the twin's.
		mk := func(name string, x []float32, fn int) Case {
			n := len(x)
			y := make([]float32, n+3)
			for i := range y {
				y[i] = float32(r.NormFloat64())
			}
			return Case{Name: name, Args: cpu.KernelArgs{x, y, int64(n), int64(fn)}, Work: n}
		}
		var cases []Case
		specials := mathSpecials()
		for fn := 0; fn < cpu.MathFnCount; fn++ {
			x := append(append([]float32(nil), specials...), mathRandom(r, 256)...)
			cases = append(cases, mk(fmt.Sprintf("fn=%d specials and %d random, n=%d", fn, 256, len(x)), x, fn))
		}
		cases = append(cases,
			mk("fn=0 n=1", []float32{-103.5}, cpu.MathFnExp),
			mk("fn=3 n=33", mathRandom(r, 33), cpu.MathFnTanh),
			mk("fn=6 n=31 huge arguments", mathRandom(r, 31), cpu.MathFnSin),
			mk("fn=1 n=0", []float32{}, cpu.MathFnLog),
			mk("unknown fn=10 writes NaN", mathRandom(r, 32), cpu.MathFnCount),
			mk("unknown fn=-1 writes NaN", mathRandom(r, 32), -1),
		)
		return cases
	})
}

// mathFnNames are the functions of math_eval's codes, as hard.go names them.
var mathFnNames = []string{"exp", "log", "log1p", "tanh", "sigmoid", "softplus", "sin", "cos", "sin2pi", "cos2pi"}

func init() {
	// Every function on its hard inputs (hard.go) and a sweep of 30000 draws over its
	// whole range (every branch, every binade of the reduced argument).
	registerSweep("math_eval", func(r *rand.Rand) []Case {
		var cs []Case
		for fn, name := range mathFnNames {
			x := append(hardFor(name, nil), hardSweep(name, r, 30000, nil)...)
			n := len(x)
			cs = append(cs, sweepPair(Case{Name: fmt.Sprintf("fn=%d n=%d: %s's hard inputs and a sweep", fn, n, name),
				Args: cpu.KernelArgs{x, make([]float32, n+3), int64(n), int64(fn)}, Work: n, Sweep: true}, 2, 64)...)
		}
		return cs
	})
}
