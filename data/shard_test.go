package data

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// shardToy returns a data set of n rows of d features with labels (some -1).
func shardToy(t testing.TB, n, d int) *Dataset {
	t.Helper()
	x := make([]float32, n*d)
	for i := range x {
		x[i] = float32(i%17) / 16
	}
	labels := make([]int, n)
	for i := range labels {
		labels[i] = i%4 - 1
	}
	ds, err := New("toy", n, d, x, labels)
	require.NoError(t, err)
	return ds
}

// writeShards writes ds into a new shard folder with r rows per shard.
func writeShards(t testing.TB, ds *Dataset, r int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "shards")
	w, err := NewShardWriter(dir, ShardWriterOptions{Name: ds.Name, D: ds.D, Shape: ds.Shape, Labels: ds.Labels != nil, RowsPerShard: r})
	require.NoError(t, err)
	require.NoError(t, w.WriteRows(ds.X, ds.Labels))
	_, err = w.Close()
	require.NoError(t, err)
	return dir
}

func TestShardedRoundTrip(t *testing.T) {
	for _, c := range []struct {
		name     string
		n, d, r  int
		labels   bool
		readAt   bool
		shards   int
		min, max float32
	}{
		{"mmap, labels, uneven", 30, 5, 7, true, false, 5, 0, 1},
		{"readat, labels", 30, 5, 7, true, true, 5, 0, 1},
		{"mmap, no labels, one shard", 9, 3, 100, false, false, 1, 0, 1},
		{"exact multiple", 12, 2, 4, true, false, 3, 0, 1},
		{"one row per shard", 3, 1, 1, false, true, 3, 0, 0.125},
	} {
		t.Run(c.name, func(t *testing.T) {
			ds := shardToy(t, c.n, c.d)
			ds.Shape = []int{c.d, 1}
			if !c.labels {
				ds.Labels = nil
			}
			dir := writeShards(t, ds, c.r)
			forceReadAt = c.readAt
			defer func() { forceReadAt = false }()
			s, err := OpenSharded(dir)
			require.NoError(t, err)
			defer s.Close()
			m := s.Manifest()
			info := s.Info()
			require.Equal(t, "toy", info.Name, "info %+v: name", info)
			require.Equal(t, c.n, info.N, "info %+v: N", info)
			require.Equal(t, c.d, info.D, "info %+v: D", info)
			require.Equal(t, ds.Shape, info.Shape, "info %+v: shape", info)
			require.Equal(t, c.labels, info.Labels, "info %+v: labels", info)
			require.Len(t, m.Shards, c.shards, "shards")
			lo, hi := s.Range()
			assert.Equal(t, [2]float32{c.min, c.max}, [2]float32{lo, hi}, "range")
			assert.Equal(t, ds.HasLabels(), s.HasLabels(), "HasLabels")
			require.NoError(t, s.Verify())
			idx := []int{c.n - 1, 0, c.n / 2, 1, c.n - 1}
			got, want := make([]float32, len(idx)*c.d), make([]float32, len(idx)*c.d)
			gl, wl := make([]int, len(idx)), make([]int, len(idx))
			s.Gather(idx, got, gl)
			ds.Gather(idx, want, wl)
			assert.Equal(t, want, got, "gather: rows")
			assert.Equal(t, wl, gl, "gather: labels")
			if !c.readAt {
				assert.Zero(t, testing.AllocsPerRun(10, func() { s.Gather(idx, got, gl) }), "Gather from mapped shards: allocations")
			}
			for i := range c.n {
				require.Equal(t, ds.Label(i), s.Label(i), "label %d", i)
			}
			// A head view: a prefix, sharing the files.
			hs, err := s.Head(c.n - 1)
			require.NoError(t, err)
			hinfo := hs.Info()
			assert.Equal(t, c.n-1, hinfo.N, "head info %+v: N", hinfo)
			assert.Equal(t, fmt.Sprintf("toy[:%d]", c.n-1), hinfo.Name, "head info %+v: name", hinfo)
			hw, _ := ds.Head(c.n - 1)
			wlo, whi := hw.Range()
			lo, hi = hs.Range()
			assert.Equal(t, [2]float32{wlo, whi}, [2]float32{lo, hi}, "head range")
			assert.Equal(t, hw.HasLabels(), hs.HasLabels(), "head HasLabels")
			o := hs.Order(3, 1)
			assert.True(t, isPermutation(o, c.n-1), "head order %v", o)
			require.NoError(t, hs.(*Sharded).Close()) // a view's Close does nothing
			s.Gather([]int{0}, got[:c.d], nil)
		})
	}
}

