package data

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(b)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func npyBytes(t *testing.T, write func(p string) error) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "a.npy")
	require.NoError(t, write(p))
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return b
}

// TestDocumentedCombinations: what the documentation promises loads, in memory and
// streamed: gzip for every format (x.csv.gz, x.npy.gz), and a labels file in either
// format beside IDX or NPY data (the -labels flags say "IDX or NPY"). Before, a
// .csv.gz file and NPY labels beside IDX images failed with "bad magic number".
func TestDocumentedCombinations(t *testing.T) {
	dir := t.TempDir()
	put := func(name string, b []byte) string { return writeFileIn(t, dir, name, b) }
	csvText := []byte("a,label\n0.5,1\n0.25,0\n")
	imgs := idxBytes(t, IDXFromUint8([]int{2, 1}, []byte{0, 255}), false)
	idxLab := idxBytes(t, IDXFromUint8([]int{2}, []byte{1, 0}), false)
	npyX := npyBytes(t, func(p string) error { return SaveNPYFloat32(p, []float32{0.5, 0.25}, 2, 1) })
	npyLab := npyBytes(t, func(p string) error { return SaveNPYInt(p, []int{1, 0}) })
	wantCSV := &Dataset{N: 2, D: 1, X: []float32{0.5, 0.25}, Labels: []int{1, 0}}
	wantIDX := &Dataset{N: 2, D: 1, X: []float32{0, 1}, Labels: []int{1, 0}, Shape: []int{1}}
	wantNPY := &Dataset{N: 2, D: 1, X: []float32{0.5, 0.25}, Labels: []int{1, 0}}
	type combination struct {
		name   string
		load   func() (*Dataset, error)
		stream func() (RowReader, error)
		want   *Dataset
	}
	var cases []combination
	opt := CSVOptions{Label: LabelByName("label")}
	for _, c := range []struct{ name, path string }{
		{"csv", put("d.csv", csvText)},
		{"csv.gz", put("d.csv.gz", gz(t, csvText))},
		{"csv.gz with a byte-order mark", put("bom.csv.gz", gz(t, append([]byte("\ufeff"), csvText...)))},
	} {
		p := c.path
		cases = append(cases, combination{c.name,
			func() (*Dataset, error) { return LoadCSV(p, opt) },
			func() (RowReader, error) { return OpenCSVRows(p, opt) }, wantCSV})
	}
	for _, c := range []struct{ name, imgs, labels string }{
		{"idx + idx labels", put("i.idx", imgs), put("l.idx", idxLab)},
		{"idx + npy labels", put("i2.idx", imgs), put("l.npy", npyLab)},
		{"idx.gz + npy.gz labels", put("i.idx.gz", gz(t, imgs)), put("l.npy.gz", gz(t, npyLab))},
	} {
		cases = append(cases, combination{c.name,
			func() (*Dataset, error) { return LoadIDX("x", c.imgs, c.labels) },
			func() (RowReader, error) { return OpenIDXRows("x", c.imgs, c.labels) }, wantIDX})
	}
	for _, c := range []struct{ name, data, labels string }{
		{"npy + npy labels", put("x.npy", npyX), put("y.npy", npyLab)},
		{"npy + idx labels", put("x2.npy", npyX), put("y.idx", idxLab)},
		{"npy.gz + idx.gz labels", put("x.npy.gz", gz(t, npyX)), put("y.idx.gz", gz(t, idxLab))},
	} {
		cases = append(cases, combination{c.name,
			func() (*Dataset, error) { return LoadNPY("x", c.data, c.labels) },
			func() (RowReader, error) { return OpenNPYRows("x", c.data, c.labels) }, wantNPY})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ds, err := c.load()
			require.NoError(t, err)
			r, err := c.stream()
			require.NoError(t, err)
			st, err := drain(t, r, "stream")
			require.NoError(t, err)
			for _, got := range []*Dataset{ds, st} {
				got.Name = ""
				assert.Equal(t, c.want, got)
			}
		})
	}
	for p, want := range map[string]string{
		put("f.csv.gz", gz(t, csvText)): "csv", put("f.dat", npyX): "npy", put("f.gz", gz(t, imgs)): "idx",
		put("latin1.csv", []byte("caf\xe9,label\n1,2\n")): "csv",
	} {
		got, err := DetectFormat(p)
		require.NoError(t, err, p)
		assert.Equal(t, want, got, p)
	}
}

