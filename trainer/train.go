package trainer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"time"

	"github.com/gmvae/gmvae/checkpoint"
	"github.com/gmvae/gmvae/data"
	"github.com/gmvae/gmvae/dist"
	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/gmvae"
	"github.com/gmvae/gmvae/kernels"
	"github.com/gmvae/gmvae/metrics"
	"github.com/gmvae/gmvae/nn"
)

// Random tensor ids of the trainer's own draws (kernels.StreamID(step, id)); the models
// number theirs from 0, far below.
const (
	binarizeTensor = 0xB1A0_0001
	augmentTensor  = 0xB1A0_0002
)

// evalStepBase numbers the random draws of evaluation batch i as step evalStepBase+i:
// the same draws at every evaluation (so two evaluations differ only by the
// parameters) and never those of a training step (runs stay below 2^31 steps).
const evalStepBase = uint64(1) << 31

// trainer is one run's state.
type trainer struct {
	ctx   context.Context
	b     engine.Backend
	m     gmvae.Model
	mc    gmvae.Config
	cfg   Config
	hooks Hooks
	ps    *nn.Params
	names []string
	sizes []int
	// The model's state tensors (nn.Params.StateLayout; none without batch norm).
	stateNames []string
	stateSizes []int

	train, test data.Source
	batcher     *data.Batcher
	nb          int    // batches per epoch
	total       uint64 // steps the run takes

	x, xraw, post, logits, zmean, norm *engine.Buf
	xaug                               *engine.Buf // the augmented batch (AugmentShift, AugmentRotate)
	imgH, imgW                         int         // the images' shape, with augmentation
	// statePrev holds the model state (batch norm's running estimates) from before
	// the step in progress, in a data-parallel run: a step that the ranks then agree
	// to drop (a cancellation seen in its reduction) must not leave its update of the
	// state behind, or the checkpoint would hold a step that never happened.
	statePrev                 *engine.Buf
	xhost, posthost, normhost []float32
	logithost, zhost          []float32

	st        checkpoint.State
	start     time.Time
	wall0     float64 // training seconds before this process (resume)
	epochEx   int     // examples trained this epoch in this process
	epochDur  time.Duration
	procEx    int
	procDur   time.Duration
	lr        float32 // the last step's learning rate
	metricsF  *os.File
	lastCkpt  string
	lastEval  *EvalRecord
	lastScore metrics.Summary
	fitReport *gmvae.FitReport // a classical model's fit
	hasScore  bool

	// Data parallelism (docs/distributed.md): c is the communicator (dist.Single()
	// for one process), rank and world its rank and size, gs the gradient sum,
	// shardRows the most rows a rank's shard of a global batch has.
	c           dist.Comm
	rank, world int
	gs          dist.GradSync
	shardRows   int
}

