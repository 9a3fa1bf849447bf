package trainer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/gmvae/gmvae/checkpoint"
	"github.com/gmvae/gmvae/data"
	"github.com/gmvae/gmvae/dist"
	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/gmvae"
	"github.com/gmvae/gmvae/kernels"
	"github.com/gmvae/gmvae/nn"
	"github.com/gmvae/gmvae/ops"
)

func (t *trainer) progress(terms gmvae.Terms, gnorm float64) Progress {
	p := Progress{
		Step: t.st.Step, TotalSteps: t.total, Epoch: t.st.Epoch, Epochs: t.cfg.Epochs,
		Batch: t.st.Batch, Batches: t.nb, Terms: terms, GradNorm: gnorm, LR: float64(t.lr),
		Elapsed: time.Since(t.start),
	}
	if s := t.procDur.Seconds(); s > 0 {
		p.ExamplesPerS = float64(t.procEx) / s
	}
	return p
}

func (t *trainer) run() (*Result, error) {
	t.start = time.Now()
	if t.hooks.Start != nil {
		t.hooks.Start(t.progress(gmvae.Terms{}, 0))
	}
	if f, ok := t.m.(gmvae.Fitter); ok {
		if err := t.fit(f); err != nil {
			return nil, err
		}
		if err := t.evaluate(); err != nil {
			return nil, err
		}
		if err := t.checkpoint(); err != nil {
			return nil, err
		}
		return t.finish()
	}
	for t.st.Epoch < t.cfg.Epochs && t.st.Step < t.total {
		if err := t.runEpoch(); err != nil {
			return nil, err
		}
		if t.st.Batch < t.nb {
			break // max_steps reached mid-epoch
		}
		if t.world > 1 {
			if err := t.checkSameParams(); err != nil {
				return nil, err
			}
		}
		last := t.st.Epoch+1 == t.cfg.Epochs || t.st.Step >= t.total
		if (t.st.Epoch+1)%t.cfg.EvalEvery == 0 || last {
			if err := t.evaluate(); err != nil {
				return nil, err
			}
		}
		t.st.Epoch++
		t.st.Batch = 0
		t.st.Sums = checkpoint.EpochSums{}
		t.epochEx, t.epochDur = 0, 0
		if err := t.checkpoint(); err != nil {
			return nil, err
		}
	}
	if t.lastEval == nil || t.lastEval.Step != t.st.Step {
		if err := t.evaluate(); err != nil {
			return nil, err
		}
		if err := t.checkpoint(); err != nil {
			return nil, err
		}
	}
	return t.finish()
}

// runEpoch trains on the rest of the current epoch (from batch t.st.Batch, up to the
// step limit). An engine.Loader gathers the next batch (this rank's shard of it) on
// its own goroutine and, on a GPU, uploads it on a copy stream while the current step
// computes.
func (t *trainer) runEpoch() error {
	if err := t.setTemperature(t.st.Epoch); err != nil {
		return dist.Everyone(err)
	}
	d := t.mc.D
	batches := t.batcher.Batches(t.st.Epoch)
	first := t.st.Batch
	count := t.nb - first
	if rem := t.total - t.st.Step; uint64(count) > rem {
		count = int(rem)
	}
	loader, err := engine.NewLoader(t.b, t.shardRows, d, count, func(i int, x []float32) (int, error) {
		idx := dist.Shard(batches[first+i], t.rank, t.world)
		t.train.Gather(idx, x[:len(idx)*d], nil)
		return len(idx), nil
	})
	if err != nil {
		return err
	}
	defer loader.Close()
	for t.st.Batch < t.nb && t.st.Step < t.total {
		// One process stops here; several ranks learn of a cancellation on any of
		// them from the step's reduction (errStop), so that all stop at one step.
		if err := t.ctx.Err(); err != nil && t.world == 1 {
			return t.interrupted(err)
		}
		t0 := time.Now()
		xb, n, ok, err := loader.Next()
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("epoch %d: the loader ended at batch %d of %d", t.st.Epoch, t.st.Batch, t.nb)
		}
		total := len(batches[t.st.Batch]) // the global batch's rows
		terms, gnorm, err := t.step(xb, n, total)
		if errors.Is(err, errStop) {
			cause := t.ctx.Err()
			if cause == nil {
				cause = fmt.Errorf("another rank was interrupted: %w", context.Canceled)
			}
			return t.interrupted(cause)
		}
		if err != nil {
			return err
		}
		n = total
		dt := time.Since(t0)
		t.epochEx += n
		t.epochDur += dt
		t.procEx += n
		t.procDur += dt
		addTerms(&t.st.Sums, terms, n, gnorm)
		t.st.Step++
		t.st.Batch++
		if t.hooks.Step != nil {
			t.hooks.Step(t.progress(terms, gnorm))
		}
		if t.cfg.CheckpointEvery > 0 && t.st.Step%uint64(t.cfg.CheckpointEvery) == 0 && t.st.Batch < t.nb {
			if err := t.checkpoint(); err != nil {
				return err
			}
		}
	}
	return nil
}

