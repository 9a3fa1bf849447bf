package fmath

import (
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/kernels"
	"github.com/gmvae/gmvae/kernels/fmath/internal/cfma"
)

// specialInputs are the values every function is checked on exactly: signed zeros,
// infinities, NaN, subnormals, the limits of the float range and the thresholds of
// the implementations.
func specialInputs() []float32 {
	v := []float64{0, 1, 2, 0.5, 0x1p-149, 0x1p-140, 0x1p-126, 0x1p-127, 0x1p-12, 0x1p-13, 0x1p-24,
		math.MaxFloat32, math.SmallestNonzeroFloat32, 1.17549435e-38, 88.72283, 88.72284, 88.8,
		103.97, 103.98, 104, 87.3, 89, 0.55, 9.1, 9.0, 20, 17.4, 30, 100, 1e5, 131072, 131072.02,
		1e7, 1e20, 0.25, 0.125, 0.75, 1e-3, 1e-6, 1e-30, math.Pi, math.Pi / 2, math.Pi / 4,
		0.7071067811865476, 1.4142135623730951, 1 - 0x1p-24, 1 + 0x1p-23, 0x1p22, 0x1p23, 0x1p24,
		3 * 0x1p22, 8388607.5, 4194303.75}
	var out []float32
	for _, x := range v {
		out = append(out, float32(x), -float32(x),
			math.Nextafter32(float32(x), float32(math.Inf(1))), math.Nextafter32(float32(x), 0),
			-math.Nextafter32(float32(x), float32(math.Inf(1))), -math.Nextafter32(float32(x), 0))
	}
	out = append(out, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
		math.Float32frombits(0xffc00000), -1, -1-0x1p-23)
	return out
}

// twinInputs returns specialInputs, n random bit patterns (every class of float) and n
// values spread over [-200, 200].
func twinInputs(n int) []float32 {
	in := specialInputs()
	for i := 0; i < n; i++ {
		in = append(in, math.Float32frombits(uint32(mix(uint64(i)))))
	}
	u := uniform(-200, 200, int64(n))
	for i := 0; i < n; i++ {
		in = append(in, u(int64(i)))
	}
	return in
}

// mathFns lists the Go functions in math_eval's code order (kernels/mathfn.cu).
var mathFns = []struct {
	name string
	f    func(float32) float32
}{
	{"Exp", Exp}, {"Log", Log}, {"Log1p", Log1p}, {"Tanh", Tanh}, {"Sigmoid", Sigmoid},
	{"Softplus", Softplus}, {"Sin", Sin}, {"Cos", Cos},
	{"sin2pi", func(u float32) float32 { s, _ := Sincos2Pi(u); return s }},
	{"cos2pi", func(u float32) float32 { _, c := Sincos2Pi(u); return c }},
}

// TestMatchesCHeader compares every function with kernels/gm_math.cuh compiled as C
// (contraction off, glibc's correctly rounded fmaf): the same source the kernels use,
// so the Go twin must give the same bits (NaN as a class). The PTX emulator and a GPU
// repeat this comparison on the shipped PTX (kernel math_eval).
func TestMatchesCHeader(t *testing.T) {
	if !cfma.Available {
		t.Skip("cgo disabled: gm_math.cuh cannot be compiled as C")
	}
	n := 1 << 20
	if testing.Short() {
		n = 1 << 16
	}
	in := twinInputs(n)
	want := make([]float32, len(in))
	for fn, m := range mathFns {
		cfma.Math(fn, in, want)
		bad := 0
		for i, x := range in {
			got := m.f(x)
			if !sameBits(got, want[i]) {
				if bad < 5 { // the first few only
					assertSameBits(t, want[i], got, "%s(%g [%#x]) = %g, C header gives %g", m.name, x,
						math.Float32bits(x), got, want[i])
				}
				bad++
			}
		}
		assert.Zero(t, bad, "%s: %d of %d differ from the C header", m.name, bad, len(in))
	}
	// Activations and their gradients, unknown codes included.
	g := make([]float32, len(in))
	for act := kernels.Act(-1); act <= kernels.ActExp+1; act++ {
		cfma.Activate(int(act), in, want, g)
		for i, x := range in {
			y := Activate(act, x)
			dy := ActivateGrad(act, x, y)
			if !sameBits(y, want[i]) || !sameBits(dy, g[i]) { // 2^20 inputs: no assert per input
				require.Failf(t, "activation or gradient differs from the C header", "act %d at %g: Go (%g, %g), C header (%g, %g)",
					act, x, y, dy, want[i], g[i])
			}
		}
	}
	t.Logf("%d inputs per function, all equal", len(in))
}

