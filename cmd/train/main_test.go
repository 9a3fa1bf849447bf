package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/checkpoint"
	"github.com/gmvae/gmvae/data"
	"github.com/gmvae/gmvae/dist"
	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/gmvae"
	"github.com/gmvae/gmvae/trainer"
)

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

// skipWithoutModels skips when the models are not built yet.
func skipWithoutModels(t *testing.T, model string) {
	t.Helper()
	_, err := gmvae.New(engine.NewCPU(), gmvae.Config{Model: model, D: 4, K: 2, Dz: 2, Dw: 2, Hidden: []int{3}, MaxBatch: 2})
	if err != nil && strings.Contains(err.Error(), "not implemented") {
		t.Skipf("model %s: %v", model, err)
	}
}

// writeCSV writes a labelled CSV of n examples of d features in [0,1] around 3
// prototypes (label in the last column).
func writeCSV(t *testing.T, path string, n, d int, seed int) {
	t.Helper()
	var b strings.Builder
	for i := range n {
		c := i % 3
		for j := range d {
			v := float64((j*7+c*13+seed)%10) / 10
			if (i*31+j*17)%5 == 0 {
				v = 1 - v
			}
			fmt.Fprintf(&b, "%g,", v)
		}
		fmt.Fprintf(&b, "%d\n", c)
	}
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
}

