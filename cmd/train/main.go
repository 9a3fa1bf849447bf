// Command train trains a Gaussian-mixture VAE (shared/design/GMVAE.md) on MNIST or the
// user's data and reports how well it clusters.
//
//	go run ./cmd/train                          # MNIST, model A (Dilokthanakul et al.), K=10
//	go run ./cmd/train -model shu -epochs 100   # model B (Rui Shu)
//	go run ./cmd/train -model vade -epochs 300  # model C (VaDE): pretraining, GMM prior, training
//	go run ./cmd/train -model kmeans -restarts 10   # the classical baselines: kmeans, gmm
//	go run ./cmd/train -train my.csv -label-col y   # your data: settings chosen from it
//	go run ./cmd/train -seeds 10 -epochs 100    # best and mean ± s.d. over 10 seeds
//	go run ./cmd/train -resume runs/x           # continue an interrupted run
//
// Every run writes a folder (-out, default runs/<model>-<time>): config.json,
// metrics.jsonl (one line per evaluation), summary.json, checkpoint.safetensors and
// pictures (loss.png, accuracy.png, latent.png; for images, such as MNIST,
// samples.png, one row of decoded draws per cluster, and reconstructions.png,
// held-out examples above their reconstructions). A -config file (the JSON of a run
// folder's config.json: {"model": {...}, "train": {...}}) sets defaults that flags
// override. Ctrl-C (SIGINT, SIGTERM, SIGUSR1) stops at the next step and writes a
// checkpoint to resume from.
//
// Data-parallel training: started by a launcher (mpirun, srun --mpi=pmix, the
// Kubernetes MPI Operator) in a binary built with -tags mpi, every rank trains on its
// shard of each global batch (-batch is the global batch) and the gradients are summed
// in rank order; rank 0 writes the run folder and prints the progress
// (docs/distributed.md). With -device cuda each rank opens GPU (local rank % visible
// GPUs). Without a launcher the command is one process and uses no MPI. A signal to
// any rank stops every rank at the same step, with a checkpoint; to stop an mpirun
// job that way send SIGUSR1 to mpirun, which forwards it (on SIGINT or SIGTERM
// mpirun kills the ranks itself); Slurm's scancel sends SIGTERM to every task.
//
//	go build -tags cuda,mpi -o train ./cmd/train
//	mpirun -np 8 --bind-to none ./train -device cuda -out runs/a8
//
// Exit status: 0 done, 1 the run failed, 2 bad flags or configuration (a launch that
// would run every rank alone included), 130 interrupted.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/gmvae/gmvae/checkpoint"
	"github.com/gmvae/gmvae/data"
	"github.com/gmvae/gmvae/dist"
	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/gmvae"
	"github.com/gmvae/gmvae/internal/atomicfile"
	"github.com/gmvae/gmvae/internal/cli"
	"github.com/gmvae/gmvae/metrics"
	"github.com/gmvae/gmvae/report"
	"github.com/gmvae/gmvae/trainer"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals...)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runWith(ctx, args, stdout, stderr, dist.Open)
}

// opener returns the job's communicator (dist.Open; tests pass in-process ranks).
type opener func() (dist.Comm, dist.Launch, error)

// runWith is run with the communicator that open returns. With several ranks, rank 0
// prints the progress and the errors every rank shares; another rank prints only its
// own errors.
func runWith(ctx context.Context, args []string, stdout, stderr io.Writer, open opener) int {
	var c dist.Comm
	err := runErr(ctx, args, stdout, stderr, open, &c)
	if c != nil {
		defer func() {
			if cerr := c.Close(); cerr != nil {
				fmt.Fprintln(stderr, "train:", cerr)
			}
		}()
	}
	prefix := "train:"
	if c != nil && c.Size() > 1 {
		prefix = fmt.Sprintf("train: rank %d of %d:", c.Rank(), c.Size())
		if c.Rank() != 0 && (errors.Is(err, dist.ErrOtherRank) || dist.SameOnEveryRank(err)) {
			stderr = io.Discard // rank 0 says it
		}
	}
	if errors.Is(err, context.Canceled) && !cli.IsUsage(err) {
		fmt.Fprintln(stderr, err)
		return 130
	}
	return cli.Status("train", prefix, err, stderr)
}

