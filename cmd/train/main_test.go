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
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBadFlags(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.json")
	_ = os.WriteFile(cfg, []byte(`{"model": {"k": 5}, "train": {"epoch": 3}}`), 0o644)
	csv := filepath.Join(dir, "d.csv")
	writeCSV(t, csv, 30, 6, 0)
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
		{[]string{"-config", cfg}, `unknown field "epoch"`},
		{[]string{"-config", filepath.Join(dir, "none.json")}, "none.json"},
		{[]string{"-resume", filepath.Join(dir, "d.csv")}, "d.csv"},
		{[]string{"-test", csv}, "-test needs -train"},
	} {
		code, _, stderr := runCmd(t, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
	if !engine.CUDABuilt() {
		code, _, stderr := runCmd(t, "-train", csv, "-label-col", "-1", "-device", "cuda")
		if code != 2 || !strings.Contains(stderr, "built without CUDA support; rebuild with -tags cuda, or use -device cpu") {
			t.Errorf("-device cuda: exit %d, %q", code, stderr)
		}
	}
	// A data file that does not parse: exit 1 with the reader's message.
	bad := filepath.Join(dir, "bad.csv")
	_ = os.WriteFile(bad, []byte("1,2\n3\n"), 0o644)
	code, _, stderr := runCmd(t, "-train", bad)
	if code != 1 || !strings.Contains(stderr, "bad.csv") {
		t.Errorf("bad csv: exit %d, %q", code, stderr)
	}
	if code, _, _ := runCmd(t, "-h"); code != 0 {
		t.Errorf("-h: exit %d", code)
	}
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
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s\n%s", model, code, stdout, stderr)
		}
		for _, f := range []string{"config.json", "metrics.jsonl", "summary.json", "checkpoint.safetensors", "loss.png", "accuracy.png", "latent.png"} {
			if _, err := os.Stat(filepath.Join(out, f)); err != nil {
				t.Errorf("%s: %v", model, err)
			}
		}
		// CSV rows are not images: no samples or reconstructions to draw.
		for _, f := range []string{trainer.SamplesFile, trainer.ReconstructionsFile} {
			if _, err := os.Stat(filepath.Join(out, f)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s: %s for CSV data: %v", model, f, err)
			}
		}
		if !strings.Contains(stdout, "acc_hungarian") || !strings.Contains(stdout, "run folder: "+out) ||
			!strings.Contains(stdout, "%  classes ") {
			t.Errorf("%s: summary missing:\n%s", model, stdout)
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
		if err != nil || len(sum.Contingency) != 3 || total != 30 {
			t.Errorf("%s: summary.json contingency %v (%v)", model, sum.Contingency, err)
		}
		recs, err := trainer.LoadMetrics(filepath.Join(out, "metrics.jsonl"))
		if err != nil || len(recs) != 2 || recs[1].Step != 6 {
			t.Fatalf("%s: metrics %v %+v", model, err, recs)
		}
	}
	// Resume the first run for a third epoch: its settings come from the checkpoint.
	out := filepath.Join(dir, "dilokthanakul")
	code, stdout, stderr := runCmd(t, "-train", tr, "-test", te, "-label-col", "-1", "-device", "cpu",
		"-resume", filepath.Join(out, "checkpoint.safetensors"), "-epochs", "3")
	if code != 0 {
		t.Fatalf("resume: exit %d\n%s\n%s", code, stdout, stderr)
	}
	recs, err := trainer.LoadMetrics(filepath.Join(out, "metrics.jsonl"))
	if err != nil || len(recs) != 3 || recs[2].Step != 9 || !strings.Contains(stdout, "resumed from") {
		t.Fatalf("after resume: %v %+v\n%s", err, recs, stdout)
	}
	// The same three epochs straight give the same final checkpoint.
	straight := filepath.Join(dir, "straight")
	if code, so, se := runCmd(t, append(small, "-model", "dilokthanakul", "-epochs", "3", "-out", straight, "-no-pictures")...); code != 0 {
		t.Fatalf("straight: %d\n%s\n%s", code, so, se)
	}
	a, _ := checkpoint.Load(filepath.Join(out, "checkpoint.safetensors"))
	b, _ := checkpoint.Load(filepath.Join(straight, "checkpoint.safetensors"))
	if a == nil || b == nil || !bytes.Equal(f32bytes(a.P), f32bytes(b.P)) || !bytes.Equal(f32bytes(a.V), f32bytes(b.V)) {
		t.Fatal("2 epochs + resume for 1 differ from 3 epochs straight")
	}
	// A run folder's config.json as -config, with a flag overriding it.
	again := filepath.Join(dir, "again")
	code, stdout, stderr = runCmd(t, "-train", tr, "-test", te, "-label-col", "-1", "-device", "cpu", "-no-pictures",
		"-config", filepath.Join(straight, "config.json"), "-epochs", "1", "-out", again)
	if code != 0 || !strings.Contains(stdout, "training: 1 epochs, batch 20, lr 0.01") || !strings.Contains(stdout, "dz=3 hidden=[8]") {
		t.Fatalf("-config: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// Two seeds: per-seed folders and seeds.json.
	seeds := filepath.Join(dir, "seeds")
	code, stdout, stderr = runCmd(t, append(small, "-epochs", "1", "-seeds", "2", "-seed", "5", "-out", seeds, "-no-pictures")...)
	if code != 0 {
		t.Fatalf("seeds: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, f := range []string{"seed-5/summary.json", "seed-6/summary.json", "seeds.json"} {
		if _, err := os.Stat(filepath.Join(seeds, f)); err != nil {
			t.Error(err)
		}
	}
	if !strings.Contains(stdout, "over 2 seeds") || !strings.Contains(stdout, "ACC hungarian") {
		t.Errorf("seeds summary:\n%s", stdout)
	}
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
	if code != 0 || !strings.Contains(stdout, "batch-norm encoder") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	ck, ckModel, _, err := trainer.LoadCheckpoint(filepath.Join(out, "checkpoint.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if !ckModel.BatchNorm || strings.Join(ck.StateNames, ",") != "enc.0.bn.running_mean,enc.0.bn.running_var,enc.1.bn.running_mean,enc.1.bn.running_var" {
		t.Fatalf("checkpoint: batch_norm %v, state %v", ckModel.BatchNorm, ck.StateNames)
	}
	again := filepath.Join(dir, "again")
	code, stdout, stderr = runCmd(t, "-train", tr, "-test", te, "-label-col", "-1", "-device", "cpu", "-no-pictures",
		"-config", filepath.Join(out, "config.json"), "-out", again)
	if code != 0 || !strings.Contains(stdout, "batch-norm encoder") {
		t.Fatalf("-config of a batch-norm run: exit %d\n%s\n%s", code, stdout, stderr)
	}
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
	if code != 0 || !strings.Contains(stdout, "gumbel tau=1 (x exp(-0.013862944 epoch), floor 0.5)") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	recs, err := trainer.LoadMetrics(filepath.Join(out, "metrics.jsonl"))
	if err != nil || len(recs) != 2 || recs[0].Tau != 1 || recs[1].Tau != float64(float32(math.Exp(-0.013862944))) {
		t.Fatalf("metrics: %v %+v", err, recs)
	}
	again := filepath.Join(dir, "again")
	code, stdout, stderr = runCmd(t, "-train", tr, "-label-col", "-1", "-device", "cpu", "-no-pictures",
		"-config", filepath.Join(out, "config.json"), "-tau", "2", "-tau-decay", "0", "-out", again)
	if code != 0 || !strings.Contains(stdout, "gumbel tau=2,") {
		t.Fatalf("-config with -tau 2 -tau-decay 0: exit %d\n%s\n%s", code, stdout, stderr)
	}
	_, ckModel, ckTrain, err := trainer.LoadCheckpoint(filepath.Join(again, "checkpoint.safetensors"))
	if err != nil || ckModel.Tau != 2 || ckTrain.TauDecay != 0 || ckTrain.TauMin != 0.5 {
		t.Fatalf("checkpoint: %v tau %v decay %v min %v", err, ckModel.Tau, ckTrain.TauDecay, ckTrain.TauMin)
	}
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
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "mnist-train (first 200 of 60000)") || !strings.Contains(stdout, "acc_paper") {
		t.Errorf("output:\n%s", stdout)
	}
	for _, f := range []string{"config.json", "metrics.jsonl", "summary.json", "checkpoint.safetensors", "loss.png", "accuracy.png",
		"latent.png", trainer.SamplesFile, trainer.ReconstructionsFile} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	// samples.png: K = 10 rows of 10 MNIST digits (28x28, scaled 2x, 1-pixel gutters),
	// wider than tall by the label column; reconstructions.png: 20 test digits in 2
	// pairs of rows.
	for _, c := range []struct {
		file string
		rows int
	}{{trainer.SamplesFile, 10}, {trainer.ReconstructionsFile, 4}} {
		sz := pngSize(t, filepath.Join(out, c.file))
		if sz.Y != 1+c.rows*(2*28+1) || sz.X <= 10*(2*28+1) {
			t.Errorf("%s is %v, want %d rows of 10 digits", c.file, sz, c.rows)
		}
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
		if codes[r] != 0 {
			t.Fatalf("rank %d: exit %d\n%s\n%s", r, codes[r], stdouts[r], stderrs[r])
		}
	}
	if !strings.Contains(stdouts[0], "data parallel: 2 ranks") || !strings.Contains(stdouts[0], "acc_hungarian") {
		t.Errorf("rank 0's output:\n%s", stdouts[0])
	}
	if stdouts[1] != "" || strings.Contains(stderrs[1], "epoch") {
		t.Errorf("rank 1 printed:\n%s\n%s", stdouts[1], stderrs[1])
	}
	runs, err := filepath.Glob(filepath.Join("runs", "shu-*"))
	if err != nil || len(runs) != 1 {
		t.Fatalf("run folders %v (%v): want one", runs, err)
	}
	ck, err := checkpoint.Load(filepath.Join(runs[0], "checkpoint.safetensors"))
	if err != nil || ck.State.WorldSize != 2 || ck.State.Step != 6 {
		t.Fatalf("checkpoint: %v %+v", err, ck)
	}
	// Again, into a named folder: the same parameters.
	codes, stdouts, stderrs = runRanks(t, 2, append(args, "-out", "again")...)
	if codes[0] != 0 || codes[1] != 0 {
		t.Fatalf("again: exit %v\n%s\n%s", codes, stdouts[0], stderrs[0])
	}
	ck2, err := checkpoint.Load(filepath.Join("again", "checkpoint.safetensors"))
	if err != nil || !bytes.Equal(f32bytes(ck.P), f32bytes(ck2.P)) || !bytes.Equal(f32bytes(ck.V), f32bytes(ck2.V)) {
		t.Fatalf("two 2-rank runs differ (%v)", err)
	}
	// Resume on one process: refused.
	code, stdout, stderr := runCmd(t, "-train", tr, "-test", te, "-label-col", "-1", "-device", "cpu",
		"-resume", filepath.Join("again", "checkpoint.safetensors"), "-epochs", "3")
	if code != 1 || !strings.Contains(stderr, "written by a run on 2 rank(s), this run has 1") {
		t.Fatalf("resume on 1 rank: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// Resume on 2 ranks for a third epoch.
	codes, stdouts, stderrs = runRanks(t, 2, "-train", tr, "-test", te, "-label-col", "-1", "-device", "cpu",
		"-resume", filepath.Join("again", "checkpoint.safetensors"), "-epochs", "3", "-no-pictures")
	if codes[0] != 0 || codes[1] != 0 || !strings.Contains(stdouts[0], "resumed from") {
		t.Fatalf("resume on 2 ranks: exit %v\n%s\n%s\n%s", codes, stdouts[0], stderrs[0], stderrs[1])
	}
	// A failure on every rank (a data file that does not exist) is printed by rank 0
	// only; every rank exits with the same status.
	codes, _, stderrs = runRanks(t, 2, "-train", filepath.Join(dir, "missing.csv"), "-device", "cpu")
	if codes[0] != codes[1] || codes[0] == 0 || !strings.Contains(stderrs[0], "missing.csv") || stderrs[1] != "" {
		t.Fatalf("missing data: exit %v\n%s\n%s", codes, stderrs[0], stderrs[1])
	}
}

// TestSingleRankTrap: Slurm says 4 tasks but no MPI launcher started the process:
// refused with dist's message (exit status 2) before anything is loaded.
func TestSingleRankTrap(t *testing.T) {
	t.Setenv("SLURM_JOB_ID", "1")
	t.Setenv("SLURM_STEP_ID", "0")
	t.Setenv("SLURM_STEP_NUM_TASKS", "4")
	t.Setenv("GMVAE_DIST_ALLOW_SINGLE", "")
	code, _, stderr := runCmd(t, "-device", "cpu", "-train", filepath.Join(t.TempDir(), "none.csv"))
	if code != 2 || !strings.Contains(stderr, "single-rank trap") {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
}

// pngSize decodes the PNG at path and returns its size.
func pngSize(t *testing.T, path string) image.Point {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img.Bounds().Size()
}
