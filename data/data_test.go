package data

import (
	"io"
	"math"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func toy(t *testing.T) *Dataset {
	t.Helper()
	x := make([]float32, 5*3)
	for i := range x {
		x[i] = float32(i)
	}
	ds, err := New("toy", 5, 3, x, []int{0, 1, 2, 1, -1})
	require.NoError(t, err)
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
		assert.ErrorContains(t, err, c.frag, c.name)
		assert.ErrorContains(t, err, "data: bad: ", c.name)
	}
	ds := toy(t)
	ds.Shape = []int{2, 2}
	assert.ErrorContains(t, ds.Validate(), "shape [2 2] has 4 elements, expected D=3", "shape")
	_, err := New("empty", 0, 7, nil, nil)
	assert.NoError(t, err, "empty data set")
}

func TestDatasetAccessors(t *testing.T) {
	ds := toy(t)
	assert.Equal(t, []float32{6, 7, 8}, ds.Row(2), "Row(2)")
	assert.Equal(t, NoLabel, ds.Label(4), "Label(4)")
	assert.Equal(t, 2, ds.Label(2), "Label(2)")
	assert.Equal(t, 3, ds.NumClasses(), "NumClasses")
	assert.Equal(t, []int{1, 2, 1}, ds.LabelCounts(), "LabelCounts")
	assert.True(t, ds.HasLabels(), "HasLabels")
	lo, hi := ds.Range()
	assert.Equal(t, [2]float32{0, 14}, [2]float32{lo, hi}, "Range")
	assert.False(t, ds.InUnitInterval(), "InUnitInterval")
	unl := &Dataset{Name: "u", N: 1, D: 1, X: []float32{0.5}}
	assert.False(t, unl.HasLabels(), "unlabelled: HasLabels")
	assert.Zero(t, unl.NumClasses(), "unlabelled: NumClasses")
	assert.Equal(t, NoLabel, unl.Label(0), "unlabelled: Label(0)")
	assert.Empty(t, unl.LabelCounts(), "unlabelled: LabelCounts")
	assert.True(t, unl.InUnitInterval(), "unlabelled: InUnitInterval")
	allNone := &Dataset{Name: "u", N: 1, D: 1, X: []float32{0.5}, Labels: []int{-1}}
	assert.False(t, allNone.HasLabels(), "labels all -1: HasLabels")
}

func TestSubsetSplit(t *testing.T) {
	ds := toy(t)
	sub, err := ds.Subset([]int{4, 0, 4})
	require.NoError(t, err)
	assert.Equal(t, 3, sub.N, "subset: N")
	assert.Equal(t, []float32{12, 13, 14, 0, 1, 2, 12, 13, 14}, sub.X, "subset: X")
	assert.Equal(t, []int{-1, 0, -1}, sub.Labels, "subset: labels")
	assert.Equal(t, []int{3}, sub.Shape, "subset: shape")
	sub.X[0] = 99
	assert.Equal(t, float32(12), ds.X[12], "Subset shares X with its parent")
	_, err = ds.Subset([]int{5})
	assert.ErrorContains(t, err, "subset index 5 (position 0) out of range [0,5)", "bad index")
	empty, err := ds.Subset(nil)
	if assert.NoError(t, err, "empty subset") {
		assert.Zero(t, empty.N, "empty subset: N")
		assert.Empty(t, empty.X, "empty subset: X")
		assert.NoError(t, empty.Validate(), "empty subset: Validate")
	}

	a, b, err := ds.Split(2)
	require.NoError(t, err)
	assert.Equal(t, [2]int{2, 3}, [2]int{a.N, b.N}, "Split: N")
	assert.Equal(t, [2]string{"toy[:2]", "toy[2:]"}, [2]string{a.Name, b.Name}, "Split: names")
	assert.Equal(t, float32(6), b.X[0], "Split: second part's first value")
	assert.Equal(t, []int{2, 1, -1}, b.Labels, "Split: second part's labels")
	for _, n := range []int{0, 5} {
		a, b, err := ds.Split(n)
		if assert.NoError(t, err, "Split(%d)", n) {
			assert.Equal(t, 5, a.N+b.N, "Split(%d): rows", n)
		}
	}
	_, _, err = ds.Split(6)
	assert.Error(t, err, "Split(6) of 5")
	r1, r2, err := ds.RandomSplit(3, 11)
	require.NoError(t, err)
	again, _, _ := ds.RandomSplit(3, 11)
	assert.Equal(t, r1.X, again.X, "RandomSplit not deterministic")
	assert.Equal(t, [2]int{3, 2}, [2]int{r1.N, r2.N}, "RandomSplit: N")
	// together the two halves hold every row once
	var firsts []float32
	for _, part := range []*Dataset{r1, r2} {
		for i := 0; i < part.N; i++ {
			firsts = append(firsts, part.Row(i)[0])
		}
	}
	slices.Sort(firsts)
	assert.Equal(t, []float32{0, 3, 6, 9, 12}, firsts, "RandomSplit rows")
}