// agree makes every rank learn whether any rank has an error, so that all stop
// together (a rank returning alone would leave the others in a collective); a rank
// whose collective fails aborts the job.
func agree(c dist.Comm, err error) error {
	e := dist.Agree(c, err)
	if e != nil && c.Size() > 1 && !dist.IsAgreed(e) {
		fmt.Fprintf(os.Stderr, "train: rank %d: %v; aborting the job\n", c.Rank(), e)
		c.Abort(1)
	}
	return e
}

// runErr runs the command: the flags, the communicator, the settings and data
// (prepare), the backend, the banner, then the job's runs.
func runErr(ctx context.Context, args []string, stdout, stderr io.Writer, open opener, comm *dist.Comm) error {
	f, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	c, launch, err := open()
	if err != nil {
		return cli.Usage(err)
	}
	*comm = c
	if c.Rank() != 0 {
		stdout = io.Discard
	}
	// Everything up to the backend, on every rank; then the ranks agree that all
	// succeeded (a rank failing alone would leave the others waiting).
	s, train, test, err := prepare(f, stdout)
	if err := agree(c, err); err != nil {
		return err
	}

	b, closeBackend, err := engine.OpenBackendLocal(f.o.device, c.LocalRank())
	if err != nil {
		err = cli.Usage(err)
	}
	if err := agree(c, err); err != nil {
		return err
	}
	defer func() {
		if err := closeBackend(); err != nil {
			fmt.Fprintln(stderr, "train: closing the device:", err)
		}
	}()
	if c.Size() > 1 {
		fmt.Fprintf(stderr, "train: rank %d of %d (local %d of %d) on %s\n", c.Rank(), c.Size(), c.LocalRank(), c.LocalSize(), b.Name())
	}
	if f.o.out == "" {
		if f.o.out, err = defaultRunFolder(c, s.Model.Model); err != nil {
			return err
		}
	}
	j := &job{ctx: ctx, c: c, b: b, o: f.o, m: s.Model, t: s.Train, train: train, test: test,
		desc: describe(s.Model, s.Train), stdout: stdout, stderr: stderr}
	j.banner(launch)
	return j.run()
}

// prepare settles the run's settings against its data: the flags over their base
// (defaults, -config or the run to resume), the data, the checks that need both, the
// data-aware defaults (printed), and one Settle. Nothing is written.
func prepare(f *flags, stdout io.Writer) (s trainer.Settings, train, test data.Source, err error) {
	o := &f.o
	if s, err = f.settings(); err != nil {
		return s, nil, nil, err
	}
	if o.resume != "" && o.out == "" {
		o.out = filepath.Dir(o.resume)
	}
	if train, test, err = loadData(*o); err != nil {
		return s, nil, nil, err
	}
	tr := train.Info()
	if test != nil && test.Info().D != tr.D {
		return s, nil, nil, cli.Usagef("%s has %d features per example, %s has %d", test.Info().Name, test.Info().D, tr.Name, tr.D)
	}
	if !f.fresh && s.Model.D != 0 && s.Model.D != tr.D {
		from := "-resume " + o.resume
		if o.resume == "" {
			from = "-config " + o.configFile
		}
		hint := "give its data with -train"
		if o.trainPath != "" {
			hint = "is -train the run's data?"
		}
		return s, nil, nil, cli.Usagef("%s: its model reads %d features per row, but %s has %d: %s", from, s.Model.D, tr.Name, tr.D, hint)
	}
	var choices []trainer.Choice
	if s, choices, err = f.dataAware(s, train); err != nil {
		return s, nil, nil, err
	}
	s.Model.D = tr.D
	if s, err = f.settle(s); err != nil {
		return s, nil, nil, err
	}
	// Every model needs a row per cluster: refused here, before a device is opened
	// or a run folder written (the trainer refuses it too).
	n, with := tr.N, ""
	if sub := s.Train.TrainSubset; sub > 0 && sub < n {
		n, with = sub, fmt.Sprintf(" (-subset %d)", sub)
	}
	if s.Model.K > n {
		k := fmt.Sprintf("-k %d", s.Model.K)
		if !f.given["k"] {
			k = fmt.Sprintf("k = %d (the model's clusters)", s.Model.K)
		}
		return s, nil, nil, cli.Usagef("%s: %s has %d training rows%s: want k <= the number of rows", k, tr.Name, n, with)
	}
	for _, ch := range choices {
		fmt.Fprintln(stdout, "data-aware default:", ch)
	}
	return s, train, test, nil
}

