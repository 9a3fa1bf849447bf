package data

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The files in testdata/ were written by numpy 1.24.2 (testdata/gen_npy.py).

func TestNPYFromNumpy(t *testing.T) {
	cases := []struct {
		file  string
		descr string
		shape []int
		vals  []float32
	}{
		{"f4.npy", NPYFloat32, []int{3, 2}, []float32{1.5, -2, 0, 3.25, 1e-3, 7}},
		{"i8.npy", NPYInt64, []int{4}, []float32{3, -1, 0, 9}},
		{"i4.npy", NPYInt32, []int{2, 2}, []float32{1, 2, 3, -4}},
		{"u1v2.npy", NPYUint8, []int{2, 1, 3}, []float32{0, 1, 2, 3, 4, 5}},
		{"f8v3.npy", NPYFloat64, []int{1, 2}, []float32{0.1, 0.2}},
		{"f8labels.npy", NPYFloat64, []int{3}, []float32{0, 2, 1}},
	}
	for _, c := range cases {
		a, err := ReadNPY(filepath.Join("testdata", c.file))
		if !assert.NoError(t, err, c.file) {
			continue
		}
		assert.Equal(t, c.descr, a.Descr, "%s: descr", c.file)
		assert.Equal(t, c.shape, a.Shape, "%s: shape", c.file)
		assert.Equal(t, c.vals, a.Float32s(), "%s: values", c.file)
	}
}

func TestNPYWriterMatchesNumpy(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, WriteNPYFloat32(&b, []float32{1.5, -2, 0, 3.25, 1e-3, 7}, 3, 2))
	want, _ := os.ReadFile("testdata/f4.npy")
	assert.Equal(t, string(want), b.String(), "WriteNPYFloat32, against numpy's file")
	b.Reset()
	require.NoError(t, WriteNPYInt(&b, []int{3, -1, 0, 9}))
	want, _ = os.ReadFile("testdata/i8.npy")
	assert.Equal(t, string(want), b.String(), "WriteNPYInt, against numpy's file")
}

func TestNPYRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, sh := range [][2]int{{0, 0}, {0, 5}, {1, 1}, {3, 7}, {100, 33}, {12345678901, 0}} {
		rows, cols := sh[0], sh[1]
		x := make([]float32, rows*cols)
		for i := range x {
			x[i] = float32(i)*0.37 - 5
		}
		p := filepath.Join(dir, "x.npy")
		require.NoError(t, SaveNPYFloat32(p, x, rows, cols))
		a, err := ReadNPY(p)
		require.NoError(t, err, "%v", sh)
		raw, _ := os.ReadFile(p)
		hl := len(raw) - 4*len(x)
		assert.Zero(t, hl%64, "%v: data starts at %d, not a multiple of 64", sh, hl)
		assert.Equal(t, []int{rows, cols}, a.Shape, "%v: round trip: shape", sh)
		assert.True(t, slices.Equal(a.Float32s(), x), "%v: round trip: values differ", sh) // nil and empty alike
	}
	labels := []int{0, 9, -1, 1 << 40}
	p := filepath.Join(dir, "l.npy")
	require.NoError(t, SaveNPYInt(p, labels))
	a, err := ReadNPY(p)
	if assert.NoError(t, err, "int round trip") {
		assert.Equal(t, NPYInt64, a.Descr, "int round trip: descr")
		assert.Equal(t, []int{4}, a.Shape, "int round trip: shape")
		assert.Equal(t, int64(1<<40), int64(binary.LittleEndian.Uint64(a.Data[24:])), "int round trip: 1<<40")
	}
	assert.Error(t, WriteNPYFloat32(&bytes.Buffer{}, make([]float32, 5), 2, 3), "WriteNPYFloat32 with 5 values for (2,3)")
}

