package data

import (
	"bytes"
	"compress/gzip"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func idxBytes(t testing.TB, a *IDXArray, gz bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.Writer = &buf
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		w = zw
	}
	require.NoError(t, WriteIDX(w, a))
	if gz {
		require.NoError(t, zw.Close())
	}
	return buf.Bytes()
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, b, 0o644))
	return p
}

// wantFormatError checks that err is a *FormatError whose message contains every
// fragment.
func wantFormatError(t *testing.T, err error, fragments ...string) *FormatError {
	t.Helper()
	require.Error(t, err, "expected one containing %q", fragments)
	var fe *FormatError
	require.ErrorAs(t, err, &fe, "error %q (%T) is not a *FormatError", err, err)
	for _, f := range fragments {
		assert.ErrorContains(t, err, f)
	}
	return fe
}

func TestIDXRoundTrip(t *testing.T) {
	pix := []byte{0, 1, 2, 127, 128, 254, 255, 3, 4, 5, 6, 7}
	cases := []struct {
		name string
		a    *IDXArray
		want []float32
	}{
		{"ubyte 3x2x2", IDXFromUint8([]int{3, 2, 2}, pix), nil},
		{"ubyte 1-d", IDXFromUint8([]int{12}, pix), nil},
		{"int32", IDXFromInt32([]int{2, 3}, []int32{-1, 0, 1, math.MaxInt32, math.MinInt32, 7}), []float32{-1, 0, 1, math.MaxInt32, math.MinInt32, 7}},
		{"float32", IDXFromFloat32([]int{2, 2}, []float32{-1.5, 0, 3.25, 1e-40}), []float32{-1.5, 0, 3.25, 1e-40}},
		{"empty", IDXFromUint8([]int{0, 28, 28}, nil), []float32{}},
	}
	for _, c := range cases {
		for _, gz := range []bool{false, true} {
			b := idxBytes(t, c.a, gz)
			require.Equal(t, gz, b[0] == 0x1f, "%s: gzip=%v but first byte %#x", c.name, gz, b[0])
			got, err := DecodeIDX(bytes.NewReader(b), c.name)
			require.NoError(t, err, "%s gz=%v", c.name, gz)
			assert.Equal(t, c.a.Type, got.Type, "%s gz=%v: type", c.name, gz)
			assert.Equal(t, c.a.Dims, got.Dims, "%s gz=%v: dims", c.name, gz)
			// bytes.Equal and slices.Equal: the empty array's nil and empty slices are the same.
			assert.True(t, bytes.Equal(got.Data, c.a.Data), "%s gz=%v: data %v, want %v", c.name, gz, got.Data, c.a.Data)
			if c.want != nil {
				assert.True(t, slices.Equal(got.Float32s(), c.want), "%s: Float32s %v, want %v", c.name, got.Float32s(), c.want)
			}
		}
	}
}

func TestIDXInts(t *testing.T) {
	a := &IDXArray{Type: IDXInt16, Dims: []int{3}, Data: []byte{0xff, 0xff, 0x00, 0x05, 0x80, 0x00}}
	got, err := a.Ints()
	assert.NoError(t, err, "int16 Ints")
	assert.Equal(t, []int{-1, 5, -32768}, got, "int16 Ints")
	b := &IDXArray{Type: IDXInt8, Dims: []int{2}, Data: []byte{0xff, 0x7f}}
	got, _ = b.Ints()
	assert.Equal(t, []int{-1, 127}, got, "int8 Ints")
	_, err = IDXFromFloat32([]int{1}, []float32{1}).Ints()
	assert.Error(t, err, "Ints of a float array")
	f64 := &IDXArray{Type: IDXFloat64, Dims: []int{1}, Data: []byte{0x3f, 0xf8, 0, 0, 0, 0, 0, 0}}
	assert.Equal(t, float32(1.5), f64.Float32s()[0], "float64 1.5 read as float32")
}

func TestLoadIDX(t *testing.T) {
	pix := make([]byte, 5*2*3)
	for i := range pix {
		pix[i] = byte(i * 8)
	}
	for _, gz := range []bool{false, true} {
		ip := writeFile(t, "img.idx", idxBytes(t, IDXFromUint8([]int{5, 2, 3}, pix), gz))
		lp := writeFile(t, "lab.idx", idxBytes(t, IDXFromUint8([]int{5}, []byte{3, 1, 4, 1, 5}), gz))
		ds, err := LoadIDX("toy", ip, lp)
		require.NoError(t, err)
		require.Equal(t, 5, ds.N, "N")
		require.Equal(t, 6, ds.D, "D")
		require.Equal(t, []int{2, 3}, ds.Shape, "shape")
		require.Equal(t, "toy", ds.Name, "name")
		for i, b := range pix {
			require.Equal(t, float32(b)/255, ds.X[i], "pixel %d", i)
		}
		assert.Equal(t, []int{3, 1, 4, 1, 5}, ds.Labels, "labels")
		assert.NoError(t, ds.Validate())
		assert.True(t, ds.InUnitInterval(), "ubyte pixels not in [0,1]")
		nolab, err := LoadIDX("toy", ip, "")
		if assert.NoError(t, err, "without labels") {
			assert.Nil(t, nolab.Labels, "without labels: labels")
			assert.Equal(t, 5, nolab.N, "without labels: N")
		}
	}
	// float images are kept as they are (real-valued data)
	fp := writeFile(t, "f.idx", idxBytes(t, IDXFromFloat32([]int{2, 2}, []float32{-3, 0.5, 7, 2}), false))
	ds, err := LoadIDX("f", fp, "")
	if assert.NoError(t, err, "float IDX") {
		assert.Equal(t, []float32{-3, 0.5, 7, 2}, ds.X, "float IDX: X")
		assert.False(t, ds.InUnitInterval(), "float IDX: InUnitInterval")
	}
}