// defaultRunFolder names a run folder without -out: runs/MODEL-YYYYMMDD-HHMMSS by rank
// 0's clock (the ranks' clocks may differ by a second).
func defaultRunFolder(c dist.Comm, model string) (string, error) {
	now := time.Now()
	_, off := now.Zone()
	tv := []int64{now.Unix(), int64(off)}
	if err := c.Bcast(tv, 0); err != nil {
		return "", err
	}
	now = time.Unix(tv[0], 0).In(time.FixedZone("", int(tv[1])))
	return filepath.Join("runs", model+"-"+now.Format("20060102-150405")), nil
}

// describe is the model's line in the banner and in every summary: its name, K and
// the options that change what it is.
func describe(m gmvae.Config, t trainer.Config) string {
	desc := fmt.Sprintf("%s K=%d", m.Model, m.K)
	if m.Gumbel {
		desc += fmt.Sprintf(" gumbel tau=%g", m.Tau)
		if t.TauDecay > 0 {
			desc += fmt.Sprintf(" (x exp(-%g epoch), floor %g)", t.TauDecay, t.TauMin)
		}
	}
	if m.Model == "dilokthanakul" {
		desc += fmt.Sprintf(" M=%d lambda=%g", m.M, m.Lambda)
		if m.BatchNorm {
			desc += " batch-norm encoder"
		}
		if m.PGrad != "" && m.PGrad != gmvae.PGradStop {
			desc += " p-grad " + string(m.PGrad)
		}
	}
	return desc
}

// job is one launch's runs: every seed (-seeds) and every candidate of a seed
// (-restarts), each trained or fitted into its own folder with the same settings,
// data and backend.
type job struct {
	ctx            context.Context
	c              dist.Comm
	b              engine.Backend
	o              options
	m              gmvae.Config
	t              trainer.Config
	train, test    data.Source
	desc           string // describe's line
	stdout, stderr io.Writer
}

func (j *job) rank0() bool { return j.c.Rank() == 0 }