func TestBadFlags(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.json")
	_ = os.WriteFile(cfg, []byte(`{"model": {"k": 5}, "train": {"epoch": 3}}`), 0o644)
	csv := filepath.Join(dir, "d.csv")
	writeCSV(t, csv, 30, 6, 0)
	bigK := filepath.Join(dir, "k40.json")
	require.NoError(t, os.WriteFile(bigK, []byte(`{"model": {"model": "dilokthanakul", "k": 40}}`), 0o644))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-nosuch"}, "flag provided but not defined: -nosuch"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"-model", "A"}, "-model A: want dilokthanakul, shu, vade, kmeans or gmm"},
		{[]string{"-model", "shu", "-batch-norm"}, "-batch-norm true: model shu has no batch normalisation"},
		{[]string{"-p-grad", "sometimes"}, "-p-grad sometimes: want stop, authors or exact"},
		{[]string{"-model", "shu", "-p-grad", "authors"}, "-p-grad authors: model shu has no p(y|z,w)"},
		{[]string{"-init", "he"}, "-init he: want glorot or torch"},
		{[]string{"-model", "shu", "-init", "torch"}, "-init torch: model shu keeps its own initialisation"},
		{[]string{"-tau", "0.5"}, "-tau: the temperature is model shu's with -gumbel only"},
		{[]string{"-model", "shu", "-tau-decay", "0.1"}, "-tau-decay: the temperature is model shu's with -gumbel only"},
		{[]string{"-train", csv, "-label-col", "-1", "-model", "shu", "-gumbel", "-tau-min", "2"}, "-tau-min 2: is above the starting temperature tau = 1"},
		{[]string{"-train", csv, "-label-col", "-1", "-model", "shu", "-gumbel", "-tau", "0"}, "-tau 0: want a positive temperature"},
		{[]string{"-model", "kmeans", "-augment-shift", "2"}, "-augment-shift 2: moves the images of a trained model's batches; model kmeans is fitted to the data as it is"},
		{[]string{"-model", "gmm", "-augment-rotate", "5"}, "-augment-rotate 5: turns the images of a trained model's batches; model gmm is fitted"},
		{[]string{"-augment-rotate", "181"}, "-augment-rotate 181: want 0 to 180 degrees"},
		{[]string{"-model", "kmeans", "-covariance", "full"}, "-covariance full: covariances are model gmm's option, not model kmeans's"},
		{[]string{"-model", "gmm", "-covariance", "tied"}, "-covariance tied: want diag, full or auto"},
		{[]string{"-train", csv, "-label-col", "-1", "-epochs", "-2"}, "-epochs -2: want at least 1"},
		{[]string{"-train", csv, "-label-col", "-1", "-epochs", "0"}, "-epochs 0: want at least 1"},
		{[]string{"-batch", "0"}, "-batch 0: want at least 1"},
		{[]string{"-dz", "0"}, "-dz 0: want at least 1"},
		{[]string{"-m", "0"}, "-m 0: want at least 1"},
		{[]string{"-lr", "0"}, "-lr 0: want a positive number"},
		{[]string{"-lr", "-1"}, "-lr -1: want a positive number"},
		{[]string{"-hidden", ""}, `-hidden : "" is not a positive integer`},
		{[]string{"-model", "shu", "-lambda", "0.5"}, "-lambda 0.5: free bits are model dilokthanakul's"},
		{[]string{"-train", csv, "-label-col", "-1", "-schedule", "steps"}, "-schedule steps: want constant, cosine, exp or step"},
		{[]string{"-train", csv, "-label-col", "-1", "-k", "0", "-out", filepath.Join(dir, "never")}, "-k 0"},
		{[]string{"-train", csv, "-label-col", "-1", "-hidden", "5,x"}, `-hidden 5,x: "x" is not a positive integer`},
		{[]string{"-train", csv, "-label-col", "-1", "-device", "tpu"}, `unknown device "tpu"`},
		{[]string{"-train", csv, "-label-col", "-1", "-seeds", "0"}, "-seeds 0"},
		{[]string{"-train", csv, "-label-col", "-1", "-k", "31", "-out", filepath.Join(dir, "never")}, "-k 31: " + csv + " has 30 training rows: want k <= the number of rows"},
		{[]string{"-train", csv, "-label-col", "-1", "-model", "shu", "-k", "31", "-out", filepath.Join(dir, "never")}, "-k 31: " + csv + " has 30 training rows"},
		{[]string{"-train", csv, "-label-col", "-1", "-model", "vade", "-k", "31", "-out", filepath.Join(dir, "never")}, "-k 31: " + csv + " has 30 training rows"},
		{[]string{"-train", csv, "-label-col", "-1", "-model", "kmeans", "-k", "31", "-out", filepath.Join(dir, "never")}, "-k 31: " + csv + " has 30 training rows"},
		{[]string{"-train", csv, "-label-col", "-1", "-model", "gmm", "-k", "11", "-subset", "10", "-out", filepath.Join(dir, "never")}, "-k 11: " + csv + " has 10 training rows (-subset 10)"},
		{[]string{"-train", csv, "-label-col", "-1", "-config", bigK, "-out", filepath.Join(dir, "never")}, "k = 40 (the model's clusters): " + csv + " has 30 training rows"},
		{[]string{"-config", cfg}, `unknown field "epoch"`},
		{[]string{"-config", filepath.Join(dir, "none.json")}, "none.json"},
		{[]string{"-resume", filepath.Join(dir, "d.csv")}, "d.csv"},
		{[]string{"-test", csv}, "-test needs -train"},
	} {
		code, _, stderr := runCmd(t, tc.args...)
		assert.Equal(t, 2, code, "%v: exit code", tc.args)
		assert.Contains(t, stderr, tc.want, "%v: stderr", tc.args)
	}
	assert.NoDirExists(t, filepath.Join(dir, "never"), "a refused launch writes no run folder")
	if !engine.CUDABuilt() {
		code, _, stderr := runCmd(t, "-train", csv, "-label-col", "-1", "-device", "cuda")
		assert.Equal(t, 2, code, "-device cuda: exit code")
		assert.Contains(t, stderr, "built without CUDA support; rebuild with -tags cuda, or use -device cpu", "-device cuda")
	}
	// A data file that does not parse: exit 1 with the reader's message.
	bad := filepath.Join(dir, "bad.csv")
	_ = os.WriteFile(bad, []byte("1,2\n3\n"), 0o644)
	code, _, stderr := runCmd(t, "-train", bad)
	assert.Equal(t, 1, code, "bad csv: exit code")
	assert.Contains(t, stderr, "bad.csv", "bad csv")
	code, _, _ = runCmd(t, "-h")
	assert.Equal(t, 0, code, "-h: exit code")
}