func TestGather(t *testing.T) {
	ds := toy(t)
	x := make([]float32, 6)
	l := make([]int, 2)
	ds.Gather([]int{3, 1}, x, l)
	assert.Equal(t, []float32{9, 10, 11, 3, 4, 5}, x, "Gather: rows")
	assert.Equal(t, []int{1, 1}, l, "Gather: labels")
	assert.Zero(t, testing.AllocsPerRun(100, func() { ds.Gather([]int{3, 1}, x, l) }), "Gather's allocations")
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
		assert.EqualError(t, c.e, c.want)
	}
	assert.ErrorIs(t, cases[2].e, io.ErrUnexpectedEOF, "Unwrap")
	assert.True(t, IsFormatError(cases[0].e), "IsFormatError of a *FormatError")
	assert.False(t, IsFormatError(io.EOF), "IsFormatError(io.EOF)")
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

func TestConcat(t *testing.T) {
	a := &Dataset{Name: "a", N: 2, D: 2, X: []float32{1, 2, 3, 4}, Labels: []int{0, 1}, Shape: []int{1, 2}}
	b := &Dataset{Name: "b", N: 1, D: 2, X: []float32{5, 6}, Shape: []int{1, 2}}
	c := &Dataset{Name: "c", N: 1, D: 2, X: []float32{7, 8}}
	wide := &Dataset{Name: "wide", N: 1, D: 3, X: []float32{1, 2, 3}}
	cases := []struct {
		name   string
		sets   []*Dataset
		x      []float32
		labels []int
		err    string
	}{
		{name: "labelled then unlabelled", sets: []*Dataset{a, b}, x: []float32{1, 2, 3, 4, 5, 6}, labels: []int{0, 1, NoLabel}},
		{name: "unlabelled only", sets: []*Dataset{b, b}, x: []float32{5, 6, 5, 6}},
		{name: "one set", sets: []*Dataset{a}, x: a.X, labels: a.Labels},
		{name: "none", err: "no data sets"},
		{name: "different D", sets: []*Dataset{c, wide}, err: "wide 3"},
		{name: "different shape", sets: []*Dataset{a, c}, err: "c 2 (shape []"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Concat("all", tc.sets...)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.NoError(t, got.Validate())
			assert.Equal(t, "all", got.Name)
			assert.Equal(t, tc.x, got.X)
			assert.Equal(t, tc.labels, got.Labels)
			assert.Equal(t, len(tc.x)/2, got.N)
		})
	}
	// The result is a copy: the inputs are untouched by changes to it.
	got, err := Concat("all", a, b)
	require.NoError(t, err)
	got.X[0], got.Labels[0] = 9, 1
	assert.Equal(t, float32(1), a.X[0])
	assert.Equal(t, 0, a.Labels[0])
}
