package data

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rangeRule is the allowed range every label error states.
const rangeRule = "expected an integer class id in [0, 65536), or -1"

// TestLabelBounds: every reader refuses a label outside [0, MaxClasses) (or -1) when
// it reads it, naming the file, the line or row, the column and the allowed range,
// in memory and streamed alike. Before, a CSV label of 99999999999 or 2^31-1 loaded
// and then exhausted memory in the metrics, 2^63-1 panicked there, and an NPY or IDX
// label of 2^31-1 loaded.
func TestLabelBounds(t *testing.T) {
	dir := t.TempDir()
	csvFile := func(name, label string) string {
		return writeFileIn(t, dir, name, []byte("x,y\n0.5,1\n0.25,"+label+"\n"))
	}
	x := filepath.Join(dir, "x.npy")
	require.NoError(t, SaveNPYFloat32(x, []float32{1, 2, 3, 4}, 2, 2))
	npyInts := func(name string, v int64) string {
		p := filepath.Join(dir, name)
		require.NoError(t, SaveNPYInt(p, []int{0, int(v)}))
		return p
	}
	npyF8 := func(name string, v float64) string {
		var b bytes.Buffer
		b.Write(npyHeader(NPYFloat64, []int{2}))
		b.Write(make([]byte, 8))
		binary.Write(&b, binary.LittleEndian, v)
		return writeFileIn(t, dir, name, b.Bytes())
	}
	img := writeFileIn(t, dir, "img.idx", idxBytes(t, IDXFromUint8([]int{2, 2}, []byte{1, 2, 3, 4}), false))
	idxInts := func(name string, v int32) string {
		return writeFileIn(t, dir, name, idxBytes(t, IDXFromInt32([]int{2}, []int32{0, v}), false))
	}
	type open struct {
		load   func() (*Dataset, error)
		stream func() (RowReader, error)
	}
	csvOpen := func(p string) open {
		opt := CSVOptions{Label: LabelByName("y")}
		return open{func() (*Dataset, error) { return LoadCSV(p, opt) }, func() (RowReader, error) { return OpenCSVRows(p, opt) }}
	}
	npyOpen := func(l string) open {
		return open{func() (*Dataset, error) { return LoadNPY("x", x, l) }, func() (RowReader, error) { return OpenNPYRows("x", x, l) }}
	}
	idxOpen := func(l string) open {
		return open{func() (*Dataset, error) { return LoadIDX("x", img, l) }, func() (RowReader, error) { return OpenIDXRows("x", img, l) }}
	}
	cases := []struct {
		name  string
		in    func() (open, string) // the readers, and the file the error names
		frags []string              // nil: loads
	}{
		{"csv 99999999999", func() (open, string) { p := csvFile("a.csv", "99999999999"); return csvOpen(p), p },
			[]string{`line 3, column 2 ("y"): label 99999999999 out of range`, rangeRule}},
		{"csv 2147483647", func() (open, string) { p := csvFile("b.csv", "2147483647"); return csvOpen(p), p },
			[]string{"line 3, column 2", "label 2147483647 out of range", rangeRule}},
		{"csv 9223372036854775807", func() (open, string) { p := csvFile("c.csv", "9223372036854775807"); return csvOpen(p), p },
			[]string{"line 3, column 2", "label 9223372036854775807 out of range"}},
		{"csv 9223372036854775808", func() (open, string) { p := csvFile("d.csv", "9223372036854775808"); return csvOpen(p), p },
			[]string{"line 3, column 2", `label "9223372036854775808" out of range`}},
		{"csv 100000000", func() (open, string) { p := csvFile("e.csv", "100000000"); return csvOpen(p), p },
			[]string{"line 3, column 2", "label 100000000 out of range"}},
		{"csv 65536", func() (open, string) { p := csvFile("f.csv", "65536"); return csvOpen(p), p },
			[]string{"label 65536 out of range"}},
		{"csv 1e10", func() (open, string) { p := csvFile("g.csv", "1e10"); return csvOpen(p), p },
			[]string{`label "1e10" out of range`}},
		{"csv inf", func() (open, string) { p := csvFile("h.csv", "inf"); return csvOpen(p), p },
			[]string{`label "inf", expected an integer class id`}},
		{"csv 65535", func() (open, string) { p := csvFile("i.csv", "65535"); return csvOpen(p), p }, nil},
		{"csv 65535.0", func() (open, string) { p := csvFile("j.csv", "65535.0"); return csvOpen(p), p }, nil},
		{"npy i8 99999999999", func() (open, string) { p := npyInts("a.npy", 99999999999); return npyOpen(p), p },
			[]string{"row 2: label 99999999999 out of range", rangeRule}},
		{"npy i8 2^63-1", func() (open, string) { p := npyInts("b.npy", math.MaxInt64); return npyOpen(p), p },
			[]string{"row 2: label 9223372036854775807 out of range"}},
		{"npy i8 65535", func() (open, string) { p := npyInts("c.npy", 65535); return npyOpen(p), p }, nil},
		{"npy f8 1e8", func() (open, string) { p := npyF8("d.npy", 1e8); return npyOpen(p), p },
			[]string{"row 2: label 1e+08 out of range", rangeRule}},
		{"npy f8 inf", func() (open, string) { p := npyF8("e.npy", math.Inf(1)); return npyOpen(p), p },
			[]string{"row 2: label +Inf is not an integer"}},
		{"idx int 2147483647", func() (open, string) { p := idxInts("a.idx", math.MaxInt32); return idxOpen(p), p },
			[]string{"row 2: label 2147483647 out of range", rangeRule}},
		{"idx int 65536", func() (open, string) { p := idxInts("b.idx", 65536); return idxOpen(p), p },
			[]string{"row 2: label 65536 out of range"}},
		{"idx int 65535", func() (open, string) { p := idxInts("c.idx", 65535); return idxOpen(p), p }, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, file := c.in()
			ds, err := o.load()
			r, serr := o.stream()
			if serr == nil {
				_, serr = drain(t, r, "stream")
			}
			if c.frags == nil {
				require.NoError(t, err)
				require.NoError(t, serr)
				assert.Equal(t, MaxClasses, ds.NumClasses())
				return
			}
			for _, e := range []error{err, serr} {
				require.Error(t, e)
				assert.True(t, IsFormatError(e), "%T", e)
				assert.Contains(t, e.Error(), file+": ")
				for _, f := range c.frags {
					assert.Contains(t, e.Error(), f)
				}
			}
			assert.Equal(t, err.Error(), serr.Error(), "the streaming reader's error differs")
		})
	}
}