// TestEndToEndCSV runs the command on a tiny CSV data set with both models, then
// resumes the first run for one more epoch, and trains two seeds.
func TestEndToEndCSV(t *testing.T) {
	dir := t.TempDir()
	tr, te := filepath.Join(dir, "train.csv"), filepath.Join(dir, "test.csv")
	writeCSV(t, tr, 60, 8, 0)
	writeCSV(t, te, 30, 8, 1)
	small := []string{"-train", tr, "-test", te, "-label-col", "-1", "-k", "3", "-dz", "3", "-dw", "2", "-hidden", "8", "-batch", "20", "-device", "cpu", "-lr", "0.01"}
	for _, model := range []string{"dilokthanakul", "shu"} {
		skipWithoutModels(t, model)
		out := filepath.Join(dir, model)
		code, stdout, stderr := runCmd(t, append(small, "-model", model, "-epochs", "2", "-out", out)...)
		require.Equal(t, 0, code, "%s: exit code\n%s\n%s", model, stdout, stderr)
		for _, f := range []string{"config.json", "metrics.jsonl", "summary.json", "checkpoint.safetensors", "loss.png", "accuracy.png", "latent.png"} {
			_, err := os.Stat(filepath.Join(out, f))
			assert.NoError(t, err, model)
		}
		// CSV rows are not images: no samples or reconstructions to draw.
		for _, f := range []string{trainer.SamplesFile, trainer.ReconstructionsFile} {
			_, err := os.Stat(filepath.Join(out, f))
			assert.ErrorIs(t, err, os.ErrNotExist, "%s: %s for CSV data", model, f)
		}
		for _, s := range []string{"acc_hungarian", "run folder: " + out, "%  classes "} {
			assert.Contains(t, stdout, s, "%s: summary", model)
		}
		// summary.json holds the final cluster x class table: K = 3 rows of the 30
		// labelled test rows' classes.
		var sum struct{ Contingency [][]int }
		raw, err := os.ReadFile(filepath.Join(out, "summary.json"))
		if err == nil {
			err = json.Unmarshal(raw, &sum)
		}
		total := 0
		for _, row := range sum.Contingency {
			for _, n := range row {
				total += n
			}
		}
		assert.NoError(t, err, "%s: summary.json", model)
		assert.Len(t, sum.Contingency, 3, "%s: summary.json contingency %v: rows", model, sum.Contingency)
		assert.Equal(t, 30, total, "%s: summary.json contingency %v: examples", model, sum.Contingency)
		recs, err := trainer.LoadMetrics(filepath.Join(out, "metrics.jsonl"))
		require.NoError(t, err, "%s: metrics", model)
		require.Len(t, recs, 2, "%s: metrics %+v", model, recs)
		require.Equal(t, uint64(6), recs[1].Step, "%s: metrics %+v: last step", model, recs)
	}
	// Resume the first run for a third epoch: its settings come from the checkpoint.
	out := filepath.Join(dir, "dilokthanakul")
	code, stdout, stderr := runCmd(t, "-train", tr, "-test", te, "-label-col", "-1", "-device", "cpu",
		"-resume", filepath.Join(out, "checkpoint.safetensors"), "-epochs", "3")
	require.Equal(t, 0, code, "resume: exit code\n%s\n%s", stdout, stderr)
	recs, err := trainer.LoadMetrics(filepath.Join(out, "metrics.jsonl"))
	require.NoError(t, err, "after resume: metrics")
	require.Len(t, recs, 3, "after resume: metrics %+v", recs)
	require.Equal(t, uint64(9), recs[2].Step, "after resume: metrics %+v: last step", recs)
	require.Contains(t, stdout, "resumed from", "after resume")
	// The same three epochs straight give the same final checkpoint.
	straight := filepath.Join(dir, "straight")
	code, so, se := runCmd(t, append(small, "-model", "dilokthanakul", "-epochs", "3", "-out", straight, "-no-pictures")...)
	require.Equal(t, 0, code, "straight: exit code\n%s\n%s", so, se)
	a, _ := checkpoint.Load(filepath.Join(out, "checkpoint.safetensors"))
	b, _ := checkpoint.Load(filepath.Join(straight, "checkpoint.safetensors"))
	require.NotNil(t, a, "the resumed run's checkpoint")
	require.NotNil(t, b, "the straight run's checkpoint")
	require.True(t, bytes.Equal(f32bytes(a.P), f32bytes(b.P)), "2 epochs + resume for 1 differ from 3 epochs straight: parameters (bits)")
	require.True(t, bytes.Equal(f32bytes(a.V), f32bytes(b.V)), "2 epochs + resume for 1 differ from 3 epochs straight: Adam's second moments (bits)")
	// A run folder's config.json as -config, with a flag overriding it.
	again := filepath.Join(dir, "again")
	code, stdout, stderr = runCmd(t, "-train", tr, "-test", te, "-label-col", "-1", "-device", "cpu", "-no-pictures",
		"-config", filepath.Join(straight, "config.json"), "-epochs", "1", "-out", again)
	require.Equal(t, 0, code, "-config: exit code\n%s\n%s", stdout, stderr)
	require.Contains(t, stdout, "training: 1 epochs, batch 20, lr 0.01", "-config")
	require.Contains(t, stdout, "dz=3 hidden=[8]", "-config")
	// Two seeds: per-seed folders and seeds.json.
	seeds := filepath.Join(dir, "seeds")
	code, stdout, stderr = runCmd(t, append(small, "-epochs", "1", "-seeds", "2", "-seed", "5", "-out", seeds, "-no-pictures")...)
	require.Equal(t, 0, code, "seeds: exit code\n%s\n%s", stdout, stderr)
	for _, f := range []string{"seed-5/summary.json", "seed-6/summary.json", "seeds.json"} {
		_, err := os.Stat(filepath.Join(seeds, f))
		assert.NoError(t, err)
	}
	assert.Contains(t, stdout, "over 2 seeds", "seeds summary")
	assert.Contains(t, stdout, "ACC hungarian", "seeds summary")
}

