package data

import (
	"errors"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
)

func toy(t *testing.T) *Dataset {
	t.Helper()
	x := make([]float32, 5*3)
	for i := range x {
		x[i] = float32(i)
	}
	ds, err := New("toy", 5, 3, x, []int{0, 1, 2, 1, -1})
	if err != nil {
		t.Fatal(err)
	}
	ds.Shape = []int{3}
	return ds
}

func TestNewValidate(t *testing.T) {
	cases := []struct {
		name   string
		n, d   int
		x      []float32
		labels []int
		frag   string
	}{
		{"len", 2, 2, make([]float32, 3), nil, "len(X)=3, expected N*D=2*2=4"},
		{"negative", -1, 2, nil, nil, "negative size"},
		{"NaN", 2, 2, []float32{0, 0, 0, float32(math.NaN())}, nil, "row 2, column 2: value NaN is not finite"},
		{"Inf", 1, 2, []float32{float32(math.Inf(1)), 0}, nil, "row 1, column 1"},
		{"labels len", 2, 1, []float32{0, 0}, []int{1}, "1 labels for 2 examples"},
		{"label -2", 2, 1, []float32{0, 0}, []int{1, -2}, "row 2: label -2"},
	}
	for _, c := range cases {
		_, err := New("bad", c.n, c.d, c.x, c.labels)
		if err == nil || !strings.Contains(err.Error(), c.frag) || !strings.Contains(err.Error(), "data: bad: ") {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.frag)
		}
	}
	ds := toy(t)
	ds.Shape = []int{2, 2}
	if err := ds.Validate(); err == nil || !strings.Contains(err.Error(), "shape [2 2] has 4 elements, expected D=3") {
		t.Errorf("shape: %v", err)
	}
	if _, err := New("empty", 0, 7, nil, nil); err != nil {
		t.Errorf("empty data set: %v", err)
	}
}

func TestDatasetAccessors(t *testing.T) {
	ds := toy(t)
	if !slices.Equal(ds.Row(2), []float32{6, 7, 8}) || ds.Label(4) != NoLabel || ds.Label(2) != 2 {
		t.Errorf("Row/Label")
	}
	if ds.NumClasses() != 3 || !slices.Equal(ds.LabelCounts(), []int{1, 2, 1}) || !ds.HasLabels() {
		t.Errorf("NumClasses %d counts %v", ds.NumClasses(), ds.LabelCounts())
	}
	if lo, hi := ds.Range(); lo != 0 || hi != 14 || ds.InUnitInterval() {
		t.Errorf("Range %v %v", lo, hi)
	}
	unl := &Dataset{Name: "u", N: 1, D: 1, X: []float32{0.5}}
	if unl.HasLabels() || unl.NumClasses() != 0 || unl.Label(0) != NoLabel || len(unl.LabelCounts()) != 0 || !unl.InUnitInterval() {
		t.Errorf("unlabelled accessors")
	}
	allNone := &Dataset{Name: "u", N: 1, D: 1, X: []float32{0.5}, Labels: []int{-1}}
	if allNone.HasLabels() {
		t.Errorf("labels all -1: HasLabels true")
	}
}