// TestSpecialValues checks the special values the doc comments promise, exactly.
func TestSpecialValues(t *testing.T) {
	inf := float32(math.Inf(1))
	nan := float32(math.NaN())
	nz := float32(math.Copysign(0, -1))
	s2 := func(u float32) float32 { s, _ := Sincos2Pi(u); return s }
	c2 := func(u float32) float32 { _, c := Sincos2Pi(u); return c }
	tests := []struct {
		name string
		f    func(float32) float32
		x    float32
		want float32
	}{
		{"Exp", Exp, 0, 1}, {"Exp", Exp, nz, 1}, {"Exp", Exp, inf, inf}, {"Exp", Exp, -inf, 0},
		{"Exp", Exp, nan, nan}, {"Exp", Exp, 88.72284, inf}, {"Exp", Exp, 89, inf},
		{"Exp", Exp, -104, 0}, {"Exp", Exp, -103.98, 0}, {"Exp", Exp, -103.27893, 0x1p-149},
		{"Log", Log, 0, -inf}, {"Log", Log, nz, -inf}, {"Log", Log, -1, nan}, {"Log", Log, -inf, nan},
		{"Log", Log, inf, inf}, {"Log", Log, nan, nan}, {"Log", Log, 1, 0}, {"Log", Log, 0x1p-149, -103.27893},
		{"Log1p", Log1p, 0, 0}, {"Log1p", Log1p, nz, nz}, {"Log1p", Log1p, -1, -inf},
		{"Log1p", Log1p, -2, nan}, {"Log1p", Log1p, -inf, nan}, {"Log1p", Log1p, inf, inf},
		{"Log1p", Log1p, nan, nan}, {"Log1p", Log1p, 0x1p-149, 0x1p-149}, {"Log1p", Log1p, -0x1p-30, -0x1p-30},
		{"Tanh", Tanh, 0, 0}, {"Tanh", Tanh, nz, nz}, {"Tanh", Tanh, inf, 1}, {"Tanh", Tanh, -inf, -1},
		{"Tanh", Tanh, 10, 1}, {"Tanh", Tanh, -10, -1}, {"Tanh", Tanh, nan, nan}, {"Tanh", Tanh, 0x1p-149, 0x1p-149},
		{"Sigmoid", Sigmoid, 0, 0.5}, {"Sigmoid", Sigmoid, nz, 0.5}, {"Sigmoid", Sigmoid, inf, 1},
		{"Sigmoid", Sigmoid, -inf, 0}, {"Sigmoid", Sigmoid, nan, nan}, {"Sigmoid", Sigmoid, 20, 1},
		{"Sigmoid", Sigmoid, -200, 0},
		{"Softplus", Softplus, inf, inf}, {"Softplus", Softplus, -inf, 0}, {"Softplus", Softplus, nan, nan},
		{"Softplus", Softplus, 0, 0.6931472}, {"Softplus", Softplus, 100, 100}, {"Softplus", Softplus, 1e30, 1e30},
		{"Softplus", Softplus, math.MaxFloat32, math.MaxFloat32}, {"Softplus", Softplus, -200, 0},
		{"Sin", Sin, 0, 0}, {"Sin", Sin, nz, nz}, {"Sin", Sin, inf, nan}, {"Sin", Sin, -inf, nan},
		{"Sin", Sin, nan, nan}, {"Sin", Sin, 0x1p-149, 0x1p-149},
		{"Cos", Cos, 0, 1}, {"Cos", Cos, nz, 1}, {"Cos", Cos, inf, nan}, {"Cos", Cos, nan, nan},
		{"sin2pi", s2, 0, 0}, {"sin2pi", s2, nz, nz}, {"sin2pi", s2, -1, nz}, {"cos2pi", c2, 0.75, 0}, {"sin2pi", s2, 0.25, 1}, {"sin2pi", s2, 0.5, 0}, {"sin2pi", s2, -0.25, -1},
		{"sin2pi", s2, 1e9, 0}, {"sin2pi", s2, 0.75, -1}, {"sin2pi", s2, inf, nan}, {"sin2pi", s2, nan, nan},
		{"cos2pi", c2, 0, 1}, {"cos2pi", c2, 0.25, 0}, {"cos2pi", c2, 0.5, -1}, {"cos2pi", c2, 1e9, 1},
		{"cos2pi", c2, -0.5, -1}, {"cos2pi", c2, -inf, nan},
	}
	for _, tt := range tests {
		got := tt.f(tt.x)
		assertSameBits(t, tt.want, got, "%s(%g) = %g, want %g", tt.name, tt.x, got, tt.want)
	}
}

