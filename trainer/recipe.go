package trainer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/gmvae/gmvae/checkpoint"
	"github.com/gmvae/gmvae/cluster"
	"github.com/gmvae/gmvae/data"
	"github.com/gmvae/gmvae/dist"
	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/gmvae"
	"github.com/gmvae/gmvae/internal/atomicfile"
	"github.com/gmvae/gmvae/metrics"
)

// Model vade's recipe (Jiang et al. 2017), three stages in one run folder, each of
// which a rerun with the same folder resumes or skips:
//
//  1. autoencoder pretraining: the model with Pretrain set, trained by Train for
//     PretrainEpochs at PretrainLR (constant, Adam's eps as the run's) in the subfolder
//     PretrainDir (a run folder of its own: config, metrics, checkpoint);
//  2. the prior: the pretrained parameters are taken into the full model, the latent
//     means m(x) of the training rows are computed, and a diagonal Gaussian mixture of
//     K components is fitted to them with PriorRestarts restarts (package cluster: the
//     restart of the highest log-likelihood is kept, a criterion that never sees a
//     label); its weights, means and variances become the prior (gmvae.SetPrior), and
//     q(z|x) starts at a tenth of the components' mean variance per dimension
//     (gmvae.SetPosteriorVariance). The model is saved as PriorCheckpoint and the fit as
//     PriorReport;
//  3. training: Train from the prior checkpoint's parameters (fresh Adam state) with the
//     run's settings, in the run folder itself.
//
// A stage is complete when its file is there: stage 1's checkpoint at its last epoch,
// stage 2's checkpoint, stage 3's checkpoint at its last epoch.

// Files and folders of model vade's recipe in a run folder.
const (
	PretrainDir     = "pretrain"
	PriorCheckpoint = "prior.safetensors"
	PriorReport     = "prior.json"
)

// PriorFit is what stage 2 writes to PriorReport.
type PriorFit struct {
	// Rows latent means of Dims dimensions, K components.
	Rows int `json:"rows"`
	Dims int `json:"dims"`
	K    int `json:"k"`
	// LogLiks holds every restart's mean log-likelihood per row; Kept indexes the kept
	// one (the highest).
	LogLiks []float64 `json:"log_liks"`
	Kept    int       `json:"kept"`
	Iters   int       `json:"iters"`
	// Weights of the kept mixture.
	Weights []float32 `json:"weights"`
	// The kept mixture's clustering of the training rows, scored against their labels
	// when they have some (a report only: no choice in the recipe looks at labels).
	ACCHungarian Float `json:"acc_hungarian"`
	NMI          Float `json:"nmi"`
}