// Train trains model m on train, evaluating on test (nil: on train), as cfg says, on
// backend b (the model's). Either may be an in-memory *data.Dataset or a sharded
// *data.Sharded (any data.Source); epoch e visits the training examples in the order
// train.Order(cfg.Seed, e) (for a *data.Dataset data.Permutation, for shards the
// shard-and-window order). Every epoch it walks the batches of (cfg.Seed, epoch)
// (data.Batcher), uploads each, binarises it on the device when cfg.Binarize, zeroes
// the gradients, runs m.TrainBatch, checks the terms and the gradient norm for NaN
// and infinity, clips the gradient norm when cfg.Clip > 0, and takes an Adam step at
// the scheduled rate. Every cfg.EvalEvery epochs, and at the end, it evaluates on the
// held-out set (m.Infer, metrics.Evaluate) and reports through hooks.Eval.
//
// With cfg.RunDir it writes there config.json (model and training configs),
// metrics.jsonl (one EvalRecord per evaluation), checkpoint.safetensors (at every
// epoch end, every cfg.CheckpointEvery steps, and when ctx is cancelled) and
// summary.json at the end. With cfg.Resume it continues from a checkpoint so that
// the parameters it ends with are bit-identical to an uninterrupted run's.
//
// The same seeds give the same bits on every backend and any GOMAXPROCS.
//
// # Data parallelism
//
// With cfg.Comm of P > 1 ranks, every rank calls Train with its own backend and model
// (built from the same seed) and the same settings and data (a digest of the
// settings is compared first). Then (docs/distributed.md):
//
//   - rank 0's parameters (and, on resume, Adam's moments and the run's state) are
//     broadcast to every rank;
//   - each step takes the global batch of cfg.BatchSize rows from the shared epoch
//     order; rank r gathers and trains on its block dist.Shard(batch, r, P) (possibly
//     empty), numbering its random draws (the model's and binarize's) with
//     dist.RankStep(step, r, P); the loss terms are summed over the ranks in rank
//     order (weighted by rows) and the gradients turned into the global batch mean's
//     with dist.SumMean (rank order), so that the norm, the non-finite checks, clipping
//     and Adam act on values equal on every rank and every rank takes the same branch;
//   - a cancelled ctx on any rank stops every rank at the same step (the flag travels
//     with the loss terms);
//   - evaluation: every rank evaluates the whole held-out set the same way (same
//     parameters, same data, same draws: the same bits), so no gathering is needed;
//     only rank 0 writes;
//   - only rank 0 writes the run folder (config.json, metrics.jsonl, checkpoints,
//     summary.json); after each write every rank agrees on its outcome (an all-reduce
//     that doubles as the barrier), so a failed write stops every rank with an error;
//   - at the end of every epoch the ranks compare digests of P, M and V;
//   - checkpoints record P (world_size); a resume with another world size is refused.
//
// A P-rank run is bit-reproducible for its P; with P = 1 it is the one-process run.
// An error that only this rank sees in a step (a device failure) cannot be agreed on
// without a collective the other ranks are not in, so Train then prints it and calls
// cfg.Comm.Abort(1). Errors every rank reaches together are returned on every rank;
// SameOnEveryRank and dist.ErrOtherRank tell them apart for printing.
func Train(ctx context.Context, b engine.Backend, m gmvae.Model, train, test data.Source, cfg Config, hooks Hooks) (res *Result, err error) {
	c := cfg.Comm
	if c == nil {
		c = dist.Single()
	}
	t := &trainer{ctx: ctx, b: b, m: m, mc: m.Config(), hooks: hooks, ps: m.Params(),
		c: c, rank: c.Rank(), world: c.Size()}
	train, test = nilSource(train), nilSource(test)
	if train, test, err = mapInputs(t.mc, train, test); err != nil {
		return nil, err
	}
	if t.world > 1 {
		defer func() {
			if err != nil && !dist.IsAgreed(err) {
				fmt.Fprintf(os.Stderr, "train: rank %d of %d: %v\ntrain: rank %d aborts the job (the other ranks would wait for it forever)\n", t.rank, t.world, err, t.rank)
				c.Abort(1)
			}
		}()
		if err := t.checkSameSetup(cfg, train, test); err != nil {
			return nil, err
		}
	}
	setupErr := t.setup(cfg, train, test)
	defer t.free()
	if t.metricsF != nil {
		defer t.metricsF.Close()
	}
	if t.gs != nil {
		defer t.gs.Close()
	}
	if err := dist.Agree(t.c, setupErr); err != nil {
		return nil, err
	}
	if t.world > 1 {
		if err := t.bcastState(); err != nil {
			return nil, err
		}
	}
	return t.run()
}

