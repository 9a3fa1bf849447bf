package data

import (
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// drain reads every row of r into a Dataset named name.
func drain(t *testing.T, r RowReader, name string) (*Dataset, error) {
	t.Helper()
	defer r.Close()
	info := r.Info()
	ds := &Dataset{Name: name, D: info.D, Shape: info.Shape}
	if info.Labels {
		ds.Labels = []int{}
	}
	for {
		x, l, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		ds.X = append(ds.X, x...)
		if info.Labels {
			ds.Labels = append(ds.Labels, l)
		}
		ds.N++
	}
	if info.N >= 0 {
		assert.Equal(t, info.N, ds.N, "%s: Info().N, then the rows read", name)
	}
	return ds, nil
}

func sameDataset(t *testing.T, what string, got, want *Dataset) {
	t.Helper()
	assert.Equal(t, want.N, got.N, "%s: N", what)
	assert.Equal(t, want.D, got.D, "%s: D", what)
	// slices.Equal: a nil and an empty X or shape are the same; labels must agree on nil.
	assert.True(t, slices.Equal(got.X, want.X), "%s: X %v, want %v", what, got.X, want.X)
	assert.Equal(t, want.Labels, got.Labels, "%s: labels", what)
	assert.True(t, slices.Equal(got.Shape, want.Shape), "%s: shape %v, want %v", what, got.Shape, want.Shape)
}

// TestRowReadersMatchLoaders: each streaming reader returns exactly what its Load
// function returns, and fails with exactly the same message on malformed input.
func TestRowReadersMatchLoaders(t *testing.T) {
	dir := t.TempDir()
	file := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o644))
		return p
	}
	f32npy := func(name string, x []float32, rows, cols int) string {
		p := filepath.Join(dir, name)
		require.NoError(t, SaveNPYFloat32(p, x, rows, cols))
		return p
	}
	intnpy := func(name string, v []int) string {
		p := filepath.Join(dir, name)
		require.NoError(t, SaveNPYInt(p, v))
		return p
	}
	nan := float32(math.NaN())
	img := idxBytes(t, IDXFromUint8([]int{3, 2, 2}, []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255}), false)
	imgGz := idxBytes(t, IDXFromUint8([]int{3, 2, 2}, []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255}), true)
	f4npy, _ := os.ReadFile("testdata/f4.npy")
	type loadFn func() (*Dataset, error)
	type openFn func() (RowReader, error)
	csvCase := func(text string, opt CSVOptions) (loadFn, openFn) {
		p := file("c.csv", []byte(text))
		return func() (*Dataset, error) { return LoadCSV(p, opt) }, func() (RowReader, error) { return OpenCSVRows(p, opt) }
	}
	idxCase := func(images []byte, labels *IDXArray) (loadFn, openFn) {
		ip, lp := file("i.idx", images), ""
		if labels != nil {
			lp = file("l.idx", idxBytes(t, labels, false))
		}
		return func() (*Dataset, error) { return LoadIDX("n", ip, lp) }, func() (RowReader, error) { return OpenIDXRows("n", ip, lp) }
	}
	npyCase := func(dp, lp string) (loadFn, openFn) {
		return func() (*Dataset, error) { return LoadNPY("n", dp, lp) }, func() (RowReader, error) { return OpenNPYRows("n", dp, lp) }
	}
	cases := []struct {
		name string
		mk   func() (loadFn, openFn)
	}{
		{"csv label by name", func() (loadFn, openFn) { return csvCase("a,y,b\n1,2,3\n4,,6\n", CSVOptions{Label: LabelByName("y")}) }},
		{"csv no header", func() (loadFn, openFn) { return csvCase("1,2\n3,4\n", CSVOptions{}) }},
		{"csv ragged", func() (loadFn, openFn) { return csvCase("a,b\n1,2\n3\n", CSVOptions{}) }},
		{"csv NaN", func() (loadFn, openFn) { return csvCase("a,b\n1,2\n3,nan\n", CSVOptions{}) }},
		{"csv header only", func() (loadFn, openFn) { return csvCase("a,b\n", CSVOptions{}) }},
		{"csv empty", func() (loadFn, openFn) { return csvCase("", CSVOptions{}) }},
		{"csv missing label", func() (loadFn, openFn) { return csvCase("a,b\n1,2\n", CSVOptions{Label: LabelByName("y")}) }},
		{"idx", func() (loadFn, openFn) { return idxCase(img, IDXFromUint8([]int{3}, []byte{1, 0, 2})) }},
		{"idx gzip", func() (loadFn, openFn) { return idxCase(imgGz, nil) }},
		{"idx float NaN", func() (loadFn, openFn) {
			return idxCase(idxBytes(t, IDXFromFloat32([]int{2, 2}, []float32{1, 2, 3, nan}), false), nil)
		}},
		{"idx truncated", func() (loadFn, openFn) { return idxCase(img[:len(img)-1], nil) }},
		{"idx trailing", func() (loadFn, openFn) { return idxCase(append(slices.Clone(img), 0), nil) }},
		{"idx bad magic", func() (loadFn, openFn) { return idxCase(append([]byte{0, 1}, img[2:]...), nil) }},
		{"idx label count", func() (loadFn, openFn) { return idxCase(img, IDXFromUint8([]int{2}, []byte{1, 0})) }},
		{"idx label 2-d", func() (loadFn, openFn) { return idxCase(img, IDXFromUint8([]int{3, 1}, []byte{1, 0, 1})) }},
		{"idx label float", func() (loadFn, openFn) { return idxCase(img, IDXFromFloat32([]int{3}, []float32{1, 0, 1})) }},
		{"idx label -2", func() (loadFn, openFn) { return idxCase(img, IDXFromInt32([]int{3}, []int32{1, -2, 1})) }},
		{"npy f4 + i8 labels", func() (loadFn, openFn) {
			return npyCase(f32npy("x.npy", []float32{0.5, 1, -1, 2, 3, 4}, 3, 2), intnpy("y.npy", []int{1, 0, -1}))
		}},
		{"npy u1 (N,H,W)", func() (loadFn, openFn) { return npyCase("testdata/u1v2.npy", "") }},
		{"npy f8", func() (loadFn, openFn) { return npyCase("testdata/f8v3.npy", "") }},
		{"npy f4 + f8 labels", func() (loadFn, openFn) { return npyCase("testdata/f4.npy", "testdata/f8labels.npy") }},
		{"npy NaN", func() (loadFn, openFn) { return npyCase(f32npy("nan.npy", []float32{1, 2, nan, 4}, 2, 2), "") }},
		{"npy truncated", func() (loadFn, openFn) { return npyCase(file("t.npy", f4npy[:len(f4npy)-1]), "") }},
		{"npy trailing", func() (loadFn, openFn) { return npyCase(file("t.npy", append(slices.Clone(f4npy), 0)), "") }},
		{"npy 1-d data", func() (loadFn, openFn) { return npyCase(intnpy("one.npy", []int{1, 2}), "") }},
		{"npy label count", func() (loadFn, openFn) {
			return npyCase(f32npy("x.npy", []float32{1, 2, 3, 4}, 2, 2), intnpy("y.npy", []int{1, 0, 1}))
		}},
		{"npy label -2", func() (loadFn, openFn) {
			return npyCase(f32npy("x.npy", []float32{1, 2, 3, 4}, 2, 2), intnpy("y.npy", []int{1, -2}))
		}},
	}
	for _, c := range cases {
		load, open := c.mk()
		want, werr := load()
		var got *Dataset
		r, gerr := open()
		if gerr == nil {
			got, gerr = drain(t, r, "n")
		}
		switch {
		case werr != nil || gerr != nil:
			if assert.Error(t, werr, "%s: load (stream error %v)", c.name, gerr) &&
				assert.Error(t, gerr, "%s: stream (load error %v)", c.name, werr) &&
				assert.Equal(t, werr.Error(), gerr.Error(), "%s: load error, then stream error", c.name) {
				assert.True(t, IsFormatError(gerr), "%s: stream error %v is not a FormatError", c.name, gerr)
			}
		default:
			if want.Name == c.name { // CSV names the set after the file
				got.Name = want.Name
			}
			sameDataset(t, c.name, got, want)
		}
	}
	_, err := OpenCSVRows(filepath.Join(dir, "nope.csv"), CSVOptions{})
	assert.ErrorIs(t, err, os.ErrNotExist, "missing file")
}