// TestSymmetry checks the exact symmetries the implementations keep: Tanh and Sin are
// odd, Cos is even, and the sine and cosine of 2*pi*u are odd and even in u.
func TestSymmetry(t *testing.T) {
	for _, x := range twinInputs(1 << 16) {
		if x != x {
			continue
		}
		s, c := Sincos2Pi(x)
		sn, cn := Sincos2Pi(-x)
		pairs := []struct {
			name   string
			a, b   float32
			negate bool
		}{
			{"Tanh", Tanh(x), Tanh(-x), true}, {"Sin", Sin(x), Sin(-x), true}, {"Cos", Cos(x), Cos(-x), false},
			{"sin2pi", s, sn, true}, {"cos2pi", c, cn, false},
		}
		for _, p := range pairs {
			b := p.b
			if p.negate {
				b = -b
			}
			if !sameBits(p.a, b) && !(p.a == 0 && b == 0) {
				require.Failf(t, "not symmetric", "%s at %g: %g vs %g", p.name, x, p.a, p.b)
			}
		}
	}
}

// TestActivate checks the activations' definitions, their NaN and signed-zero
// conventions and the gradients against finite differences of float64 references.
func TestActivate(t *testing.T) {
	nan := float32(math.NaN())
	nz := float32(math.Copysign(0, -1))
	got := Activate(kernels.ActRelu, nan)
	assert.True(t, got != got, "relu(NaN) = %g, want NaN", got)
	assertSameBits(t, 0, Activate(kernels.ActRelu, nz), "relu(-0), want +0")
	assert.Equal(t, float32(0), Activate(kernels.ActRelu, -3), "relu(-3)")
	assert.Equal(t, float32(0), ActivateGrad(kernels.ActRelu, 0, 0), "relu'(0)")
	assert.Equal(t, float32(0), ActivateGrad(kernels.ActRelu, nan, nan), "relu'(NaN)")
	for _, act := range []kernels.Act{-1, kernels.ActExp + 1} {
		y, g := Activate(act, 1), ActivateGrad(act, 1, 1)
		assert.True(t, y != y && g != g, "unknown act %d: (%g, %g), want NaN", act, y, g)
	}
	ref := map[kernels.Act]func(float64) float64{
		kernels.ActNone:     func(x float64) float64 { return x },
		kernels.ActRelu:     func(x float64) float64 { return math.Max(x, 0) },
		kernels.ActTanh:     math.Tanh,
		kernels.ActSigmoid:  refSigmoid,
		kernels.ActSoftplus: refSoftplus,
		kernels.ActExp:      math.Exp,
	}
	want := map[kernels.Act]func(float32) float32{
		kernels.ActNone: func(x float32) float32 { return x }, kernels.ActTanh: Tanh, kernels.ActSigmoid: Sigmoid,
		kernels.ActSoftplus: Softplus, kernels.ActExp: Exp,
	}
	for act := kernels.ActNone; act <= kernels.ActExp; act++ {
		for _, x64 := range []float64{-7.5, -2, -0.7, -0.1, 0.05, 0.3, 1.1, 2.5, 6} {
			x := float32(x64)
			y := Activate(act, x)
			if f, ok := want[act]; ok {
				assertSameBits(t, f(x), y, "Activate(%d, %g) = %g, want %g", act, x, y, f(x))
			}
			g := float64(ActivateGrad(act, x, y))
			const h = 1e-6
			fd := (ref[act](float64(x)+h) - ref[act](float64(x)-h)) / (2 * h)
			assert.LessOrEqual(t, math.Abs(g-fd), 1e-5*math.Max(1, math.Abs(fd)), "ActivateGrad(%d, %g) = %g, finite difference %g", act, x, g, fd)
		}
	}
}

