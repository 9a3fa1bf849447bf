package data

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
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
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// writeShards writes ds into a new shard folder with r rows per shard.
func writeShards(t testing.TB, ds *Dataset, r int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "shards")
	w, err := NewShardWriter(dir, ShardWriterOptions{Name: ds.Name, D: ds.D, Shape: ds.Shape, Labels: ds.Labels != nil, RowsPerShard: r})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteRows(ds.X, ds.Labels); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
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
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			m := s.Manifest()
			info := s.Info()
			if info.Name != "toy" || info.N != c.n || info.D != c.d || !slices.Equal(info.Shape, ds.Shape) || info.Labels != c.labels || len(m.Shards) != c.shards {
				t.Fatalf("info %+v, %d shards", info, len(m.Shards))
			}
			if lo, hi := s.Range(); lo != c.min || hi != c.max {
				t.Errorf("range [%v, %v], want [%v, %v]", lo, hi, c.min, c.max)
			}
			if s.HasLabels() != ds.HasLabels() {
				t.Errorf("HasLabels %v", s.HasLabels())
			}
			if err := s.Verify(); err != nil {
				t.Fatal(err)
			}
			idx := []int{c.n - 1, 0, c.n / 2, 1, c.n - 1}
			got, want := make([]float32, len(idx)*c.d), make([]float32, len(idx)*c.d)
			gl, wl := make([]int, len(idx)), make([]int, len(idx))
			s.Gather(idx, got, gl)
			ds.Gather(idx, want, wl)
			if !slices.Equal(got, want) || !slices.Equal(gl, wl) {
				t.Errorf("gather: %v %v, want %v %v", got, gl, want, wl)
			}
			if !c.readAt {
				if a := testing.AllocsPerRun(10, func() { s.Gather(idx, got, gl) }); a != 0 {
					t.Errorf("Gather from mapped shards: %v allocations", a)
				}
			}
			for i := range c.n {
				if s.Label(i) != ds.Label(i) {
					t.Fatalf("label %d: %d, want %d", i, s.Label(i), ds.Label(i))
				}
			}
			// A head view: a prefix, sharing the files.
			hs, err := s.Head(c.n - 1)
			if err != nil {
				t.Fatal(err)
			}
			hi := hs.Info()
			if hi.N != c.n-1 || hi.Name != fmt.Sprintf("toy[:%d]", c.n-1) {
				t.Errorf("head info %+v", hi)
			}
			hw, _ := ds.Head(c.n - 1)
			wlo, whi := hw.Range()
			if lo, hi := hs.Range(); lo != wlo || hi != whi {
				t.Errorf("head range [%v, %v], want [%v, %v]", lo, hi, wlo, whi)
			}
			if hs.HasLabels() != hw.HasLabels() {
				t.Errorf("head HasLabels %v", hs.HasLabels())
			}
			if o := hs.Order(3, 1); !isPermutation(o, c.n-1) {
				t.Errorf("head order %v", o)
			}
			if err := hs.(*Sharded).Close(); err != nil { // a view's Close does nothing
				t.Fatal(err)
			}
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
			if !isPermutation(o, n) {
				t.Fatalf("%s: epoch %d: not a permutation: %v", c.name, epoch, o)
			}
			if !slices.Equal(o, ShardOrder(slices.Clone(c.rows), c.w, 42, epoch)) {
				t.Fatalf("%s: not deterministic", c.name)
			}
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
					t.Fatalf("%s: epoch %d: row %d (shard %d) moved %d places, window %d", c.name, epoch, row, shardOf(row), d, c.w)
				}
			}
		}
		if n > 2 && !differ {
			t.Errorf("%s: every epoch has the same order", c.name)
		}
	}
	// Pinned: changing the algorithm changes every sharded run.
	got := ShardOrder([]int{4, 4, 3}, 3, 7, 2)
	want := []int{4, 6, 7, 5, 8, 10, 9, 1, 0, 2, 3}
	if !slices.Equal(got, want) {
		t.Errorf("ShardOrder golden: got %#v, want %#v", got, want)
	}
}