// banner prints what the job will do: the model, the data, the schedule or fit, the
// augmentation and the ranks.
func (j *job) banner(launch dist.Launch) {
	m, t, c, stdout := j.m, j.t, j.c, j.stdout
	count := func(src data.Source, sub int) string {
		ds := src.Info()
		if sub > 0 && sub < ds.N {
			return fmt.Sprintf("%s (first %d of %d)", ds.Name, sub, ds.N)
		}
		return fmt.Sprintf("%s (%d)", ds.Name, ds.N)
	}
	testName := "the training data"
	if j.test != nil {
		testName = count(j.test, t.TestSubset)
	}
	arch := fmt.Sprintf(", dz=%d hidden=%v", m.Dz, m.Hidden)
	if m.Model == "kmeans" || m.Model == "gmm" {
		arch = ""
	}
	if m.Input != nil {
		arch += ", inputs scaled"
	}
	fmt.Fprintf(stdout, "model %s%s, on %s\ndata: train %s, %d features; evaluate on %s\n",
		j.desc, arch, j.b.Name(), count(j.train, t.TrainSubset), j.train.Info().D, testName)
	switch m.Model {
	case "kmeans", "gmm":
		restarts := m.Restarts
		if restarts == 0 {
			restarts = map[string]int{"kmeans": 10, "gmm": 1}[m.Model]
		}
		cov := ""
		if m.Model == "gmm" {
			cov = ", covariances " + map[string]string{"": "diag", "diag": "diag", "full": "full", gmvae.CovAuto: "diag or full by BIC"}[m.Covariance]
		}
		fmt.Fprintf(stdout, "fitting: %d restarts%s, seed %d\n", restarts, cov, t.Seed)
	case "vade":
		fmt.Fprintf(stdout, "recipe: %d epochs of autoencoder pretraining at lr %g; a prior from the best of %d Gaussian mixtures; %d epochs of training, batch %d, lr %g (%s), Adam eps %g, seed %d\n",
			t.PretrainEpochs, t.PretrainLR, t.PriorRestarts, t.Epochs, t.BatchSize, t.LR, t.Schedule, t.AdamEps, t.Seed)
	default:
		fmt.Fprintf(stdout, "training: %d epochs, batch %d, lr %g (%s), binarize %v, seed %d\n",
			t.Epochs, t.BatchSize, t.LR, t.Schedule, t.Binarize, t.Seed)
	}
	if t.AugmentShift > 0 || t.AugmentRotate > 0 {
		stage := ""
		if m.Model == "vade" {
			stage = " of the autoencoder pretraining (the clustering stage trains on the images as they are)"
		}
		fmt.Fprintf(stdout, "augmentation: every training image%s shifted by up to %g pixels and turned by up to %g degrees, at random per image and step\n", stage, t.AugmentShift, t.AugmentRotate)
	}
	if c.Size() > 1 {
		fmt.Fprintf(stdout, "data parallel: %d ranks (launch %s); each step's batch of %d split into shards of up to %d rows, gradients summed in rank order\n",
			c.Size(), launch, t.BatchSize, (t.BatchSize+c.Size()-1)/c.Size())
	} else if launch.Launcher != dist.NoLauncher {
		fmt.Fprintf(stdout, "launch: %s; one rank\n", launch)
	}
}

// run runs every seed into its folder (seed-N below -out when there are several) and,
// with several, writes the seeds' report.
func (j *job) run() error {
	var sums []metrics.Summary
	var results []*trainer.Result
	for i := range j.o.seeds {
		seed := j.t.Seed + uint64(i)
		dir := j.o.out
		if j.o.seeds > 1 {
			dir = filepath.Join(j.o.out, fmt.Sprintf("seed-%d", seed))
			fmt.Fprintf(j.stdout, "\n== seed %d (%d of %d) ==\n", seed, i+1, j.o.seeds)
		}
		res, err := j.seed(seed, dir)
		if err != nil {
			return err
		}
		results = append(results, res)
		if res.HasScores {
			sums = append(sums, res.Summary)
		}
	}
	if j.o.seeds > 1 {
		var err error
		if j.rank0() {
			err = seedsReport(j.o.out, results, sums, j.stdout)
		}
		return agree(j.c, err)
	}
	return nil
}

// seed runs one seed into dir: one run, or with -restarts R the R candidates (seeds
// seed + r·restartSeedStride, in dir/restart-r) and the label-free selection among
// them (trainer.SelectRestart), whose kept run is copied into dir.
func (j *job) seed(seed uint64, dir string) (*trainer.Result, error) {
	if j.o.restarts <= 1 {
		return j.one(seed, dir)
	}
	var cands []*trainer.Result
	for r := range j.o.restarts {
		cs := seed + uint64(r)*restartSeedStride
		fmt.Fprintf(j.stdout, "\n== restart %d of %d (seed %d) ==\n", r+1, j.o.restarts, cs)
		cr, err := j.one(cs, filepath.Join(dir, fmt.Sprintf("restart-%d", r+1)))
		if err != nil {
			return nil, err
		}
		cands = append(cands, cr)
	}
	var res *trainer.Result
	var serr error
	if j.rank0() {
		res, serr = keepRestart(dir, cands, j.stdout)
	} else {
		res = cands[trainer.SelectRestart(cands)]
	}
	if err := agree(j.c, serr); err != nil {
		return nil, err
	}
	return res, nil
}