func TestLoadNPY(t *testing.T) {
	dir := t.TempDir()
	xp := filepath.Join(dir, "x.npy")
	lp := filepath.Join(dir, "y.npy")
	x := []float32{0.5, 1, -1, 2, 3, 4}
	require.NoError(t, SaveNPYFloat32(xp, x, 3, 2))
	require.NoError(t, SaveNPYInt(lp, []int{1, 0, -1}))
	ds, err := LoadNPY("toy", xp, lp)
	require.NoError(t, err)
	assert.Equal(t, 3, ds.N, "N")
	assert.Equal(t, 2, ds.D, "D")
	assert.Equal(t, x, ds.X, "X")
	assert.Equal(t, []int{1, 0, -1}, ds.Labels, "labels")
	assert.Nil(t, ds.Shape, "shape")
	// (N, H, W) bytes are flattened and scaled like IDX pixels
	u8, err := LoadNPY("u8", "testdata/u1v2.npy", "")
	require.NoError(t, err)
	assert.Equal(t, 2, u8.N, "u1: N")
	assert.Equal(t, 3, u8.D, "u1: D")
	assert.Equal(t, []int{1, 3}, u8.Shape, "u1: shape")
	assert.Equal(t, float32(5)/255, u8.X[5], "u1: X[5]")
	assert.Nil(t, u8.Labels, "u1: labels")
	// numpy's labels: int64 from np.save, float64 integral values
	i4, err := LoadNPY("i4", "testdata/i4.npy", "testdata/f8labels.npy")
	assert.Error(t, err, "2 examples with 3 labels (%+v)", i4)
	f4, err := LoadNPY("f4", "testdata/f4.npy", "testdata/f8labels.npy")
	if assert.NoError(t, err, "f4 with float labels") {
		assert.Equal(t, []int{0, 2, 1}, f4.Labels, "f4 with float labels: labels")
		assert.Equal(t, float32(1e-3), f4.X[4], "f4 with float labels: X[4]")
	}
	f8, err := LoadNPY("f8", "testdata/f8v3.npy", "")
	if assert.NoError(t, err, "f8") {
		assert.Equal(t, float32(0.1), f8.X[0], "f8: X[0]")
	}
}

// npyFile returns an NPY file with a hand-written header (padded like numpy's) and body.
func npyFile(major byte, dict string, body []byte) []byte {
	b := []byte(npyMagic)
	b = append(b, major, 0)
	lenLen := 2
	if major > 1 {
		lenLen = 4
	}
	hlen := len(dict) + 1
	hlen += (64 - (len(b)+lenLen+hlen)%64) % 64
	if lenLen == 2 {
		b = binary.LittleEndian.AppendUint16(b, uint16(hlen))
	} else {
		b = binary.LittleEndian.AppendUint32(b, uint32(hlen))
	}
	b = append(b, dict...)
	b = append(b, strings.Repeat(" ", hlen-len(dict)-1)...)
	b = append(b, '\n')
	return append(b, body...)
}