// TestBatchNormFlag: -batch-norm trains model A with the batch-norm encoder; the run's
// config.json carries it into a -config run, and the checkpoint holds the running
// estimates.
func TestBatchNormFlag(t *testing.T) {
	dir := t.TempDir()
	tr, te := filepath.Join(dir, "train.csv"), filepath.Join(dir, "test.csv")
	writeCSV(t, tr, 60, 8, 0)
	writeCSV(t, te, 30, 8, 1)
	small := []string{"-train", tr, "-test", te, "-label-col", "-1", "-k", "3", "-dz", "3", "-dw", "2", "-batch", "20", "-device", "cpu", "-lr", "0.01", "-no-pictures", "-epochs", "1"}
	out := filepath.Join(dir, "bn")
	code, stdout, stderr := runCmd(t, append(small, "-batch-norm", "-hidden", "8,6", "-out", out)...)
	require.Equal(t, 0, code, "exit code\n%s\n%s", stdout, stderr)
	require.Contains(t, stdout, "batch-norm encoder")
	ck, ckModel, _, err := trainer.LoadCheckpoint(filepath.Join(out, "checkpoint.safetensors"))
	require.NoError(t, err)
	require.True(t, ckModel.BatchNorm, "checkpoint: batch_norm")
	require.Equal(t, "enc.0.bn.running_mean,enc.0.bn.running_var,enc.1.bn.running_mean,enc.1.bn.running_var", strings.Join(ck.StateNames, ","), "checkpoint: state")
	again := filepath.Join(dir, "again")
	code, stdout, stderr = runCmd(t, "-train", tr, "-test", te, "-label-col", "-1", "-device", "cpu", "-no-pictures",
		"-config", filepath.Join(out, "config.json"), "-out", again)
	require.Equal(t, 0, code, "-config of a batch-norm run: exit code\n%s\n%s", stdout, stderr)
	require.Contains(t, stdout, "batch-norm encoder", "-config of a batch-norm run")
}

