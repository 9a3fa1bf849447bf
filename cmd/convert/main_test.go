package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/data"
)

func runConvert(args ...string) (int, string, string) {
	var o, e bytes.Buffer
	code := run(args, &o, &e)
	return code, o.String(), e.String()
}

func write(t *testing.T, path string, b []byte) string {
	t.Helper()
	require.NoError(t, os.WriteFile(path, b, 0o644))
	return path
}

// readAll opens a shard folder, verifies it and returns every row and label.
func readAll(t *testing.T, dir string) (*data.Manifest, []float32, []int) {
	t.Helper()
	s, err := data.OpenSharded(dir)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Verify())
	in := s.Info()
	idx := make([]int, in.N)
	for i := range idx {
		idx[i] = i
	}
	x, l := make([]float32, in.N*in.D), make([]int, in.N)
	s.Gather(idx, x, l)
	return s.Manifest(), x, l
}

func TestConvert(t *testing.T) {
	dir := t.TempDir()
	var csv strings.Builder
	csv.WriteString("a,b,label,c\n")
	for i := range 25 {
		csv.WriteString(strings.Join([]string{strconv.FormatFloat(float64(i)/25, 'g', -1, 64), "0.5", strconv.Itoa(i % 4), "1"}, ",") + "\n")
	}
	csvPath := write(t, filepath.Join(dir, "d.csv"), []byte(csv.String()))

	pix := make([]byte, 7*2*3)
	for i := range pix {
		pix[i] = byte(i * 6)
	}
	var img, lab bytes.Buffer
	zw := gzip.NewWriter(&img)
	require.NoError(t, data.WriteIDX(zw, data.IDXFromUint8([]int{7, 2, 3}, pix)))
	zw.Close()
	require.NoError(t, data.WriteIDX(&lab, data.IDXFromUint8([]int{7}, []byte{0, 1, 2, 0, 1, 2, 0})))
	imgPath := write(t, filepath.Join(dir, "img.idx.gz"), img.Bytes())
	labPath := write(t, filepath.Join(dir, "lab.idx"), lab.Bytes())

	npyX, npyY := filepath.Join(dir, "x.npy"), filepath.Join(dir, "y.npy")
	require.NoError(t, data.SaveNPYFloat32(npyX, []float32{-1, 2, 3, 4, 5, 6}, 3, 2))
	require.NoError(t, data.SaveNPYInt(npyY, []int{1, -1, 0}))

	cases := []struct {
		name   string
		args   []string
		load   func() (*data.Dataset, error)
		shards int
		line   string
	}{
		{"csv", []string{"-in", csvPath, "-label-col", "label", "-rows-per-shard", "10"},
			func() (*data.Dataset, error) {
				return data.LoadCSV(csvPath, data.CSVOptions{Label: data.LabelByName("label")})
			},
			3, "d.csv: 25 examples, 3 dims, 25 labelled, 4 classes, values in [0, 1]: 3 shards"},
		{"idx gzip + labels", []string{"-in", imgPath, "-labels", labPath, "-rows-per-shard", "3", "-name", "pics"},
			func() (*data.Dataset, error) { return data.LoadIDX("pics", imgPath, labPath) },
			3, "pics: 7 examples, 6 dims, 7 labelled, 3 classes"},
		{"npy + labels", []string{"-in", npyX, "-labels", npyY},
			func() (*data.Dataset, error) { return data.LoadNPY("x.npy", npyX, npyY) },
			1, "x.npy: 3 examples, 2 dims, 2 labelled, 2 classes, values in [-1, 6]: 1 shards"},
	}
	for _, c := range cases {
		out := filepath.Join(t.TempDir(), "shards")
		code, stdout, stderr := runConvert(append(c.args, "-out", out)...)
		require.Equal(t, 0, code, "%s: exit code (stderr %s)", c.name, stderr)
		assert.True(t, strings.HasPrefix(stdout, c.line) && strings.Contains(stdout, "bytes in "+out) && strings.Count(stdout, "\n") == 1,
			"%s: summary %q, want one line starting with %q and naming the output folder", c.name, stdout, c.line)
		want, err := c.load()
		require.NoError(t, err)
		m, x, l := readAll(t, out)
		assert.Len(t, m.Shards, c.shards, "%s: shards", c.name)
		assert.Equal(t, want.Shape, m.Shape, "%s: shape, the loader's then the shards'", c.name)
		assert.Equal(t, want.X, x, "%s: rows, the loader's then the shards'", c.name)
		assert.Equal(t, want.Labels, l, "%s: labels, the loader's then the shards'", c.name)
		// Converting again into the same folder replaces the set.
		code, _, stderr = runConvert(append(c.args, "-out", out, "-rows-per-shard", "100")...)
		require.Equal(t, 0, code, "%s: again: exit code (stderr %s)", c.name, stderr)
		m, _, _ = readAll(t, out)
		assert.Len(t, m.Shards, 1, "%s: again: shards", c.name)
	}
}