// TestConstantsMatchHeader reads kernels/gm_math.cuh and the Go twin's sources and
// checks that both use the same set of non-integer float constants, and that every
// float literal of the header is its float's exact decimal value or its shortest
// decimal form (so that no compiler's decimal-to-float conversion, even one through
// double, can land on another float).
func TestConstantsMatchHeader(t *testing.T) {
	read := func(path string) string {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		return string(b)
	}
	// Drop comments so that numbers in prose do not count.
	code := func(src string) string {
		return regexp.MustCompile(`//[^\n]*`).ReplaceAllString(src, "")
	}
	lit := regexp.MustCompile(`\b\d+\.\d*(?:e[-+]?\d+)?f?\b|\b\d+e[-+]?\d+f?\b`)
	collect := func(src string, header bool) map[uint32]string {
		set := map[uint32]string{}
		for _, s := range lit.FindAllString(code(src), -1) {
			if header && !strings.HasSuffix(s, "f") {
				continue // not a float literal of the header (e.g. a double in a comment)
			}
			v, err := strconv.ParseFloat(strings.TrimSuffix(s, "f"), 32)
			require.NoError(t, err, "literal %q", s)
			f := float32(v)
			if exact, _ := strconv.ParseFloat(strings.TrimSuffix(s, "f"), 64); exact == float64(f) {
				if float64(f) == math.Trunc(float64(f)) {
					continue // an integer: the same in any notation on both sides
				}
			} else if header {
				short := strconv.FormatFloat(float64(f), 'g', -1, 32)
				assert.Equal(t, short, strings.TrimSuffix(s, "f"), "gm_math.cuh: literal %s is not the shortest form of its float", s)
			}
			set[math.Float32bits(f)] = s
		}
		return set
	}
	h := collect(read("../../kernels/gm_math.cuh"), true)
	g := collect(read("math.go")+read("trig.go")+read("activate.go"), false)
	for b, s := range h {
		_, ok := g[b]
		assert.True(t, ok, "gm_math.cuh uses %s (%#x), the Go twin does not", s, b)
	}
	for b, s := range g {
		_, ok := h[b]
		assert.True(t, ok, "the Go twin uses %s (%#x), gm_math.cuh does not", s, b)
	}
	t.Logf("%d non-integer constants on each side", len(h))
}

// TestDeterministic checks that the functions are pure: evaluating the same inputs
// again, concurrently and in another order, gives the same bits.
func TestDeterministic(t *testing.T) {
	in := twinInputs(1 << 14)
	first := make([][]float32, len(mathFns))
	for fn, m := range mathFns {
		first[fn] = make([]float32, len(in))
		for i, x := range in {
			first[fn][i] = m.f(x)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan string, len(mathFns))
	for fn, m := range mathFns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := len(in) - 1; i >= 0; i-- {
				if got := m.f(in[i]); math.Float32bits(got) != math.Float32bits(first[fn][i]) {
					errs <- fmt.Sprintf("%s(%g): %#x then %#x", m.name, in[i],
						math.Float32bits(first[fn][i]), math.Float32bits(got))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	var diffs []string
	for e := range errs {
		diffs = append(diffs, e)
	}
	assert.Empty(t, diffs, "evaluating again, concurrently and backwards, changed bits")
}