// TestGumbelFlags: -gumbel anneals the temperature with the PyTorch port's schedule
// unless told otherwise; the run's config.json carries the schedule into a -config
// run, and flags override it there.
func TestGumbelFlags(t *testing.T) {
	dir := t.TempDir()
	tr := filepath.Join(dir, "train.csv")
	writeCSV(t, tr, 40, 8, 0)
	small := []string{"-train", tr, "-label-col", "-1", "-model", "shu", "-gumbel", "-k", "3", "-dz", "3", "-hidden", "8", "-batch", "20", "-device", "cpu", "-no-pictures", "-epochs", "2"}
	out := filepath.Join(dir, "port")
	code, stdout, stderr := runCmd(t, append(small, "-out", out)...)
	require.Equal(t, 0, code, "exit code\n%s\n%s", stdout, stderr)
	require.Contains(t, stdout, "gumbel tau=1 (x exp(-0.013862944 epoch), floor 0.5)")
	recs, err := trainer.LoadMetrics(filepath.Join(out, "metrics.jsonl"))
	require.NoError(t, err, "metrics")
	require.Len(t, recs, 2, "metrics %+v", recs)
	require.Equal(t, 1.0, recs[0].Tau, "metrics: epoch 1's tau")
	require.Equal(t, float64(float32(math.Exp(-0.013862944))), recs[1].Tau, "metrics: epoch 2's tau")
	again := filepath.Join(dir, "again")
	code, stdout, stderr = runCmd(t, "-train", tr, "-label-col", "-1", "-device", "cpu", "-no-pictures",
		"-config", filepath.Join(out, "config.json"), "-tau", "2", "-tau-decay", "0", "-out", again)
	require.Equal(t, 0, code, "-config with -tau 2 -tau-decay 0: exit code\n%s\n%s", stdout, stderr)
	require.Contains(t, stdout, "gumbel tau=2,", "-config with -tau 2 -tau-decay 0")
	_, ckModel, ckTrain, err := trainer.LoadCheckpoint(filepath.Join(again, "checkpoint.safetensors"))
	require.NoError(t, err, "checkpoint")
	require.Equal(t, float32(2), ckModel.Tau, "checkpoint: tau")
	require.Equal(t, 0.0, ckTrain.TauDecay, "checkpoint: tau decay")
	require.Equal(t, 0.5, ckTrain.TauMin, "checkpoint: tau min")
}

func f32bytes(v []float32) []byte {
	var b bytes.Buffer
	for _, x := range v {
		fmt.Fprintf(&b, "%08x", math.Float32bits(x))
	}
	return b.Bytes()
}

// TestEndToEndMNIST trains model A briefly on a small MNIST subset, as the README's
// first command does on all of it.
func TestEndToEndMNIST(t *testing.T) {
	skipWithoutModels(t, "dilokthanakul")
	if _, err := data.FindMNIST(""); errors.Is(err, data.ErrMNISTNotFound) {
		t.Skip(err)
	}
	out := filepath.Join(t.TempDir(), "run")
	code, stdout, stderr := runCmd(t, "-subset", "200", "-test-subset", "100", "-epochs", "1", "-hidden", "64", "-dz", "16", "-dw", "8", "-device", "cpu", "-out", out)
	require.Equal(t, 0, code, "exit code\n%s\n%s", stdout, stderr)
	assert.Contains(t, stdout, "mnist-train (first 200 of 60000)", "output")
	assert.Contains(t, stdout, "acc_paper", "output")
	for _, f := range []string{"config.json", "metrics.jsonl", "summary.json", "checkpoint.safetensors", "loss.png", "accuracy.png",
		"latent.png", trainer.SamplesFile, trainer.ReconstructionsFile} {
		_, err := os.Stat(filepath.Join(out, f))
		assert.NoError(t, err)
	}
	// samples.png: K = 10 rows of 10 MNIST digits (28x28, scaled 2x, 1-pixel gutters),
	// wider than tall by the label column; reconstructions.png: 20 test digits in 2
	// pairs of rows.
	for _, c := range []struct {
		file string
		rows int
	}{{trainer.SamplesFile, 10}, {trainer.ReconstructionsFile, 4}} {
		sz := pngSize(t, filepath.Join(out, c.file))
		assert.Equal(t, 1+c.rows*(2*28+1), sz.Y, "%s is %v, want %d rows of 10 digits: height", c.file, sz, c.rows)
		assert.Greater(t, sz.X, 10*(2*28+1), "%s is %v, want %d rows of 10 digits: width", c.file, sz, c.rows)
	}
	t.Log(stdout)
}