func TestConvertBadFlags(t *testing.T) {
	dir := t.TempDir()
	csvPath := write(t, filepath.Join(dir, "d.csv"), []byte("1,2\n3,4\n"))
	npy := filepath.Join(dir, "x.npy")
	require.NoError(t, data.SaveNPYFloat32(npy, []float32{1, 2}, 1, 2))
	notEmpty := t.TempDir()
	write(t, filepath.Join(notEmpty, "keep.txt"), nil)
	out := filepath.Join(dir, "out")
	cases := []struct {
		name string
		args []string
		code int
		frag string
	}{
		{"no -in", []string{"-out", out}, 2, "-in: missing"},
		{"no -out", []string{"-in", csvPath}, 2, "-out: missing"},
		{"rows 0", []string{"-in", csvPath, "-out", out, "-rows-per-shard", "0"}, 2, "-rows-per-shard 0: want at least 1"},
		{"rows not a number", []string{"-in", csvPath, "-out", out, "-rows-per-shard", "x"}, 2, "-rows-per-shard"},
		{"missing input", []string{"-in", filepath.Join(dir, "nope.csv"), "-out", out}, 2, "-in " + filepath.Join(dir, "nope.csv")},
		{"missing labels", []string{"-in", npy, "-labels", filepath.Join(dir, "nope.npy"), "-out", out}, 2, "-labels " + filepath.Join(dir, "nope.npy")},
		{"labels with csv", []string{"-in", csvPath, "-labels", npy, "-out", out}, 2, "-labels " + npy + ": a CSV file carries its labels in a column"},
		{"label-col with npy", []string{"-in", npy, "-label-col", "0", "-out", out}, 2, `-label-col "0": only for CSV input`},
		{"bad header", []string{"-in", csvPath, "-header", "maybe", "-out", out}, 2, `-header "maybe": want auto, yes or no`},
		{"out is a file", []string{"-in", csvPath, "-out", csvPath}, 2, "-out " + csvPath + ": a file"},
		{"argument", []string{"-in", csvPath, "-out", out, "extra"}, 2, `unexpected argument "extra"`},
		{"unknown flag", []string{"-bogus"}, 2, "-bogus"},
		{"out not empty", []string{"-in", csvPath, "-out", notEmpty}, 1, "keep.txt"},
		{"missing label column", []string{"-in", csvPath, "-label-col", "y", "-out", out}, 1, "csv: " + csvPath + ": line 1: missing label column"},
	}
	for _, c := range cases {
		code, _, stderr := runConvert(c.args...)
		assert.Equal(t, c.code, code, "%s: exit code", c.name)
		assert.Contains(t, stderr, c.frag, "%s: stderr", c.name)
	}
	code, _, _ := runConvert("-h")
	assert.Equal(t, 0, code, "-h: exit code")
}

// TestConvertMalformedInput: a bad value fails with the input's file, line and column,
// and leaves no manifest behind (nothing a trainer could open).
func TestConvertMalformedInput(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	for range 30 {
		b.WriteString("0.5,0.25\n")
	}
	b.WriteString("0.5,NaN\n")
	p := write(t, filepath.Join(dir, "bad.csv"), []byte(b.String()))
	out := filepath.Join(dir, "out")
	code, _, stderr := runConvert("-in", p, "-out", out, "-rows-per-shard", "4")
	require.Equal(t, 1, code, "exit code (stderr %s)", stderr)
	require.Contains(t, stderr, "csv: "+p+": line 31, column 2: value \"NaN\" is not finite")
	_, err := os.Stat(filepath.Join(out, data.ManifestFile))
	assert.True(t, os.IsNotExist(err), "manifest after a failed conversion: %v", err)
	ents, _ := os.ReadDir(out)
	assert.Empty(t, ents, "files left after a failed conversion")
}

// TestConvertRefusesWrappingLabels: a label the shards' int32 cannot hold, or beyond
// data.MaxClasses, is refused with the file, the line (or row), the column and the
// allowed range. Before, 99999999999 was stored as 1215752191.
func TestConvertRefusesWrappingLabels(t *testing.T) {
	dir := t.TempDir()
	npyX := filepath.Join(dir, "x.npy")
	require.NoError(t, data.SaveNPYFloat32(npyX, []float32{1, 2, 3, 4}, 2, 2))
	npyY := filepath.Join(dir, "y.npy")
	require.NoError(t, data.SaveNPYInt(npyY, []int{0, 99999999999}))
	cases := []struct {
		name string
		args []string
		frag string
	}{
		{"csv", []string{"-in", write(t, filepath.Join(dir, "d.csv"), []byte("a,label\n0.5,1\n0.5,99999999999\n")), "-label-col", "label"},
			`d.csv: line 3, column 2 ("label"): label 99999999999 out of range: expected an integer class id in [0, 65536), or -1 or empty for none`},
		{"csv 2^31", []string{"-in", write(t, filepath.Join(dir, "e.csv"), []byte("0.5,2147483648\n")), "-label-col", "-1"},
			`e.csv: line 1, column 2: label 2147483648 out of range`},
		{"npy", []string{"-in", npyX, "-labels", npyY},
			"y.npy: row 2: label 99999999999 out of range: expected an integer class id in [0, 65536), or -1 for none"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			code, stdout, stderr := runConvert(append(c.args, "-out", out)...)
			assert.Equal(t, 1, code, stdout)
			assert.Contains(t, stderr, c.frag)
			assert.NoFileExists(t, filepath.Join(out, data.ManifestFile))
		})
	}
}

