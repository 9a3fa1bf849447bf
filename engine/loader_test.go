package engine

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/cuda/emu"
)

// batchValue is the content the test's fill writes: batch i, element j.
func batchValue(i, j int) float32 { return float32(i*1000 + j) }

func TestLoaderDeliversBatchesInOrder(t *testing.T) {
	const rows, cols, count, last = 4, 3, 7, 2 // the last batch has 2 rows
	fill := func(i int, x []float32) (int, error) {
		n := rows
		if i == count-1 {
			n = last
		}
		for j := 0; j < n*cols; j++ {
			x[j] = batchValue(i, j)
		}
		return n, nil
	}
	dev := emu.New(emu.Options{})
	gpu := NewGPU(dev, GPUOptions{})
	for _, b := range []Backend{NewCPU(), gpu} {
		l, err := NewLoader(b, rows, cols, count, fill)
		require.NoError(t, err)
		for i := 0; ; i++ {
			x, n, ok, err := l.Next()
			require.NoError(t, err, "%s: batch %d", b.Name(), i)
			if !ok {
				require.Equal(t, count, i, "%s: batches", b.Name())
				break
			}
			want := rows
			if i == count-1 {
				want = last
			}
			require.Equal(t, want, n, "%s: batch %d: rows", b.Name(), i)
			require.Equal(t, n*cols, x.Len(), "%s: batch %d: buffer length for %d rows", b.Name(), i, n)
			got := make([]float32, x.Len())
			require.NoError(t, b.Download(got, x))
			for j, v := range got {
				require.Equal(t, batchValue(i, j), v, "%s: batch %d element %d", b.Name(), i, j)
			}
		}
		require.NoError(t, l.Close())
	}
	require.NoError(t, gpu.Pool().CheckLeaks())
}

func TestLoaderErrorsAndEarlyClose(t *testing.T) {
	boom := errors.New("disk on fire")
	for _, b := range []Backend{NewCPU(), NewGPU(emu.New(emu.Options{}), GPUOptions{})} {
		l, err := NewLoader(b, 2, 2, 5, func(i int, x []float32) (int, error) {
			if i == 2 {
				return 0, boom
			}
			return 2, nil
		})
		require.NoError(t, err)
		var got error
		for i := 0; i < 5 && got == nil; i++ {
			_, _, _, got = l.Next()
		}
		assert.ErrorIs(t, got, boom, "%s: the fill error did not reach Next", b.Name())
		require.NoError(t, l.Close())
		// Closing before reading everything must not hang.
		l2, err := NewLoader(b, 2, 2, 100, func(i int, x []float32) (int, error) { return 2, nil })
		require.NoError(t, err)
		_, _, _, err = l2.Next()
		require.NoError(t, err)
		require.NoError(t, l2.Close())
		// A fill that claims more rows than the buffers hold is an error.
		l3, _ := NewLoader(b, 2, 2, 1, func(i int, x []float32) (int, error) { return 3, nil })
		_, _, _, err = l3.Next()
		assert.ErrorContains(t, err, "fill returned 3 rows", "%s: oversized fill", b.Name())
		_ = l3.Close()
	}
	_, err := NewLoader(NewCPU(), 0, 3, 1, nil)
	assert.Error(t, err, "a loader of 0-row batches was accepted")
}
