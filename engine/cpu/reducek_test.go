package cpu

import (
	"math"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Tests of the reduce twins (reducek.go). Helpers from elementwise_test.go.

// rkBlockBound is the error bound of a Sum256 sum of n terms, each with relative error
// at most termUlps*u: every thread adds ceil(n/256) terms in sequence, then 5 + 5
// butterfly levels (the second butterfly over lanes 0..7 only needs 3, 5 is safe), so
// |err| <= (ceil(n/256) + 10 + termUlps) * u * sum|t| (1.01 covers the second order),
// plus termUlps * 2^-149 per subnormal term.
func rkBlockBound(n int, termUlps, sumAbs float64) float64 {
	return 1.01*(float64((n+255)/256)+10+termUlps)*ewU*sumAbs +
		float64(n)*termUlps*math.SmallestNonzeroFloat32
}

var rkSizes = []int{0, 1, 31, 32, 33, 255, 256, 257, 1000, 70000}

// TestSumAll: against float64 within rkBlockBound (termUlps = 0), plus one rounding of
// the scale product; scale = 1 leaves Sum256's bits; scale = 1/n gives the mean;
// NaN and ±Inf propagate; n = 0 gives +0.
func TestSumAll(t *testing.T) {
	r := rand.New(rand.NewSource(21))
	for _, n := range rkSizes {
		for _, spread := range []float64{1, 1e6} {
			x := ewRandSlice(r, n, -spread, spread)
			var ref, abs float64
			for _, v := range x {
				ref += float64(v)
				abs += math.Abs(float64(v))
			}
			out := []float32{-9, -9}
			SumAll(x, out, n, 1)
			require.True(t, ewSame(Sum256(n, func(i int) float32 { return x[i] }), out[0]), "scale 1 keeps the bits")
			require.Equal(t, float32(-9), out[1], "writes out[0] only")
			require.InDelta(t, ref, float64(out[0]), rkBlockBound(n, 0, abs), "n=%d", n)
			if n == 0 {
				require.True(t, ewSame(0, out[0]), "n = 0 gives +0")
				continue
			}
			scale := float32(1) / float32(n)
			SumAll(x, out, n, scale)
			want := ref * float64(scale)
			require.InDelta(t, want, float64(out[0]), rkBlockBound(n, 1, abs)*float64(scale), "n=%d mean", n)
		}
	}
	for _, tt := range []struct {
		x    []float32
		want float32
	}{
		{[]float32{1, ewNaN, 2}, ewNaN},
		{[]float32{1, ewInf, 2}, ewInf},
		{[]float32{ewInf, ewNInf}, ewNaN},
		{[]float32{3e38, 3e38}, ewInf},
		{[]float32{ewNegZ, ewNegZ}, 0}, // partials start at +0
	} {
		out := []float32{-9}
		SumAll(tt.x, out, len(tt.x), 1)
		assert.True(t, ewSame(tt.want, out[0]), "x=%v: got %v want %v", tt.x, out[0], tt.want)
	}
}

// TestSumSquares: against float64 within rkBlockBound (termUlps = 1: each square
// rounded); overflow to +Inf; NaN propagates; n = 0 gives +0.
func TestSumSquares(t *testing.T) {
	r := rand.New(rand.NewSource(22))
	for _, n := range rkSizes {
		x := ewRandSlice(r, n, -3, 3)
		var ref float64
		for _, v := range x {
			ref += float64(v) * float64(v)
		}
		out := []float32{-9}
		SumSquares(x, out, n)
		require.InDelta(t, ref, float64(out[0]), rkBlockBound(n, 1, ref), "n=%d", n)
	}
	out := []float32{-9}
	SumSquares(nil, out, 0)
	assert.True(t, ewSame(0, out[0]))
	SumSquares([]float32{1, 2e19}, out, 2)
	assert.Equal(t, ewInf, out[0])
	SumSquares([]float32{1, ewNaN}, out, 2)
	assert.True(t, out[0] != out[0])
	SumSquares([]float32{1e-30, -1e-30}, out, 2) // squares underflow to +0
	assert.True(t, ewSame(0, out[0]))
	SumSquares([]float32{1e-20, -1e-20}, out, 2) // subnormal squares, kept
	assert.LessOrEqual(t, ewUlpErr(out[0], 2*float64(float32(float32(1e-20)*float32(1e-20)))), 0.0)
}

// TestSumRows: against float64 within ewSumBound (termUlps = 0) plus the scale's
// rounding; scale = 1 gives Sum32's bits; cols = 0 gives scale * +0.
func TestSumRows(t *testing.T) {
	r := rand.New(rand.NewSource(23))
	for _, rows := range []int{0, 1, 5, 64} {
		for _, cols := range append(ewSizes, 784) {
			x := ewRandSlice(r, rows*cols, -10, 10)
			for _, scale := range []float32{1, 0.02, -3} {
				out := ewGarbage(r, rows)
				SumRows(x, out, rows, cols, scale)
				for row := 0; row < rows; row++ {
					xr := x[row*cols : (row+1)*cols]
					if scale == 1 {
						require.True(t, ewSame(Sum32(cols, func(c int) float32 { return xr[c] }), out[row]))
					}
					var ref, abs float64
					for _, v := range xr {
						ref += float64(v)
						abs += math.Abs(float64(v))
					}
					s := math.Abs(float64(scale))
					require.InDelta(t, ref*float64(scale), float64(out[row]), s*ewSumBound(cols, 1, abs), "rows=%d cols=%d scale=%v", rows, cols, scale)
				}
			}
		}
	}
	out := []float32{-9, -9, -9}
	SumRows([]float32{1, ewNaN, 1, ewInf}, out, 2, 2, 1)
	assert.True(t, out[0] != out[0])
	assert.Equal(t, ewInf, out[1])
	assert.Equal(t, float32(-9), out[2], "writes rows outputs only")
}

// BenchmarkSumSquares measures the (sequential, Sum256-order) squared norm of 1M floats.
func BenchmarkSumSquares(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	n := 1 << 20
	x := ewRandSlice(r, n, -1, 1)
	out := []float32{0}
	b.SetBytes(int64(4 * n))
	for b.Loop() {
		SumSquares(x, out, n)
	}
}

// BenchmarkBernoulliLoglik measures the twin on a 100x784 MNIST-sized batch.
func BenchmarkBernoulliLoglik(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	x, l := lkBernData(r, 100*784, false, 3)
	out := make([]float32, 100)
	b.SetBytes(int64(8 * len(x)))
	for b.Loop() {
		BernoulliLoglik(x, l, out, 100, 784)
	}
}
