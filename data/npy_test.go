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
		if err != nil {
			t.Errorf("%s: %v", c.file, err)
			continue
		}
		if a.Descr != c.descr || !slices.Equal(a.Shape, c.shape) || !slices.Equal(a.Float32s(), c.vals) {
			t.Errorf("%s: got %s %v %v, want %s %v %v", c.file, a.Descr, a.Shape, a.Float32s(), c.descr, c.shape, c.vals)
		}
	}
}

func TestNPYWriterMatchesNumpy(t *testing.T) {
	var b bytes.Buffer
	if err := WriteNPYFloat32(&b, []float32{1.5, -2, 0, 3.25, 1e-3, 7}, 3, 2); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile("testdata/f4.npy")
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("WriteNPYFloat32:\n got %q\nwant %q", b.Bytes(), want)
	}
	b.Reset()
	if err := WriteNPYInt(&b, []int{3, -1, 0, 9}); err != nil {
		t.Fatal(err)
	}
	want, _ = os.ReadFile("testdata/i8.npy")
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("WriteNPYInt:\n got %q\nwant %q", b.Bytes(), want)
	}
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
		if err := SaveNPYFloat32(p, x, rows, cols); err != nil {
			t.Fatal(err)
		}
		a, err := ReadNPY(p)
		if err != nil {
			t.Fatalf("%v: %v", sh, err)
		}
		raw, _ := os.ReadFile(p)
		if hl := len(raw) - 4*len(x); hl%64 != 0 {
			t.Errorf("%v: data starts at %d, not a multiple of 64", sh, hl)
		}
		if !slices.Equal(a.Shape, []int{rows, cols}) || !slices.Equal(a.Float32s(), x) {
			t.Errorf("%v: round trip gave shape %v", sh, a.Shape)
		}
	}
	labels := []int{0, 9, -1, 1 << 40}
	p := filepath.Join(dir, "l.npy")
	if err := SaveNPYInt(p, labels); err != nil {
		t.Fatal(err)
	}
	a, err := ReadNPY(p)
	if err != nil || a.Descr != NPYInt64 || !slices.Equal(a.Shape, []int{4}) || int64(binary.LittleEndian.Uint64(a.Data[24:])) != 1<<40 {
		t.Errorf("int round trip: %v %+v", err, a)
	}
	if err := WriteNPYFloat32(&bytes.Buffer{}, make([]float32, 5), 2, 3); err == nil {
		t.Error("WriteNPYFloat32 with 5 values for (2,3): no error")
	}
}

func TestLoadNPY(t *testing.T) {
	dir := t.TempDir()
	xp := filepath.Join(dir, "x.npy")
	lp := filepath.Join(dir, "y.npy")
	x := []float32{0.5, 1, -1, 2, 3, 4}
	if err := SaveNPYFloat32(xp, x, 3, 2); err != nil {
		t.Fatal(err)
	}
	if err := SaveNPYInt(lp, []int{1, 0, -1}); err != nil {
		t.Fatal(err)
	}
	ds, err := LoadNPY("toy", xp, lp)
	if err != nil {
		t.Fatal(err)
	}
	if ds.N != 3 || ds.D != 2 || !slices.Equal(ds.X, x) || !slices.Equal(ds.Labels, []int{1, 0, -1}) || ds.Shape != nil {
		t.Errorf("got %+v", ds)
	}
	// (N, H, W) bytes are flattened and scaled like IDX pixels
	u8, err := LoadNPY("u8", "testdata/u1v2.npy", "")
	if err != nil {
		t.Fatal(err)
	}
	if u8.N != 2 || u8.D != 3 || !slices.Equal(u8.Shape, []int{1, 3}) || u8.X[5] != float32(5)/255 || u8.Labels != nil {
		t.Errorf("u1: %+v", u8)
	}
	// numpy's labels: int64 from np.save, float64 integral values
	i4, err := LoadNPY("i4", "testdata/i4.npy", "testdata/f8labels.npy")
	if err == nil {
		t.Errorf("2 examples with 3 labels: no error (%+v)", i4)
	}
	f4, err := LoadNPY("f4", "testdata/f4.npy", "testdata/f8labels.npy")
	if err != nil || !slices.Equal(f4.Labels, []int{0, 2, 1}) || f4.X[4] != float32(1e-3) {
		t.Errorf("f4 with float labels: %v %+v", err, f4)
	}
	f8, err := LoadNPY("f8", "testdata/f8v3.npy", "")
	if err != nil || f8.X[0] != float32(0.1) {
		t.Errorf("f8: %v %+v", err, f8)
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
		if a, err := DecodeNPY(bytes.NewReader(b), "v"); err != nil || !slices.Equal(a.Shape, []int{2, 3}) {
			t.Errorf("version %d: %v", major, err)
		}
	}
}

func TestLoadNPYMalformed(t *testing.T) {
	dir := t.TempDir()
	save := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
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
	if err != nil {
		t.Fatal(err)
	}
	return b
}