// runRanks runs the command on p in-process ranks (dist.NewLocalWorld) in the current
// folder and returns every rank's exit status and output.
func runRanks(t *testing.T, p int, args ...string) (codes []int, stdouts, stderrs []string) {
	t.Helper()
	cs := dist.NewLocalWorld(p)
	codes, stdouts, stderrs = make([]int, p), make([]string, p), make([]string, p)
	var wg sync.WaitGroup
	for r := range cs {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			var o, e bytes.Buffer
			open := func() (dist.Comm, dist.Launch, error) {
				return cs[r], dist.Launch{Launcher: "test", Rank: r, Size: p, LocalRank: r, LocalSize: p}, nil
			}
			codes[r] = runWith(context.Background(), args, &o, &e, open)
			stdouts[r], stderrs[r] = o.String(), e.String()
		}(r)
	}
	wg.Wait()
	return codes, stdouts, stderrs
}

// TestDataParallelCSV trains on 2 in-process ranks: the default run folder (named by
// rank 0's clock) is the same on both, only rank 0 prints the progress and summary,
// the result equals a second 2-rank run's, and a resume on 1 rank is refused.
func TestDataParallelCSV(t *testing.T) {
	skipWithoutModels(t, "shu")
	dir := t.TempDir()
	t.Chdir(dir)
	tr, te := filepath.Join(dir, "train.csv"), filepath.Join(dir, "test.csv")
	writeCSV(t, tr, 60, 8, 0)
	writeCSV(t, te, 30, 8, 1)
	args := []string{"-train", tr, "-test", te, "-label-col", "-1", "-model", "shu", "-k", "3", "-dz", "3", "-hidden", "8",
		"-batch", "20", "-device", "cpu", "-lr", "0.01", "-epochs", "2", "-no-pictures"}
	codes, stdouts, stderrs := runRanks(t, 2, args...)
	for r := range codes {
		require.Equal(t, 0, codes[r], "rank %d: exit code\n%s\n%s", r, stdouts[r], stderrs[r])
	}
	assert.Contains(t, stdouts[0], "data parallel: 2 ranks", "rank 0's output")
	assert.Contains(t, stdouts[0], "acc_hungarian", "rank 0's output")
	assert.Empty(t, stdouts[1], "rank 1 printed")
	assert.NotContains(t, stderrs[1], "epoch", "rank 1 printed")
	runs, err := filepath.Glob(filepath.Join("runs", "shu-*"))
	require.NoError(t, err, "run folders")
	require.Len(t, runs, 1, "run folders")
	ck, err := checkpoint.Load(filepath.Join(runs[0], "checkpoint.safetensors"))
	require.NoError(t, err, "checkpoint")
	require.Equal(t, 2, ck.State.WorldSize, "checkpoint %+v: world size", ck)
	require.Equal(t, uint64(6), ck.State.Step, "checkpoint %+v: step", ck)
	// Again, into a named folder: the same parameters.
	codes, stdouts, stderrs = runRanks(t, 2, append(args, "-out", "again")...)
	require.Equal(t, []int{0, 0}, codes, "again: exit codes\n%s\n%s", stdouts[0], stderrs[0])
	ck2, err := checkpoint.Load(filepath.Join("again", "checkpoint.safetensors"))
	require.NoError(t, err, "two 2-rank runs")
	require.True(t, bytes.Equal(f32bytes(ck.P), f32bytes(ck2.P)), "two 2-rank runs differ: parameters (bits)")
	require.True(t, bytes.Equal(f32bytes(ck.V), f32bytes(ck2.V)), "two 2-rank runs differ: Adam's second moments (bits)")
	// Resume on one process: refused.
	code, stdout, stderr := runCmd(t, "-train", tr, "-test", te, "-label-col", "-1", "-device", "cpu",
		"-resume", filepath.Join("again", "checkpoint.safetensors"), "-epochs", "3")
	require.Equal(t, 1, code, "resume on 1 rank: exit code\n%s\n%s", stdout, stderr)
	require.Contains(t, stderr, "written by a run on 2 rank(s), this run has 1", "resume on 1 rank")
	// Resume on 2 ranks for a third epoch.
	codes, stdouts, stderrs = runRanks(t, 2, "-train", tr, "-test", te, "-label-col", "-1", "-device", "cpu",
		"-resume", filepath.Join("again", "checkpoint.safetensors"), "-epochs", "3", "-no-pictures")
	require.Equal(t, []int{0, 0}, codes, "resume on 2 ranks: exit codes\n%s\n%s\n%s", stdouts[0], stderrs[0], stderrs[1])
	require.Contains(t, stdouts[0], "resumed from", "resume on 2 ranks")
	// A failure on every rank (a data file that does not exist) is printed by rank 0
	// only; every rank exits with the same status.
	codes, _, stderrs = runRanks(t, 2, "-train", filepath.Join(dir, "missing.csv"), "-device", "cpu")
	require.Equal(t, codes[0], codes[1], "missing data: exit codes, rank 0 then rank 1\n%s\n%s", stderrs[0], stderrs[1])
	require.NotZero(t, codes[0], "missing data: exit code")
	require.Contains(t, stderrs[0], "missing.csv", "missing data: rank 0")
	require.Empty(t, stderrs[1], "missing data: rank 1")
}