// setup checks the settings, sizes the batches, allocates, reads the checkpoint to
// resume from, opens the run folder (rank 0) and makes the gradient sum: the work
// before the first collective, whose outcome the ranks then agree on.
func (t *trainer) setup(cfg Config, train, test data.Source) error {
	cfg = cfg.Defaults(t.mc)
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := annealing(t.mc, cfg); err != nil {
		return err
	}
	t.cfg = cfg
	t.cfg.Comm = nil
	t.names, t.sizes = t.ps.Layout()
	t.stateNames, t.stateSizes = t.ps.StateLayout()
	t.shardRows = (cfg.BatchSize + t.world - 1) / t.world
	if err := t.setupData(train, test); err != nil {
		return err
	}
	if err := t.alloc(); err != nil {
		return err
	}
	t.st = checkpoint.State{Seed: cfg.Seed, WorldSize: t.world}
	if _, ok := t.m.(gmvae.Fitter); ok && cfg.Resume != "" {
		return fmt.Errorf("model %s is fitted in one call: there is nothing to resume (fit it again)", t.mc.Model)
	}
	if cfg.Resume != "" {
		if err := t.resume(cfg.Resume); err != nil {
			return err
		}
	}
	if t.rank == 0 {
		if err := t.openRunDir(); err != nil {
			return err
		}
	}
	gs, err := dist.NewGradSync(t.c, t.b, t.ps.Len(), dist.GradSyncOptions{})
	if err != nil {
		return err
	}
	t.gs = gs
	return nil
}

// fileWritten, when set (tests), is told of every run-folder file the trainer writes
// and by which rank.
var fileWritten func(rank int, name string)

func (t *trainer) wrote(name string) {
	if fileWritten != nil {
		fileWritten(t.rank, name)
	}
}

// checkSameSetup compares a digest of the settings and data sizes across the ranks.
func (t *trainer) checkSameSetup(cfg Config, train, test data.Source) error {
	h := fnv.New64a()
	h.Write(mustJSON(cfg))
	h.Write(mustJSON(t.mc))
	for _, ds := range []data.Source{train, test} {
		if ds == nil {
			fmt.Fprint(h, "nil;")
		} else {
			in := ds.Info()
			fmt.Fprintf(h, "%q %d %d;", in.Name, in.N, in.D)
		}
	}
	fmt.Fprintf(h, "%d", t.ps.Len())
	all := make([]int64, t.world)
	if err := t.c.AllGather([]int64{int64(h.Sum64())}, all); err != nil {
		return err
	}
	for r, d := range all {
		if d != all[0] {
			return dist.Everyone(fmt.Errorf("rank %d's settings differ from rank 0's (the model and training configs, run_dir and resume included, and the data sets' names and sizes must be the same on every rank)", r))
		}
	}
	return nil
}

// bcastState sends rank 0's parameters, Adam moments and run state to every rank (a
// fresh run's initial parameters; a resumed run's checkpoint, in case a rank read
// another copy of it).
func (t *trainer) bcastState() error {
	if err := dist.BcastBufs(t.c, t.b, 0, t.ps.P, t.ps.M, t.ps.V); err != nil {
		return err
	}
	if err := t.syncModelState(); err != nil {
		return err
	}
	st := &t.st
	ints := []int64{int64(st.Step), int64(st.Epoch), int64(st.Batch), int64(st.AdamSteps), int64(st.Seed),
		int64(st.Sums.N), int64(st.Sums.Steps), int64(st.Sums.FreeBits)}
	fl := []float64{st.WallS, st.Sums.Loss, st.Sums.ELBO, st.Sums.Recon, st.Sums.KLz, st.Sums.KLw, st.Sums.KLy, st.Sums.GradNorm}
	if err := t.c.Bcast(ints, 0); err != nil {
		return err
	}
	if err := t.c.Bcast(fl, 0); err != nil {
		return err
	}
	st.Step, st.Epoch, st.Batch, st.AdamSteps, st.Seed = uint64(ints[0]), int(ints[1]), int(ints[2]), int(ints[3]), uint64(ints[4])
	st.Sums.N, st.Sums.Steps, st.Sums.FreeBits = int(ints[5]), int(ints[6]), int(ints[7])
	st.WallS, st.Sums.Loss, st.Sums.ELBO, st.Sums.Recon, st.Sums.KLz, st.Sums.KLw, st.Sums.KLy, st.Sums.GradNorm = fl[0], fl[1], fl[2], fl[3], fl[4], fl[5], fl[6], fl[7]
	t.wall0 = st.WallS
	return nil
}

