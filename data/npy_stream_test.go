package data

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNPYWriterStream writes arrays in chunks of various sizes, N known or not, and
// checks the file against WriteNPYFloat32 / WriteNPYInt byte for byte and read back by
// ReadNPY and LoadNPY.
func TestNPYWriterStream(t *testing.T) {
	f := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(i)*0.25 - 3
		}
		return x
	}
	ints := func(n int) []int {
		v := make([]int, n)
		for i := range v {
			v[i] = i*7 - 5
		}
		return v
	}
	cases := []struct {
		name   string
		descr  string
		shape  []int // the array's; N is shape[0]
		known  bool  // give N up front (else -1)
		chunks []int // rows per write
	}{
		{"f4 known one write", NPYFloat32, []int{7, 3}, true, []int{7}},
		{"f4 known rows 1", NPYFloat32, []int{7, 3}, true, []int{1, 1, 1, 1, 1, 1, 1}},
		{"f4 known uneven", NPYFloat32, []int{7, 3}, true, []int{3, 0, 3, 1}},
		{"f4 unknown", NPYFloat32, []int{7, 3}, false, []int{2, 5}},
		{"f4 empty known", NPYFloat32, []int{0, 4}, true, nil},
		{"f4 empty unknown", NPYFloat32, []int{0, 4}, false, []int{0}},
		{"f4 image rows", NPYFloat32, []int{5, 2, 3}, true, []int{2, 3}},
		{"f4 many rows unknown", NPYFloat32, []int{12345, 2}, false, []int{4096, 4096, 4096, 57}},
		{"i8 known", NPYInt64, []int{9}, true, []int{4, 5}},
		{"i8 unknown", NPYInt64, []int{9}, false, []int{1, 8}},
	}
	dir := t.TempDir()
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, rowLen := c.shape[0], 1
			for _, d := range c.shape[1:] {
				rowLen *= d
			}
			var want bytes.Buffer
			xf, xi := f(n*rowLen), ints(n)
			if c.descr == NPYFloat32 {
				require.NoError(t, WriteNPYFloat32(&want, xf, n, rowLen))
				if len(c.shape) > 2 { // WriteNPYFloat32 writes (N, D): same payload, another header
					payload := want.Bytes()[len(npyHeader(NPYFloat32, []int{n, rowLen})):]
					want = *bytes.NewBuffer(append(npyHeader(NPYFloat32, c.shape), payload...))
				}
			} else {
				require.NoError(t, WriteNPYInt(&want, xi))
			}
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".npy")
			file, err := os.Create(path)
			require.NoError(t, err)
			shape := slices.Clone(c.shape)
			if !c.known {
				shape[0] = -1
			}
			w, err := NewNPYWriter(file, c.descr, shape)
			require.NoError(t, err)
			row := 0
			for _, k := range c.chunks {
				if c.descr == NPYFloat32 {
					err = w.WriteFloat32(xf[row*rowLen : (row+k)*rowLen])
				} else {
					err = w.WriteInt(xi[row : row+k])
				}
				require.NoError(t, err)
				row += k
			}
			require.NoError(t, w.Close())
			assert.Equal(t, n, w.Rows(), "Rows()")
			require.NoError(t, file.Close())
			got, err := os.ReadFile(path)
			require.NoError(t, err)
			require.True(t, bytes.Equal(got, want.Bytes()), "case %d: stream output differs from the in-memory writer:\n got %q\nwant %q", i, head(got), head(want.Bytes()))
			a, err := ReadNPY(path)
			require.NoError(t, err)
			assert.Equal(t, c.descr, a.Descr, "ReadNPY: descr")
			assert.Equal(t, c.shape, a.Shape, "ReadNPY: shape")
			if c.descr == NPYInt64 {
				for j, v := range a.Float32s() {
					require.Equal(t, float32(xi[j]), v, "element %d", j)
				}
				return
			}
			assert.True(t, slices.Equal(a.Float32s(), xf), "ReadNPY values differ") // nil and empty alike
			if n == 0 {
				return
			}
			ds, err := LoadNPY("s", path, "")
			require.NoError(t, err)
			assert.Equal(t, n, ds.N, "LoadNPY: N")
			assert.Equal(t, rowLen, ds.D, "LoadNPY: D")
			assert.Equal(t, xf, ds.X, "LoadNPY: values")
		})
	}
}

// head returns up to the first 200 bytes of b, for messages.
func head(b []byte) []byte { return b[:min(len(b), 200)] }

// TestNPYWriterRefuses: a wrong row count (too few at Close, too many at the write),
// a partial row, the wrong element type, an unknown N on a plain io.Writer and bad
// shapes are errors.
func TestNPYWriterRefuses(t *testing.T) {
	newW := func(t *testing.T, descr string, shape []int) *NPYWriter {
		w, err := NewNPYWriter(&bytes.Buffer{}, descr, shape)
		require.NoError(t, err)
		return w
	}
	cases := []struct {
		name string
		do   func(t *testing.T) error
		want string
	}{
		{"too few rows", func(t *testing.T) error {
			w := newW(t, NPYFloat32, []int{3, 2})
			require.NoError(t, w.WriteFloat32(make([]float32, 4)))
			return w.Close()
		}, "2 rows written, expected 3"},
		{"no rows", func(t *testing.T) error { return newW(t, NPYInt64, []int{1}).Close() }, "0 rows written, expected 1"},
		{"too many rows", func(t *testing.T) error {
			w := newW(t, NPYFloat32, []int{3, 2})
			require.NoError(t, w.WriteFloat32(make([]float32, 4)))
			require.Error(t, w.WriteFloat32(make([]float32, 4)), "writing 4 rows into 3")
			return w.Close() // the error sticks
		}, "4 rows, more than the 3"},
		{"partial row", func(t *testing.T) error { return newW(t, NPYFloat32, []int{3, 2}).WriteFloat32(make([]float32, 3)) }, "multiple of the row size 2"},
		{"wrong type", func(t *testing.T) error { return newW(t, NPYFloat32, []int{3}).WriteInt([]int{1}) }, "writing <i8 elements to an array of <f4"},
		{"write after close", func(t *testing.T) error {
			w := newW(t, NPYInt64, []int{0})
			require.NoError(t, w.Close())
			return w.WriteInt(nil)
		}, "after Close"},
		{"unknown N without WriterAt", func(t *testing.T) error {
			_, err := NewNPYWriter(&bytes.Buffer{}, NPYFloat32, []int{-1, 2})
			return err
		}, "io.WriterAt"},
		{"descr", func(t *testing.T) error { _, err := NewNPYWriter(&bytes.Buffer{}, NPYUint8, []int{1}); return err }, `element type "|u1"`},
		{"no shape", func(t *testing.T) error { _, err := NewNPYWriter(&bytes.Buffer{}, NPYFloat32, nil); return err }, "shape []"},
		{"zero column", func(t *testing.T) error { _, err := NewNPYWriter(&bytes.Buffer{}, NPYFloat32, []int{2, 0}); return err }, "dimensions >= 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.ErrorContains(t, c.do(t), c.want)
		})
	}
}