func TestSubsetSplit(t *testing.T) {
	ds := toy(t)
	sub, err := ds.Subset([]int{4, 0, 4})
	if err != nil {
		t.Fatal(err)
	}
	if sub.N != 3 || !slices.Equal(sub.X, []float32{12, 13, 14, 0, 1, 2, 12, 13, 14}) || !slices.Equal(sub.Labels, []int{-1, 0, -1}) || !slices.Equal(sub.Shape, []int{3}) {
		t.Errorf("subset %+v", sub)
	}
	sub.X[0] = 99
	if ds.X[12] != 12 {
		t.Error("Subset shares X with its parent")
	}
	if _, err := ds.Subset([]int{5}); err == nil || !strings.Contains(err.Error(), "subset index 5 (position 0) out of range [0,5)") {
		t.Errorf("bad index: %v", err)
	}
	empty, err := ds.Subset(nil)
	if err != nil || empty.N != 0 || len(empty.X) != 0 || empty.Validate() != nil {
		t.Errorf("empty subset: %v %+v", err, empty)
	}

	a, b, err := ds.Split(2)
	if err != nil {
		t.Fatal(err)
	}
	if a.N != 2 || b.N != 3 || a.Name != "toy[:2]" || b.Name != "toy[2:]" || b.X[0] != 6 || !slices.Equal(b.Labels, []int{2, 1, -1}) {
		t.Errorf("Split: %+v %+v", a, b)
	}
	for _, n := range []int{0, 5} {
		if a, b, err := ds.Split(n); err != nil || a.N+b.N != 5 {
			t.Errorf("Split(%d): %v", n, err)
		}
	}
	if _, _, err := ds.Split(6); err == nil {
		t.Error("Split(6) of 5: no error")
	}
	r1, r2, err := ds.RandomSplit(3, 11)
	if err != nil {
		t.Fatal(err)
	}
	again, _, _ := ds.RandomSplit(3, 11)
	if !slices.Equal(r1.X, again.X) || r1.N != 3 || r2.N != 2 {
		t.Error("RandomSplit not deterministic")
	}
	// together the two halves hold every row once
	var firsts []float32
	for _, part := range []*Dataset{r1, r2} {
		for i := 0; i < part.N; i++ {
			firsts = append(firsts, part.Row(i)[0])
		}
	}
	slices.Sort(firsts)
	if !slices.Equal(firsts, []float32{0, 3, 6, 9, 12}) {
		t.Errorf("RandomSplit rows %v", firsts)
	}
}

func TestGather(t *testing.T) {
	ds := toy(t)
	x := make([]float32, 6)
	l := make([]int, 2)
	ds.Gather([]int{3, 1}, x, l)
	if !slices.Equal(x, []float32{9, 10, 11, 3, 4, 5}) || !slices.Equal(l, []int{1, 1}) {
		t.Errorf("Gather: %v %v", x, l)
	}
	if allocs := testing.AllocsPerRun(100, func() { ds.Gather([]int{3, 1}, x, l) }); allocs != 0 {
		t.Errorf("Gather allocates %v times", allocs)
	}
}

func TestFormatError(t *testing.T) {
	cases := []struct {
		e    *FormatError
		want string
	}{
		{&FormatError{Format: "csv", Path: "a.csv", Line: 3, Column: 2, ColumnName: "b", Msg: "bad"}, `csv: a.csv: line 3, column 2 ("b"): bad`},
		{&FormatError{Format: "npy", Path: "a.npy", Line: 3, Column: 2, Msg: "bad"}, `npy: a.npy: row 3, column 2: bad`},
		{&FormatError{Format: "idx", Path: "a.idx", Msg: "truncated", Err: io.ErrUnexpectedEOF}, `idx: a.idx: truncated: unexpected EOF`},
	}
	for _, c := range cases {
		if c.e.Error() != c.want {
			t.Errorf("got %q, want %q", c.e.Error(), c.want)
		}
	}
	if !errors.Is(cases[2].e, io.ErrUnexpectedEOF) || !IsFormatError(cases[0].e) || IsFormatError(io.EOF) {
		t.Error("Unwrap / IsFormatError")
	}
}

func BenchmarkGather(b *testing.B) {
	// One MNIST-sized batch of 128 rows of 784 from 60000.
	ds := &Dataset{Name: "b", N: 60000, D: 784, X: make([]float32, 60000*784), Labels: make([]int, 60000)}
	for i := range ds.X {
		ds.X[i] = float32(i % 255) // touch every page: zero pages would flatter the copy
	}
	batch := Permutation(60000, 1, 0)[:128]
	x, l := make([]float32, 128*784), make([]int, 128)
	b.SetBytes(128 * 784 * 4)
	b.ReportAllocs()
	for b.Loop() {
		ds.Gather(batch, x, l)
	}
}