func isPermutation(p []int, n int) bool {
	if len(p) != n {
		return false
	}
	seen := make([]bool, n)
	for _, v := range p {
		if v < 0 || v >= n || seen[v] {
			return false
		}
		seen[v] = true
	}
	return true
}

// TestShardOrder: a permutation, a function of (seed, epoch) only, and no row moves
// w or more places from its place in the permuted shard stream.
func TestShardOrder(t *testing.T) {
	for _, c := range []struct {
		name string
		rows []int
		w    int
	}{
		{"uneven shards", []int{7, 7, 7, 7, 2}, 5},
		{"window 1: shard order only", []int{3, 3, 3}, 1},
		{"window 0", []int{4, 1}, 0},
		{"window larger than N", []int{5, 6}, 100},
		{"one shard", []int{50}, 8},
		{"many shards", []int{10, 10, 10, 10, 10, 10, 10, 10, 10, 3}, 16},
		{"empty", nil, 4},
	} {
		n := 0
		starts := []int{0}
		for _, r := range c.rows {
			n += r
			starts = append(starts, n)
		}
		shardOf := func(i int) int {
			for k := range c.rows {
				if i < starts[k+1] {
					return k
				}
			}
			return -1
		}
		differ := false
		for epoch := range 6 {
			o := ShardOrder(c.rows, c.w, 42, epoch)
			require.True(t, isPermutation(o, n), "%s: epoch %d: not a permutation: %v", c.name, epoch, o)
			require.Equal(t, o, ShardOrder(slices.Clone(c.rows), c.w, 42, epoch), "%s: not deterministic", c.name)
			if epoch > 0 && !slices.Equal(o, ShardOrder(c.rows, c.w, 42, 0)) {
				differ = true
			}
			// Rebuild the permuted shard stream from the order of first appearance is
			// not possible in general; instead recompute it with the same generator.
			g := EpochRNG(42, epoch)
			perm := make([]int, len(c.rows))
			for i := range perm {
				perm[i] = i
			}
			for i := len(perm) - 1; i > 0; i-- {
				j := int(g.Uint64n(uint64(i + 1)))
				perm[i], perm[j] = perm[j], perm[i]
			}
			pos := map[int]int{}
			p := 0
			for _, k := range perm {
				for r := range c.rows[k] {
					pos[starts[k]+r] = p
					p++
				}
			}
			w := max(1, min(c.w, n))
			for at, row := range o {
				if d := at - pos[row]; d <= -w || d >= w {
					require.Failf(t, "a row moved a window or more", "%s: epoch %d: row %d (shard %d) moved %d places, window %d", c.name, epoch, row, shardOf(row), d, c.w)
				}
			}
		}
		if n > 2 {
			assert.True(t, differ, "%s: every epoch has the same order", c.name)
		}
	}
	// Pinned: changing the algorithm changes every sharded run.
	assert.Equal(t, []int{4, 6, 7, 5, 8, 10, 9, 1, 0, 2, 3}, ShardOrder([]int{4, 4, 3}, 3, 7, 2), "ShardOrder golden")
}

// TestDatasetOrderIsPermutation: the in-memory order stays Permutation (the bits of
// every run before the sharded format).
func TestDatasetOrderIsPermutation(t *testing.T) {
	ds := shardToy(t, 33, 2)
	for e := range 3 {
		require.Equal(t, Permutation(33, 5, e), ds.Order(5, e), "Dataset.Order is not Permutation (epoch %d)", e)
	}
	h, err := ds.Head(10)
	require.NoError(t, err, "head")
	require.Equal(t, "toy[:10]", h.Info().Name, "head: name")
	require.Equal(t, 10, h.Info().N, "head: N")
}