func TestNPYMalformed(t *testing.T) {
	f4, _ := os.ReadFile("testdata/f4.npy")
	body := make([]byte, 24)
	hdr := func(descr, fortran, shape string) string {
		return "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + ", }"
	}
	cases := []struct {
		name  string
		b     []byte
		frags []string
	}{
		{"empty", nil, []string{"truncated header", "found 0 bytes"}},
		{"bad magic", append([]byte("\x93NUMPZ"), f4[6:]...), []string{`bad magic "\x93NUMPZ"`, `expected "\x93NUMPY"`}},
		{"version 4", append(append([]byte(npyMagic), 4, 0), f4[8:]...), []string{"format version 4.0: expected 1.0, 2.0 or 3.0"}},
		{"short header length", f4[:9], []string{"truncated header: expected a 2-byte header length, found 1 bytes"}},
		{"truncated header", f4[:40], []string{"truncated header: expected 118 header bytes, found 30"}},
		{"truncated data", f4[:len(f4)-1], []string{"truncated data: expected 24 bytes for shape [3 2] of <f4, found 23"}},
		{"trailing data", append(slices.Clone(f4), 0), []string{"trailing data: expected exactly 24 data bytes"}},
		{"fortran order (numpy)", mustRead(t, "testdata/fortran.npy"), []string{"fortran_order is True: expected C order"}},
		{"big-endian (numpy)", mustRead(t, "testdata/be.npy"), []string{`element type ">f4"`, "big-endian"}},
		{"unsupported type", npyFile(1, hdr("<f2", "False", "(3, 4)"), body), []string{`element type "<f2": expected one of <f4, <f8, |u1, <i4, <i8`}},
		{"structured dtype", npyFile(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (6,), }", body), []string{"descr", "structured dtypes are not supported"}},
		{"missing key", npyFile(1, "{'descr': '<f4', 'shape': (6,), }", body), []string{`missing key "fortran_order"`}},
		{"extra key", npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'x': 1}", body), []string{`unexpected key "x"`}},
		{"duplicate key", npyFile(1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", body), []string{`key "descr" appears twice`}},
		{"bad bool", npyFile(1, hdr("<f4", "false", "(6,)"), body), []string{"fortran_order: expected True or False"}},
		{"negative dim", npyFile(1, hdr("<f4", "False", "(-6,)"), body), []string{"shape", "expected a non-negative integer"}},
		{"1-tuple without comma", npyFile(1, hdr("<f4", "False", "(6)"), body), []string{"a 1-tuple needs a trailing comma"}},
		{"not a dict", npyFile(1, "[1, 2]", body), []string{"expected '{'"}},
		{"text after dict", npyFile(1, hdr("<f4", "False", "(6,)")+" x", body), []string{"unexpected text after the dict"}},
		{"non-ASCII in v1", npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'é': 1}", body), []string{"non-ASCII byte", "only version 3.0"}},
		{"huge shape", npyFile(1, hdr("<f8", "False", "(4294967296, 4294967296)"), body), []string{"announces more than"}},
		{"huge v2 header length", append([]byte(npyMagic+"\x02\x00"), 0xff, 0xff, 0xff, 0x7f), []string{"header length 2147483647"}},
	}
	for _, c := range cases {
		p := writeFile(t, "bad.npy", c.b)
		_, err := ReadNPY(p)
		wantFormatError(t, err, append(c.frags, "npy: "+p)...)
	}
	// v2 and v3 files written here parse too (not only numpy's)
	for _, major := range []byte{2, 3} {
		b := npyFile(major, hdr("<f4", "False", "(2, 3)"), body)
		a, err := DecodeNPY(bytes.NewReader(b), "v")
		if assert.NoError(t, err, "version %d", major) {
			assert.Equal(t, []int{2, 3}, a.Shape, "version %d: shape", major)
		}
	}
}

func TestLoadNPYMalformed(t *testing.T) {
	dir := t.TempDir()
	save := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o644))
		return p
	}
	f32 := func(v ...float32) []byte {
		var b []byte
		for _, x := range v {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
		}
		return b
	}
	f64 := func(v ...float64) []byte {
		var b []byte
		for _, x := range v {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
		}
		return b
	}
	hdr := func(descr, shape string) string {
		return "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }"
	}
	x := save("x.npy", npyFile(1, hdr("<f4", "(2, 2)"), f32(1, 2, 3, 4)))
	cases := []struct {
		name         string
		data, labels string
		frags        []string
	}{
		{"1-d data", save("d1.npy", npyFile(1, hdr("<f4", "(4,)"), f32(1, 2, 3, 4))), "", []string{"data shape [4]: expected (N, D) or (N, H, W)"}},
		{"NaN pixel", save("nan.npy", npyFile(1, hdr("<f4", "(2, 2)"), f32(1, 2, float32(math.NaN()), 4))), "", []string{"row 2, column 1", "NaN", "not finite"}},
		{"Inf f8", save("inf.npy", npyFile(1, hdr("<f8", "(2, 2)"), f64(1, 2, 3, math.Inf(1)))), "", []string{"row 2, column 2", "+Inf"}},
		{"f8 beyond float32", save("big.npy", npyFile(1, hdr("<f8", "(1, 2)"), f64(1, 1e300))), "", []string{"row 1, column 2", "1e+300 is not finite as float32"}},
		{"label count", x, save("l3.npy", npyFile(1, hdr("<i8", "(3,)"), make([]byte, 24))), []string{"3 labels, expected 2 (the number of examples in " + x + ")"}},
		{"2-d labels", x, save("l2d.npy", npyFile(1, hdr("<i8", "(2, 1)"), make([]byte, 16))), []string{"labels shape [2 1]: expected (N,) with N = 2"}},
		{"fractional label", x, save("lf.npy", npyFile(1, hdr("<f8", "(2,)"), f64(1, 2.5))), []string{"row 2", "label 2.5"}},
		{"label -2", x, save("lneg.npy", npyFile(1, hdr("<i4", "(2,)"), []byte{0, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff})), []string{"row 2", "label -2"}},
	}
	for _, c := range cases {
		_, err := LoadNPY(c.name, c.data, c.labels)
		file := c.data
		if c.labels != "" {
			file = c.labels
		}
		wantFormatError(t, err, append(c.frags, "npy: "+file)...)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return b
}