func TestIDXMalformed(t *testing.T) {
	good := idxBytes(t, IDXFromUint8([]int{2, 2, 2}, []byte{1, 2, 3, 4, 5, 6, 7, 8}), false)
	gzGood := idxBytes(t, IDXFromUint8([]int{2, 2, 2}, []byte{1, 2, 3, 4, 5, 6, 7, 8}), true)
	noise := make([]byte, 4000) // incompressible, so that half the gzip file is half the data
	for i, s := 0, uint32(1); i < len(noise); i++ {
		s = s*1664525 + 1013904223
		noise[i] = byte(s >> 24)
	}
	gzNoise := idxBytes(t, IDXFromUint8([]int{1000, 4}, noise), true)
	cases := []struct {
		name  string
		b     []byte
		frags []string
	}{
		{"empty file", nil, []string{"truncated header", "found 0 bytes"}},
		{"short magic", good[:3], []string{"truncated header", "found 3 bytes"}},
		{"corrupt magic", append([]byte{0, 1}, good[2:]...), []string{"bad magic number 0x00010803", "expected 0x0000TTNN"}},
		{"unknown type", append([]byte{0, 0, 0x07}, good[3:]...), []string{"bad magic number 0x00000703"}},
		{"zero dims", append([]byte{0, 0, 8, 0}, good[4:]...), []string{"bad magic number 0x00000800"}},
		{"png", []byte("\x89PNG\r\n\x1a\n"), []string{"bad magic"}},
		{"short dims", good[:9], []string{"truncated header", "expected 3 dimensions (12 bytes), found 5 bytes"}},
		{"truncated data", good[:len(good)-1], []string{"truncated data", "expected 8 bytes for dims [2 2 2] of ubyte, found 7"}},
		{"trailing data", append(slices.Clone(good), 9), []string{"trailing data", "expected exactly 8 data bytes"}},
		{"huge dims", []byte{0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, []string{"announce more than"}},
		{"gzip truncated", gzNoise[:len(gzNoise)/2], []string{"truncated data", "expected 4000 bytes for dims [1000 4] of ubyte, found 19"}},
		{"gzip no trailer", gzGood[:len(gzGood)-4], []string{"damaged stream after the 8 data bytes", "unexpected EOF"}},
		{"gzip garbage", append([]byte{0x1f, 0x8b}, 1, 2, 3, 4), []string{"reading gzip header"}},
	}
	for _, c := range cases {
		p := writeFile(t, "bad.idx", c.b)
		_, err := ReadIDX(p)
		fe := wantFormatError(t, err, append(c.frags, "idx: "+p)...)
		if fe != nil {
			assert.Equal(t, p, fe.Path, "%s: Path", c.name)
		}
	}
	_, err := ReadIDX(filepath.Join(t.TempDir(), "nope.idx"))
	assert.ErrorIs(t, err, os.ErrNotExist, "missing file")
}

func TestLoadIDXMalformed(t *testing.T) {
	img := writeFile(t, "img.idx", idxBytes(t, IDXFromUint8([]int{3, 2}, []byte{1, 2, 3, 4, 5, 6}), false))
	cases := []struct {
		name   string
		labels *IDXArray
		frags  []string
	}{
		{"count mismatch", IDXFromUint8([]int{4}, []byte{1, 2, 3, 4}), []string{"4 labels, expected 3 (the number of examples in " + img + ")"}},
		{"2-d labels", IDXFromUint8([]int{3, 1}, []byte{1, 2, 3}), []string{"labels have dimensions [3 1], expected one dimension"}},
		{"float labels", IDXFromFloat32([]int{3}, []float32{1, 2, 3}), []string{"element type float, expected an integer type"}},
		{"label -2", IDXFromInt32([]int{3}, []int32{0, -2, 1}), []string{"row 2", "label -2"}},
	}
	for _, c := range cases {
		lp := writeFile(t, "lab.idx", idxBytes(t, c.labels, false))
		_, err := LoadIDX("x", img, lp)
		wantFormatError(t, err, append(c.frags, "idx: "+lp)...)
	}
	// NaN and Inf pixels of a float file, with their row and column
	nan := writeFile(t, "nan.idx", idxBytes(t, IDXFromFloat32([]int{2, 3}, []float32{0, 1, 2, 3, float32(math.NaN()), 5}), false))
	_, err := LoadIDX("x", nan, "")
	fe := wantFormatError(t, err, "row 2, column 2", "NaN", "not finite")
	assert.Equal(t, [2]int{2, 2}, [2]int{fe.Line, fe.Column}, "NaN at row, column")
	inf := writeFile(t, "inf.idx", idxBytes(t, IDXFromFloat32([]int{2, 3}, []float32{0, float32(math.Inf(-1)), 2, 3, 4, 5}), false))
	_, err = LoadIDX("x", inf, "")
	wantFormatError(t, err, "row 1, column 2", "-Inf")
}

func TestWriteIDXErrors(t *testing.T) {
	bad := []*IDXArray{
		{Type: 0x42, Dims: []int{1}, Data: []byte{1}},
		{Type: IDXUint8, Dims: nil, Data: nil},
		{Type: IDXUint8, Dims: []int{2}, Data: []byte{1}},
		{Type: IDXUint8, Dims: []int{-1}, Data: nil},
	}
	for i, a := range bad {
		assert.Error(t, WriteIDX(io.Discard, a), "case %d", i)
	}
}
