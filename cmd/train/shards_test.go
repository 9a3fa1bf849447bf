package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out := filepath.Join(dir, "shards")
	if _, err := data.ConvertToShards(out, r, "train", rows); err != nil {
		t.Fatal(err)
	}
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
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "data: train train (first 40 of 60), 8 features") {
		t.Errorf("data line:\n%s", stdout)
	}
	recs, err := trainer.LoadMetrics(filepath.Join(out, trainer.MetricsFile))
	if err != nil || len(recs) != 1 || recs[0].Step != 2 || recs[0].EvalSet != "train[:40]" || recs[0].Labelled != 40 {
		t.Fatalf("metrics %v %+v", err, recs)
	}

	code, _, stderr = runCmd(t, append(small, "-train-labels", filepath.Join(shards, "x.npy"))...)
	if code != 2 || !strings.Contains(stderr, shards+" is a shard folder, which carries its labels") {
		t.Errorf("-train-labels with shards: exit %d\n%s", code, stderr)
	}

	p := filepath.Join(shards, data.ShardName(1))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[data.ShardHeaderSize+3] ^= 0x40
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCmd(t, append(small, "-epochs", "1", "-out", filepath.Join(t.TempDir(), "bad"))...)
	if code != 1 || !strings.Contains(stderr, "shards: "+p+": CRC mismatch") {
		t.Errorf("damaged shard: exit %d\n%s", code, stderr)
	}
}