// one trains or fits one run of seed into dir (resuming when asked) and prints its
// summary.
func (j *job) one(seed uint64, dir string) (*trainer.Result, error) {
	o := j.o
	mi, ti := j.m, j.t
	mi.Seed, ti.Seed = seed, seed
	ti.RunDir = dir
	ti.Resume = o.resume
	if o.resumeDir {
		ti.Resume = ""
		if ck := filepath.Join(dir, checkpoint.File); exists(ck) {
			ti.Resume = ck
		}
	}
	resuming := ti.Resume != "" || o.resumeDir
	if o.restarts > 1 && exists(filepath.Join(dir, trainer.SummaryFile)) && resuming {
		return trainer.LoadResult(dir) // a finished candidate of a resumed selection
	}
	var perr error
	if j.rank0() {
		perr = prepareRunDir(ti.RunDir, resuming, o.overwrite)
	}
	if err := agree(j.c, perr); err != nil {
		return nil, err
	}
	ti.Comm = j.c
	var draw func(*trainer.Result, gmvae.Model)
	if !o.noPictures && j.rank0() {
		draw = func(res *trainer.Result, model gmvae.Model) { drawPictures(res, model, j.b, mi, j.stderr) }
	}
	res, err := trainOne(j.ctx, j.c, j.b, mi, ti, j.train, j.test, j.stdout, j.stderr, draw)
	if err != nil {
		return nil, err
	}
	fmt.Fprint(j.stdout, "\n", report.FormatSummary(summaryOf(res, mi, j.desc, seed)))
	return res, nil
}

// loadData loads MNIST or the files named by -train/-test.
func loadData(o options) (train, test data.Source, err error) {
	if o.trainPath == "" {
		if o.testPath != "" {
			return nil, nil, cli.Usage(errors.New("-test needs -train (without -train the data is MNIST)"))
		}
		tr, te, err := data.LoadMNIST(o.dataDir)
		if err != nil {
			return nil, nil, err
		}
		return tr, te, nil
	}
	label := data.ParseLabelColumn(o.labelCol)
	load := func(path, labels string) (data.Source, error) {
		if isShardDir(path) {
			return openShards(path, labels)
		}
		name := filepath.Base(path)
		// The format by the file's content (gzip allowed), not its name.
		format, err := data.DetectFormat(path)
		if err != nil {
			return nil, err
		}
		switch format {
		case "csv":
			if labels != "" {
				return nil, cli.Usagef("%s: a CSV file carries its labels in a column (-label-col), not in a separate file", path)
			}
			return data.LoadCSV(path, data.CSVOptions{Label: label})
		case "npy":
			return data.LoadNPY(name, path, labels)
		}
		return data.LoadIDX(name, path, labels)
	}
	if train, err = load(o.trainPath, o.trainLabels); err != nil {
		return nil, nil, err
	}
	if o.testPath != "" {
		if test, err = load(o.testPath, o.testLabels); err != nil {
			return nil, nil, err
		}
	} else if o.testLabels != "" {
		return nil, nil, cli.Usage(errors.New("-test-labels needs -test"))
	}
	return train, test, nil
}

// memoryHint names the flags that size model m's memory, for an error that says it
// does not fit.
func memoryHint(m gmvae.Config) string {
	return fmt.Sprintf(" (its memory grows with the rows of -batch and -eval-batch, max %d here, and with -hidden %v, -k %d, -dz %d: make them smaller)",
		m.MaxBatch, m.Hidden, m.K, m.Dz)
}