// syncModelState copies rank 0's model state (batch norm's running estimates, which
// every rank updates from its own shard) to every rank; the trainer calls it before
// every evaluation and checkpoint, so that what is evaluated and saved is the same on
// every rank and a resumed run (whose ranks all start from the saved state) evaluates
// and saves the same bits as an uninterrupted one.
func (t *trainer) syncModelState() error {
	if t.world == 1 || t.ps.S == nil {
		return nil
	}
	return dist.BcastBufs(t.c, t.b, 0, t.ps.S)
}

// checkSameParams compares digests of P, M and V across the ranks (each epoch).
func (t *trainer) checkSameParams() error {
	d, err := dist.Digest(t.b, t.ps.P, t.ps.M, t.ps.V)
	if err != nil {
		return err
	}
	all := make([]int64, t.world)
	if err := t.c.AllGather([]int64{int64(d)}, all); err != nil {
		return err
	}
	for r, x := range all {
		if x != all[0] {
			return dist.Everyone(fmt.Errorf("epoch %d: rank %d's parameters or Adam moments differ from rank 0's (digest %016x, rank 0 %016x): the ranks have drifted apart", t.st.Epoch+1, r, uint64(x), uint64(all[0])))
		}
	}
	return nil
}

// nilSource turns a nil *data.Dataset inside a Source into a nil Source.
func nilSource(s data.Source) data.Source {
	if ds, ok := s.(*data.Dataset); ok && ds == nil {
		return nil
	}
	return s
}

func (t *trainer) setupData(train, test data.Source) error {
	if train == nil || train.Info().N == 0 {
		return errors.New("the training set is empty")
	}
	if test == nil {
		test = train
	}
	var err error
	if n := t.cfg.TrainSubset; n > 0 && n < train.Info().N {
		if train, err = train.Head(n); err != nil {
			return err
		}
	}
	if n := t.cfg.TestSubset; n > 0 && n < test.Info().N {
		if test, err = test.Head(n); err != nil {
			return err
		}
	}
	if n := train.Info().N; t.mc.K > n {
		return fmt.Errorf("k = %d clusters for %d training rows: want k <= the number of rows", t.mc.K, n)
	}
	if test.Info().N == 0 {
		return fmt.Errorf("the evaluation set %s is empty", test.Info().Name)
	}
	for _, ds := range []data.Source{train, test} {
		in := ds.Info()
		if in.D != t.mc.D {
			return fmt.Errorf("%s has %d features per example, the model expects d = %d", in.Name, in.D, t.mc.D)
		}
		if t.mc.Likelihood == gmvae.Bernoulli || t.cfg.Binarize {
			if lo, hi := ds.Range(); lo < 0 || hi > 1 {
				return fmt.Errorf("%s has values in [%g, %g]; a Bernoulli likelihood and binarisation need data in [0, 1] (use the gaussian likelihood, or rescale)", in.Name, lo, hi)
			}
		}
	}
	if t.shardRows > t.mc.MaxBatch {
		if t.world > 1 {
			return fmt.Errorf("batch_size %d over %d ranks gives shards of up to %d rows, more than the model's max_batch %d", t.cfg.BatchSize, t.world, t.shardRows, t.mc.MaxBatch)
		}
		return fmt.Errorf("batch_size %d is larger than the model's max_batch %d", t.cfg.BatchSize, t.mc.MaxBatch)
	}
	if t.cfg.EvalBatch > t.mc.MaxBatch {
		return fmt.Errorf("eval_batch %d is larger than the model's max_batch %d", t.cfg.EvalBatch, t.mc.MaxBatch)
	}
	if t.augment() {
		h, w, ok := imageDims(train.Info())
		if !ok {
			return fmt.Errorf("augment_shift and augment_rotate move images; %s has no image shape (its examples are %d values)", train.Info().Name, train.Info().D)
		}
		if h > kernels.AugmentMaxSide || w > kernels.AugmentMaxSide {
			return fmt.Errorf("augment_shift and augment_rotate move images of at most %d pixels a side (float32 coordinates); %s's images are %d x %d", kernels.AugmentMaxSide, train.Info().Name, h, w)
		}
		t.imgH, t.imgW = h, w
	}
	t.train, t.test = train, test
	t.batcher, err = data.NewSourceBatcher(train, t.cfg.BatchSize, t.cfg.Seed, t.cfg.DropLast)
	if err != nil {
		return err
	}
	t.nb = t.batcher.NumBatches()
	if t.nb == 0 {
		return fmt.Errorf("%d training examples make no batch of %d with drop_last", train.Info().N, t.cfg.BatchSize)
	}
	t.total = uint64(t.cfg.Epochs) * uint64(t.nb)
	if t.cfg.MaxSteps > 0 && uint64(t.cfg.MaxSteps) < t.total {
		t.total = uint64(t.cfg.MaxSteps)
	}
	if t.total >= evalStepBase {
		return fmt.Errorf("%d steps; at most %d are supported", t.total, evalStepBase-1)
	}
	return nil
}

