package metrics

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/data"
)

// TestTableBounds: no entry point sizes a table from a huge id. Before the bounds a
// label of 2^16 gave a 65,537-column table without complaint, 10^8 cost gigabytes,
// and MaxInt overflowed the table size into a panic.
func TestTableBounds(t *testing.T) {
	entries := []struct {
		name string
		run  func(pred, labels []int) error
	}{
		{"Contingency", func(p, l []int) error { _, err := Contingency(p, l); return err }},
		{"PurityMapping", func(p, l []int) error { _, err := PurityMapping(p, l); return err }},
		{"ACCPurity", func(p, l []int) error { _, err := ACCPurity(p, l); return err }},
		{"HungarianMapping", func(p, l []int) error { _, err := HungarianMapping(p, l); return err }},
		{"ACCHungarian", func(p, l []int) error { _, err := ACCHungarian(p, l); return err }},
		{"NMI", func(p, l []int) error { _, err := NMI(p, l); return err }},
		{"ARI", func(p, l []int) error { _, err := ARI(p, l); return err }},
		{"ACCPaper", func(p, l []int) error {
			_, err := ACCPaper(p, l, make([]float64, 2*len(p)), 2)
			return err
		}},
		{"Evaluate", func(p, l []int) error { _, err := Evaluate(p, l, Ranking{}, 2); return err }},
	}
	inputs := []struct {
		name         string
		pred, labels []int
		frag         string
	}{
		{"label at the bound", []int{0, 1}, []int{0, MaxClasses}, "example 1: label 65536, expected a class id in [0, 65536)"},
		{"label 10^8", []int{0, 1}, []int{100000000, 0}, "example 0: label 100000000"},
		{"label 2^31-1", []int{0, 1}, []int{0, math.MaxInt32}, "label 2147483647"},
		{"label MaxInt", []int{0, 1}, []int{0, math.MaxInt}, "label 9223372036854775807"},
		{"cluster id at the bound", []int{0, MaxClusters}, []int{0, 1}, "example 1: cluster id 65536, expected 0..65535"},
		{"cluster id MaxInt", []int{math.MaxInt, 0}, []int{0, 1}, "cluster id 9223372036854775807"},
		{"table too large", []int{0, 1 << 10}, []int{0, 1<<14 + 1}, "table of 1025 × 16386 = 16795650 cells"},
	}
	for _, e := range entries {
		for _, in := range inputs {
			t.Run(e.name+"/"+in.name, func(t *testing.T) {
				var err error
				require.NotPanics(t, func() { err = e.run(in.pred, in.labels) })
				require.Error(t, err)
				assert.Contains(t, err.Error(), in.frag)
			})
		}
	}
}

// TestKBounds: the entry points that take K from the caller refuse one beyond
// MaxClusters before allocating K of anything.
func TestKBounds(t *testing.T) {
	cases := []struct {
		name string
		run  func() error
	}{
		{"Usage", func() error { _, err := Usage([]int{0}, MaxClusters+1); return err }},
		{"PaperMapping", func() error {
			_, err := PaperMapping([]int{0}, make([]float64, MaxClusters+1), MaxClusters+1)
			return err
		}},
		{"Evaluate", func() error { _, err := Evaluate([]int{0}, []int{0}, Ranking{}, MaxClusters+1); return err }},
		{"Evaluate, table", func() error { _, err := Evaluate([]int{0}, []int{1 << 12}, Ranking{}, 1<<13); return err }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.run()
			require.Error(t, err)
			assert.Regexp(t, `clusters, expected 1\.\.65536|cells`, err.Error())
		})
	}
	// At the bounds everything still works.
	s, err := Evaluate([]int{0, 1}, []int{0, MaxClasses - 1}, Ranking{}, 2)
	require.NoError(t, err)
	assert.Equal(t, MaxClasses, s.C)
	_, err = Usage([]int{MaxClusters - 1}, MaxClusters)
	require.NoError(t, err)
}

// TestMaxClassesIsTheReadersBound: whatever the data readers load can be scored.
func TestMaxClassesIsTheReadersBound(t *testing.T) {
	assert.Equal(t, data.MaxClasses, MaxClasses)
}
