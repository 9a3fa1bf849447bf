package engine

import (
	"errors"
	"strings"
	"testing"

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
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; ; i++ {
			x, n, ok, err := l.Next()
			if err != nil {
				t.Fatalf("%s: batch %d: %v", b.Name(), i, err)
			}
			if !ok {
				if i != count {
					t.Fatalf("%s: %d batches, want %d", b.Name(), i, count)
				}
				break
			}
			want := rows
			if i == count-1 {
				want = last
			}
			if n != want || x.Len() != n*cols {
				t.Fatalf("%s: batch %d: %d rows in a buffer of %d, want %d rows", b.Name(), i, n, x.Len(), want)
			}
			got := make([]float32, x.Len())
			if err := b.Download(got, x); err != nil {
				t.Fatal(err)
			}
			for j, v := range got {
				if v != batchValue(i, j) {
					t.Fatalf("%s: batch %d element %d = %g, want %g", b.Name(), i, j, v, batchValue(i, j))
				}
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := gpu.Pool().CheckLeaks(); err != nil {
		t.Fatal(err)
	}
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
		if err != nil {
			t.Fatal(err)
		}
		var got error
		for i := 0; i < 5 && got == nil; i++ {
			_, _, _, got = l.Next()
		}
		if !errors.Is(got, boom) {
			t.Errorf("%s: the fill error did not reach Next: %v", b.Name(), got)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		// Closing before reading everything must not hang.
		l2, err := NewLoader(b, 2, 2, 100, func(i int, x []float32) (int, error) { return 2, nil })
		if err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := l2.Next(); err != nil {
			t.Fatal(err)
		}
		if err := l2.Close(); err != nil {
			t.Fatal(err)
		}
		// A fill that claims more rows than the buffers hold is an error.
		l3, _ := NewLoader(b, 2, 2, 1, func(i int, x []float32) (int, error) { return 3, nil })
		if _, _, _, err := l3.Next(); err == nil || !strings.Contains(err.Error(), "fill returned 3 rows") {
			t.Errorf("%s: oversized fill: %v", b.Name(), err)
		}
		_ = l3.Close()
	}
	if _, err := NewLoader(NewCPU(), 0, 3, 1, nil); err == nil {
		t.Error("a loader of 0-row batches was accepted")
	}
}
