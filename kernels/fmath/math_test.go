package fmath

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// The accuracy tests evaluate every function against float64 math on large sweeps and
// assert the maximum error, in float32 ulps of the exact result (ulpErr), against the
// bound its doc comment states. Each sweep is either a strided walk through all
// float32 bit patterns of the function's domain (every binade gets the same share), an
// exhaustive walk of a critical range, or a dense jittered sampling of one. In -short
// mode every sweep is 16 times sparser.

// inputs is one sweep: n inputs in(0..n-1).
type inputs struct {
	desc string
	in   func(i int64) float32
	n    int64
}

// allBits walks the float32s in [lo, hi] with a stride chosen to give about n inputs
// (stride 1, i.e. exhaustive, when the range holds fewer than n floats).
func allBits(lo, hi float32, n int64) inputs {
	total := ordered(hi) - ordered(lo) + 1
	if testing.Short() {
		n /= 16
	}
	stride := max(total/n, 1)
	if stride%2 == 0 && stride > 1 {
		stride++ // odd strides reach both odd and even mantissas
	}
	in, m := bitRange(lo, hi, stride)
	desc := fmt.Sprintf("bits [%g, %g] stride %d", lo, hi, stride)
	if stride == 1 {
		desc = fmt.Sprintf("all floats in [%g, %g]", lo, hi)
	}
	return inputs{desc, in, m}
}

// dense samples n points of [lo, hi] evenly with jitter.
func dense(lo, hi float64, n int64) inputs {
	if testing.Short() {
		n /= 16
	}
	return inputs{fmt.Sprintf("dense [%g, %g]", lo, hi), uniform(lo, hi, n), n}
}

// checkAccuracy runs the sweeps of f against ref, logs the maximum error of each and
// fails if any exceeds bound ulps.
func checkAccuracy(t *testing.T, name string, f func(float32) float32, ref func(float64) float64, bound float64, sweeps ...inputs) {
	t.Helper()
	var total sweepResult
	start := time.Now()
	for _, s := range sweeps {
		t0 := time.Now()
		r := sweep(s.n, s.in, f, ref)
		t.Logf("%s %-40s n=%9d max %.3f ulp at x=%g (got %g, want %.9g) %v", name, s.desc, r.n,
			r.maxErr, r.worstX, r.worstG, r.worstW, time.Since(t0).Round(time.Millisecond))
		assert.LessOrEqual(t, r.maxErr, bound, "%s(%g) = %g (%#x), want %.9g: error in ulps over the bound (%s)", name, r.worstX,
			r.worstG, math.Float32bits(r.worstG), r.worstW, s.desc)
		total.merge(r)
	}
	t.Logf("%s: %d inputs, max error %.3f ulp (bound %g) in %v", name, total.n, total.maxErr, bound,
		time.Since(start).Round(time.Millisecond))
}

// Bounds stated in the doc comments, in ulps.
const (
	expBound      = 1
	logBound      = 1
	log1pBound    = 1
	tanhBound     = 1.5
	sigmoidBound  = 2
	softplusBound = 2
	sinCosBound   = 2
	sinCos2Bound  = 1.5
)

const sweepN = 40 << 20 // inputs of a domain-wide strided sweep

func TestExp(t *testing.T) {
	checkAccuracy(t, "Exp", Exp, math.Exp, expBound,
		allBits(-104, 89, sweepN),
		dense(-1, 1, 8<<20),
		allBits(80, 89, 4<<20),    // overflow boundary
		allBits(-104, -87, 8<<20), // subnormal results
	)
}

func TestLog(t *testing.T) {
	checkAccuracy(t, "Log", Log, math.Log, logBound,
		allBits(0, math.MaxFloat32, sweepN),
		allBits(0x1p-149, 0x1p-126, 1<<23), // subnormals, all of them
		allBits(0.5, 2, 1<<25),             // around 1, all floats
	)
}