// TestWrongFormatErrors: a file of another format than the reader's says what was
// found and what is expected. Before: "bad magic number" and nothing more.
func TestWrongFormatErrors(t *testing.T) {
	dir := t.TempDir()
	put := func(name string, b []byte) string { return writeFileIn(t, dir, name, b) }
	csvText := []byte("a,b\n1,2\n")
	imgs := idxBytes(t, IDXFromUint8([]int{2, 1}, []byte{0, 255}), false)
	npyX := npyBytes(t, func(p string) error { return SaveNPYFloat32(p, []float32{0.5, 0.25}, 2, 1) })
	csvGz := put("d.csv.gz", gz(t, csvText))
	npyFile := put("x.npy", npyX)
	idxFile := put("i.idx", imgs)
	cases := []struct {
		name  string
		run   func() error
		frags []string
	}{
		{"csv.gz read as IDX", func() error { _, err := LoadIDX("x", csvGz, ""); return err },
			[]string{"idx: " + csvGz, "bad magic number 0x612c620a", "found text (CSV?) (gzip-compressed), not IDX"}},
		{"csv.gz streamed as IDX", func() error { _, err := OpenIDXRows("x", csvGz, ""); return err },
			[]string{"found text (CSV?) (gzip-compressed), not IDX"}},
		{"npy read as IDX", func() error { _, err := ReadIDX(npyFile); return err },
			[]string{"bad magic number 0x934e554d", "found NPY data, not IDX"}},
		{"idx read as NPY", func() error { _, err := LoadNPY("x", idxFile, ""); return err },
			[]string{"npy: " + idxFile, "bad magic", "found IDX data, not NPY"}},
		{"npy read as CSV", func() error { _, err := LoadCSV(npyFile, CSVOptions{}); return err },
			[]string{"csv: " + npyFile, "expected CSV text; found NPY data, not CSV"}},
		{"idx streamed as CSV", func() error { _, err := OpenCSVRows(idxFile, CSVOptions{}); return err },
			[]string{"expected CSV text; found IDX data, not CSV"}},
		{"csv labels", func() error { _, err := LoadIDX("x", idxFile, put("l.csv", []byte("1\n0\n"))); return err },
			[]string{"labels: ", "l.csv: found text (CSV?), expected IDX or NPY labels: one dimension of 2 integers (the examples in " + idxFile + "); a CSV data file carries its labels in a column"}},
		{"zip labels", func() error { _, err := OpenNPYRows("x", npyFile, put("l.npz", []byte("PK\x03\x04rest"))); return err },
			[]string{"l.npz: found a ZIP archive (an .npz?"}},
		{"empty labels", func() error { _, err := LoadNPY("x", npyFile, put("l.npy", nil)); return err },
			[]string{"found an empty file, expected IDX or NPY labels"}},
		{"DetectFormat utf-16", func() error { _, err := DetectFormat(put("u16.csv", []byte("\xff\xfea\x00,\x00"))); return err },
			[]string{"data: ", "u16.csv: found UTF-16 text (save it as UTF-8), expected CSV text, IDX or NPY data"}},
		{"DetectFormat shard file", func() error { _, err := DetectFormat(put("s.bin", []byte("GMVSHARD\x01\x00"))); return err },
			[]string{"found a shard file (give the shard folder"}},
		{"DetectFormat empty", func() error { _, err := DetectFormat(put("e.csv", nil)); return err },
			[]string{"found an empty file"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantFormatError(t, c.run(), c.frags...)
		})
	}
}

// TestFolderWithoutManifest: a folder given to a file reader (the commands hand a
// folder without manifest.json to them) says it is not a shard folder and how to
// make one. Before, the IDX reader failed with a gzip-header error and the others
// with "read ...: is a directory".
func TestFolderWithoutManifest(t *testing.T) {
	dir := t.TempDir()
	want := "no manifest.json in " + dir + ": not a shard folder (make one with `go run ./cmd/convert -in FILE -out " + dir + "`)"
	npyFile := filepath.Join(t.TempDir(), "x.npy")
	require.NoError(t, SaveNPYFloat32(npyFile, []float32{1}, 1, 1))
	cases := []struct {
		name string
		run  func() error
	}{
		{"LoadIDX", func() error { _, err := LoadIDX("x", dir, ""); return err }},
		{"ReadIDX", func() error { _, err := ReadIDX(dir); return err }},
		{"OpenIDXRows", func() error { _, err := OpenIDXRows("x", dir, ""); return err }},
		{"LoadNPY", func() error { _, err := LoadNPY("x", dir, ""); return err }},
		{"OpenNPYRows", func() error { _, err := OpenNPYRows("x", dir, ""); return err }},
		{"LoadNPY labels", func() error { _, err := LoadNPY("x", npyFile, dir); return err }},
		{"LoadCSV", func() error { _, err := LoadCSV(dir, CSVOptions{}); return err }},
		{"OpenCSVRows", func() error { _, err := OpenCSVRows(dir, CSVOptions{}); return err }},
		{"DetectFormat", func() error { _, err := DetectFormat(dir); return err }},
		{"OpenSharded", func() error { _, err := OpenSharded(dir); return err }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantFormatError(t, c.run(), want)
		})
	}
}
