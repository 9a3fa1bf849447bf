package trainer

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/data"
	"github.com/gmvae/gmvae/gmvae"
)

// describe builds a data set of n rows from f(i, j) and returns its info and stats.
func describe(t *testing.T, n, d int, shape []int, f func(i, j int) float32) (data.SourceInfo, *data.Stats) {
	t.Helper()
	x := make([]float32, n*d)
	for i := range n {
		for j := range d {
			x[i*d+j] = f(i, j)
		}
	}
	ds, err := data.New("t", n, d, x, nil)
	require.NoError(t, err)
	ds.Shape = shape
	st, err := data.Describe(ds)
	require.NoError(t, err)
	return ds.Info(), st
}

// TestDataAware: the data-aware defaults by the kind of data (table), and given
// settings kept.
func TestDataAware(t *testing.T) {
	none := func(string) bool { return false }
	base := Settings{Model: gmvae.Config{Model: "dilokthanakul", K: 3}}
	for _, tc := range []struct {
		name       string
		n, d       int
		shape      []int
		f          func(i, j int) float32
		model      string
		likelihood gmvae.Likelihood
		input      string // "", "common", "per-feature"
	}{
		{"grey images", 2000, 64, []int{8, 8}, func(i, j int) float32 { return float32((i*7+j)%10) / 10 }, "vade", gmvae.Bernoulli, ""},
		{"binary", 50, 5, nil, func(i, j int) float32 { return float32((i + j) % 2) }, "gmm", gmvae.Bernoulli, ""},
		{"pixels 0-255", 1500, 64, nil, func(i, j int) float32 { return float32((i*13 + j*7) % 256) }, "vade", gmvae.Gaussian, "common"},
		{"one unit", 150, 4, nil, func(i, j int) float32 { return float32(i%7) + float32(j) }, "gmm", gmvae.Gaussian, "common"},
		{"mixed units", 150, 3, nil, func(i, j int) float32 { return float32(i%7) * float32([]int{1, 100, 10000}[j]) }, "gmm", gmvae.Gaussian, "per-feature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, st := describe(t, tc.n, tc.d, tc.shape, tc.f)
			s, choices := DataAware(base, in, st, none)
			assert.NotEmpty(t, choices)
			assert.Equal(t, tc.model, s.Model.Model)
			assert.Equal(t, tc.likelihood, s.Model.Likelihood)
			switch tc.input {
			case "":
				assert.Nil(t, s.Model.Input)
			case "common":
				require.NotNil(t, s.Model.Input)
				assert.Len(t, s.Model.Input.Shift, 1)
			default:
				require.NotNil(t, s.Model.Input)
				assert.Len(t, s.Model.Input.Shift, tc.d)
			}
			if tc.model == "vade" {
				assert.Equal(t, Widths(tc.d), s.Model.Hidden)
				assert.Equal(t, 3, s.Model.Dz)
				assert.Equal(t, s.Train.Epochs, s.Train.PretrainEpochs)
			}
			if tc.model == "gmm" {
				assert.Equal(t, gmvae.CovAuto, s.Model.Covariance, "a few features: diag or full by BIC")
			} else {
				assert.Empty(t, s.Model.Covariance)
			}
			if tc.model == "vade" && tc.shape != nil {
				assert.Equal(t, 1.0, s.Train.AugmentShift, "8 x 8 images: 3 pixels of 28 scaled, at least 1")
				assert.Equal(t, 10.0, s.Train.AugmentRotate)
			} else {
				assert.Zero(t, s.Train.AugmentShift, "augmentation is for images")
				assert.Zero(t, s.Train.AugmentRotate, "augmentation is for images")
			}
			_, err := s.Settle()
			assert.NoError(t, err)
		})
	}
	// MNIST's shape gets DEC-DA's 3 pixels and 10 degrees; augmentation given (even 0)
	// is the user's.
	mn, mst := describe(t, 1000, 784, []int{28, 28}, func(i, j int) float32 { return float32((i*7+j)%10) / 10 })
	s, _ := DataAware(base, mn, mst, none)
	assert.Equal(t, 3.0, s.Train.AugmentShift)
	s, _ = DataAware(base, mn, mst, func(k string) bool { return k == "train.augment_shift" })
	assert.Zero(t, s.Train.AugmentShift)
	assert.Zero(t, s.Train.AugmentRotate)

	// A model named or shaped by the user stays; the scaling still follows the data.
	in, st := describe(t, 150, 3, nil, func(i, j int) float32 { return float32(i%7) * float32([]int{1, 100, 10000}[j]) })
	given := func(k string) bool { return k == "model.dz" }
	s, _ = DataAware(base, in, st, given)
	assert.Equal(t, "dilokthanakul", s.Model.Model)
	assert.Equal(t, gmvae.Gaussian, s.Model.Likelihood)
	require.NotNil(t, s.Model.Input)
}
