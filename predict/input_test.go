package predict_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/checkpoint"
	"github.com/gmvae/gmvae/data"
	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/gmvae"
	"github.com/gmvae/gmvae/predict"
	"github.com/gmvae/gmvae/trainer"
)

// TestInputMapAppliedByPredict: a model trained on data-aware scaled features (the
// input map in its configuration) assigns new raw rows through the same map: the
// predictor's clusters of the training rows, given raw, are the trainer's own, for the
// classical models and a GMM-VAE alike.
func TestInputMapAppliedByPredict(t *testing.T) {
	const n, d = 120, 3
	x := make([]float32, n*d)
	labels := make([]int, n)
	units := []float32{1, 250, 40000}
	for i := range n {
		c := i % 3
		labels[i] = c
		for j := range d {
			x[i*d+j] = (float32(c*4+j) + float32((i*7+j*3)%5)/5) * units[j]
		}
	}
	ds, err := data.New("units", n, d, x, labels)
	require.NoError(t, err)
	st, err := data.Describe(ds)
	require.NoError(t, err)
	for _, model := range []string{"gmm", "kmeans", "dilokthanakul"} {
		t.Run(model, func(t *testing.T) {
			s := trainer.Settings{Model: gmvae.Config{Model: model, K: 3, Seed: 2, Dz: 2, Dw: 2, Hidden: []int{6}},
				Train: trainer.Config{Epochs: 2, BatchSize: 20, LR: 0.01, RunDir: t.TempDir()}}
			s, _ = trainer.DataAware(s, ds.Info(), st, func(k string) bool { return k == "model.model" })
			require.NotNil(t, s.Model.Input, "mixed units are standardised")
			s, err := s.Settle()
			require.NoError(t, err)
			b := engine.NewCPU()
			m, err := gmvae.New(b, s.Model)
			require.NoError(t, err)
			defer m.Release()
			res, err := trainer.Train(context.Background(), b, m, ds, nil, s.Train, trainer.Hooks{})
			require.NoError(t, err)
			p, err := predict.Load(b, filepath.Join(s.Train.RunDir, checkpoint.File))
			require.NoError(t, err)
			defer p.Close()
			r, err := p.Run(x, n)
			require.NoError(t, err)
			require.Equal(t, res.Pred, r.Clusters, "the predictor's clusters of the raw rows")
		})
	}
}