// TestDatasetOrderIsPermutation: the in-memory order stays Permutation (the bits of
// every run before the sharded format).
func TestDatasetOrderIsPermutation(t *testing.T) {
	ds := shardToy(t, 33, 2)
	for e := range 3 {
		if !slices.Equal(ds.Order(5, e), Permutation(33, 5, e)) {
			t.Fatal("Dataset.Order is not Permutation")
		}
	}
	h, err := ds.Head(10)
	if err != nil || h.Info().Name != "toy[:10]" || h.Info().N != 10 {
		t.Fatalf("head: %v %+v", err, h)
	}
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
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
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
				if err != nil {
					t.Fatalf("open: %v", err)
				}
				err = s.Verify()
				s.Close()
			}
			fe := wantFormatError(t, err, append(c.frags, "shards: "+filepath.Join(dir, c.file))...)
			if fe != nil && fe.Path != filepath.Join(dir, c.file) {
				t.Errorf("path %q", fe.Path)
			}
		})
	}
}

func TestShardWriter(t *testing.T) {
	ds := shardToy(t, 10, 3)
	// NaN and bad labels are refused with the row and column.
	dir := filepath.Join(t.TempDir(), "s")
	w, err := NewShardWriter(dir, ShardWriterOptions{Name: "x", D: 3, Labels: true, RowsPerShard: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := w.WriteRow(ds.Row(i), 1); err != nil {
			t.Fatal(err)
		}
	}
	err = w.WriteRow([]float32{0, float32(math.Inf(1)), 0}, 0)
	wantFormatError(t, err, "shards: "+dir+": row 6, column 2: value +Inf is not finite")
	if _, err := w.Close(); err == nil {
		t.Fatal("Close after an error: no error")
	}
	// Nothing left: no manifest, no shards, no temporary files.
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("after a failed write: %v", ents)
	}
	w, _ = NewShardWriter(dir, ShardWriterOptions{Name: "x", D: 3, Labels: true})
	wantFormatError(t, w.WriteRow([]float32{0, 0, 0}, -2), "row 1: label -2")
	w.Abort()

	// A folder with other files is refused; an earlier shard set is replaced.
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "notes.txt"), nil, 0o644)
	if _, err := NewShardWriter(other, ShardWriterOptions{D: 1}); err == nil || !strings.Contains(err.Error(), "notes.txt") {
		t.Errorf("non-empty folder: %v", err)
	}
	old := writeShards(t, ds, 2) // 5 shards
	w, err = NewShardWriter(old, ShardWriterOptions{Name: "new", D: 3, RowsPerShard: 100})
	if err != nil {
		t.Fatal(err)
	}
	// The earlier set stays whole until Close swaps the new one in.
	if s, err := OpenSharded(old); err != nil {
		t.Errorf("the earlier set does not open before Close: %v", err)
	} else {
		s.Close()
	}
	if err := w.WriteRows(ds.X, nil); err != nil {
		t.Fatal(err)
	}
	m, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(old)
	if len(ents) != 2 || len(m.Shards) != 1 || m.N != 10 || m.Labels {
		t.Errorf("rewritten folder: %v, manifest %+v", ents, m)
	}
	s, err := OpenSharded(old)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Verify(); err != nil {
		t.Fatal(err)
	}
	if _, err := NewShardWriter(t.TempDir(), ShardWriterOptions{D: 0}); err == nil {
		t.Error("d = 0: no error")
	}
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
	if err != nil {
		t.Fatal(err)
	}
	r, err := OpenCSVRows(p, opt)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "out")
	m, err := ConvertToShards(dir, r, "in", 5)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if m.N != 23 || m.D != 2 || len(m.Shards) != 5 || m.Labelled != 23 || m.Classes != 3 || m.Name != "in" {
		t.Errorf("manifest %+v", m)
	}
	s, err := OpenSharded(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Verify(); err != nil {
		t.Fatal(err)
	}
	idx := make([]int, 23)
	for i := range idx {
		idx[i] = i
	}
	x, l := make([]float32, 23*2), make([]int, 23)
	s.Gather(idx, x, l)
	if !slices.Equal(x, want.X) || !slices.Equal(l, want.Labels) {
		t.Error("shards differ from LoadCSV")
	}
	if lo, hi := s.Range(); lo != 0 || hi != 1 {
		t.Errorf("range [%v, %v]", lo, hi)
	}

	bad := writeFile(t, "bad.csv", []byte(text+"0.5,1,inf\n"))
	r, _ = OpenCSVRows(bad, opt)
	dir2 := filepath.Join(t.TempDir(), "out")
	_, err = ConvertToShards(dir2, r, "", 5)
	r.Close()
	wantFormatError(t, err, "csv: "+bad+": line 25, column 3", "not finite")
	if ents, _ := os.ReadDir(dir2); len(ents) != 0 {
		t.Errorf("after a failed conversion: %v", ents)
	}
}
