package cpu

import (
	"math"

	"github.com/gmvae/gmvae/kernels/fmath"
)

// Function codes of MathEval (kernel math_eval; GM_FN_* in kernels/mathfn.cu).
const (
	MathFnExp      = 0 // fmath.Exp
	MathFnLog      = 1 // fmath.Log
	MathFnLog1p    = 2 // fmath.Log1p
	MathFnTanh     = 3 // fmath.Tanh
	MathFnSigmoid  = 4 // fmath.Sigmoid
	MathFnSoftplus = 5 // fmath.Softplus
	MathFnSin      = 6 // fmath.Sin
	MathFnCos      = 7 // fmath.Cos
	MathFnSin2Pi   = 8 // sin(2*pi*x), fmath.Sincos2Pi
	MathFnCos2Pi   = 9 // cos(2*pi*x), fmath.Sincos2Pi
	// MathFnCount is the number of function codes; codes outside [0, MathFnCount) write
	// NaN.
	MathFnCount = 10
)

// MathFn returns the float32 function of code fn (MathFnExp ...), or nil for an
// unknown code.
func MathFn(fn int) func(float32) float32 {
	switch fn {
	case MathFnExp:
		return fmath.Exp
	case MathFnLog:
		return fmath.Log
	case MathFnLog1p:
		return fmath.Log1p
	case MathFnTanh:
		return fmath.Tanh
	case MathFnSigmoid:
		return fmath.Sigmoid
	case MathFnSoftplus:
		return fmath.Softplus
	case MathFnSin:
		return fmath.Sin
	case MathFnCos:
		return fmath.Cos
	case MathFnSin2Pi:
		return func(u float32) float32 { s, _ := fmath.Sincos2Pi(u); return s }
	case MathFnCos2Pi:
		return func(u float32) float32 { _, c := fmath.Sincos2Pi(u); return c }
	}
	return nil
}

// MathEval is the twin of kernel math_eval: y[i] = f_fn(x[i]) for i < n, x and y of
// length >= n; an unknown fn writes NaN.
func MathEval(x, y []float32, n, fn int) {
	f := MathFn(fn)
	x, y = x[:n], y[:n]
	if f == nil {
		nan := float32(math.NaN())
		for i := range y {
			y[i] = nan
		}
		return
	}
	for i, v := range x {
		y[i] = f(v)
	}
}