// TestLabelBoundsInMemoryAndShards: New (Validate), the shard writer and Verify hold
// to the same rule. The writer stores int32: before, 99999999999 was written as
// 1215752191.
func TestLabelBoundsInMemoryAndShards(t *testing.T) {
	for _, l := range []int{MaxClasses, math.MaxInt32, 99999999999, math.MaxInt, -2} {
		t.Run(fmt.Sprint(l), func(t *testing.T) {
			_, err := New("d", 1, 1, []float32{0}, []int{l})
			require.Error(t, err)
			assert.Contains(t, err.Error(), fmt.Sprintf("data: d: row 1: label %d out of range: %s", l, rangeRule))

			w, err := NewShardWriter(filepath.Join(t.TempDir(), "s"), ShardWriterOptions{Name: "s", D: 1, Labels: true})
			require.NoError(t, err)
			require.NoError(t, w.WriteRow([]float32{0}, 3))
			err = w.WriteRow([]float32{0}, l)
			wantFormatError(t, err, fmt.Sprintf("row 2: label %d out of range", l), rangeRule)
			_, err = w.Close()
			require.Error(t, err)
		})
	}
}

// writeFileIn writes b to dir/name and returns the path.
func writeFileIn(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, b, 0o644))
	return p
}

// TestVerifyLabelBound: Verify refuses a shard label beyond MaxClasses (written by
// hand, CRCs fixed), naming the shard file and the row. Before, only labels below -1
// were refused.
func TestVerifyLabelBound(t *testing.T) {
	ds := shardToy(t, 6, 2)
	dir := writeShards(t, ds, 3)
	p := filepath.Join(dir, ShardName(1))
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	// Row 2 of shard 1: its label sits after the 3×2 features.
	binary.LittleEndian.PutUint32(b[ShardHeaderSize+3*2*4+4:], math.MaxInt32)
	crc := crc32.Checksum(b[ShardHeaderSize:], castagnoli)
	binary.LittleEndian.PutUint32(b[28:], crc)
	require.NoError(t, os.WriteFile(p, b, 0o644))
	mp := filepath.Join(dir, ManifestFile)
	raw, err := os.ReadFile(mp)
	require.NoError(t, err)
	var m Manifest
	require.NoError(t, json.Unmarshal(raw, &m))
	m.Shards[1].CRC32C = crc
	raw, err = json.Marshal(&m)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(mp, raw, 0o644))

	s, err := OpenSharded(dir)
	require.NoError(t, err)
	defer s.Close()
	wantFormatError(t, s.Verify(), "shards: "+p+": row 2: label 2147483647 out of range", rangeRule, "(example 5 of the set)")
}
