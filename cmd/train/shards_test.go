package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/data"
	"github.com/gmvae/gmvae/trainer"
)

// csvShards converts a labelled CSV file of n examples into a shard folder.
func csvShards(t *testing.T, n, rows int) string {
	t.Helper()
	dir := t.TempDir()
	csv := filepath.Join(dir, "train.csv")
	writeCSV(t, csv, n, 8, 0)
	r, err := data.OpenCSVRows(csv, data.CSVOptions{Label: data.LabelAt(-1)})
	require.NoError(t, err)
	defer r.Close()
	out := filepath.Join(dir, "shards")
	_, err = data.ConvertToShards(out, r, "train", rows)
	require.NoError(t, err)
	return out
}

// TestTrainOnShards: -train DIR trains from a shard folder (with -subset), a labels
// file beside it is refused, and a damaged shard stops the run before training.
func TestTrainOnShards(t *testing.T) {
	skipWithoutModels(t, "dilokthanakul")
	shards := csvShards(t, 60, 16)
	out := filepath.Join(t.TempDir(), "run")
	small := []string{"-train", shards, "-k", "3", "-dz", "3", "-dw", "2", "-hidden", "8", "-batch", "20", "-device", "cpu", "-lr", "0.01", "-no-pictures"}
	code, stdout, stderr := runCmd(t, append(small, "-epochs", "1", "-subset", "40", "-out", out)...)
	require.Equal(t, 0, code, "exit code\n%s\n%s", stdout, stderr)
	assert.Contains(t, stdout, "data: train train (first 40 of 60), 8 features", "data line")
	recs, err := trainer.LoadMetrics(filepath.Join(out, trainer.MetricsFile))
	require.NoError(t, err, "metrics")
	require.Len(t, recs, 1, "metrics %+v", recs)
	require.Equal(t, uint64(2), recs[0].Step, "metrics %+v: step", recs)
	require.Equal(t, "train[:40]", recs[0].EvalSet, "metrics %+v: eval set", recs)
	require.Equal(t, 40, recs[0].Labelled, "metrics %+v: labelled", recs)

	code, _, stderr = runCmd(t, append(small, "-train-labels", filepath.Join(shards, "x.npy"))...)
	assert.Equal(t, 2, code, "-train-labels with shards: exit code\n%s", stderr)
	assert.Contains(t, stderr, shards+" is a shard folder, which carries its labels", "-train-labels with shards")

	p := filepath.Join(shards, data.ShardName(1))
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	b[data.ShardHeaderSize+3] ^= 0x40
	require.NoError(t, os.WriteFile(p, b, 0o644))
	code, _, stderr = runCmd(t, append(small, "-epochs", "1", "-out", filepath.Join(t.TempDir(), "bad"))...)
	assert.Equal(t, 1, code, "damaged shard: exit code\n%s", stderr)
	assert.Contains(t, stderr, "shards: "+p+": CRC mismatch", "damaged shard")
}
