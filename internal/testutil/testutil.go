// Package testutil holds the helpers that the tests of several packages share: buffers
// on a backend, bit comparisons of float32 slices, and small synthetic data sets drawn
// from the engine's own Philox streams (the same rows on every machine).
package testutil

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/kernels/philox"
)

// Upload returns a new buffer on b holding v.
func Upload(t testing.TB, b engine.Backend, v []float32, tag string) *engine.Buf {
	t.Helper()
	x, err := b.New(len(v), tag)
	require.NoError(t, err)
	require.NoError(t, b.Upload(x, v))
	return x
}

// New returns a new buffer of n values on b, failing t when b cannot allocate it.
func New(t testing.TB, b engine.Backend, n int, tag string) *engine.Buf {
	t.Helper()
	x, err := b.New(n, tag)
	require.NoError(t, err)
	return x
}

// Download returns x's contents.
func Download(t testing.TB, b engine.Backend, x *engine.Buf) []float32 {
	t.Helper()
	v := make([]float32, x.Len())
	require.NoError(t, b.Download(v, x))
	return v
}

// SameBits returns the first index where a and b differ in their bits, or -1 when they
// are the same (0 when their lengths differ). NaNs are compared by their bits too.
func SameBits(a, b []float32) int {
	if len(a) != len(b) {
		return 0
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

// RequireSameBits fails t at the first element where a and b differ in their bits (any
// two NaNs count as equal: NaN bits differ between devices, DETERMINISM.md rule 8).
func RequireSameBits(t testing.TB, what string, a, b []float32) {
	t.Helper()
	require.Len(t, b, len(a), "%s: lengths differ", what)
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) && !(a[i] != a[i] && b[i] != b[i]) {
			require.Failf(t, "bits differ", "%s[%d]: %g (first) and %g (second)", what, i, a[i], b[i])
		}
	}
}

// ClusteredBits returns n rows of d binary pixels drawn around k prototypes (each
// pixel of a prototype on with probability 1/2; each pixel of a row copies its
// prototype's with probability 0.9) and each row's prototype.
func ClusteredBits(n, d, k int, seed uint64) ([]float32, []int) {
	proto := make([]float32, k*d)
	philox.Uniforms(proto, seed, 0)
	flip := make([]float32, n*d)
	philox.Uniforms(flip, seed, 1)
	pick := make([]float32, n)
	philox.Uniforms(pick, seed, 2)
	x := make([]float32, n*d)
	labels := make([]int, n)
	for i := 0; i < n; i++ {
		c := min(int(pick[i]*float32(k)), k-1)
		labels[i] = c
		for j := 0; j < d; j++ {
			on := proto[c*d+j] < 0.5
			if flip[i*d+j] < 0.1 {
				on = !on
			}
			if on {
				x[i*d+j] = 1
			}
		}
	}
	return x, labels
}

// Must fails t when err is not nil.
func Must(t testing.TB, err error) {
	t.Helper()
	require.NoError(t, err)
}
