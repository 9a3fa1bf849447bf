package trainer

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/checkpoint"
	"github.com/gmvae/gmvae/data"
	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/gmvae"
)

// shardCopy writes ds as a shard folder of r rows per shard and opens it.
func shardCopy(t testing.TB, ds *data.Dataset, r int) *data.Sharded {
	t.Helper()
	dir := filepath.Join(t.TempDir(), ds.Name)
	w, err := data.NewShardWriter(dir, data.ShardWriterOptions{Name: ds.Name, D: ds.D, Labels: ds.Labels != nil, RowsPerShard: r})
	require.NoError(t, err)
	require.NoError(t, w.WriteRows(ds.X, ds.Labels))
	_, err = w.Close()
	require.NoError(t, err)
	s, err := data.OpenSharded(dir)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	s.Window = 9
	return s
}

// checkpointBytes returns the checkpoint at path re-saved with its wall-clock time
// and run folder blanked: every other byte (parameters, Adam's moments, the run's
// state and settings) as the trainer wrote it.
func checkpointBytes(t testing.TB, path string) []byte {
	t.Helper()
	ck, err := checkpoint.Load(path)
	require.NoError(t, err)
	ck.State.WallS = 0
	out := filepath.Join(t.TempDir(), "ck.safetensors")
	require.NoError(t, checkpoint.Save(out, ck))
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	return b
}

// TestTrainShardedReproducible: a few steps of a real model on a sharded copy of a
// small data set, twice, give the same checkpoint bytes (the wall clock and run folder aside); the
// sharded run visits the examples in the shard-and-window order, so it differs
// from the in-memory run of the same data (which keeps data.Permutation).
func TestTrainShardedReproducible(t *testing.T) {
	train := blobs(t, "blobs-train", 40, fd, fk, 7)
	test := blobs(t, "blobs-test", 20, fd, fk, 8)
	cfg := Config{Epochs: 2, BatchSize: 16, LR: 0.01, Binarize: true, Clip: 1, EvalBatch: 16, Seed: 3, CheckpointEvery: 2}
	for _, model := range []string{"dilokthanakul", "shu"} {
		t.Run(model, func(t *testing.T) {
			mc := gmvae.Config{Model: model, D: fd, K: fk, Dz: 3, Dw: 2, Hidden: []int{8}, MaxBatch: 16, Seed: 3}
			if model == "dilokthanakul" {
				mc.Lambda = 0.5
			}
			b := engine.NewCPU()
			run := func(tr, te data.Source) (string, *Result) {
				m, err := gmvae.New(b, mc)
				if err != nil {
					if strings.Contains(err.Error(), "not implemented") {
						t.Skipf("%s: %v", model, err)
					}
					require.NoError(t, err)
				}
				defer m.Release()
				c := cfg
				c.RunDir = t.TempDir()
				res, err := Train(context.Background(), b, m, tr, te, c, Hooks{})
				require.NoError(t, err)
				return filepath.Join(c.RunDir, checkpoint.File), res
			}
			a, resA := run(shardCopy(t, train, 7), shardCopy(t, test, 6))
			bb, _ := run(shardCopy(t, train, 7), shardCopy(t, test, 6))
			require.True(t, bytes.Equal(checkpointBytes(t, a), checkpointBytes(t, bb)), "two sharded runs wrote different checkpoints")
			assert.Nil(t, resA.EvalSet, "result: EvalSet")
			assert.NotNil(t, resA.EvalSource, "result: EvalSource")
			assert.Equal(t, 20, resA.Final.Labelled, "result: labelled")
			assert.Equal(t, uint64(6), resA.Steps, "result: steps")
			mem, _ := run(train, test)
			assert.False(t, bytes.Equal(checkpointBytes(t, a), checkpointBytes(t, mem)), "the sharded run equals the in-memory run: the shard order is not used")
		})
	}
}

// TestResumeShardedBitIdentical mirrors TestResumeBitIdentical on shards: N steps
// straight equal N/2, a checkpoint mid-epoch, and a resumed N/2 on a freshly opened
// copy of the shards, byte for byte (parameters, Adam state, metrics).
func TestResumeShardedBitIdentical(t *testing.T) {
	trainDS := blobs(t, "blobs-train", 70, fd, fk, 7)
	testDS := blobs(t, "blobs-test", 25, fd, fk, 8)
	checkResumeBitIdentical(t, engine.NewCPU(), func() (data.Source, data.Source) {
		return shardCopy(t, trainDS, 8), shardCopy(t, testDS, 8)
	})
}

// TestTrainShardedSubset: -subset on shards is a head view (name "<name>[:n]"), the
// evaluation set defaults to the training set, and the value range comes from the
// manifest (a set outside [0, 1] is refused for the Bernoulli likelihood).
func TestTrainShardedSubset(t *testing.T) {
	b := engine.NewCPU()
	train := shardCopy(t, blobs(t, "blobs-train", 70, fd, fk, 7), 16)
	cfg := baseCfg("")
	cfg.Epochs = 1
	cfg.TrainSubset = 40 // 3 batches
	cfg.TestSubset = 9
	var steps int
	res, err := Train(context.Background(), b, newFake(t, b, fd, fk, 16, 1), train, nil, cfg, Hooks{Step: func(Progress) { steps++ }})
	require.NoError(t, err)
	require.Equal(t, 3, steps, "steps")
	require.Equal(t, 9, res.Final.Labelled, "labelled")
	require.Equal(t, "blobs-train[:9]", res.Final.EvalSet, "eval set")
	wide := blobs(t, "wide", 20, fd, fk, 7)
	wide.X[5] = 2
	m := newFake(t, b, fd, fk, 16, 1)
	m.cfg.Likelihood = gmvae.Bernoulli
	_, err = Train(context.Background(), b, m, shardCopy(t, wide, 8), nil, baseCfg(""), Hooks{})
	require.ErrorContains(t, err, "wide has values in [", "values outside [0, 1]")
}
