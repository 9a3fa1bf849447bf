package trainer

import (
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/gmvae/gmvae/data"
	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/gmvae"
	"github.com/gmvae/gmvae/internal/testutil"
	"github.com/gmvae/gmvae/kernels"
	"github.com/gmvae/gmvae/kernels/philox"
	"github.com/gmvae/gmvae/ops"
	"github.com/gmvae/gmvae/report"
)

// picCases are small models of either kind for TestWritePictures.
func picCases(maxBatch int) []struct {
	name string
	cfg  gmvae.Config
} {
	base := func(model string, lik gmvae.Likelihood) gmvae.Config {
		return gmvae.Config{Model: model, D: 12, K: 3, Dz: 4, Dw: 3, Hidden: []int{8}, MaxBatch: maxBatch, Seed: 7,
			Likelihood: lik}.Defaults()
	}
	return []struct {
		name string
		cfg  gmvae.Config
	}{
		{"dilokthanakul bernoulli", base("dilokthanakul", gmvae.Bernoulli)},
		{"shu gaussian", base("shu", gmvae.Gaussian)},
	}
}

// pictureSet is a data set of n examples of 12 values in [0, 1] with the given shape.
func pictureSet(t *testing.T, n int, shape []int) *data.Dataset {
	t.Helper()
	x := make([]float32, n*12)
	philox.Uniforms(x, 4, 0)
	ds, err := data.New("pictures", n, 12, x, nil)
	testutil.Must(t, err)
	ds.Shape = shape
	testutil.Must(t, ds.Validate())
	return ds
}

// pngSize decodes the PNG at path and returns its size.
func pngSize(t *testing.T, path string) image.Point {
	t.Helper()
	f, err := os.Open(path)
	testutil.Must(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	testutil.Must(t, err)
	return img.Bounds().Size()
}

// TestWritePictures: both pictures for images (shape [3 4], and [1 3 4]), of the
// layout report's grids give (K rows of samples; 23 reconstructions in 3 pairs of rows,
// the last short, over batches of MaxBatch rows); nothing and ErrNotImages otherwise.
func TestWritePictures(t *testing.T) {
	for _, tc := range picCases(4) {
		t.Run(tc.name, func(t *testing.T) {
			b := engine.NewCPU()
			cfg := tc.cfg
			m, err := gmvae.New(b, cfg)
			testutil.Must(t, err)
			defer m.Release()
			for _, shape := range [][]int{{3, 4}, {1, 3, 4}} {
				dir := t.TempDir()
				ds := pictureSet(t, 30, shape)
				testutil.Must(t, WritePictures(b, m, ds, dir, PictureOptions{SamplesPerCluster: 3, Reconstructions: 23}))
				// The expected geometry: the same grids with blank images.
				blank := make([]float32, 12)
				var rows [][][]float32
				var labels []string
				for k := range cfg.K {
					rows = append(rows, [][]float32{blank, blank, blank})
					labels = append(labels, "cluster "+strconv.Itoa(k))
				}
				want, err := report.RenderGrid(rows, 3, 4, report.GridOptions{Labels: labels})
				testutil.Must(t, err)
				assert.Equal(t, want.Bounds().Size(), pngSize(t, filepath.Join(dir, SamplesFile)), "shape %v: %s's size", shape, SamplesFile)
				rows, labels = nil, nil
				for i := 0; i < 23; i += 10 {
					r := make([][]float32, min(10, 23-i))
					for j := range r {
						r[j] = blank
					}
					rows = append(rows, r, r)
					labels = append(labels, strconv.Itoa(i), "R")
				}
				want, err = report.RenderGrid(rows, 3, 4, report.GridOptions{Labels: labels})
				testutil.Must(t, err)
				assert.Equal(t, want.Bounds().Size(), pngSize(t, filepath.Join(dir, ReconstructionsFile)), "shape %v: %s's size", shape, ReconstructionsFile)
			}
			// Defaults (10 samples, capped at MaxBatch = 4; 20 reconstructions).
			dir := t.TempDir()
			testutil.Must(t, WritePictures(b, m, pictureSet(t, 30, []int{3, 4}), dir, PictureOptions{}))
			for _, f := range []string{SamplesFile, ReconstructionsFile} {
				_, err := os.Stat(filepath.Join(dir, f))
				assert.NoError(t, err)
			}
			for _, shape := range [][]int{nil, {12}, {2, 2, 3}} {
				dir := t.TempDir()
				err := WritePictures(b, m, pictureSet(t, 30, shape), dir, PictureOptions{})
				assert.ErrorIs(t, err, ErrNotImages, "shape %v", shape)
				ents, _ := os.ReadDir(dir)
				assert.Empty(t, ents, "shape %v: files written", shape)
			}
		})
	}
}

// The trainer's fake model (train_test.go) has the generative half of the Model
// interface too: z is its posterior (n, K) ("Dz" = K), decoded by sigmoid(dec(z)).

func (f *fakeModel) Decode(z *engine.Buf, n int, xmean *engine.Buf) error {
	if n < 1 || n > f.cfg.MaxBatch || z.Len() < n*f.cfg.K || xmean.Len() < n*f.cfg.D {
		return fmt.Errorf("fake decode: %d rows", n)
	}
	if err := f.dec.Forward(f.b, z, xmean, n, f.decS); err != nil {
		return err
	}
	return ops.ActFwd(f.b, xmean, xmean, n*f.cfg.D, kernels.ActSigmoid)
}

// SampleCluster writes n one-hot rows of cluster k (there is nothing to draw).
func (f *fakeModel) SampleCluster(k, n int, z *engine.Buf, seed uint64) error {
	if k < 0 || k >= f.cfg.K || n < 1 || n > f.cfg.MaxBatch || z.Len() < n*f.cfg.K {
		return fmt.Errorf("fake sample: cluster %d, %d rows", k, n)
	}
	v := make([]float32, n*f.cfg.K)
	for i := range n {
		v[i*f.cfg.K+k] = 1
	}
	return f.b.Upload(z.Slice(0, len(v)), v)
}
