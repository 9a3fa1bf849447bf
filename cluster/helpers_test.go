package cluster

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/cuda/emu"
	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/kernels/philox"
)

// emuBackend returns a backend running the shipped PTX on the emulator.
func emuBackend() engine.Backend {
	return engine.NewGPU(emu.New(emu.Options{}), engine.GPUOptions{})
}

// upload puts x on b.
func upload(t testing.TB, b engine.Backend, x []float32) *engine.Buf {
	t.Helper()
	buf, err := b.New(len(x), "test data")
	require.NoError(t, err)
	require.NoError(t, b.Upload(buf, x))
	return buf
}

// blobs returns n rows of d features drawn around k centers (standard normals times
// sep) with unit-variance noise scaled by spread, and each row's true blob (row i is
// in blob i % k). Deterministic in seed.
func blobs(n, d, k int, sep, spread float32, seed uint64) ([]float32, []int) {
	c := make([]float32, k*d)
	philox.Normals(c, seed, 1)
	noise := make([]float32, n*d)
	philox.Normals(noise, seed, 2)
	x := make([]float32, n*d)
	labels := make([]int, n)
	for i := 0; i < n; i++ {
		labels[i] = i % k
		for f := 0; f < d; f++ {
			x[i*d+f] = c[labels[i]*d+f]*sep + noise[i*d+f]*spread
		}
	}
	return x, labels
}

// withChunkRows runs f with chunkRows set to rows.
func withChunkRows(rows int, f func()) {
	old := chunkRows
	chunkRows = rows
	defer func() { chunkRows = old }()
	f()
}

// bits returns the bit patterns of v, so that require.Equal compares bits (NaN as
// one class would need more; the fits never produce NaN).
func bits(v []float32) []uint32 {
	out := make([]uint32, len(v))
	for i, x := range v {
		out[i] = math.Float32bits(x)
	}
	return out
}

// bits64 is bits for float64 slices.
func bits64(v []float64) []uint64 {
	out := make([]uint64, len(v))
	for i, x := range v {
		out[i] = math.Float64bits(x)
	}
	return out
}

// sqDist64 is ||a - b||² in float64.
func sqDist64(a, b []float32) float64 {
	s := 0.0
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		s += d * d
	}
	return s
}