// TrainVaDE runs model vade's recipe (see above) on b with the model configuration mc
// and the training configuration cfg (cfg.RunDir must be set: the stages live there).
// hooks.Log hears of every stage; hooks.Start, Step and Eval follow stages 1 and 3.
// It returns stage 3's result with the trained model in Result.Model (the caller
// releases it).
func TrainVaDE(ctx context.Context, b engine.Backend, mc gmvae.Config, cfg Config, train, test data.Source, hooks Hooks) (*Result, error) {
	if mc.Model != "vade" {
		return nil, fmt.Errorf("the recipe is model vade's, not model %s's", mc.Model)
	}
	if cfg.RunDir == "" {
		return nil, errors.New("model vade's recipe needs a run folder (its stages are kept there)")
	}
	cfg = cfg.Defaults(mc)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logf := func(format string, a ...any) {
		if hooks.Log != nil {
			hooks.Log(fmt.Sprintf(format, a...))
		}
	}
	// Refused before the run folder gets anything: a folder holding settings counts as
	// a run, and the corrected command would be told to -resume or -overwrite it.
	n := train.Info().N
	if cfg.TrainSubset > 0 && cfg.TrainSubset < n {
		n = cfg.TrainSubset
	}
	if mc.K > n {
		return nil, fmt.Errorf("k = %d clusters for %d training rows: want k <= the number of rows", mc.K, n)
	}
	c := cfg.Comm
	if c == nil {
		c = dist.Single()
	}
	dir := cfg.RunDir
	// The run's settings, so that the folder resumes from any stage (stage 3's Train
	// rewrites the file with its own details).
	var werr error
	if c.Rank() == 0 {
		werr = writeSettings(dir, mc, cfg)
	}
	if err := dist.Agree(c, werr); err != nil {
		return nil, err
	}

	// Stage 1: pretraining.
	pm := mc
	pm.Pretrain = true
	pc := cfg
	pc.Epochs, pc.LR, pc.Schedule = cfg.PretrainEpochs, cfg.PretrainLR, ScheduleConstant
	pc.LRMin, pc.LRDecay, pc.LRStep, pc.MaxSteps = 0, 0, 0, 0
	pc.EvalEvery = cfg.PretrainEpochs
	pc.RunDir = filepath.Join(dir, PretrainDir)
	pc.Resume = ""
	pretrained := filepath.Join(pc.RunDir, checkpoint.File)
	pre, err := gmvae.New(b, pm)
	if err != nil {
		return nil, err
	}
	defer pre.Release()
	switch st, ok := stageState(pretrained); {
	case ok && st.Epoch >= pc.Epochs:
		logf("vade: stage 1 (pretraining) done before: %s", pretrained)
		if err := loadParams(b, pre, pretrained); err != nil {
			return nil, err
		}
	default:
		if ok {
			pc.Resume = pretrained
		}
		logf("vade: stage 1, autoencoder pretraining: %d epochs at lr %g in %s", pc.Epochs, pc.LR, pc.RunDir)
		if _, err := Train(ctx, b, pre, train, test, pc, hooks); err != nil {
			return nil, fmt.Errorf("vade pretraining: %w", err)
		}
	}

	// Stage 2: the prior.
	m, err := gmvae.New(b, mc)
	if err != nil {
		return nil, err
	}
	keep := false
	defer func() {
		if !keep {
			m.Release()
		}
	}()
	priorPath := filepath.Join(dir, PriorCheckpoint)
	if _, err := os.Stat(priorPath); err == nil {
		logf("vade: stage 2 (prior) done before: %s", priorPath)
		if err := loadParams(b, m, priorPath); err != nil {
			return nil, err
		}
	} else {
		if err := copyParams(b, m, pre); err != nil {
			return nil, err
		}
		fit, err := fitPrior(ctx, b, m, cfg, train)
		if err != nil {
			return nil, fmt.Errorf("vade prior: %w", err)
		}
		logf("vade: stage 2, prior: Gaussian mixture of %d components on %d latent means, restart %d of %d kept (log-likelihood %.4f per row; all %v)",
			fit.K, fit.Rows, fit.Kept+1, len(fit.LogLiks), fit.LogLiks[fit.Kept], fit.LogLiks)
		var werr error
		if c.Rank() == 0 {
			werr = writePrior(b, m, dir, fit)
		}
		if err := dist.Agree(c, werr); err != nil {
			return nil, err
		}
	}

	// Stage 3: training from the prior.
	tc := cfg
	tc.Resume = ""
	final := filepath.Join(dir, checkpoint.File)
	if _, ok := stageState(final); ok {
		tc.Resume = final
	}
	logf("vade: stage 3, training: %d epochs at lr %g (%s schedule) in %s", tc.Epochs, tc.LR, tc.Schedule, dir)
	res, err := Train(ctx, b, m, train, test, tc, hooks)
	if err != nil {
		return nil, err
	}
	keep = true
	res.Model = m
	return res, nil
}

// stageState reads where the run of a stage's checkpoint stands; ok is false when
// there is no readable checkpoint.
func stageState(path string) (checkpoint.State, bool) {
	if _, err := os.Stat(path); err != nil {
		return checkpoint.State{}, false
	}
	ck, err := checkpoint.Load(path)
	if err != nil {
		return checkpoint.State{}, false
	}
	return ck.State, true
}

// loadParams uploads the parameters (and state) of the checkpoint at path into m,
// whose layout must be the checkpoint's.
func loadParams(b engine.Backend, m gmvae.Model, path string) error {
	ck, err := checkpoint.Load(path)
	if err != nil {
		return err
	}
	if err := ck.Matches(m.Params()); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := b.Upload(m.Params().P, ck.P); err != nil {
		return err
	}
	if s := m.Params().S; s != nil {
		return b.Upload(s, ck.S)
	}
	return nil
}

// copyParams copies the parameters of src into dst (the same layout).
func copyParams(b engine.Backend, dst, src gmvae.Model) error {
	n, s := src.Params(), dst.Params()
	names, sizes := n.Layout()
	dnames, dsizes := s.Layout()
	if fmt.Sprint(names, sizes) != fmt.Sprint(dnames, dsizes) {
		return errors.New("the pretrained and the full model have different parameters")
	}
	host := make([]float32, n.Len())
	if err := b.Download(host, n.P); err != nil {
		return err
	}
	return b.Upload(s.P, host)
}

