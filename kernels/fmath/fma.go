// Package fmath is the Go twin of kernels/gm_math.cuh: float32 math built only from
// IEEE-754 add, mul, fused multiply-add, comparisons and bit manipulation, so that the
// CPU path computes the same bits as the GPU kernels (see shared/design/DETERMINISM.md).
//
// Every product that is followed by an add is written float32(x*y): the explicit
// conversion forbids the Go compiler from fusing it into an FMA (Go spec, "Arithmetic
// operators"); every intended fusion is written FMA(x, y, z).
package fmath

import "github.com/gmvae/gmvae/internal/f32"

// FMA returns x*y+z computed with a single rounding to float32, exactly as CUDA's fmaf
// and PTX's fma.rn.f32 do. float32(math.FMA(x, y, z)) is wrong: it rounds twice. See
// internal/f32 for the algorithm; the PTX emulator uses the same function.
func FMA(x, y, z float32) float32 { return f32.FMA(x, y, z) }
