package data

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/gmvae/gmvae/internal/atomicfile"
)

// The sharded format is described in the package documentation (and in
// docs/data-format.md).

// Names and constants of the sharded format.
const (
	ManifestFile         = "manifest.json" // the manifest's name in a shard folder
	ShardFormatName      = "gmvae-shards"  // the manifest's "format"
	ShardFormatVersion   = 1               // the manifest's "version" and the shards' header version
	ShardHeaderSize      = 32              // bytes before a shard's payload
	DefaultRowsPerShard  = 16384           // rows per shard when the writer is given 0
	DefaultShuffleWindow = 16384           // OpenSharded's Window
)

// shardMagic starts every shard file.
const shardMagic = "GMVSHARD"

// shardLabelFlag is bit 0 of a shard header's flags: the shard has labels.
const shardLabelFlag = 1

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ShardName returns the file name of shard i: shard-00000.bin, shard-00001.bin, ...
func ShardName(i int) string { return fmt.Sprintf("shard-%05d.bin", i) }

// Manifest is the content of a shard folder's manifest.json.
type Manifest struct {
	Format       string      `json:"format"`         // ShardFormatName
	Version      int         `json:"version"`        // ShardFormatVersion
	Name         string      `json:"name"`           // the data set's name
	N            int         `json:"n"`              // examples in all
	D            int         `json:"d"`              // features per example
	Shape        []int       `json:"shape"`          // one example's shape (product D); may be null
	Labels       bool        `json:"labels"`         // whether the shards carry labels
	Labelled     int         `json:"labelled"`       // examples with a label >= 0
	Classes      int         `json:"classes"`        // 1 + the largest label (0: none)
	Min          float32     `json:"min"`            // the smallest feature value (0 when N = 0)
	Max          float32     `json:"max"`            // the largest feature value (0 when N = 0)
	RowsPerShard int         `json:"rows_per_shard"` // the writer's cut (the last shard may be shorter)
	Shards       []ShardInfo `json:"shards"`         // in row order
}

// ShardInfo is one shard in a Manifest.
type ShardInfo struct {
	File   string `json:"file"`   // the file's name in the folder (shard-00000.bin, ...)
	Rows   int    `json:"rows"`   // examples in the shard (>= 1)
	Bytes  int64  `json:"bytes"`  // the file's size: header and payload
	CRC32C uint32 `json:"crc32c"` // CRC-32C (Castagnoli) of the payload
}

// shardPayload returns the payload size of a shard of rows examples of d features.
func shardPayload(rows, d int, labels bool) int64 {
	b := int64(rows) * int64(d) * 4
	if labels {
		b += int64(rows) * 4
	}
	return b
}

// shardErr is the error of a malformed shard folder: format "shards", the file, the
// 1-based row in that file (0: none) and column.
func shardErr(path string, row, col int, err error, format string, args ...any) error {
	return &FormatError{Format: "shards", Path: path, Line: row, Column: col, Msg: fmt.Sprintf(format, args...), Err: err}
}

func isNonFinite(v float32) bool { return math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) }

// shardHeader is a shard file's fixed header.
type shardHeader struct {
	version, flags uint32
	rows           uint64
	d, crc         uint32
}

func (h shardHeader) encode() []byte {
	b := make([]byte, ShardHeaderSize)
	copy(b, shardMagic)
	binary.LittleEndian.PutUint32(b[8:], h.version)
	binary.LittleEndian.PutUint32(b[12:], h.flags)
	binary.LittleEndian.PutUint64(b[16:], h.rows)
	binary.LittleEndian.PutUint32(b[24:], h.d)
	binary.LittleEndian.PutUint32(b[28:], h.crc)
	return b
}

func decodeShardHeader(b []byte) shardHeader {
	return shardHeader{
		version: binary.LittleEndian.Uint32(b[8:]),
		flags:   binary.LittleEndian.Uint32(b[12:]),
		rows:    binary.LittleEndian.Uint64(b[16:]),
		d:       binary.LittleEndian.Uint32(b[24:]),
		crc:     binary.LittleEndian.Uint32(b[28:]),
	}
}