// latentMeans returns the latent means m(x) (n, Dz) of the rows of src, computed by
// m's Infer in batches of up to batch rows, as a buffer on b (the caller releases it).
func latentMeans(b engine.Backend, m gmvae.Model, src data.Source, batch int) (*engine.Buf, int, error) {
	c := m.Config()
	in := src.Info()
	n, d := in.N, in.D
	batch = min(batch, c.MaxBatch)
	z, err := b.New(n*c.Dz, "vade prior: latent means")
	if err != nil {
		return nil, 0, err
	}
	bufs := make([]*engine.Buf, 3)
	defer func() {
		for _, x := range bufs {
			if x != nil {
				_ = b.Release(x)
			}
		}
	}()
	for i, sz := range []int{batch * d, batch * c.K, batch * c.K} {
		if bufs[i], err = b.New(sz, "vade prior: batch"); err != nil {
			_ = b.Release(z)
			return nil, 0, err
		}
	}
	x, post, logits := bufs[0], bufs[1], bufs[2]
	host := make([]float32, batch*d)
	for _, idx := range data.SequentialBatches(n, batch) {
		k := len(idx)
		src.Gather(idx, host[:k*d], nil)
		if err := b.Upload(x.Slice(0, k*d), host[:k*d]); err != nil {
			_ = b.Release(z)
			return nil, 0, err
		}
		if _, err := m.Infer(x, k, post.Slice(0, k*c.K), logits.Slice(0, k*c.K), z.Slice(idx[0]*c.Dz, k*c.Dz), evalStepBase); err != nil {
			_ = b.Release(z)
			return nil, 0, err
		}
	}
	return z, n, nil
}

// fitPrior fits the mixture to the training rows' latent means and sets m's prior.
func fitPrior(ctx context.Context, b engine.Backend, m gmvae.Model, cfg Config, train data.Source) (*PriorFit, error) {
	c := m.Config()
	src, _, err := mapInputs(c, train, nil)
	if err != nil {
		return nil, err
	}
	if n := cfg.TrainSubset; n > 0 && n < src.Info().N {
		if src, err = src.Head(n); err != nil {
			return nil, err
		}
	}
	z, n, err := latentMeans(b, m, src, cfg.EvalBatch)
	if err != nil {
		return nil, err
	}
	defer b.Release(z)
	g, err := cluster.FitGMM(ctx, b, z, n, c.Dz, cluster.GMMConfig{K: c.K, Restarts: cfg.PriorRestarts, Seed: c.Seed})
	if err != nil {
		return nil, err
	}
	if err := gmvae.SetPrior(m, g.Weights, g.Means, g.Vars); err != nil {
		return nil, err
	}
	// q(z|x) starts at a tenth of the components' mean variance in each dimension (see
	// gmvae.SetPosteriorVariance).
	post := make([]float32, c.Dz)
	for d := range post {
		var s float64
		for k := range c.K {
			s += float64(g.Vars[k*c.Dz+d])
		}
		post[d] = float32(s / float64(c.K) / 10)
	}
	if err := gmvae.SetPosteriorVariance(m, post); err != nil {
		return nil, err
	}
	fit := &PriorFit{Rows: n, Dims: c.Dz, K: c.K, LogLiks: g.LogLiks, Kept: g.Restart, Iters: g.Iters, Weights: g.Weights,
		ACCHungarian: Float(math.NaN()), NMI: Float(math.NaN())}
	if src.HasLabels() {
		_, labels, err := g.Posteriors(b, z, n)
		if err != nil {
			return nil, err
		}
		var pred, truth []int
		for i, p := range labels {
			if l := src.Label(i); l >= 0 {
				pred = append(pred, p)
				truth = append(truth, l)
			}
		}
		if len(truth) > 0 {
			if acc, err := metrics.ACCHungarian(pred, truth); err == nil {
				fit.ACCHungarian = Float(acc)
			}
			if nmi, err := metrics.NMI(pred, truth); err == nil {
				fit.NMI = Float(nmi)
			}
		}
	}
	return fit, nil
}

// writePrior saves m (the full model with its fitted prior) and the fit's report.
func writePrior(b engine.Backend, m gmvae.Model, dir string, fit *PriorFit) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	j, err := json.MarshalIndent(fit, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteBytes(filepath.Join(dir, PriorReport), append(j, '\n')); err != nil {
		return err
	}
	return SaveModel(filepath.Join(dir, PriorCheckpoint), b, m)
}

// writeSettings writes dir/config.json with the run's two configurations (run_dir and
// resume left out) unless it is there.
func writeSettings(dir string, mc gmvae.Config, cfg Config) error {
	path := filepath.Join(dir, ConfigFile)
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cfg.RunDir, cfg.Resume = "", ""
	j, err := json.MarshalIndent(Settings{Model: mc, Train: cfg}, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(path, append(j, '\n'))
}