// trainOne runs one seed with a progress display per epoch, then, when draw is not
// nil, calls it with the result and the trained model (before the model is released).
// With several ranks, only rank 0 shows the progress.
func trainOne(ctx context.Context, c dist.Comm, b engine.Backend, m gmvae.Config, t trainer.Config, train, test data.Source, stdout, stderr io.Writer, draw func(*trainer.Result, gmvae.Model)) (*trainer.Result, error) {
	var model gmvae.Model
	if m.Model != "vade" { // the vade recipe builds its models
		var err error
		model, err = gmvae.New(b, m)
		if errors.Is(err, engine.ErrOutOfMemory) {
			err = cli.Usagef("model %s: %v%s", m.Model, err, memoryHint(m))
		} else if err != nil {
			err = cli.Usagef("model %s: %v", m.Model, err)
		}
		if err := agree(c, err); err != nil {
			return nil, err
		}
		defer model.Release()
		fmt.Fprintf(stdout, "%d parameters; run folder %s\n", model.Params().Len(), t.RunDir)
	} else {
		fmt.Fprintf(stdout, "run folder %s\n", t.RunDir)
	}
	var bar *report.Progress
	epoch := -1
	hooks := trainer.Hooks{
		Step: func(p trainer.Progress) {
			f := map[string]float64{"loss": p.Terms.Loss}
			if p.Terms.KLy != 0 {
				f["kl_y"] = p.Terms.KLy
			}
			if p.Epoch != epoch || bar == nil {
				epoch = p.Epoch
				// Created at the end of the epoch's first step (of this process): the
				// steps so far count, but their time was not measured, so the rates
				// start after them.
				bar = report.NewProgress(stderr, p.Batches, fmt.Sprintf("epoch %d/%d", p.Epoch+1, p.Epochs)).SetBatch(t.BatchSize).SetDone(p.Batch)
				bar.Add(0, f)
			} else {
				bar.Add(1, f)
			}
			if p.Batch == p.Batches || p.Step == p.TotalSteps {
				bar.Status("evaluating")
			}
		},
		Eval: func(r trainer.EvalRecord) {
			bar.Finish()
			bar = nil
			fmt.Fprintln(stdout, evalLine(r, m.Model))
		},
		Log: func(msg string) { fmt.Fprintln(stdout, msg) },
	}
	if c.Rank() != 0 {
		hooks = trainer.Hooks{}
	}
	var res *trainer.Result
	var err error
	if model != nil {
		res, err = trainer.Train(ctx, b, model, train, test, t, hooks)
	} else if res, err = trainer.TrainVaDE(ctx, b, m, t, train, test, hooks); err == nil {
		model = res.Model
		defer model.Release()
	} else if errors.Is(err, engine.ErrOutOfMemory) {
		err = cli.Usagef("model %s: %v%s", m.Model, err, memoryHint(m))
	}
	if bar != nil {
		bar.Finish()
	}
	if err == nil && draw != nil {
		draw(res, model)
	}
	return res, err
}

func evalLine(r trainer.EvalRecord, model string) string {
	var s string
	switch model {
	case "gmm": // fitted: no training terms, the held-out ELBO is the log-likelihood
		s = fmt.Sprintf("fitted: log-likelihood per row %s", report.FormatValue(float64(r.Test.ELBO)))
	case "kmeans":
		s = fmt.Sprintf("fitted: squared distance to the nearest center per row %s", report.FormatValue(float64(r.Test.Recon)))
	default:
		s = fmt.Sprintf("epoch %g step %d: train loss %s, test ELBO %s (recon %s)",
			r.Epoch, r.Step, report.FormatValue(float64(r.Train.Loss)), report.FormatValue(float64(r.Test.ELBO)), report.FormatValue(float64(r.Test.Recon)))
	}
	if r.Labelled > 0 {
		s += fmt.Sprintf("; ACC paper %.2f%% (float32 ties %.2f%%) purity %.2f%% hungarian %.2f%%, NMI %.4f, ARI %.4f",
			100*r.ACCPaper, 100*r.ACCPaperF32, 100*r.ACCPurity, 100*r.ACCHungarian, r.NMI, r.ARI)
	}
	s += fmt.Sprintf("; %d/%d clusters used (largest %.1f%%)", r.UsedClusters, len(r.Usage), 100*r.LargestShare)
	if r.ExamplesPerS > 0 {
		s += fmt.Sprintf("; %.0f ex/s", r.ExamplesPerS)
	}
	return s
}