// shardRegion is a shard file's bytes: memory-mapped (unix) or read with ReadAt.
type shardRegion interface {
	// bytes returns the n bytes at offset off (from the mapping, or newly read).
	bytes(off int64, n int) []byte
	close() error
}

// fileRegion reads a shard with ReadAt: the fallback where there is no mmap.
type fileRegion struct{ f *os.File }

func (r fileRegion) bytes(off int64, n int) []byte {
	b := make([]byte, n)
	if _, err := r.f.ReadAt(b, off); err != nil {
		panic(fmt.Sprintf("data: shards: %s: reading %d bytes at offset %d: %v", r.f.Name(), n, off, err))
	}
	return b
}

func (r fileRegion) close() error { return r.f.Close() }

// forceReadAt makes OpenSharded use the ReadAt fallback even where mmap exists (tests).
var forceReadAt = false

// shardFile is one opened shard.
type shardFile struct {
	path string
	rows int
	crc  uint32
	mem  shardRegion
}

// shardSet is the opened files of a shard folder, shared by a Sharded and its heads.
type shardSet struct {
	dir    string
	m      *Manifest
	files  []*shardFile
	closed bool
}

// Sharded is a sharded data set opened for random access: the shard files are
// memory-mapped (on unix; elsewhere read with ReadAt), so it holds no rows in memory
// and its size is bounded by the disk, not the RAM. It implements Source; its epoch
// order (Order) is by shard and within a window, see the package documentation.
//
// A Sharded is not safe for concurrent use by several goroutines if one of them
// calls Close.
type Sharded struct {
	// Window is the shuffle window of Order in rows (OpenSharded sets
	// DefaultShuffleWindow). It is part of a run's trajectory: a resumed run must
	// keep it.
	Window int

	set    *shardSet
	name   string
	n, d   int
	rows   []int // rows used of each shard (a head view cuts the last one)
	starts []int // starts[s] = first row of shard s; starts[len(rows)] = n
	head   bool  // a view made by Head
	rng    *[2]float32
}

// OpenSharded opens the shard folder dir: it reads and checks the manifest, then
// opens (memory-maps) every shard it lists and checks each file's size and header
// against the manifest (magic, version, label flag, rows, D, CRC). That costs a few
// system calls per shard and reads no payload; the payload CRCs, the values and the
// labels are checked by Verify, which reads every byte once. Close unmaps the files.
func OpenSharded(dir string) (*Sharded, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	set := &shardSet{dir: dir, m: m}
	ok := false
	defer func() {
		if !ok {
			set.close()
		}
	}()
	ids := map[fileID]int{}
	for i, si := range m.Shards {
		path := filepath.Join(dir, si.File)
		sf, fi, err := openShard(path, i, si, m)
		if err != nil {
			return nil, err
		}
		set.files = append(set.files, sf)
		if id, ok := idOf(fi); ok {
			if j, dup := ids[id]; dup {
				return nil, fieldErr(filepath.Join(dir, ManifestFile), fmt.Sprintf("shards[%d].file", i), nil,
					"shard %d (%s) is the same file as shard %d (%s), a link: its rows would count twice and another shard's never be read", i, si.File, j, m.Shards[j].File)
			}
			ids[id] = i
		}
	}
	s := &Sharded{Window: DefaultShuffleWindow, set: set, name: m.Name, n: m.N, d: m.D}
	for _, si := range m.Shards {
		s.rows = append(s.rows, si.Rows)
	}
	s.index()
	ok = true
	return s, nil
}