func TestLog1p(t *testing.T) {
	checkAccuracy(t, "Log1p", Log1p, math.Log1p, log1pBound,
		allBits(-1, math.MaxFloat32, sweepN),
		allBits(-0.3, 0.5, 16<<20), // near 0
		allBits(-1, -0.5, 8<<20),   // toward the pole
		allBits(0.5, 4, 8<<20),     // u = 1+x past 2
	)
}

func TestTanh(t *testing.T) {
	checkAccuracy(t, "Tanh", Tanh, math.Tanh, tanhBound,
		allBits(-10, 10, sweepN),
		dense(-1, 1, 16<<20),
		allBits(0.5, 0.6, 2<<20), // the switch at 0.55, all floats
		allBits(8.5, 9.5, 1<<20), // saturation
	)
}

// refSigmoid is sigmoid in float64.
func refSigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

func TestSigmoid(t *testing.T) {
	checkAccuracy(t, "Sigmoid", Sigmoid, refSigmoid, sigmoidBound,
		allBits(-110, 110, sweepN),
		dense(-20, 20, 16<<20),
		allBits(-104, -86, 4<<20), // subnormal results
	)
}

// refSoftplus is softplus in float64.
func refSoftplus(x float64) float64 {
	return math.Max(x, 0) + math.Log1p(math.Exp(-math.Abs(x)))
}

func TestSoftplus(t *testing.T) {
	checkAccuracy(t, "Softplus", Softplus, refSoftplus, softplusBound,
		allBits(-110, 110, sweepN),
		allBits(-math.MaxFloat32, math.MaxFloat32, 8<<20),
		dense(-20, 20, 16<<20),
	)
}

func TestSin(t *testing.T) {
	checkAccuracy(t, "Sin", Sin, math.Sin, sinCosBound,
		allBits(-1e5, 1e5, sweepN),                        // Cody-Waite
		allBits(-math.MaxFloat32, math.MaxFloat32, 8<<20), // mostly Payne-Hanek
		allBits(1e5, 1e7, 2<<20),                          // both sides of the switch at 2^17
		dense(-2*math.Pi, 2*math.Pi, 16<<20),
	)
}

func TestCos(t *testing.T) {
	checkAccuracy(t, "Cos", Cos, math.Cos, sinCosBound,
		allBits(-1e5, 1e5, sweepN),                        // Cody-Waite
		allBits(-math.MaxFloat32, math.MaxFloat32, 8<<20), // mostly Payne-Hanek
		allBits(1e5, 1e7, 2<<20),                          // both sides of the switch at 2^17
		dense(-2*math.Pi, 2*math.Pi, 16<<20),
	)
}

// refSincos2Pi returns sin and cos of 2*pi*u in float64 after reducing u exactly (as
// Sincos2Pi does), so that the reference has no error from rounding 2*pi*u.
func refSincos2Pi(u float64) (s, c float64) {
	v := u - math.RoundToEven(u)
	q := math.RoundToEven(4 * v)
	w := v - q/4
	ss, cc := math.Sincos(2 * math.Pi * w)
	switch int(q) & 3 {
	case 0:
		return ss, cc
	case 1:
		return cc, -ss
	case 2:
		return -ss, -cc
	}
	return -cc, ss
}

func TestSincos2Pi(t *testing.T) {
	sin2 := func(u float32) float32 { s, _ := Sincos2Pi(u); return s }
	cos2 := func(u float32) float32 { _, c := Sincos2Pi(u); return c }
	refS := func(u float64) float64 { s, _ := refSincos2Pi(u); return s }
	refC := func(u float64) float64 { _, c := refSincos2Pi(u); return c }
	checkAccuracy(t, "sin2pi", sin2, refS, sinCos2Bound,
		allBits(-0x1p24, 0x1p24, sweepN/2),
		dense(-1, 1, 8<<20),
	)
	checkAccuracy(t, "cos2pi", cos2, refC, sinCos2Bound,
		allBits(-0x1p24, 0x1p24, sweepN/2),
		dense(-1, 1, 8<<20),
	)
}