func summaryOf(res *trainer.Result, m gmvae.Config, desc string, seed uint64) report.Summary {
	f := res.Final
	mt := map[string]float64{
		"test_elbo": float64(f.Test.ELBO), "test_recon": float64(f.Test.Recon),
		"test_kl_z": float64(f.Test.KLz), "test_kl_y": float64(f.Test.KLy),
	}
	if m.Model == "dilokthanakul" {
		mt["test_kl_w"] = float64(f.Test.KLw)
	}
	var labels [][]int
	if res.HasScores {
		labels = res.Summary.Contingency
		mt["acc_paper"], mt["acc_paper_f32"] = float64(f.ACCPaper), float64(f.ACCPaperF32)
		mt["acc_purity"], mt["acc_hungarian"] = float64(f.ACCPurity), float64(f.ACCHungarian)
		mt["nmi"], mt["ari"] = float64(f.NMI), float64(f.ARI)
	}
	return report.Summary{
		Title:   fmt.Sprintf("%s seed %d, %g epochs, %d steps on %s", desc, seed, f.Epoch, res.Steps, res.Backend),
		Metrics: mt, Usage: f.Usage, Labels: labels, RunDir: res.RunDir,
		Elapsed: time.Duration(res.WallS * float64(time.Second)),
	}
}

// drawPictures writes the curves, the latent scatter and, for image data, the
// samples per cluster and the reconstructions of the evaluation set (model on its
// backend b) into the run folder; a failure is reported and does not fail the run.
func drawPictures(res *trainer.Result, model gmvae.Model, b engine.Backend, m gmvae.Config, stderr io.Writer) {
	if res.RunDir == "" {
		return
	}
	if res.EvalSet != nil {
		err := trainer.WritePictures(b, model, res.EvalSet, res.RunDir, trainer.PictureOptions{})
		if err != nil && !errors.Is(err, trainer.ErrNotImages) {
			fmt.Fprintln(stderr, "train: samples and reconstructions:", err)
		}
	}
	if err := report.CurvesFromMetrics(filepath.Join(res.RunDir, trainer.MetricsFile), res.RunDir); err != nil {
		fmt.Fprintln(stderr, "train: curves:", err)
	}
	if len(res.Pred) > 0 && len(res.ZMean) == len(res.Pred)*m.Dz {
		// At most 5000 points keep the picture readable and PCA quick.
		n := min(len(res.Pred), 5000)
		pts := report.PCA2(res.ZMean[:n*m.Dz], n, m.Dz)
		if err := report.Scatter2D(filepath.Join(res.RunDir, "latent.png"), pts, res.Pred[:n], m.K); err != nil {
			fmt.Fprintln(stderr, "train: latent picture:", err)
		}
	}
}