// openShard opens one shard and checks it against the manifest's entry si.
func openShard(path string, i int, si ShardInfo, m *Manifest) (*shardFile, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, shardErr(path, 0, 0, err, "missing shard: the manifest lists %s as shard %d of %d (%d rows)", si.File, i, len(m.Shards), si.Rows)
		}
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	size := st.Size()
	fail := func(format string, args ...any) (*shardFile, os.FileInfo, error) {
		f.Close()
		return nil, nil, shardErr(path, 0, 0, nil, format, args...)
	}
	if !st.Mode().IsRegular() {
		return fail("not a regular file (%v): expected a shard file", st.Mode().Type())
	}
	if size < ShardHeaderSize {
		return fail("truncated shard: expected a %d-byte header, found a %d-byte file", ShardHeaderSize, size)
	}
	var hb [ShardHeaderSize]byte
	if _, err := f.ReadAt(hb[:], 0); err != nil {
		f.Close()
		return nil, nil, shardErr(path, 0, 0, err, "reading the header")
	}
	if string(hb[:8]) != shardMagic {
		return fail("bad magic %q: expected %q (is this a shard file?)", hb[:8], shardMagic)
	}
	h := decodeShardHeader(hb[:])
	switch {
	case h.version != ShardFormatVersion:
		return fail("version %d: expected %d", h.version, ShardFormatVersion)
	case h.flags&^shardLabelFlag != 0:
		return fail("unknown flags 0x%x: expected only bit 0 (labels)", h.flags)
	case (h.flags&shardLabelFlag != 0) != m.Labels:
		return fail("label flag %v: the manifest says labels %v", h.flags&shardLabelFlag != 0, m.Labels)
	case h.rows != uint64(si.Rows):
		return fail("rows mismatch: the header says %d rows, the manifest %d", h.rows, si.Rows)
	case h.d != uint32(m.D):
		return fail("D mismatch: the header says %d features per row, the manifest %d", h.d, m.D)
	case h.crc != si.CRC32C:
		return fail("CRC mismatch: the header's payload CRC-32C is 0x%08x, the manifest's 0x%08x (a shard from another conversion?)", h.crc, si.CRC32C)
	}
	want := ShardHeaderSize + shardPayload(si.Rows, m.D, m.Labels)
	if size < want {
		return fail("truncated shard: expected %d bytes (%d-byte header, %d rows of %d float32, labels %v), found %d", want, ShardHeaderSize, si.Rows, m.D, m.Labels, size)
	}
	if size > want {
		return fail("trailing data: expected exactly %d bytes (%d-byte header, %d rows of %d float32, labels %v), found %d", want, ShardHeaderSize, si.Rows, m.D, m.Labels, size)
	}
	var mem shardRegion = fileRegion{f}
	if !forceReadAt {
		if mem, err = mapRegion(f, size); err != nil {
			f.Close()
			return nil, nil, shardErr(path, 0, 0, err, "memory-mapping %d bytes", size)
		}
	}
	return &shardFile{path: path, rows: si.Rows, crc: si.CRC32C, mem: mem}, st, nil
}