func (t *trainer) alloc() error {
	d, k := t.mc.D, t.mc.K
	rows := max(t.shardRows, t.cfg.EvalBatch)
	var err error
	mk := func(n int, tag string) *engine.Buf {
		if err != nil {
			return nil
		}
		var buf *engine.Buf
		buf, err = t.b.New(n, tag)
		return buf
	}
	t.x = mk(rows*d, "train: batch")
	if t.augment() {
		t.xaug = mk(rows*d, "train: augmented batch")
	}
	if t.cfg.Binarize {
		t.xraw = mk(rows*d, "train: batch before binarisation")
	}
	t.post = mk(t.cfg.EvalBatch*k, "train: eval posteriors")
	t.logits = mk(t.cfg.EvalBatch*k, "train: eval posterior logits")
	t.zmean = mk(t.cfg.EvalBatch*t.mc.Dz, "train: eval latent means")
	t.norm = mk(1, "train: gradient sum of squares")
	if t.world > 1 && t.ps.StateLen() > 0 {
		t.statePrev = mk(t.ps.StateLen(), "train: model state before the step")
	}
	if err != nil {
		t.free()
		return err
	}
	t.xhost = make([]float32, rows*d)
	t.posthost = make([]float32, t.test.Info().N*k)
	t.logithost = make([]float32, t.test.Info().N*k)
	t.zhost = make([]float32, t.test.Info().N*t.mc.Dz)
	t.normhost = make([]float32, 1)
	return nil
}

func (t *trainer) free() {
	for _, p := range []**engine.Buf{&t.x, &t.xaug, &t.xraw, &t.post, &t.logits, &t.zmean, &t.norm, &t.statePrev} {
		if *p != nil {
			_ = t.b.Release(*p)
			*p = nil
		}
	}
}

// dataJSON describes a data set in config.json.
func dataJSON(ds data.Source) map[string]any {
	in := ds.Info()
	return map[string]any{"name": in.Name, "n": in.N, "d": in.D}
}

func mustJSON(v any) []byte {
	j, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return j
}

func (t *trainer) logf(format string, a ...any) {
	if t.hooks.Log != nil {
		t.hooks.Log(fmt.Sprintf(format, a...))
	}
}

// mapInputs returns the sources with the model's input map (gmvae.Config.Input)
// applied to every row they gather; without a map, the sources themselves.
func mapInputs(mc gmvae.Config, train, test data.Source) (data.Source, data.Source, error) {
	if mc.Input == nil {
		return train, test, nil
	}
	var err error
	if train != nil {
		if train, err = data.Mapped(train, *mc.Input); err != nil {
			return nil, nil, err
		}
	}
	if test != nil {
		if test, err = data.Mapped(test, *mc.Input); err != nil {
			return nil, nil, err
		}
	}
	return train, test, nil
}

// augment reports whether training batches are augmented: with AugmentShift or
// AugmentRotate set, except in model vade's clustering stage (Config.AugmentShift).
func (t *trainer) augment() bool {
	if t.mc.Model == "vade" && !t.mc.Pretrain {
		return false
	}
	return t.cfg.AugmentShift > 0 || t.cfg.AugmentRotate > 0
}