// seedsReport prints and writes (seeds.json) the best and mean ± s.d. over seeds.
func seedsReport(out string, results []*trainer.Result, sums []metrics.Summary, stdout io.Writer) error {
	fmt.Fprintf(stdout, "\n== over %d seeds ==\n", len(results))
	agg := metrics.OverSeeds(sums)
	if len(sums) > 0 {
		fmt.Fprintln(stdout, agg.String())
	} else {
		fmt.Fprintln(stdout, "(the evaluation set has no labels: no clustering scores)")
	}
	runs := make([]map[string]any, len(results))
	for i, r := range results {
		runs[i] = map[string]any{"run_dir": r.RunDir, "final": r.Final}
	}
	j, err := json.MarshalIndent(map[string]any{"runs": runs, "over_seeds": statsJSON(agg)}, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(out, "seeds.json")
	if err := os.WriteFile(path, append(j, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "per-seed folders and %s in %s\n", filepath.Base(path), out)
	return nil
}

func statsJSON(s metrics.SeedsSummary) map[string]any {
	st := func(x metrics.Stat) map[string]any {
		return map[string]any{"n": x.N, "best": trainer.Float(x.Best), "best_run": x.BestRun, "worst": trainer.Float(x.Worst),
			"mean": trainer.Float(x.Mean), "sd": trainer.Float(x.SD)}
	}
	return map[string]any{"runs": s.Runs, "acc_paper": st(s.ACCPaper), "acc_paper_f32": st(s.ACCPaperF32), "acc_purity": st(s.ACCPurity),
		"acc_hungarian": st(s.ACCHungarian), "nmi": st(s.NMI), "ari": st(s.ARI)}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// prepareRunDir refuses a run folder that already holds a run unless the run
// continues it (resume) or the user asked to start afresh (overwrite), in which case
// the old run's files are removed first. A folder holds a run when it holds work: a
// checkpoint (of the run, of vade's pretraining or prior), a summary, a restarts
// report or a metrics record. A run that failed before any of those (bad settings,
// too little memory) left at most its config.json: the next command may reuse the
// folder, so that fixing a flag does not also take -overwrite.
func prepareRunDir(dir string, resume, overwrite bool) error {
	if dir == "" || resume || !holdsRun(dir) {
		return nil
	}
	if !overwrite {
		return cli.Usagef("the run folder %s already holds a run: continue it with -resume %s, start afresh there with -overwrite, or choose another -out", dir, dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("-overwrite: %w", err)
		}
	}
	return nil
}

// holdsRun reports whether run folder dir holds work that starting afresh would lose.
func holdsRun(dir string) bool {
	for _, f := range []string{checkpoint.File, filepath.Join(trainer.PretrainDir, checkpoint.File), trainer.PriorCheckpoint,
		trainer.SummaryFile, restartsFile} {
		if exists(filepath.Join(dir, f)) {
			return true
		}
	}
	st, err := os.Stat(filepath.Join(dir, trainer.MetricsFile))
	return err == nil && st.Size() > 0
}

// restartsFile is the report of a selection among restarts (keepRestart).
const restartsFile = "restarts.json"

// restartSeedStride separates the seeds of a selection's candidates: seed, seed+1000,
// ... (well clear of -seeds' seed, seed+1, ...).
const restartSeedStride = 1000

// keepRestart writes dir/restarts.json (every candidate's criterion and, for the
// report only, its scores), copies the kept candidate's run files into dir, and
// returns its result.
func keepRestart(dir string, cands []*trainer.Result, stdout io.Writer) (*trainer.Result, error) {
	kept := trainer.SelectRestart(cands)
	type cand struct {
		RunDir       string        `json:"run_dir"`
		TrainELBO    trainer.Float `json:"train_elbo"`
		ACCHungarian trainer.Float `json:"acc_hungarian"`
		NMI          trainer.Float `json:"nmi"`
	}
	rep := struct {
		Criterion string `json:"criterion"`
		Why       string `json:"why"`
		Kept      int    `json:"kept"`
		Runs      []cand `json:"runs"`
	}{Criterion: "train_elbo", Kept: kept,
		Why: "the highest ELBO on the training data in the last epoch: the model that explains the data best, chosen without labels (the scores are reported, never used)"}
	for i, r := range cands {
		rep.Runs = append(rep.Runs, cand{r.RunDir, r.Final.Train.ELBO, r.Final.ACCHungarian, r.Final.NMI})
		fmt.Fprintf(stdout, "restart %d: training ELBO %.4f, Hungarian ACC %.4f (not used to choose)\n", i+1, float64(r.Final.Train.ELBO), float64(r.Final.ACCHungarian))
	}
	fmt.Fprintf(stdout, "kept restart %d (%s) by the highest training ELBO\n", kept+1, cands[kept].RunDir)
	j, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteBytes(filepath.Join(dir, restartsFile), append(j, '\n')); err != nil {
		return nil, err
	}
	src := cands[kept].RunDir
	for _, f := range []string{checkpoint.File, trainer.ConfigFile, trainer.MetricsFile, trainer.SummaryFile} {
		raw, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			return nil, err
		}
		if err := atomicfile.WriteBytes(filepath.Join(dir, f), raw); err != nil {
			return nil, err
		}
	}
	res := *cands[kept]
	res.RunDir = dir
	return &res, nil
}