// TestShardedMalformed: every damage to a shard folder is an error that names the
// file (and the row and column where one applies) and what was expected.
func TestShardedMalformed(t *testing.T) {
	ds := shardToy(t, 10, 3)
	shard1 := ShardName(1)
	setHeader := func(off int, v uint32) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			p := filepath.Join(dir, shard1)
			b, _ := os.ReadFile(p)
			binary.LittleEndian.PutUint32(b[off:], v)
			os.WriteFile(p, b, 0o644)
		}
	}
	editManifest := func(f func(m map[string]any)) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			p := filepath.Join(dir, ManifestFile)
			raw, _ := os.ReadFile(p)
			var m map[string]any
			require.NoError(t, json.Unmarshal(raw, &m))
			f(m)
			raw, _ = json.Marshal(m)
			os.WriteFile(p, raw, 0o644)
		}
	}
	cases := []struct {
		name   string
		f      func(t *testing.T, dir string)
		verify bool   // the error comes from Verify, not OpenSharded
		file   string // the file the error names
		frags  []string
	}{
		{"missing manifest", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, ManifestFile)) }, false, ManifestFile, []string{"no manifest"}},
		{"missing shard", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, shard1)) }, false, shard1, []string{"missing shard: the manifest lists shard-00001.bin as shard 1 of 3 (4 rows)"}},
		{"truncated shard", func(t *testing.T, dir string) { os.Truncate(filepath.Join(dir, shard1), 40) }, false, shard1, []string{"truncated shard: expected 96 bytes", "found 40"}},
		{"truncated header", func(t *testing.T, dir string) { os.Truncate(filepath.Join(dir, shard1), 5) }, false, shard1, []string{"truncated shard: expected a 32-byte header, found a 5-byte file"}},
		{"trailing data", func(t *testing.T, dir string) {
			f, _ := os.OpenFile(filepath.Join(dir, shard1), os.O_APPEND|os.O_WRONLY, 0)
			f.Write([]byte{1})
			f.Close()
		}, false, shard1, []string{"trailing data: expected exactly 96 bytes", "found 97"}},
		{"bad magic", func(t *testing.T, dir string) {
			p := filepath.Join(dir, shard1)
			b, _ := os.ReadFile(p)
			copy(b, "NOTSHARD")
			os.WriteFile(p, b, 0o644)
		}, false, shard1, []string{`bad magic "NOTSHARD": expected "GMVSHARD"`}},
		{"version", setHeader(8, 9), false, shard1, []string{"version 9: expected 1"}},
		{"label flag", setHeader(12, 0), false, shard1, []string{"label flag false: the manifest says labels true"}},
		{"rows mismatch", setHeader(16, 5), false, shard1, []string{"rows mismatch: the header says 5 rows, the manifest 4"}},
		{"D mismatch", setHeader(24, 4), false, shard1, []string{"D mismatch: the header says 4 features per row, the manifest 3"}},
		{"header CRC", setHeader(28, 1), false, shard1, []string{"CRC mismatch: the header's payload CRC-32C is 0x00000001"}},
		{"payload CRC", func(t *testing.T, dir string) {
			p := filepath.Join(dir, shard1)
			b, _ := os.ReadFile(p)
			b[ShardHeaderSize+5] ^= 1
			os.WriteFile(p, b, 0o644)
		}, true, shard1, []string{"CRC mismatch: the payload's CRC-32C is"}},
		{"manifest n", editManifest(func(m map[string]any) { m["n"] = 11.0 }), false, ManifestFile, []string{"the shards hold 10 rows in all, expected n = 11"}},
		{"manifest d", editManifest(func(m map[string]any) { m["d"] = 2.0 }), false, ManifestFile, []string{"shard 0 (shard-00000.bin): 96 bytes, expected 80 for 4 rows of d = 2"}},
		{"manifest format", editManifest(func(m map[string]any) { m["format"] = "x" }), false, ManifestFile, []string{`format "x", expected "gmvae-shards"`}},
		{"manifest path", editManifest(func(m map[string]any) {
			m["shards"].([]any)[0].(map[string]any)["file"] = "../x.bin"
		}), false, ManifestFile, []string{`file name "../x.bin", expected a plain file name`}},
		{"manifest unknown field", editManifest(func(m map[string]any) { m["extra"] = 1.0 }), false, ManifestFile, []string{"malformed manifest", "extra"}},
		{"manifest range", editManifest(func(m map[string]any) { m["max"] = 0.5 }), true, "shard-00000.bin", []string{"row 4, column 1: value 0.5625 outside the manifest's range [0, 0.5] (example 4 of the set)"}},
		{"manifest labelled", editManifest(func(m map[string]any) { m["labelled"] = 3.0 }), true, ManifestFile, []string{"labelled = 3, classes = 3, but the shards hold 7 labelled examples of 3 classes"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := writeShards(t, ds, 4)
			c.f(t, dir)
			s, err := OpenSharded(dir)
			if c.verify {
				require.NoError(t, err, "open")
				err = s.Verify()
				s.Close()
			}
			fe := wantFormatError(t, err, append(c.frags, "shards: "+filepath.Join(dir, c.file))...)
			if fe != nil {
				assert.Equal(t, filepath.Join(dir, c.file), fe.Path, "path")
			}
		})
	}
}