func (set *shardSet) close() error {
	if set.closed {
		return nil
	}
	set.closed = true
	var first error
	for _, f := range set.files {
		if err := f.mem.close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// index fills starts from rows.
func (s *Sharded) index() {
	s.starts = make([]int, len(s.rows)+1)
	for i, r := range s.rows {
		s.starts[i+1] = s.starts[i] + r
	}
}

// Close unmaps and closes the shard files (of this set and every Head view of it).
// A view's Close does nothing.
func (s *Sharded) Close() error {
	if s.head {
		return nil
	}
	return s.set.close()
}

// Manifest returns the folder's manifest (do not modify it).
func (s *Sharded) Manifest() *Manifest { return s.set.m }

// Info returns the data set's name, size and shape.
func (s *Sharded) Info() SourceInfo {
	m := s.set.m
	return SourceInfo{Name: s.name, N: s.n, D: s.d, Shape: m.Shape, Labels: m.Labels}
}

// locate returns the shard of row i and the row within it.
func (s *Sharded) locate(i int) (*shardFile, int) {
	if i < 0 || i >= s.n {
		panic(fmt.Sprintf("data: %s: row %d out of range [0,%d)", s.name, i, s.n))
	}
	lo, hi := 0, len(s.rows)-1 // the shard k with starts[k] <= i < starts[k+1]
	for lo < hi {
		mid := int(uint(lo+hi+1) >> 1)
		if s.starts[mid] <= i {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return s.set.files[lo], i - s.starts[lo]
}

func (s *Sharded) readRow(f *shardFile, r int, x []float32) {
	d := s.d
	b := f.mem.bytes(ShardHeaderSize+int64(r)*int64(d)*4, 4*d)
	for j := range x[:d] {
		x[j] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*j:]))
	}
}

func (s *Sharded) readLabel(f *shardFile, r int) int {
	if !s.set.m.Labels {
		return NoLabel
	}
	off := ShardHeaderSize + int64(f.rows)*int64(s.d)*4 + int64(r)*4
	return int(int32(binary.LittleEndian.Uint32(f.mem.bytes(off, 4))))
}

// Gather copies the given rows into x (len(indices)*D values) and, when labels is
// not nil, their labels into labels (NoLabel if the data set has none). From
// memory-mapped shards it allocates nothing. It panics if an index is out of range,
// a buffer is too short, or (ReadAt fallback) a read fails.
func (s *Sharded) Gather(indices []int, x []float32, labels []int) {
	d := s.d
	for j, i := range indices {
		f, r := s.locate(i)
		s.readRow(f, r, x[j*d:(j+1)*d])
		if labels != nil {
			labels[j] = s.readLabel(f, r)
		}
	}
}

// Label returns example i's label, or NoLabel.
func (s *Sharded) Label(i int) int {
	f, r := s.locate(i)
	return s.readLabel(f, r)
}

// HasLabels reports whether at least one example has a label: from the manifest for
// the whole set, by reading the labels for a Head view.
func (s *Sharded) HasLabels() bool {
	m := s.set.m
	if !m.Labels {
		return false
	}
	if !s.head {
		return m.Labelled > 0
	}
	for i := range s.n {
		if s.Label(i) >= 0 {
			return true
		}
	}
	return false
}

// Range returns the smallest and largest feature value: the manifest's for the whole
// set (no reading), computed once by reading the rows for a Head view.
func (s *Sharded) Range() (lo, hi float32) {
	if !s.head {
		return s.set.m.Min, s.set.m.Max
	}
	if s.rng == nil {
		var x []float32
		if s.n > 0 { // with rows, a shard file bounds d
			x = make([]float32, s.d)
		}
		first := true
		for i := range s.n {
			f, r := s.locate(i)
			s.readRow(f, r, x)
			for _, v := range x {
				if first {
					lo, hi, first = v, v, false
				}
				lo, hi = min(lo, v), max(hi, v)
			}
		}
		s.rng = &[2]float32{lo, hi}
	}
	return s.rng[0], s.rng[1]
}

// Head returns a view of the first n examples named "<name>[:n]": it shares the
// files (no copy) and its Order is ShardOrder over its shards (the last one cut).
func (s *Sharded) Head(n int) (Source, error) {
	if n < 0 || n > s.n {
		return nil, fmt.Errorf("data: %s: head of %d, expected 0 <= n <= N=%d", s.name, n, s.n)
	}
	v := &Sharded{Window: s.Window, set: s.set, name: fmt.Sprintf("%s[:%d]", s.name, n), n: n, d: s.d, head: true}
	for k, r := range s.rows {
		if s.starts[k] >= n {
			break
		}
		v.rows = append(v.rows, min(r, n-s.starts[k]))
	}
	v.index()
	return v, nil
}

// Order returns epoch epoch's order of the examples: ShardOrder(rows of each shard,
// s.Window, seed, epoch).
func (s *Sharded) Order(seed uint64, epoch int) []int {
	return ShardOrder(s.rows, s.Window, seed, epoch)
}

// ShardOrder returns the epoch order of a sharded data set whose shards hold
// rows[0], rows[1], ... examples (shard k holds rows starts[k] .. starts[k]+rows[k]-1),
// with shuffle window w, for (seed, epoch). With g = EpochRNG(seed, epoch):
//
//  1. the shards are permuted by Fisher–Yates from the identity with g (for
//     i = S-1 down to 1, swap i with g.Uint64n(i+1)), and their rows concatenated in
//     that shard order, each shard's rows in file order: the stream c[0..N-1];
//  2. when w >= 2 (w is capped at N), an offset o = g.Uint64n(w) cuts the stream into
//     windows [0, o), [o, o+w), [o+w, o+2w), ..., the last one shorter; each window,
//     in stream order, is shuffled by Fisher–Yates with g (for i = hi-1 down to lo+1,
//     swap i with lo + g.Uint64n(i-lo+1)).
//
// Every example is visited once; an example ends at most w-1 places from where the
// shard permutation put it, so a batch reads from at most a window's worth of
// neighbouring rows of one or two shards, and the random offset moves the window
// boundaries from epoch to epoch. It depends only on (rows, w, seed, epoch), with
// the package's own generator: the same on every machine.
func ShardOrder(rows []int, w int, seed uint64, epoch int) []int {
	starts := make([]int, len(rows)+1)
	for i, r := range rows {
		starts[i+1] = starts[i] + r
	}
	n := starts[len(rows)]
	g := EpochRNG(seed, epoch)
	perm := make([]int, len(rows))
	for i := range perm {
		perm[i] = i
	}
	for i := len(perm) - 1; i > 0; i-- {
		j := int(g.Uint64n(uint64(i + 1)))
		perm[i], perm[j] = perm[j], perm[i]
	}
	out := make([]int, 0, n)
	for _, k := range perm {
		for r := range rows[k] {
			out = append(out, starts[k]+r)
		}
	}
	w = min(w, n)
	if w < 2 {
		return out
	}
	shuffle := func(lo, hi int) {
		for i := hi - 1; i > lo; i-- {
			j := lo + int(g.Uint64n(uint64(i-lo+1)))
			out[i], out[j] = out[j], out[i]
		}
	}
	o := int(g.Uint64n(uint64(w)))
	shuffle(0, o)
	for lo := o; lo < n; lo += w {
		shuffle(lo, min(lo+w, n))
	}
	return out
}

// Verify reads every shard once and checks what OpenSharded does not: each payload's
// CRC-32C against the header and the manifest, every value finite and within the
// manifest's [min, max], every label -1 or a class id below MaxClasses, and the
// manifest's labelled count and classes. The first problem is returned as a *FormatError naming the shard file and,
// for a value, the row within the file and the column. It costs one sequential read of
// the whole set (the page cache may keep what fits).
func (s *Sharded) Verify() error {
	m := s.set.m
	labelled, classes := 0, 0
	var lo, hi float32
	first := true
	var x []float32 // a row, made once a shard (whose size bounds d) is there
	for k, f := range s.set.files {
		if x == nil {
			x = make([]float32, m.D)
		}
		payload := shardPayload(f.rows, m.D, m.Labels)
		h := crc32.New(castagnoli)
		const chunk = 1 << 22
		for off := int64(0); off < payload; off += chunk {
			n := int(min(chunk, payload-off))
			h.Write(f.mem.bytes(ShardHeaderSize+off, n))
		}
		if got := h.Sum32(); got != f.crc {
			return shardErr(f.path, 0, 0, nil, "CRC mismatch: the payload's CRC-32C is 0x%08x, the header and the manifest say 0x%08x (a damaged file)", got, f.crc)
		}
		for r := range f.rows {
			s.readRow(f, r, x)
			for j, v := range x {
				if isNonFinite(v) {
					return shardErr(f.path, r+1, j+1, nil, "value %v is not finite (example %d of the set)", v, s.starts[k]+r+1)
				}
				if v < m.Min || v > m.Max {
					return shardErr(f.path, r+1, j+1, nil, "value %v outside the manifest's range [%v, %v] (example %d of the set)", v, m.Min, m.Max, s.starts[k]+r+1)
				}
				if first {
					lo, hi, first = v, v, false
				}
				lo, hi = min(lo, v), max(hi, v)
			}
			if l := s.readLabel(f, r); l < NoLabel || l >= MaxClasses {
				_, err := labelFromInt(int64(l))
				return shardErr(f.path, r+1, 0, nil, "%v (example %d of the set)", err, s.starts[k]+r+1)
			} else if l >= 0 {
				labelled++
				classes = max(classes, l+1)
			}
		}
	}
	mpath := filepath.Join(s.set.dir, ManifestFile)
	if labelled != m.Labelled || classes != m.Classes {
		return shardErr(mpath, 0, 0, nil, "labelled = %d, classes = %d, but the shards hold %d labelled examples of %d classes", m.Labelled, m.Classes, labelled, classes)
	}
	if m.N > 0 && (lo != m.Min || hi != m.Max) {
		return shardErr(mpath, 0, 0, nil, "value range [%v, %v], but the shards' values span [%v, %v]", m.Min, m.Max, lo, hi)
	}
	return nil
}

// ShardWriterOptions configure NewShardWriter.
type ShardWriterOptions struct {
	Name         string // the data set's name
	D            int    // features per example (>= 1)
	Shape        []int  // one example's shape (product D), or nil
	Labels       bool   // whether rows carry labels
	RowsPerShard int    // rows per shard; 0: DefaultRowsPerShard
}

// ShardWriter writes a sharded data set one row (or a chunk of rows) at a time,
// holding at most one shard's labels in memory. It writes into a temporary folder
// beside the destination (see replace.go: .<folder>.shards-tmp-<pid>-<random>, in the
// same parent); each shard goes to a temporary file there, synced, and is renamed to
// shard-NNNNN.bin once complete, and Close writes the manifest last and then swaps
// the folder in by a rename. The destination therefore holds its earlier content
// until the new set is complete: a failed, aborted or crashed conversion leaves an
// earlier set as it was, and no partial files in it.
type ShardWriter struct {
	dir   string // the destination as given (for messages)
	dest  string // the destination: absolute, links resolved
	tmp   string // the temporary folder the set is written in
	opt   ShardWriterOptions
	m     Manifest
	f     *os.File // the shard being written (nil between shards)
	fname string   // its temporary file
	bw    *bufWriter
	crc   hash32
	rows  int     // rows in the current shard
	labs  []int32 // the current shard's labels
	n     int
	err   error

	ranged bool // Min and Max hold a value
}

type hash32 interface {
	io.Writer
	Sum32() uint32
}

// NewShardWriter prepares a new shard set for dir. dir must be missing, an empty
// folder, or hold only an earlier shard set (or the files a crashed conversion of an
// older version left), which Close replaces when the new set is complete. The set is
// written in a new temporary folder beside dir; temporary folders that writers for
// dir left when their process died are removed first.
func NewShardWriter(dir string, opt ShardWriterOptions) (*ShardWriter, error) {
	if opt.D < 1 {
		return nil, fmt.Errorf("data: shard writer: d = %d, expected >= 1", opt.D)
	}
	if opt.RowsPerShard < 0 {
		return nil, fmt.Errorf("data: shard writer: rows per shard %d, expected >= 1 (0: %d)", opt.RowsPerShard, DefaultRowsPerShard)
	}
	if opt.RowsPerShard == 0 {
		opt.RowsPerShard = DefaultRowsPerShard
	}
	if opt.Shape != nil {
		p := 1
		for _, s := range opt.Shape {
			p *= s
		}
		if p != opt.D {
			return nil, fmt.Errorf("data: shard writer: shape %v has %d elements, expected d = %d", opt.Shape, p, opt.D)
		}
	}
	// The folder that is replaced: absolute (so that "." has a parent to hold the
	// temporary folder), and, for a link to a folder, the folder it points to.
	dest, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if real, err := filepath.EvalSymlinks(dest); err == nil {
		dest = real
	}
	perm := os.FileMode(0o755)
	if err := checkReplaceable(dest); err != nil {
		return nil, err
	}
	if st, err := os.Stat(dest); err == nil {
		perm = st.Mode().Perm()
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return nil, err
	}
	removeStaleTmpFolders(dest)
	tmp, err := newTmpFolder(dest, 0o755)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(tmp, perm); err != nil {
		os.Remove(tmp)
		return nil, err
	}
	w := &ShardWriter{dir: dir, dest: dest, tmp: tmp, opt: opt}
	w.m = Manifest{Format: ShardFormatName, Version: ShardFormatVersion, Name: opt.Name, D: opt.D,
		Shape: opt.Shape, Labels: opt.Labels, RowsPerShard: opt.RowsPerShard, Shards: []ShardInfo{}}
	return w, nil
}

// checkReplaceable checks that dir is missing, or a folder holding nothing but a
// shard set (manifest, shard files, writer temporaries).
func checkReplaceable(dir string) error {
	st, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("data: shard writer: %s is a file, expected a folder (new, empty, or an earlier shard set)", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if name := e.Name(); name != ManifestFile && !isShardFileName(name) {
			return fmt.Errorf("data: shard writer: %s holds files that are not a shard set (%q ...): expected an empty or new folder, or an earlier shard set", dir, name)
		}
	}
	return nil
}

// isShardFileName reports whether name is a shard file or one of the writer's
// temporary files.
func isShardFileName(name string) bool {
	return (strings.HasPrefix(name, "shard-") && strings.HasSuffix(name, ".bin")) ||
		strings.HasPrefix(name, ".shard-") || strings.HasPrefix(name, "."+ManifestFile)
}

// WriteRow appends one example: x holds its D features (finite), label its label
// (-1 or a class id below MaxClasses; ignored without labels).
func (w *ShardWriter) WriteRow(x []float32, label int) error {
	if w.err != nil {
		return w.err
	}
	w.err = w.writeRow(x, label)
	return w.err
}

// WriteRows appends len(x)/D examples; labels (nil without labels) has one label per
// example.
func (w *ShardWriter) WriteRows(x []float32, labels []int) error {
	d := w.opt.D
	if len(x)%d != 0 {
		return fmt.Errorf("data: shard writer: %d values is not a whole number of rows of d = %d", len(x), d)
	}
	n := len(x) / d
	if w.opt.Labels && len(labels) != n {
		return fmt.Errorf("data: shard writer: %d labels for %d rows", len(labels), n)
	}
	for i := range n {
		l := NoLabel
		if w.opt.Labels {
			l = labels[i]
		}
		if err := w.WriteRow(x[i*d:(i+1)*d], l); err != nil {
			return err
		}
	}
	return nil
}

func (w *ShardWriter) writeRow(x []float32, label int) error {
	d := w.opt.D
	if len(x) != d {
		return fmt.Errorf("data: shard writer: a row of %d values, expected d = %d", len(x), d)
	}
	for j, v := range x {
		if isNonFinite(v) {
			return shardErr(w.dir, w.n+1, j+1, nil, "value %v is not finite (expected a finite number)", v)
		}
	}
	if w.opt.Labels {
		// The shards store int32: a label is checked before it could wrap.
		if _, err := labelFromInt(int64(label)); err != nil {
			return shardErr(w.dir, w.n+1, 0, nil, "%v", err)
		}
	}
	if w.f == nil {
		if err := w.startShard(); err != nil {
			return err
		}
	}
	for _, v := range x {
		w.bw.putUint32(math.Float32bits(v))
		if w.n == 0 && !w.ranged {
			w.m.Min, w.m.Max, w.ranged = v, v, true
		}
		w.m.Min, w.m.Max = min(w.m.Min, v), max(w.m.Max, v)
	}
	if w.opt.Labels {
		w.labs = append(w.labs, int32(label))
		if label >= 0 {
			w.m.Labelled++
			w.m.Classes = max(w.m.Classes, label+1)
		}
	}
	w.n++
	w.rows++
	if w.bw.err != nil {
		return w.bw.err
	}
	if w.rows == w.opt.RowsPerShard {
		return w.endShard()
	}
	return nil
}

func (w *ShardWriter) startShard() error {
	name := ShardName(len(w.m.Shards))
	f, err := os.CreateTemp(w.tmp, "."+name+".tmp-*")
	if err != nil {
		return err
	}
	w.f, w.fname = f, f.Name()
	if err := f.Chmod(0o644); err != nil { // CreateTemp makes 0600; data sets are shared
		return err
	}
	if _, err := f.Write(make([]byte, ShardHeaderSize)); err != nil {
		return err
	}
	w.crc = crc32.New(castagnoli)
	w.bw = newBufWriter(io.MultiWriter(f, w.crc))
	w.rows, w.labs = 0, w.labs[:0]
	return nil
}

func (w *ShardWriter) endShard() error {
	for _, l := range w.labs {
		w.bw.putUint32(uint32(l))
	}
	if err := w.bw.flush(); err != nil {
		return err
	}
	name := ShardName(len(w.m.Shards))
	crc := w.crc.Sum32()
	h := shardHeader{version: ShardFormatVersion, rows: uint64(w.rows), d: uint32(w.opt.D), crc: crc}
	if w.opt.Labels {
		h.flags = shardLabelFlag
	}
	if _, err := w.f.WriteAt(h.encode(), 0); err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		return err
	}
	if err := w.f.Close(); err != nil {
		return err
	}
	w.f = nil
	if err := os.Rename(w.fname, filepath.Join(w.tmp, name)); err != nil {
		return err
	}
	w.fname = ""
	w.m.Shards = append(w.m.Shards, ShardInfo{File: name, Rows: w.rows,
		Bytes: ShardHeaderSize + shardPayload(w.rows, w.opt.D, w.opt.Labels), CRC32C: crc})
	return nil
}

