package cpu

import (
	"math"
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/kernels/fmath"
)

// TestMathEval checks the twin of math_eval: y[i] = f_fn(x[i]) for i < n with the
// fmath function of each code, elements from n on untouched, NaN for unknown codes.
func TestMathEval(t *testing.T) {
	x := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 0.5, 3, -20, 88.8, -104, 1e-40, 1e30,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())}
	fns := []func(float32) float32{fmath.Exp, fmath.Log, fmath.Log1p, fmath.Tanh, fmath.Sigmoid,
		fmath.Softplus, fmath.Sin, fmath.Cos,
		func(u float32) float32 { s, _ := fmath.Sincos2Pi(u); return s },
		func(u float32) float32 { _, c := fmath.Sincos2Pi(u); return c }}
	require.Len(t, fns, MathFnCount, "functions listed, against MathFnCount")
	twin, err := TwinOf("math_eval")
	require.NoError(t, err)
	const sentinel = 12345
	for fn := -1; fn <= MathFnCount; fn++ {
		n := len(x) - 2
		y := make([]float32, len(x))
		for i := range y {
			y[i] = sentinel
		}
		twin(KernelArgs{x, y, int64(n), int64(fn)})
		for i := range y {
			want := float32(sentinel)
			if i < n {
				want = float32(math.NaN())
				if fn >= 0 && fn < MathFnCount {
					want = fns[fn](x[i])
				}
			}
			same := math.Float32bits(y[i]) == math.Float32bits(want) || y[i] != y[i] && want != want
			if !same {
				assert.Equal(t, math.Float32bits(want), math.Float32bits(y[i]), "fn %d, x[%d] = %g: y = %g, want %g (bits; NaN as a class)", fn, i, x[i], y[i], want)
			}
		}
	}
}

// TestMathFnCodes lists the function codes and checks them against the GM_FN_* codes of
// kernels/mathfn.cu, so that the twin and the kernel cannot drift apart.
func TestMathFnCodes(t *testing.T) {
	codes := map[string]int{
		"EXP": MathFnExp, "LOG": MathFnLog, "LOG1P": MathFnLog1p, "TANH": MathFnTanh,
		"SIGMOID": MathFnSigmoid, "SOFTPLUS": MathFnSoftplus, "SIN": MathFnSin, "COS": MathFnCos,
		"SIN2PI": MathFnSin2Pi, "COS2PI": MathFnCos2Pi,
	}
	src, err := os.ReadFile("../../kernels/mathfn.cu")
	require.NoError(t, err)
	found := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^#define GM_FN_(\w+) (\d+)$`).FindAllSubmatch(src, -1) {
		v, _ := strconv.Atoi(string(m[2]))
		found[string(m[1])] = v
	}
	assert.Len(t, found, len(codes), "codes defined in mathfn.cu, against the twin's")
	assert.Len(t, codes, MathFnCount, "the twin's codes, against MathFnCount")
	for name, code := range codes {
		if c, ok := found[name]; assert.True(t, ok, "GM_FN_%s: not defined in mathfn.cu", name) {
			assert.Equal(t, code, c, "GM_FN_%s: mathfn.cu's code against the twin's", name)
		}
		assert.NotNil(t, MathFn(code), "MathFn(%d) (%s)", code, name)
	}
	for _, bad := range []int{-1, MathFnCount} {
		assert.Nil(t, MathFn(bad), "MathFn(%d)", bad)
	}
}
