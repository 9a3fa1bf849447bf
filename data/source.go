package data

import "fmt"

// Source is a data set the trainer reads: in memory (*Dataset) or sharded on disk
// (*Sharded). Row indices are 0..N-1; Gather, Label and Order must be safe to call
// from one goroutine while nothing else uses the Source.
type Source interface {
	// Info returns the data set's name, size and shape.
	Info() SourceInfo
	// Gather copies the given rows into x (len(indices)*D values) and, when labels is
	// not nil, their labels into labels (NoLabel if the data set has none). It panics
	// on an index out of range, a short buffer or a failed read.
	Gather(indices []int, x []float32, labels []int)
	// Label returns example i's label, or NoLabel.
	Label(i int) int
	// HasLabels reports whether at least one example has a label.
	HasLabels() bool
	// Range returns the smallest and largest feature value (0, 0 when empty).
	Range() (lo, hi float32)
	// Order returns the order in which epoch epoch of a run seeded with seed visits
	// the examples: a permutation of 0..N-1 that depends on (seed, epoch) alone.
	Order(seed uint64, epoch int) []int
	// Head returns the first n examples (0 <= n <= N) as a Source named
	// "<name>[:n]".
	Head(n int) (Source, error)
}

// SourceInfo describes a Source.
type SourceInfo struct {
	Name   string
	N, D   int
	Shape  []int // the shape of one example, or nil
	Labels bool  // whether the data set carries labels at all (some may be NoLabel)
}

// Info returns the data set's name, size and shape.
func (ds *Dataset) Info() SourceInfo {
	return SourceInfo{Name: ds.Name, N: ds.N, D: ds.D, Shape: ds.Shape, Labels: ds.Labels != nil}
}

// Order returns Permutation(N, seed, epoch): the order of the in-memory data sets,
// which every run before the sharded format used and keeps.
func (ds *Dataset) Order(seed uint64, epoch int) []int { return Permutation(ds.N, seed, epoch) }

// Head returns a copy of the first n examples named "<name>[:n]".
func (ds *Dataset) Head(n int) (Source, error) {
	if n < 0 || n > ds.N {
		return nil, fmt.Errorf("data: %s: head of %d, expected 0 <= n <= N=%d", ds.Name, n, ds.N)
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sub, err := ds.Subset(idx)
	if err != nil {
		return nil, err
	}
	sub.Name = fmt.Sprintf("%s[:%d]", ds.Name, n)
	return sub, nil
}

var (
	_ Source = (*Dataset)(nil)
	_ Source = (*Sharded)(nil)
)