// Rows returns the number of rows written so far.
func (w *ShardWriter) Rows() int { return w.n }

// Close writes the last (short) shard and then the manifest, swaps the new set in
// at the destination (removing the set it held, if any), and returns the manifest.
// After an error the writer is aborted (see Abort) and the destination is as it was.
func (w *ShardWriter) Close() (*Manifest, error) {
	if w.err != nil {
		w.Abort()
		return nil, w.err
	}
	if w.f != nil {
		if err := w.endShard(); err != nil {
			w.Abort()
			return nil, err
		}
	}
	w.m.N = w.n
	raw, err := json.MarshalIndent(&w.m, "", "  ")
	if err == nil {
		err = atomicfile.WriteBytes(filepath.Join(w.tmp, ManifestFile), append(raw, '\n'))
	}
	if err == nil {
		err = checkReplaceable(w.dest) // it may have changed since NewShardWriter
	}
	if err == nil {
		err = swapIn(w.tmp, w.dest)
	}
	if err != nil {
		w.Abort()
		return nil, err
	}
	w.tmp = ""
	w.err = errors.New("data: shard writer: closed")
	m := w.m
	return &m, nil
}

// Abort stops a conversion: it removes the temporary folder and everything this
// writer wrote in it, and leaves the destination as it was.
func (w *ShardWriter) Abort() {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	if w.tmp != "" {
		os.RemoveAll(w.tmp) // this writer's own folder: nothing else is in it
		w.tmp = ""
	}
	if w.err == nil {
		w.err = errors.New("data: shard writer: aborted")
	}
}