func TestShardWriter(t *testing.T) {
	ds := shardToy(t, 10, 3)
	// NaN and bad labels are refused with the row and column.
	dir := filepath.Join(t.TempDir(), "s")
	w, err := NewShardWriter(dir, ShardWriterOptions{Name: "x", D: 3, Labels: true, RowsPerShard: 2})
	require.NoError(t, err)
	for i := range 5 {
		require.NoError(t, w.WriteRow(ds.Row(i), 1))
	}
	err = w.WriteRow([]float32{0, float32(math.Inf(1)), 0}, 0)
	wantFormatError(t, err, "shards: "+dir+": row 6, column 2: value +Inf is not finite")
	_, err = w.Close()
	require.Error(t, err, "Close after an error")
	// Nothing left: no manifest, no shards, no temporary files.
	ents, _ := os.ReadDir(dir)
	assert.Empty(t, ents, "after a failed write")
	w, _ = NewShardWriter(dir, ShardWriterOptions{Name: "x", D: 3, Labels: true})
	wantFormatError(t, w.WriteRow([]float32{0, 0, 0}, -2), "row 1: label -2")
	w.Abort()

	// A folder with other files is refused; an earlier shard set is replaced.
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "notes.txt"), nil, 0o644)
	_, err = NewShardWriter(other, ShardWriterOptions{D: 1})
	assert.ErrorContains(t, err, "notes.txt", "non-empty folder")
	old := writeShards(t, ds, 2) // 5 shards
	w, err = NewShardWriter(old, ShardWriterOptions{Name: "new", D: 3, RowsPerShard: 100})
	require.NoError(t, err)
	// The earlier set stays whole until Close swaps the new one in.
	if s, err := OpenSharded(old); assert.NoError(t, err, "the earlier set does not open before Close") {
		s.Close()
	}
	require.NoError(t, w.WriteRows(ds.X, nil))
	m, err := w.Close()
	require.NoError(t, err)
	ents, _ = os.ReadDir(old)
	assert.Len(t, ents, 2, "rewritten folder: %v, manifest %+v", ents, m)
	assert.Len(t, m.Shards, 1, "rewritten folder: manifest %+v", m)
	assert.Equal(t, 10, m.N, "rewritten folder: manifest %+v", m)
	assert.False(t, m.Labels, "rewritten folder: manifest %+v", m)
	s, err := OpenSharded(old)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Verify())
	_, err = NewShardWriter(t.TempDir(), ShardWriterOptions{D: 0})
	assert.Error(t, err, "d = 0")
}

// TestConvertToShards: a CSV file converted to shards reads back as LoadCSV reads it,
// and a malformed input leaves no manifest.
func TestConvertToShards(t *testing.T) {
	text := "a,label,b\n"
	for i := range 23 {
		text += fmt.Sprintf("%g,%d,%g\n", float64(i)/23, i%3, 1-float64(i)/23)
	}
	p := writeFile(t, "in.csv", []byte(text))
	opt := CSVOptions{Label: LabelByName("label")}
	want, err := LoadCSV(p, opt)
	require.NoError(t, err)
	r, err := OpenCSVRows(p, opt)
	require.NoError(t, err)
	dir := filepath.Join(t.TempDir(), "out")
	m, err := ConvertToShards(dir, r, "in", 5)
	r.Close()
	require.NoError(t, err)
	assert.Equal(t, 23, m.N, "manifest %+v: n", m)
	assert.Equal(t, 2, m.D, "manifest %+v: d", m)
	assert.Len(t, m.Shards, 5, "manifest %+v: shards", m)
	assert.Equal(t, 23, m.Labelled, "manifest %+v: labelled", m)
	assert.Equal(t, 3, m.Classes, "manifest %+v: classes", m)
	assert.Equal(t, "in", m.Name, "manifest %+v: name", m)
	s, err := OpenSharded(dir)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Verify())
	idx := make([]int, 23)
	for i := range idx {
		idx[i] = i
	}
	x, l := make([]float32, 23*2), make([]int, 23)
	s.Gather(idx, x, l)
	assert.Equal(t, want.X, x, "rows: LoadCSV's, then the shards'")
	assert.Equal(t, want.Labels, l, "labels: LoadCSV's, then the shards'")
	lo, hi := s.Range()
	assert.Equal(t, [2]float32{0, 1}, [2]float32{lo, hi}, "range")

	bad := writeFile(t, "bad.csv", []byte(text+"0.5,1,inf\n"))
	r, _ = OpenCSVRows(bad, opt)
	dir2 := filepath.Join(t.TempDir(), "out")
	_, err = ConvertToShards(dir2, r, "", 5)
	r.Close()
	wantFormatError(t, err, "csv: "+bad+": line 25, column 3", "not finite")
	ents, _ := os.ReadDir(dir2)
	assert.Empty(t, ents, "after a failed conversion")
}
