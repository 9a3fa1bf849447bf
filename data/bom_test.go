package data

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCSVByteOrderMark: a leading UTF-8 byte-order mark is dropped, with and without
// a header, in memory and streamed. Before, a header-less file lost its first row
// (the mark made its first cell a non-number, so the row was taken for a header) and
// a header's first name carried the mark, so that a label column named by it was
// missing.
func TestCSVByteOrderMark(t *testing.T) {
	const bom = "\ufeff"
	cases := []struct {
		name   string
		text   string
		opt    CSVOptions
		n, d   int
		x      []float32
		labels []int
	}{
		{"no header, auto", bom + "1,2\n3,4\n", CSVOptions{}, 2, 2, []float32{1, 2, 3, 4}, nil},
		{"no header, HeaderNo", bom + "1,2\n3,4\n", CSVOptions{Header: HeaderNo}, 2, 2, []float32{1, 2, 3, 4}, nil},
		{"no header, label first", bom + "7,1,2\n8,3,4\n", CSVOptions{Label: LabelAt(0)}, 2, 2, []float32{1, 2, 3, 4}, []int{7, 8}},
		{"header, auto", bom + "a,b\n1,2\n", CSVOptions{}, 1, 2, []float32{1, 2}, nil},
		{"header, first column is the label", bom + "y,a\n3,1\n", CSVOptions{Label: LabelByName("y")}, 1, 1, []float32{1}, []int{3}},
		{"header, HeaderYes", bom + "1,2\n3,4\n", CSVOptions{Header: HeaderYes}, 1, 2, []float32{3, 4}, nil},
		{"quoted first cell", bom + "\"1\",2\n", CSVOptions{}, 1, 2, []float32{1, 2}, nil},
		{"only the mark in the middle is data", "a,b\n1,2\n", CSVOptions{}, 1, 2, []float32{1, 2}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeFile(t, "bom.csv", []byte(c.text))
			ds, err := LoadCSV(p, c.opt)
			require.NoError(t, err)
			r, err := OpenCSVRows(p, c.opt)
			require.NoError(t, err)
			st, err := drain(t, r, p)
			require.NoError(t, err)
			for _, got := range []*Dataset{ds, st} {
				assert.Equal(t, c.n, got.N)
				assert.Equal(t, c.d, got.D)
				assert.Equal(t, c.x, got.X)
				assert.Equal(t, c.labels, got.Labels)
			}
		})
	}
	// The mark alone is an empty file; a mark inside the text is an error as before.
	_, err := LoadCSV(writeFile(t, "only.csv", []byte(bom)), CSVOptions{})
	wantFormatError(t, err, "empty file")
	_, err = LoadCSV(writeFile(t, "mid.csv", []byte("1,2\n"+bom+"3,4\n")), CSVOptions{})
	wantFormatError(t, err, "line 2, column 1", "non-numeric value")
}

// TestManifestByteOrderMark: a manifest.json saved by an editor that adds a UTF-8
// byte-order mark still opens. Before: "malformed manifest: invalid character 'ï'".
func TestManifestByteOrderMark(t *testing.T) {
	dir := writeShards(t, shardToy(t, 5, 2), 2)
	p := filepath.Join(dir, ManifestFile)
	raw, err := os.ReadFile(p)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(p, append([]byte("\ufeff"), raw...), 0o644))
	s, err := OpenSharded(dir)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Verify())
	assert.Equal(t, 5, s.Info().N)
}