// bufWriter buffers little-endian uint32s, remembering the first write error.
type bufWriter struct {
	w   io.Writer
	buf []byte
	err error
}

func newBufWriter(w io.Writer) *bufWriter {
	return &bufWriter{w: w, buf: make([]byte, 0, 1<<20)}
}

func (b *bufWriter) putUint32(v uint32) {
	if len(b.buf)+4 > cap(b.buf) {
		b.flush()
	}
	b.buf = binary.LittleEndian.AppendUint32(b.buf, v)
}

func (b *bufWriter) flush() error {
	if b.err == nil && len(b.buf) > 0 {
		_, b.err = b.w.Write(b.buf)
	}
	b.buf = b.buf[:0]
	return b.err
}

// ConvertToShards writes every row of r into a new shard set in dir (see
// NewShardWriter) with rowsPerShard rows per shard (0: DefaultRowsPerShard), named
// name ("" : r's name), and returns its manifest. It holds one row and one shard's
// labels in memory. On an error it removes what it wrote and leaves dir as it was
// (an earlier set in it intact).
func ConvertToShards(dir string, r RowReader, name string, rowsPerShard int) (*Manifest, error) {
	info := r.Info()
	if name == "" {
		name = info.Name
	}
	w, err := NewShardWriter(dir, ShardWriterOptions{Name: name, D: info.D, Shape: info.Shape, Labels: info.Labels, RowsPerShard: rowsPerShard})
	if err != nil {
		return nil, err
	}
	for {
		x, l, err := r.Next()
		if err == io.EOF {
			break
		}
		if err == nil {
			err = w.WriteRow(x, l)
		}
		if err != nil {
			w.Abort()
			return nil, err
		}
	}
	return w.Close()
}