// TestConvertDetectsFormat: the input's format is its content's, so the documented
// inputs convert: a gzip-compressed CSV file (x.csv.gz: "gzip allowed") and IDX images
// with NPY labels ("-labels: IDX or NPY"). Before, both failed with "bad magic number".
// A file of no supported format says what it is.
func TestConvertDetectsFormat(t *testing.T) {
	dir := t.TempDir()
	var csvGz bytes.Buffer
	zw := gzip.NewWriter(&csvGz)
	zw.Write([]byte("a,label\n0.5,1\n0.25,0\n0.75,2\n"))
	require.NoError(t, zw.Close())
	csvPath := write(t, filepath.Join(dir, "d.csv.gz"), csvGz.Bytes())
	var img bytes.Buffer
	require.NoError(t, data.WriteIDX(&img, data.IDXFromUint8([]int{3, 2}, []byte{0, 51, 102, 153, 204, 255})))
	imgPath := write(t, filepath.Join(dir, "img.idx"), img.Bytes())
	labPath := filepath.Join(dir, "lab.npy")
	require.NoError(t, data.SaveNPYInt(labPath, []int{2, 0, 1}))

	cases := []struct {
		name   string
		args   []string
		x      []float32
		labels []int
	}{
		{"csv.gz", []string{"-in", csvPath, "-label-col", "label"}, []float32{0.5, 0.25, 0.75}, []int{1, 0, 2}},
		{"idx + npy labels", []string{"-in", imgPath, "-labels", labPath}, []float32{0, 0.2, 0.4, 0.6, 0.8, 1}, []int{2, 0, 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			code, _, stderr := runConvert(append(c.args, "-out", out)...)
			require.Equal(t, 0, code, stderr)
			_, x, l := readAll(t, out)
			assert.Equal(t, c.x, x)
			assert.Equal(t, c.labels, l)
		})
	}

	zip := write(t, filepath.Join(dir, "x.npz"), []byte("PK\x03\x04...."))
	code, _, stderr := runConvert("-in", zip, "-out", filepath.Join(dir, "o"))
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "data: "+zip+": found a ZIP archive (an .npz? save each array with numpy.save as .npy), expected CSV text, IDX or NPY data")
	code, _, stderr = runConvert("-in", csvPath, "-labels", labPath, "-out", filepath.Join(dir, "o"))
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "a CSV file carries its labels in a column")
}

// TestConvertFailureKeepsEarlierSet: a conversion that fails on bad input (after it
// wrote several shards) leaves the earlier shard set in its output folder
// byte-identical, and no temporary folder beside it. Before, convert removed the
// earlier set before reading the input.
func TestConvertFailureKeepsEarlierSet(t *testing.T) {
	dir := t.TempDir()
	var good, bad strings.Builder
	for i := range 40 {
		fmt.Fprintf(&good, "%g,%d\n", float64(i)/40, i%3)
		fmt.Fprintf(&bad, "%g,%d\n", float64(i)/40, i%3)
	}
	bad.WriteString("0.5,99999999999\n")
	goodPath := write(t, filepath.Join(dir, "good.csv"), []byte(good.String()))
	badPath := write(t, filepath.Join(dir, "bad.csv"), []byte(bad.String()))
	parent := t.TempDir()
	out := filepath.Join(parent, "shards")
	code, _, stderr := runConvert("-in", goodPath, "-label-col", "-1", "-out", out, "-rows-per-shard", "8")
	require.Equal(t, 0, code, stderr)
	before := snapshotDir(t, out)
	require.Len(t, before, 6)

	code, _, stderr = runConvert("-in", badPath, "-label-col", "-1", "-out", out, "-rows-per-shard", "8")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "line 41, column 2: label 99999999999 out of range")
	assert.Equal(t, before, snapshotDir(t, out))
	ents, err := os.ReadDir(parent)
	require.NoError(t, err)
	assert.Len(t, ents, 1, "temporary folders left beside the output")
	readAll(t, out)
}

// snapshotDir returns the names and bytes of the files in dir.
func snapshotDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	files := map[string][]byte{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		files[e.Name()] = b
	}
	return files
}