// TestSingleRankTrap: Slurm says 4 tasks but no MPI launcher started the process:
// refused with dist's message (exit status 2) before anything is loaded.
func TestSingleRankTrap(t *testing.T) {
	t.Setenv("SLURM_JOB_ID", "1")
	t.Setenv("SLURM_STEP_ID", "0")
	t.Setenv("SLURM_STEP_NUM_TASKS", "4")
	t.Setenv("GMVAE_DIST_ALLOW_SINGLE", "")
	code, _, stderr := runCmd(t, "-device", "cpu", "-train", filepath.Join(t.TempDir(), "none.csv"))
	require.Equal(t, 2, code, "exit code\n%s", stderr)
	require.Contains(t, stderr, "single-rank trap")
}

// pngSize decodes the PNG at path and returns its size.
func pngSize(t *testing.T, path string) image.Point {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	return img.Bounds().Size()
}

// TestRunFolderKeepsEarlierWork: a run folder that holds a run is refused (its
// checkpoint untouched) unless -resume or -overwrite; a folder where a run failed
// before doing any work (only its config.json) is reused without -overwrite, so
// that the corrected command just runs (vade's k above the rows used to leave one).
func TestRunFolderKeepsEarlierWork(t *testing.T) {
	dir := t.TempDir()
	tr := filepath.Join(dir, "train.csv")
	writeCSV(t, tr, 60, 4, 0)
	out := filepath.Join(dir, "run")
	fit := []string{"-train", tr, "-label-col", "-1", "-k", "3", "-device", "cpu", "-no-pictures", "-out", out}
	code, so, se := runCmd(t, append(fit, "-model", "kmeans")...)
	require.Equal(t, 0, code, "first run\n%s\n%s", so, se)
	ck := filepath.Join(out, checkpoint.File)
	before, err := os.ReadFile(ck)
	require.NoError(t, err)

	code, _, se = runCmd(t, append(fit, "-model", "gmm")...)
	assert.Equal(t, 2, code, "a second run into the folder")
	assert.Contains(t, se, "already holds a run: continue it with -resume "+out+", start afresh there with -overwrite")
	after, err := os.ReadFile(ck)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(before, after), "the refused run left the checkpoint as it was")

	code, so, se = runCmd(t, append(fit, "-model", "gmm", "-overwrite")...)
	require.Equal(t, 0, code, "-overwrite\n%s\n%s", so, se)
	assert.Contains(t, so, "model gmm")

	failed := filepath.Join(dir, "failed")
	vade := []string{"-train", tr, "-label-col", "-1", "-device", "cpu", "-no-pictures", "-out", failed, "-model", "vade",
		"-hidden", "8", "-dz", "2", "-batch", "20", "-epochs", "1", "-pretrain-epochs", "1", "-prior-restarts", "1"}
	code, _, se = runCmd(t, append(vade, "-k", "61")...)
	assert.Equal(t, 2, code, "k above the rows: a usage error")
	assert.Contains(t, se, "-k 61: "+tr+" has 60 training rows")
	assert.NoDirExists(t, failed, "refused before the run folder")
	require.NoError(t, os.MkdirAll(failed, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(failed, trainer.ConfigFile), []byte("{}\n"), 0o644)) // what an older failure left
	code, so, se = runCmd(t, append(vade, "-k", "3")...)
	require.Equal(t, 0, code, "the corrected command\n%s\n%s", so, se)
	_, err = os.Stat(filepath.Join(failed, checkpoint.File))
	assert.NoError(t, err)
}
