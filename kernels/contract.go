package kernels

import (
	"fmt"
	"math"
)

// The host half of the kernel contract: the values the host computes or encodes for the
// kernels, the same on every backend.

// Act is an activation code, the GM_ACT_* of gm_math.cuh, passed to the kernels that
// apply an activation (act_fwd, act_bwd, the GEMMs' epilogue, bn_fwd).
type Act int

// The activation codes (GM_ACT_* in gm_math.cuh).
const (
	ActNone     Act = 0 // identity
	ActRelu     Act = 1 // max(x, 0)
	ActTanh     Act = 2 // tanh
	ActSigmoid  Act = 3 // sigmoid
	ActSoftplus Act = 4 // softplus
	ActExp      Act = 5 // exp
)

// String returns the activation's name.
func (a Act) String() string {
	switch a {
	case ActNone:
		return "none"
	case ActRelu:
		return "relu"
	case ActTanh:
		return "tanh"
	case ActSigmoid:
		return "sigmoid"
	case ActSoftplus:
		return "softplus"
	case ActExp:
		return "exp"
	}
	return fmt.Sprintf("Act(%d)", int(a))
}

// StreamID returns the Philox stream of tensor number tensor at training step step:
// step<<32 | tensor, so the counter's words 2 and 3 are (tensor, step). Tensor ids
// are the caller's (one per random tensor of a step: each layer's eps, the binarised
// batch, ...); two different (step, tensor) pairs never share a stream. It panics when
// step >= 2^32, which would alias step 0's streams (4.3e9 steps: a programming error,
// not a real run).
func StreamID(step uint64, tensor uint32) uint64 {
	if step>>32 != 0 {
		panic("kernels: StreamID: step >= 2^32 would reuse random streams")
	}
	return step<<32 | uint64(tensor)
}

// AdamBiasCorrections returns Adam's bias corrections for step t >= 1:
// bc1 = 1 - beta1^t and bc2 = 1 - beta2^t, computed in float64 from the exact float32
// values of beta1 and beta2 (math.Pow, which for an integer exponent is exponentiation
// by squaring in pure Go: the same bits on amd64 and arm64), then rounded to float32.
// The host passes them to adam_step, so the GPU and the CPU use the same values. It
// panics when t < 1 (bc would be 0: a programming error).
func AdamBiasCorrections(beta1, beta2 float32, t int) (bc1, bc2 float32) {
	if t < 1 {
		panic("kernels: AdamBiasCorrections: step t must be >= 1")
	}
	bc1 = float32(1 - math.Pow(float64(beta1), float64(t)))
	bc2 = float32(1 - math.Pow(float64(beta2), float64(t)))
	return bc1, bc2
}