// errStop: some rank's context was cancelled; every rank stops before the step.
var errStop = errors.New("stop")

// step trains on the batch xb (n examples, on the backend; this rank's shard of a
// global batch of total rows, n = total in one process): the optimizer step number
// t.st.Step. It returns the global batch's terms and gradient norm, equal on every
// rank.
func (t *trainer) step(xb *engine.Buf, n, total int) (gmvae.Terms, float64, error) {
	d := t.mc.D
	step := t.st.Step
	rstep := dist.RankStep(step, t.rank, t.world) // = step in one process
	x := xb
	if t.augment() && n > 0 {
		// The images moved first, then (with binarisation) drawn as pixels.
		xa := t.xaug.Slice(0, n*d)
		if err := ops.AugmentAffine(t.b, xb, xa, n, t.imgH, t.imgW, float32(t.cfg.AugmentShift), float32(t.cfg.AugmentRotate/360),
			t.cfg.Seed, kernels.StreamID(rstep, augmentTensor)); err != nil {
			return gmvae.Terms{}, 0, err
		}
		xb = xa
		x = xa
	}
	if t.cfg.Binarize && n > 0 {
		x = t.x.Slice(0, n*d)
		if err := ops.Binarize(t.b, xb, x, n*d, t.cfg.Seed, kernels.StreamID(rstep, binarizeTensor)); err != nil {
			return gmvae.Terms{}, 0, err
		}
	}
	if err := t.ps.ZeroGrad(); err != nil {
		return gmvae.Terms{}, 0, err
	}
	if t.statePrev != nil { // an exact copy (a scale by 1)
		if err := ops.EwScale(t.b, t.ps.S, t.statePrev, t.ps.StateLen(), float32(1)); err != nil {
			return gmvae.Terms{}, 0, err
		}
	}
	var terms gmvae.Terms
	if n > 0 { // an empty shard (a short last batch) adds a zero gradient
		var err error
		if terms, err = t.m.TrainBatch(x, n, rstep); err != nil {
			return gmvae.Terms{}, 0, fmt.Errorf("step %d: %w", step, err)
		}
	}
	if t.world > 1 {
		var err error
		if terms, err = t.reduceTerms(terms, n, total); err != nil {
			if errors.Is(err, errStop) && t.statePrev != nil {
				if e := ops.EwScale(t.b, t.statePrev, t.ps.S, t.ps.StateLen(), float32(1)); e != nil {
					return gmvae.Terms{}, 0, e
				}
			}
			return gmvae.Terms{}, 0, err
		}
		if err := dist.SumMean(t.gs, t.b, t.ps.G, n, total); err != nil {
			return gmvae.Terms{}, 0, err
		}
	}
	np := t.ps.Len()
	if err := ops.SumSquares(t.b, t.ps.G, t.norm, np); err != nil {
		return gmvae.Terms{}, 0, err
	}
	if err := t.b.Download(t.normhost, t.norm); err != nil {
		return gmvae.Terms{}, 0, err
	}
	ss := float64(t.normhost[0])
	gnorm := math.Sqrt(ss)
	bad := terms.Finite()
	if bad != "" || math.IsNaN(ss) || math.IsInf(ss, 0) {
		where, finite, err := t.firstNonFiniteGrad()
		if err != nil {
			return gmvae.Terms{}, 0, err
		}
		if bad == "" && finite {
			// The sum of squares overflowed float32 with every gradient finite: take
			// the norm in float64 on the host (deterministic) and go on.
			gnorm = where.norm
		} else {
			return gmvae.Terms{}, 0, dist.Everyone(t.divergence(step, terms, bad, ss, where))
		}
	}
	if t.cfg.Clip > 0 && gnorm > t.cfg.Clip {
		if err := ops.EwScale(t.b, t.ps.G, t.ps.G, np, float32(t.cfg.Clip/gnorm)); err != nil {
			return gmvae.Terms{}, 0, err
		}
	}
	t.st.AdamSteps++
	t.lr = LearningRate(t.cfg, step, t.total, t.nb)
	opt := nn.DefaultAdam(t.lr)
	if t.cfg.AdamEps > 0 {
		opt.Eps = float32(t.cfg.AdamEps)
	}
	if err := t.ps.StepAt(opt, t.st.AdamSteps); err != nil {
		return gmvae.Terms{}, 0, err
	}
	return terms, gnorm, nil
}

