package trainer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/checkpoint"
	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/gmvae"
)

// vadeRecipe returns a tiny vade run: 4 epochs of pretraining, a prior of the best of 3
// mixtures, 3 epochs of training, on 60 rows of 12 features in batches of 20.
func vadeRecipe(dir string) (gmvae.Config, Config) {
	mc := gmvae.Config{Model: "vade", D: 12, K: 3, Dz: 2, Hidden: []int{8, 6}, MaxBatch: 20, Seed: 5}.Defaults()
	tc := Config{Epochs: 3, BatchSize: 20, PretrainEpochs: 4, PriorRestarts: 3, RunDir: dir}
	return mc, tc
}

// runRecipe runs the recipe and, when stopAt > 0, cancels it before the stopAt-th step
// it takes (counting every stage's steps); it returns the error.
func runRecipe(t *testing.T, b engine.Backend, dir string, stopAt int) error {
	t.Helper()
	mc, tc := vadeRecipe(dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	steps := 0
	hooks := Hooks{Step: func(Progress) {
		steps++
		if steps == stopAt {
			cancel()
		}
	}}
	train := blobs(t, "train", 60, 12, 3, 8)
	res, err := TrainVaDE(ctx, b, mc, tc, train, nil, hooks)
	if err == nil {
		require.NoError(t, res.Model.Release())
	}
	return err
}

// TestVaDERecipeResumes: the recipe interrupted in its pretraining and again in its
// training, and resumed each time from its folder, ends with the same bytes (the
// pretrained checkpoint, the prior and the final checkpoint) as one run straight
// through; a finished recipe rerun skips every stage. The stages' files are there.
func TestVaDERecipeResumes(t *testing.T) {
	b := engine.NewCPU()
	straight, stopped := t.TempDir(), t.TempDir()
	require.NoError(t, runRecipe(t, b, straight, 0))
	err := runRecipe(t, b, stopped, 5) // stage 1 has 12 steps
	require.True(t, errors.Is(err, context.Canceled), "stage 1 interrupted: %v", err)
	_, statErr := os.Stat(filepath.Join(stopped, PriorCheckpoint))
	require.True(t, os.IsNotExist(statErr), "no prior before stage 1 ends")
	err = runRecipe(t, b, stopped, 8+4) // the rest of stage 1 (7 steps), then into stage 3
	require.True(t, errors.Is(err, context.Canceled), "stage 3 interrupted: %v", err)
	require.NoError(t, runRecipe(t, b, stopped, 0))
	for _, f := range []string{filepath.Join(PretrainDir, checkpoint.File), PriorCheckpoint, checkpoint.File} {
		assert.Equal(t, checkpointBytes(t, filepath.Join(straight, f)), checkpointBytes(t, filepath.Join(stopped, f)), f)
	}
	for _, f := range []string{ConfigFile, PriorReport, MetricsFile, SummaryFile, filepath.Join(PretrainDir, MetricsFile)} {
		_, err := os.Stat(filepath.Join(straight, f))
		assert.NoError(t, err, f)
	}
	before := checkpointBytes(t, filepath.Join(straight, checkpoint.File))
	require.NoError(t, runRecipe(t, b, straight, 0)) // everything done: nothing trains
	assert.Equal(t, before, checkpointBytes(t, filepath.Join(straight, checkpoint.File)))
}

// TestVaDERecipeRefusesKAboveRows: more clusters than training rows is refused before
// the run folder gets a file (it used to write its settings and fail in the
// pretraining, so that the corrected command was told the folder held a run).
func TestVaDERecipeRefusesKAboveRows(t *testing.T) {
	for _, tc := range []struct {
		name   string
		k, sub int
	}{{"k above the rows", 61, 0}, {"k above the training subset", 11, 10}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			mc, cfg := vadeRecipe(dir)
			mc.K, cfg.TrainSubset = tc.k, tc.sub
			_, err := TrainVaDE(context.Background(), engine.NewCPU(), mc, cfg, blobs(t, "train", 60, 12, 3, 8), nil, Hooks{})
			require.ErrorContains(t, err, "clusters for")
			require.ErrorContains(t, err, "want k <= the number of rows")
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			assert.Empty(t, entries, "the run folder stays empty")
		})
	}
}
