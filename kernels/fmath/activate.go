package fmath

import "github.com/gmvae/gmvae/kernels"

// Activate applies activation act to x (gm_activate):
//
//	ActNone     x
//	ActRelu     x > 0 ? x : +0; NaN propagates (relu(NaN) = NaN), relu(-0) = +0
//	ActTanh     Tanh(x)
//	ActSigmoid  Sigmoid(x)
//	ActSoftplus Softplus(x)
//	ActExp      Exp(x)
//
// An unknown code gives NaN.
func Activate(act kernels.Act, x float32) float32 {
	switch act {
	case kernels.ActNone:
		return x
	case kernels.ActRelu:
		if x > 0 || !(x == x) {
			return x
		}
		return 0
	case kernels.ActTanh:
		return Tanh(x)
	case kernels.ActSigmoid:
		return Sigmoid(x)
	case kernels.ActSoftplus:
		return Softplus(x)
	case kernels.ActExp:
		return Exp(x)
	}
	return nan32
}

// ActivateGrad returns dy/dx of Activate(act, .) at input x with output y
// (gm_activate_grad):
//
//	ActNone     1
//	ActRelu     x > 0 ? 1 : 0 (0 at x = 0 and for NaN x)
//	ActTanh     1 - y*y, as FMA(-y, y, 1)
//	ActSigmoid  y*(1-y)
//	ActSoftplus Sigmoid(x)
//	ActExp      y
//
// An unknown code gives NaN.
func ActivateGrad(act kernels.Act, x, y float32) float32 {
	switch act {
	case kernels.ActNone:
		return 1
	case kernels.ActRelu:
		if x > 0 {
			return 1
		}
		return 0
	case kernels.ActTanh:
		return FMA(-y, y, 1)
	case kernels.ActSigmoid:
		return float32(y * (1 - y))
	case kernels.ActSoftplus:
		return Sigmoid(x)
	case kernels.ActExp:
		return y
	}
	return nan32
}