// reduceTerms sums the ranks' terms weighted by their rows in rank order into the
// global batch's means (FreeBitsActive: on any rank with rows), and tells whether any
// rank's context is cancelled (errStop on every rank).
func (t *trainer) reduceTerms(terms gmvae.Terms, n, total int) (gmvae.Terms, error) {
	stop, fb := 0.0, 0.0
	if t.ctx.Err() != nil {
		stop = 1
	}
	if n > 0 && terms.FreeBitsActive {
		fb = 1
	}
	w := float64(n)
	r, err := dist.SumFloat64(t.c, stop, w*terms.Loss, w*terms.ELBO, w*terms.Recon, w*terms.KLz, w*terms.KLw, w*terms.KLy, fb)
	if err != nil {
		return gmvae.Terms{}, err
	}
	if r[0] > 0 {
		return gmvae.Terms{}, dist.Everyone(errStop)
	}
	g := float64(total)
	return gmvae.Terms{Loss: r[1] / g, ELBO: r[2] / g, Recon: r[3] / g, KLz: r[4] / g, KLw: r[5] / g, KLy: r[6] / g, FreeBitsActive: r[7] > 0}, nil
}

type gradReport struct {
	tensor string
	index  int
	value  float32
	norm   float64 // float64 norm of all gradients (when all are finite)
}

// firstNonFiniteGrad downloads the gradients and finds the first non-finite one; it
// reports finite = true when there is none.
func (t *trainer) firstNonFiniteGrad() (gradReport, bool, error) {
	g := make([]float32, t.ps.Len())
	if err := t.b.Download(g, t.ps.G); err != nil {
		return gradReport{}, false, err
	}
	off := 0
	var ss float64
	for i, name := range t.names {
		for j, v := range g[off : off+t.sizes[i]] {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return gradReport{tensor: name, index: j, value: v}, false, nil
			}
			ss += float64(v) * float64(v)
		}
		off += t.sizes[i]
	}
	return gradReport{norm: math.Sqrt(ss)}, true, nil
}

func (t *trainer) divergence(step uint64, terms gmvae.Terms, bad string, ss float64, g gradReport) error {
	msg := fmt.Sprintf("diverged at step %d of %d (epoch %d, batch %d of %d):", step+1, t.total, t.st.Epoch+1, t.st.Batch+1, t.nb)
	if bad != "" {
		v := map[string]float64{"loss": terms.Loss, "recon": terms.Recon, "kl_z": terms.KLz, "kl_w": terms.KLw, "kl_y": terms.KLy}[bad]
		msg += fmt.Sprintf(" term %s = %v;", bad, v)
	} else {
		msg += " every loss term is finite;"
	}
	if g.tensor != "" {
		msg += fmt.Sprintf(" first non-finite gradient in tensor %s (element %d = %v)", g.tensor, g.index, g.value)
	} else {
		msg += fmt.Sprintf(" every gradient is finite (sum of squares %v)", ss)
	}
	msg += "; try a lower -lr, -clip, or a narrower [lv_min, lv_max]"
	if t.lastCkpt != "" {
		msg += "; the last good checkpoint is " + t.lastCkpt
	}
	return errors.New(msg)
}

// fit fits a classical model (gmvae.Fitter) to the whole training set, uploaded once,
// in place of the epochs; the run then counts as one epoch of no steps.
func (t *trainer) fit(f gmvae.Fitter) error {
	if t.world > 1 {
		return dist.Everyone(fmt.Errorf("model %s is fitted in one process, not data-parallel", t.mc.Model))
	}
	in := t.train.Info()
	n, d := in.N, in.D
	x, err := t.b.New(n*d, "train: the training set")
	if err != nil {
		return err
	}
	defer t.b.Release(x)
	const chunk = 4096
	host := make([]float32, min(n, chunk)*d)
	for _, idx := range data.SequentialBatches(n, chunk) {
		k := len(idx)
		t.train.Gather(idx, host[:k*d], nil)
		if err := t.b.Upload(x.Slice(idx[0]*d, k*d), host[:k*d]); err != nil {
			return err
		}
	}
	t0 := time.Now()
	rep, err := f.Fit(t.ctx, x, n)
	if err != nil {
		return fmt.Errorf("fitting model %s: %w", t.mc.Model, err)
	}
	t.fitReport = &rep
	t.logf("fitted %s to %d rows in %.1fs: %d restarts by %s, restart %d kept (%v), %d iterations",
		t.mc.Model, n, time.Since(t0).Seconds(), len(rep.Restarts), rep.Objective, rep.Kept+1, rep.Restarts[rep.Kept], rep.Iters)
	if len(rep.BIC) > 0 {
		note := ""
		if rep.Note != "" {
			note = "; " + rep.Note
		}
		full := "failed"
		if v, ok := rep.BIC["full"]; ok {
			full = fmt.Sprintf("%.6g", v)
		}
		t.logf("covariances %s kept (BIC diag %.6g, full %s%s)", rep.Covariance, rep.BIC["diag"], full, note)
	}
	t.st.Epoch, t.st.Batch = t.cfg.Epochs, 0
	t.epochEx, t.epochDur = n, time.Since(t0)
	return nil
}
