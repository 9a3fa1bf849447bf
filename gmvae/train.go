package gmvae

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/gmvae/gmvae/data"
	"github.com/gmvae/gmvae/dist"
	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/internal/atomicfile"
	"github.com/gmvae/gmvae/kernels"
	"github.com/gmvae/gmvae/kernels/fmath"
	"github.com/gmvae/gmvae/metrics"
	"github.com/gmvae/gmvae/nn"
	"github.com/gmvae/gmvae/ops"
)

// Learning-rate schedules of TrainConfig.Schedule.
const (
	ScheduleConstant = "constant" // LR at every step
	ScheduleCosine   = "cosine"   // LR down to LRMin over the run's steps, half a cosine
	ScheduleExp      = "exp"      // LR * LRDecay^(step / steps per epoch)
)

// Random tensor ids of the trainer's own draws (kernels.StreamID(step, id)); the models
// number theirs from 0, far below.
const (
	binarizeTensor = 0xB1A0_0001
)

// evalStepBase numbers the random draws of evaluation batch i as step evalStepBase+i:
// the same draws at every evaluation (so two evaluations differ only by the
// parameters) and never those of a training step (runs stay below 2^31 steps).
const evalStepBase = uint64(1) << 31

// Run-folder files.
const (
	ConfigFile  = "config.json"
	MetricsFile = "metrics.jsonl"
	SummaryFile = "summary.json"
)

// TrainConfig configures Train. Zero fields are filled by Defaults.
type TrainConfig struct {
	Epochs    int     `json:"epochs"`     // passes over the training set
	BatchSize int     `json:"batch_size"` // examples per step (<= the model's MaxBatch)
	LR        float64 `json:"lr"`         // Adam's learning rate (the schedule's peak)
	Schedule  string  `json:"schedule"`   // constant, cosine or exp
	LRMin     float64 `json:"lr_min"`     // cosine: the rate at the last step
	LRDecay   float64 `json:"lr_decay"`   // exp: factor per epoch (e.g. 0.97)
	// TauDecay anneals the Gumbel-softmax temperature of model B with gumbel (0:
	// constant): epoch e (0-based) trains and evaluates at max(TauMin, tau·exp(-TauDecay·e)),
	// tau the model's Config.Tau, as the popular PyTorch port does after every epoch
	// (its defaults, which cmd/train uses with -gumbel: tau 1, TauDecay 0.013862944,
	// TauMin 0.5, reached at epoch 50). Computed in float32 with kernels/fmath, so every
	// machine uses the same temperature.
	TauDecay  float64 `json:"tau_decay,omitempty"`
	TauMin    float64 `json:"tau_min,omitempty"` // the floor of TauDecay's schedule
	Clip      float64 `json:"clip"`              // gradient-norm clip; 0: off
	Binarize  bool    `json:"binarize"`          // dynamic binarisation of every batch (data in [0,1])
	DropLast  bool    `json:"drop_last"`         // leave out each epoch's last, short batch
	EvalBatch int     `json:"eval_batch"`        // examples per evaluation batch (<= MaxBatch)
	EvalEvery int     `json:"eval_every"`        // evaluate every N epochs (and always at the end)
	// CheckpointEvery writes a checkpoint every N steps besides the one at the end of
	// every epoch; 0: only at epoch ends (and on interruption).
	CheckpointEvery int    `json:"checkpoint_every"`
	Seed            uint64 `json:"seed"`              // batch order and binarisation
	MaxSteps        int    `json:"max_steps"`         // stop after this many steps in all; 0: no limit
	TrainSubset     int    `json:"train_subset"`      // train on the first N examples only; 0: all
	TestSubset      int    `json:"test_subset"`       // evaluate on the first N examples only; 0: all
	RunDir          string `json:"run_dir,omitempty"` // run folder; "": write nothing
	Resume          string `json:"resume,omitempty"`  // checkpoint to continue from

	// Comm makes the run data-parallel over Comm's ranks (nil: dist.Single(), one
	// process). Every rank calls Train with the same model config, seed, data and
	// TrainConfig (RunDir and Resume included; checked), on its own backend.
	// BatchSize is then the global batch: each step, rank r trains on its block
	// dist.Shard(batch, r, P) and the gradients are summed in rank order; see Train.
	Comm dist.Comm `json:"-"`
}

// Defaults fills zero fields with the papers' settings for the model m (GMVAE.md):
// model A (dilokthanakul) batch 50, learning rate 1e-4; model B (shu) batch 100,
// learning rate 1e-3; 10 epochs; constant rate; evaluation every epoch in batches of
// the model's MaxBatch.
func (c TrainConfig) Defaults(m Config) TrainConfig {
	m = m.Defaults()
	if c.Epochs == 0 {
		c.Epochs = 10
	}
	if c.BatchSize == 0 {
		c.BatchSize = 50
		if m.Model == "shu" {
			c.BatchSize = 100
		}
		c.BatchSize = min(c.BatchSize, m.MaxBatch)
	}
	if c.LR == 0 {
		c.LR = 1e-4
		if m.Model == "shu" {
			c.LR = 1e-3
		}
	}
	if c.Schedule == "" {
		c.Schedule = ScheduleConstant
	}
	if c.LRDecay == 0 && c.Schedule == ScheduleExp {
		c.LRDecay = 0.97
	}
	if c.EvalBatch == 0 {
		c.EvalBatch = m.MaxBatch
	}
	if c.EvalEvery == 0 {
		c.EvalEvery = 1
	}
	return c
}

// Validate reports the first invalid field, naming it as the JSON config does.
func (c TrainConfig) Validate() error {
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	switch {
	case c.Epochs < 1:
		return fmt.Errorf("train: epochs = %d, want at least 1", c.Epochs)
	case c.BatchSize < 1:
		return fmt.Errorf("train: batch_size = %d, want at least 1", c.BatchSize)
	case !(c.LR > 0) || !finite(c.LR):
		return fmt.Errorf("train: lr = %g, want a positive number", c.LR)
	case c.Schedule != ScheduleConstant && c.Schedule != ScheduleCosine && c.Schedule != ScheduleExp:
		return fmt.Errorf("train: schedule %q, want constant, cosine or exp", c.Schedule)
	case c.LRMin < 0 || !finite(c.LRMin) || (c.Schedule == ScheduleCosine && c.LRMin > c.LR):
		return fmt.Errorf("train: lr_min = %g, want 0 <= lr_min <= lr", c.LRMin)
	case c.Schedule == ScheduleExp && !(c.LRDecay > 0 && c.LRDecay <= 1):
		return fmt.Errorf("train: lr_decay = %g, want 0 < lr_decay <= 1 with the exp schedule", c.LRDecay)
	case c.TauDecay < 0 || !finite(c.TauDecay):
		return fmt.Errorf("train: tau_decay = %g, want >= 0 (0: a constant temperature)", c.TauDecay)
	case c.TauMin < 0 || !finite(c.TauMin):
		return fmt.Errorf("train: tau_min = %g, want >= 0", c.TauMin)
	case c.Clip < 0 || !finite(c.Clip):
		return fmt.Errorf("train: clip = %g, want >= 0 (0 turns clipping off)", c.Clip)
	case c.EvalBatch < 1:
		return fmt.Errorf("train: eval_batch = %d, want at least 1", c.EvalBatch)
	case c.EvalEvery < 1:
		return fmt.Errorf("train: eval_every = %d, want at least 1", c.EvalEvery)
	case c.CheckpointEvery < 0:
		return fmt.Errorf("train: checkpoint_every = %d, want >= 0", c.CheckpointEvery)
	case c.MaxSteps < 0:
		return fmt.Errorf("train: max_steps = %d, want >= 0 (0: no limit)", c.MaxSteps)
	case c.TrainSubset < 0:
		return fmt.Errorf("train: train_subset = %d, want >= 0 (0: all)", c.TrainSubset)
	case c.TestSubset < 0:
		return fmt.Errorf("train: test_subset = %d, want >= 0 (0: all)", c.TestSubset)
	}
	return nil
}

// Float is a float64 that JSON-encodes NaN and infinities as null (encoding/json
// refuses them) and decodes null as NaN.
type Float float64

// MarshalJSON implements json.Marshaler.
func (f Float) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(f))
}

// UnmarshalJSON implements json.Unmarshaler.
func (f *Float) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = Float(math.NaN())
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = Float(v)
	return nil
}

// TermsRecord is Terms as the run folder's JSON writes them (non-finite values null).
type TermsRecord struct {
	Loss  Float `json:"loss"`
	ELBO  Float `json:"elbo"`
	Recon Float `json:"recon"`
	KLz   Float `json:"kl_z"`
	KLw   Float `json:"kl_w"`
	KLy   Float `json:"kl_y"`
}

func termsRecord(t Terms) TermsRecord {
	return TermsRecord{Float(t.Loss), Float(t.ELBO), Float(t.Recon), Float(t.KLz), Float(t.KLw), Float(t.KLy)}
}

// EvalRecord is one evaluation: one line of metrics.jsonl.
type EvalRecord struct {
	Epoch        float64 `json:"epoch"`          // epochs done (fractional when a run stops mid-epoch)
	Step         uint64  `json:"step"`           // optimizer steps done
	WallS        float64 `json:"wall_s"`         // seconds since the run started (evaluations included)
	ExamplesPerS float64 `json:"examples_per_s"` // training examples per second over the epoch's steps
	LR           float64 `json:"lr"`             // the learning rate of the last step
	Tau          float64 `json:"tau,omitempty"`  // the Gumbel-softmax temperature (model B with gumbel)

	Train         TermsRecord `json:"train"`           // means over the epoch's training batches
	GradNorm      Float       `json:"grad_norm"`       // mean gradient norm (before clipping) over the epoch
	FreeBitsShare Float       `json:"free_bits_share"` // share of the epoch's steps with free bits active
	Test          TermsRecord `json:"test"`            // means over the held-out set

	EvalSet string `json:"eval_set"` // the data set evaluated
	// Clustering scores on the held-out set (null when it has no labels). The paper
	// protocol twice: as defined (each cluster's most confident example, by log-odds)
	// and as the GMVAE authors' code computes it (float32 posteriors, the first example
	// among ties); see metrics.Ranking.
	ACCPaper     Float `json:"acc_paper"`
	ACCPaperF32  Float `json:"acc_paper_f32"`
	ACCPurity    Float `json:"acc_purity"`
	ACCHungarian Float `json:"acc_hungarian"`
	NMI          Float `json:"nmi"`
	ARI          Float `json:"ari"`
	Labelled     int   `json:"labelled"` // examples the scores are computed on

	Usage        []int   `json:"usage"`         // examples per cluster (argmax of the posterior)
	UsedClusters int     `json:"used_clusters"` // clusters holding at least one example
	LargestShare float64 `json:"largest_share"` // the largest cluster's share (1: collapsed)
}

// Progress is what the Start and Step hooks see.
type Progress struct {
	Step, TotalSteps uint64 // steps done, steps the run will take
	Epoch, Epochs    int    // epoch in progress (from 0), epochs in all
	Batch, Batches   int    // batches of this epoch done, batches per epoch
	Terms            Terms  // the last step's terms (zero in Start)
	GradNorm         float64
	LR               float64
	ExamplesPerS     float64 // over this process's steps so far
	Elapsed          time.Duration
}

// Hooks let the caller follow a run; any may be nil. They run on the training
// goroutine: keep them short.
type Hooks struct {
	Start func(Progress)   // once, before the first step
	Step  func(Progress)   // after every step
	Eval  func(EvalRecord) // after every evaluation
	Log   func(msg string) // notes: checkpoints written, a resumed run
}

// Result is what Train returns.
type Result struct {
	RunDir     string
	Checkpoint string          // the last checkpoint written ("" without a run folder)
	Final      EvalRecord      // the last evaluation
	Summary    metrics.Summary // its scores (zero when the evaluation set has no labels)
	HasScores  bool
	Steps      uint64
	WallS      float64
	Backend    string
	WorldSize  int // data-parallel ranks (1: one process)

	// The last evaluation's per-example outputs, for pictures: the evaluation set
	// (after any subset), the cluster of every example (argmax of the posterior) and
	// the latent means (N, Dz). EvalSet is nil when the evaluation set is not an
	// in-memory *data.Dataset (a sharded one); EvalSource is always set.
	EvalSet    *data.Dataset
	EvalSource data.Source
	Pred       []int
	ZMean      []float32
}

// trainer is one run's state.
type trainer struct {
	ctx   context.Context
	b     engine.Backend
	m     Model
	mc    Config
	cfg   TrainConfig
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
	// statePrev holds the model state (batch norm's running estimates) from before
	// the step in progress, in a data-parallel run: a step that the ranks then agree
	// to drop (a cancellation seen in its reduction) must not leave its update of the
	// state behind, or the checkpoint would hold a step that never happened.
	statePrev                 *engine.Buf
	xhost, posthost, normhost []float32
	logithost, zhost          []float32

	st        TrainState
	start     time.Time
	wall0     float64 // training seconds before this process (resume)
	epochEx   int     // examples trained this epoch in this process
	epochDur  time.Duration
	procEx    int
	procDur   time.Duration
	lr        float64
	metricsF  *os.File
	lastCkpt  string
	lastEval  *EvalRecord
	lastScore metrics.Summary
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
// SameOnEveryRank and ErrOtherRank tell them apart for printing.
func Train(ctx context.Context, b engine.Backend, m Model, train, test data.Source, cfg TrainConfig, hooks Hooks) (res *Result, err error) {
	c := cfg.Comm
	if c == nil {
		c = dist.Single()
	}
	t := &trainer{ctx: ctx, b: b, m: m, mc: m.Config(), hooks: hooks, ps: m.Params(),
		c: c, rank: c.Rank(), world: c.Size()}
	train, test = nilSource(train), nilSource(test)
	if t.world > 1 {
		defer func() {
			var ae agreedError
			if err != nil && !errors.As(err, &ae) {
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
	if err := t.agree(setupErr); err != nil {
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
func (t *trainer) setup(cfg TrainConfig, train, test data.Source) error {
	cfg = cfg.Defaults(t.mc)
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.TauDecay > 0 || cfg.TauMin > 0 {
		if _, ok := t.m.(Tempered); !ok || !t.mc.Gumbel {
			return fmt.Errorf("train: tau_decay and tau_min anneal the Gumbel-softmax temperature of model shu with gumbel, not of model %s (gumbel %v)", t.mc.Model, t.mc.Gumbel)
		}
		if cfg.TauMin > float64(t.mc.Tau) {
			return fmt.Errorf("train: tau_min = %g is above the starting temperature tau = %g", cfg.TauMin, t.mc.Tau)
		}
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
	t.st = TrainState{Seed: cfg.Seed, WorldSize: t.world}
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

// ErrOtherRank is wrapped by the error a rank returns when another rank failed (its
// own message is printed by that rank).
var ErrOtherRank = errors.New("train: another rank failed")

// agreedError marks an error that every rank of a data-parallel run returns at the
// same point (so no rank is left in a collective); same: computed from values equal
// on every rank, so every rank has the same message.
type agreedError struct {
	error
	same bool
}

func (e agreedError) Unwrap() error { return e.error }

// SameOnEveryRank reports whether err is an error of a data-parallel Train that every
// rank returned with the same message (a divergence, an interruption, settings that
// differ between ranks): a launcher's log needs it from one rank only.
func SameOnEveryRank(err error) bool {
	var ae agreedError
	return errors.As(err, &ae) && ae.same
}

// everyRank marks err as reached by every rank with the same message.
func everyRank(err error) error {
	if err == nil {
		return nil
	}
	return agreedError{err, true}
}

// agree makes every rank learn whether any rank has an error (an all-reduce of a flag,
// which also waits for every rank, like a barrier): nil when none has, else this
// rank's own error, or one wrapping ErrOtherRank.
func (t *trainer) agree(err error) error {
	if t.world == 1 {
		return err
	}
	flag := []int64{0}
	if err != nil {
		flag[0] = 1
	}
	if cerr := t.c.AllReduceSum(flag); cerr != nil {
		return errors.Join(err, cerr) // not agreed: Train aborts
	}
	switch {
	case flag[0] == 0:
		return nil
	case err == nil:
		return agreedError{fmt.Errorf("%w (%d of %d ranks failed; see their messages)", ErrOtherRank, flag[0], t.world), false}
	}
	return agreedError{err, int(flag[0]) == t.world}
}

// checkSameSetup compares a digest of the settings and data sizes across the ranks.
func (t *trainer) checkSameSetup(cfg TrainConfig, train, test data.Source) error {
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
			return everyRank(fmt.Errorf("train: rank %d's settings differ from rank 0's (the model and training configs, run_dir and resume included, and the data sets' names and sizes must be the same on every rank)", r))
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
			return everyRank(fmt.Errorf("train: epoch %d: rank %d's parameters or Adam moments differ from rank 0's (digest %016x, rank 0 %016x): the ranks have drifted apart", t.st.Epoch+1, r, uint64(x), uint64(all[0])))
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
		return errors.New("train: the training set is empty")
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
	if test.Info().N == 0 {
		return fmt.Errorf("train: the evaluation set %s is empty", test.Info().Name)
	}
	for _, ds := range []data.Source{train, test} {
		in := ds.Info()
		if in.D != t.mc.D {
			return fmt.Errorf("train: %s has %d features per example, the model expects d = %d", in.Name, in.D, t.mc.D)
		}
		if t.mc.Likelihood == Bernoulli || t.cfg.Binarize {
			if lo, hi := ds.Range(); lo < 0 || hi > 1 {
				return fmt.Errorf("train: %s has values in [%g, %g]; a Bernoulli likelihood and binarisation need data in [0, 1] (use the gaussian likelihood, or rescale)", in.Name, lo, hi)
			}
		}
	}
	if t.shardRows > t.mc.MaxBatch {
		if t.world > 1 {
			return fmt.Errorf("train: batch_size %d over %d ranks gives shards of up to %d rows, more than the model's max_batch %d", t.cfg.BatchSize, t.world, t.shardRows, t.mc.MaxBatch)
		}
		return fmt.Errorf("train: batch_size %d is larger than the model's max_batch %d", t.cfg.BatchSize, t.mc.MaxBatch)
	}
	if t.cfg.EvalBatch > t.mc.MaxBatch {
		return fmt.Errorf("train: eval_batch %d is larger than the model's max_batch %d", t.cfg.EvalBatch, t.mc.MaxBatch)
	}
	t.train, t.test = train, test
	t.batcher, err = data.NewSourceBatcher(train, t.cfg.BatchSize, t.cfg.Seed, t.cfg.DropLast)
	if err != nil {
		return err
	}
	t.nb = t.batcher.NumBatches()
	if t.nb == 0 {
		return fmt.Errorf("train: %d training examples make no batch of %d with drop_last", train.Info().N, t.cfg.BatchSize)
	}
	t.total = uint64(t.cfg.Epochs) * uint64(t.nb)
	if t.cfg.MaxSteps > 0 && uint64(t.cfg.MaxSteps) < t.total {
		t.total = uint64(t.cfg.MaxSteps)
	}
	if t.total >= evalStepBase {
		return fmt.Errorf("train: %d steps; at most %d are supported", t.total, evalStepBase-1)
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
	for _, p := range []**engine.Buf{&t.x, &t.xraw, &t.post, &t.logits, &t.zmean, &t.norm, &t.statePrev} {
		if *p != nil {
			_ = t.b.Release(*p)
			*p = nil
		}
	}
}

// trajectoryKeys are the TrainConfig fields a resumed run must share with its
// checkpoint (they decide the steps' bits). Epochs and max_steps may change unless
// the schedule depends on the run's length (cosine).
var trajectoryKeys = []string{"batch_size", "lr", "schedule", "lr_min", "lr_decay", "clip", "binarize", "drop_last", "seed", "train_subset"}

func (t *trainer) resume(path string) error {
	ck, err := LoadCheckpoint(path)
	if err != nil {
		return err
	}
	// The model must be the same (max_batch aside: it only sizes buffers).
	a, b := ck.Model, t.mc
	a.MaxBatch, b.MaxBatch = 0, 0
	if ja, jb := mustJSON(a), mustJSON(b); !bytes.Equal(ja, jb) {
		return fmt.Errorf("resume %s: the checkpoint's model %s differs from this run's %s", path, ja, jb)
	}
	keys := trajectoryKeys
	if t.cfg.Schedule == ScheduleCosine {
		keys = append(keys[:len(keys):len(keys)], "epochs", "max_steps")
	}
	var ma, mb map[string]any
	_ = json.Unmarshal(mustJSON(ck.Train), &ma)
	_ = json.Unmarshal(mustJSON(t.cfg), &mb)
	for _, key := range keys {
		if fmt.Sprint(ma[key]) != fmt.Sprint(mb[key]) {
			return fmt.Errorf("resume %s: %s is %v in this run but %v in the checkpoint (a resumed run must keep the settings that decide its steps)", path, key, mb[key], ma[key])
		}
	}
	if err := ck.matches(t.ps); err != nil {
		return fmt.Errorf("resume %s: %w", path, err)
	}
	if ck.State.WorldSize != t.world {
		return fmt.Errorf("resume %s: the checkpoint was written by a run on %d rank(s), this run has %d: a data-parallel run resumes only with the same number of ranks (each step's shards and random streams depend on it); restart it with %d ranks", path, ck.State.WorldSize, t.world, ck.State.WorldSize)
	}
	if ck.State.Epoch > t.cfg.Epochs || (ck.State.Batch > t.nb) {
		return fmt.Errorf("resume %s: the checkpoint is at epoch %d, batch %d, beyond this run (%d epochs of %d batches)", path, ck.State.Epoch, ck.State.Batch, t.cfg.Epochs, t.nb)
	}
	for _, c := range []struct {
		dst *engine.Buf
		src []float32
	}{{t.ps.P, ck.P}, {t.ps.M, ck.M}, {t.ps.V, ck.V}, {t.ps.S, ck.S}} {
		if c.dst == nil {
			continue // no state
		}
		if err := t.b.Upload(c.dst, c.src); err != nil {
			return err
		}
	}
	t.st = ck.State
	t.wall0 = ck.State.WallS
	t.lastCkpt = path
	t.logf("resumed from %s at step %d (epoch %d, batch %d of %d)", path, t.st.Step, t.st.Epoch+1, t.st.Batch, t.nb)
	return nil
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

// openRunDir creates the run folder, writes config.json and opens metrics.jsonl:
// truncated for a new run; for a resumed one, kept up to the checkpoint's step.
func (t *trainer) openRunDir() error {
	dir := t.cfg.RunDir
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("train: run folder: %w", err)
	}
	cfgJSON, err := json.MarshalIndent(map[string]any{
		"model":      t.mc,
		"train":      t.cfg,
		"backend":    t.b.Name(),
		"world_size": t.world,
		"data": map[string]any{
			"train": dataJSON(t.train),
			"test":  dataJSON(t.test),
		},
	}, "", "  ")
	if err != nil {
		return err
	}
	t.wrote(ConfigFile)
	t.wrote(MetricsFile)
	if err := atomicfile.WriteBytes(filepath.Join(dir, ConfigFile), append(cfgJSON, '\n')); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	mpath := filepath.Join(dir, MetricsFile)
	var keep []byte
	if t.cfg.Resume != "" {
		// Keep the evaluations up to the checkpoint; one at its very step is redone
		// (so dropped) only when the run is already complete and ends with it.
		complete := t.st.Epoch >= t.cfg.Epochs || t.st.Step >= t.total
		if old, err := os.ReadFile(mpath); err == nil {
			sc := bufio.NewScanner(bytes.NewReader(old))
			sc.Buffer(nil, 1<<24)
			for sc.Scan() {
				var r struct {
					Step uint64 `json:"step"`
				}
				if json.Unmarshal(sc.Bytes(), &r) == nil && (r.Step < t.st.Step || r.Step == t.st.Step && !complete) {
					keep = append(keep, sc.Bytes()...)
					keep = append(keep, '\n')
				}
			}
		}
	}
	// Replace the file atomically (a crash keeps the old lines), then append to it.
	if err := atomicfile.WriteBytes(mpath, keep); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	f, err := os.OpenFile(mpath, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	t.metricsF = f
	return nil
}

// rate returns the learning rate of step s (0-based), computed in float32 with the
// engine's own math (kernels/fmath) so that it is the same on every machine.
func (t *trainer) rate(s uint64) float32 {
	lr := float32(t.cfg.LR)
	switch t.cfg.Schedule {
	case ScheduleCosine:
		lo := float32(t.cfg.LRMin)
		frac := float32(float64(s) / float64(max(t.total, 1)))
		_, c := fmath.Sincos2Pi(float32(frac * 0.5)) // cos(pi * frac)
		return lo + float32(float32(0.5*(lr-lo))*(1+c))
	case ScheduleExp:
		e := float32(float64(s) / float64(t.nb))
		return float32(lr * fmath.Exp(float32(e*fmath.Log(float32(t.cfg.LRDecay)))))
	}
	return lr
}

// temperature returns the Gumbel-softmax temperature of epoch e (0-based):
// max(TauMin, tau·exp(-TauDecay·e)) in float32 with the engine's own math, the same
// on every machine; 0 when the model has none.
func (t *trainer) temperature(e int) float32 {
	if !t.mc.Gumbel {
		return 0
	}
	tau := t.mc.Tau
	if t.cfg.TauDecay == 0 {
		return tau
	}
	v := float32(tau * fmath.Exp(float32(-t.cfg.TauDecay*float64(e))))
	return max(v, float32(t.cfg.TauMin))
}

// setTemperature gives the model the temperature of epoch e (Tempered models only).
func (t *trainer) setTemperature(e int) error {
	if m, ok := t.m.(Tempered); ok && t.mc.Gumbel {
		return m.SetTemperature(t.temperature(e))
	}
	return nil
}

func (t *trainer) progress(terms Terms, gnorm float64) Progress {
	p := Progress{
		Step: t.st.Step, TotalSteps: t.total, Epoch: t.st.Epoch, Epochs: t.cfg.Epochs,
		Batch: t.st.Batch, Batches: t.nb, Terms: terms, GradNorm: gnorm, LR: t.lr,
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
		t.hooks.Start(t.progress(Terms{}, 0))
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
		t.st.Sums = epochSums{}
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
		return everyRank(err)
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
			return fmt.Errorf("train: epoch %d: the loader ended at batch %d of %d", t.st.Epoch, t.st.Batch, t.nb)
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
		t.st.Sums.add(terms, n, gnorm)
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
var errStop = errors.New("train: stop")

// step trains on the batch xb (n examples, on the backend; this rank's shard of a
// global batch of total rows, n = total in one process): the optimizer step number
// t.st.Step. It returns the global batch's terms and gradient norm, equal on every
// rank.
func (t *trainer) step(xb *engine.Buf, n, total int) (Terms, float64, error) {
	d := t.mc.D
	step := t.st.Step
	rstep := dist.RankStep(step, t.rank, t.world) // = step in one process
	x := xb
	if t.cfg.Binarize && n > 0 {
		x = t.x.Slice(0, n*d)
		if err := ops.Binarize(t.b, xb, x, n*d, t.cfg.Seed, kernels.StreamID(rstep, binarizeTensor)); err != nil {
			return Terms{}, 0, err
		}
	}
	if err := t.ps.ZeroGrad(); err != nil {
		return Terms{}, 0, err
	}
	if t.statePrev != nil { // an exact copy (a scale by 1)
		if err := ops.EwScale(t.b, t.ps.S, t.statePrev, t.ps.StateLen(), float32(1)); err != nil {
			return Terms{}, 0, err
		}
	}
	var terms Terms
	if n > 0 { // an empty shard (a short last batch) adds a zero gradient
		var err error
		if terms, err = t.m.TrainBatch(x, n, rstep); err != nil {
			return Terms{}, 0, fmt.Errorf("train: step %d: %w", step, err)
		}
	}
	if t.world > 1 {
		var err error
		if terms, err = t.reduceTerms(terms, n, total); err != nil {
			if errors.Is(err, errStop) && t.statePrev != nil {
				if e := ops.EwScale(t.b, t.statePrev, t.ps.S, t.ps.StateLen(), float32(1)); e != nil {
					return Terms{}, 0, e
				}
			}
			return Terms{}, 0, err
		}
		if err := dist.SumMean(t.gs, t.b, t.ps.G, n, total); err != nil {
			return Terms{}, 0, err
		}
	}
	np := t.ps.Len()
	if err := ops.SumSquares(t.b, t.ps.G, t.norm, np); err != nil {
		return Terms{}, 0, err
	}
	if err := t.b.Download(t.normhost, t.norm); err != nil {
		return Terms{}, 0, err
	}
	ss := float64(t.normhost[0])
	gnorm := math.Sqrt(ss)
	bad := terms.Finite()
	if bad != "" || math.IsNaN(ss) || math.IsInf(ss, 0) {
		where, finite, err := t.firstNonFiniteGrad()
		if err != nil {
			return Terms{}, 0, err
		}
		if bad == "" && finite {
			// The sum of squares overflowed float32 with every gradient finite: take
			// the norm in float64 on the host (deterministic) and go on.
			gnorm = where.norm
		} else {
			return Terms{}, 0, everyRank(t.divergence(step, terms, bad, ss, where))
		}
	}
	if t.cfg.Clip > 0 && gnorm > t.cfg.Clip {
		if err := ops.EwScale(t.b, t.ps.G, t.ps.G, np, float32(t.cfg.Clip/gnorm)); err != nil {
			return Terms{}, 0, err
		}
	}
	t.st.AdamSteps++
	t.lr = float64(t.rate(step))
	if err := t.ps.StepAt(nn.DefaultAdam(float32(t.lr)), t.st.AdamSteps); err != nil {
		return Terms{}, 0, err
	}
	return terms, gnorm, nil
}

// reduceTerms sums the ranks' terms weighted by their rows in rank order into the
// global batch's means (FreeBitsActive: on any rank with rows), and tells whether any
// rank's context is cancelled (errStop on every rank).
func (t *trainer) reduceTerms(terms Terms, n, total int) (Terms, error) {
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
		return Terms{}, err
	}
	if r[0] > 0 {
		return Terms{}, everyRank(errStop)
	}
	g := float64(total)
	return Terms{Loss: r[1] / g, ELBO: r[2] / g, Recon: r[3] / g, KLz: r[4] / g, KLw: r[5] / g, KLy: r[6] / g, FreeBitsActive: r[7] > 0}, nil
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

func (t *trainer) divergence(step uint64, terms Terms, bad string, ss float64, g gradReport) error {
	msg := fmt.Sprintf("train: diverged at step %d of %d (epoch %d, batch %d of %d):", step+1, t.total, t.st.Epoch+1, t.st.Batch+1, t.nb)
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

// evaluate runs the model over the evaluation set and records the result. In a
// data-parallel run every rank evaluates the whole set: the same parameters, data and
// draws give the same bits on every rank, with no gathering; rank 0 writes.
func (t *trainer) evaluate() error {
	if err := t.syncModelState(); err != nil {
		return err
	}
	// The temperature of the epoch that made the parameters: the current one while
	// it is under way (or just finished), the previous one once the next has been
	// entered with no step taken.
	trained := t.st.Epoch
	if t.st.Batch == 0 && trained > 0 {
		trained--
	}
	if err := t.setTemperature(trained); err != nil {
		return everyRank(err)
	}
	d, k := t.mc.D, t.mc.K
	var sums epochSums
	for bi, idx := range data.SequentialBatches(t.test.Info().N, t.cfg.EvalBatch) {
		n := len(idx)
		t.test.Gather(idx, t.xhost[:n*d], nil)
		x := t.x.Slice(0, n*d)
		step := evalStepBase + uint64(bi)
		if t.cfg.Binarize {
			raw := t.xraw.Slice(0, n*d)
			if err := t.b.Upload(raw, t.xhost[:n*d]); err != nil {
				return err
			}
			if err := ops.Binarize(t.b, raw, x, n*d, t.cfg.Seed, kernels.StreamID(step, binarizeTensor)); err != nil {
				return err
			}
		} else if err := t.b.Upload(x, t.xhost[:n*d]); err != nil {
			return err
		}
		post, logits := t.post.Slice(0, n*k), t.logits.Slice(0, n*k)
		terms, err := t.m.Infer(x, n, post, logits, t.zmean.Slice(0, n*t.mc.Dz), step)
		if err != nil {
			return fmt.Errorf("train: evaluation batch %d: %w", bi, err)
		}
		lo := idx[0]
		if err := t.b.Download(t.posthost[lo*k:(lo+n)*k], post); err != nil {
			return err
		}
		if err := t.b.Download(t.logithost[lo*k:(lo+n)*k], logits); err != nil {
			return err
		}
		dz := t.mc.Dz
		if err := t.b.Download(t.zhost[lo*dz:(lo+n)*dz], t.zmean.Slice(0, n*dz)); err != nil {
			return err
		}
		sums.add(terms, n, 0)
	}
	pred := metrics.Argmax(t.posthost, k)
	rec := EvalRecord{
		Epoch:    float64(t.st.Epoch) + float64(t.st.Batch)/float64(t.nb),
		Step:     t.st.Step,
		LR:       t.lr,
		Tau:      float64(t.temperature(trained)),
		Train:    termsRecord(t.st.Sums.means()),
		Test:     termsRecord(sums.means()),
		EvalSet:  t.test.Info().Name,
		ACCPaper: Float(math.NaN()), ACCPaperF32: Float(math.NaN()), ACCPurity: Float(math.NaN()), ACCHungarian: Float(math.NaN()),
		NMI: Float(math.NaN()), ARI: Float(math.NaN()),
		GradNorm: Float(math.NaN()), FreeBitsShare: Float(math.NaN()),
	}
	if s := t.st.Sums; s.Steps > 0 {
		rec.GradNorm = Float(s.GradNorm / float64(s.Steps))
		rec.FreeBitsShare = Float(float64(s.FreeBits) / float64(s.Steps))
	}
	if sec := t.epochDur.Seconds(); sec > 0 {
		rec.ExamplesPerS = float64(t.epochEx) / sec
	}
	var err error
	if rec.Usage, err = metrics.Usage(pred, k); err != nil {
		return everyRank(err) // the same outputs on every rank
	}
	largest := 0
	for _, u := range rec.Usage {
		if u > 0 {
			rec.UsedClusters++
		}
		largest = max(largest, u)
	}
	rec.LargestShare = float64(largest) / float64(len(pred))
	t.hasScore = false
	if t.test.HasLabels() {
		var lp, ll []int
		var llogits, lpost []float32
		for i, p := range pred {
			if l := t.test.Label(i); l >= 0 {
				lp = append(lp, p)
				ll = append(ll, l)
				llogits = append(llogits, t.logithost[i*k:(i+1)*k]...)
				lpost = append(lpost, t.posthost[i*k:(i+1)*k]...)
			}
		}
		// The paper protocol as defined ranks examples by their log-odds, which
		// float32 posteriors lose where they round to 1 (metrics.PaperMapping).
		score, err := metrics.LogOdds(llogits, k)
		if err != nil {
			return everyRank(fmt.Errorf("train: evaluation: %w", err))
		}
		s, err := metrics.Evaluate(lp, ll, metrics.Ranking{LogOdds: score, Post: lpost}, k)
		if err != nil {
			return everyRank(fmt.Errorf("train: evaluation: %w", err))
		}
		rec.ACCPaper, rec.ACCPaperF32 = Float(s.ACCPaper), Float(s.ACCPaperF32)
		rec.ACCPurity, rec.ACCHungarian = Float(s.ACCPurity), Float(s.ACCHungarian)
		rec.NMI, rec.ARI, rec.Labelled = Float(s.NMI), Float(s.ARI), s.N
		t.lastScore, t.hasScore = s, true
	}
	rec.WallS = t.wall0 + time.Since(t.start).Seconds()
	t.lastEval = &rec
	if t.cfg.RunDir != "" {
		var werr error
		if t.metricsF != nil { // rank 0
			t.wrote(MetricsFile)
			line, err := json.Marshal(rec)
			if err == nil {
				_, err = t.metricsF.Write(append(line, '\n'))
			}
			if err != nil {
				werr = fmt.Errorf("train: %s: %w", MetricsFile, err)
			}
		}
		if err := t.agree(werr); err != nil {
			return err
		}
	}
	if t.hooks.Eval != nil {
		t.hooks.Eval(rec)
	}
	return nil
}

// checkpoint writes the run's state to RunDir/checkpoint.safetensors (rank 0); every
// rank waits until it is written and learns whether that worked.
func (t *trainer) checkpoint() error {
	if t.cfg.RunDir == "" {
		return nil
	}
	if err := t.syncModelState(); err != nil {
		return err
	}
	var err error
	if t.rank == 0 {
		err = t.writeCheckpoint()
	}
	if err := t.agree(err); err != nil {
		return err
	}
	t.lastCkpt = filepath.Join(t.cfg.RunDir, CheckpointFile)
	return nil
}

func (t *trainer) writeCheckpoint() error {
	t.wrote(CheckpointFile)
	n := t.ps.Len()
	ck := &Checkpoint{Model: t.mc, Train: t.cfg, Names: t.names, Sizes: t.sizes,
		P: make([]float32, n), M: make([]float32, n), V: make([]float32, n),
		StateNames: t.stateNames, StateSizes: t.stateSizes, S: make([]float32, t.ps.StateLen())}
	ck.Train.Resume, ck.Train.RunDir = "", "" // locations, not settings (checkpoint.go)
	for _, c := range []struct {
		dst []float32
		src *engine.Buf
	}{{ck.P, t.ps.P}, {ck.M, t.ps.M}, {ck.V, t.ps.V}, {ck.S, t.ps.S}} {
		if c.src == nil {
			continue // no state
		}
		if err := t.b.Download(c.dst, c.src); err != nil {
			return err
		}
	}
	ck.State = t.st
	ck.State.WorldSize = t.world
	ck.State.WallS = t.wall0 + time.Since(t.start).Seconds()
	return SaveCheckpoint(filepath.Join(t.cfg.RunDir, CheckpointFile), ck)
}

// interrupted checkpoints (with a run folder) and returns the interruption error; in
// a data-parallel run every rank comes here at the same step.
func (t *trainer) interrupted(cause error) error {
	if t.cfg.RunDir == "" {
		return everyRank(fmt.Errorf("train: interrupted at step %d: %w", t.st.Step, cause))
	}
	if err := t.checkpoint(); err != nil {
		e := fmt.Errorf("train: interrupted at step %d (%w); writing the checkpoint failed: %v", t.st.Step, cause, err)
		var ae agreedError
		if errors.As(err, &ae) {
			return agreedError{e, ae.same}
		}
		return e
	}
	return everyRank(fmt.Errorf("train: interrupted at step %d (%w); continue with -resume %s", t.st.Step, cause, t.lastCkpt))
}

func (t *trainer) finish() (*Result, error) {
	res := &Result{
		RunDir: t.cfg.RunDir, Checkpoint: t.lastCkpt, Final: *t.lastEval, Summary: t.lastScore,
		HasScores: t.hasScore, Steps: t.st.Step, WallS: t.wall0 + time.Since(t.start).Seconds(),
		Backend: t.b.Name(), WorldSize: t.world,
		EvalSource: t.test, Pred: metrics.Argmax(t.posthost, t.mc.K), ZMean: t.zhost,
	}
	if ds, ok := t.test.(*data.Dataset); ok {
		res.EvalSet = ds
	}
	if t.cfg.RunDir == "" {
		return res, nil
	}
	sum := map[string]any{
		"model":      t.mc,
		"train":      t.cfg,
		"backend":    res.Backend,
		"steps":      res.Steps,
		"epochs":     t.lastEval.Epoch,
		"wall_s":     res.WallS,
		"final":      res.Final,
		"checkpoint": res.Checkpoint,
		"params":     t.ps.Len(),
		"world_size": t.world,
	}
	if t.hasScore {
		// Rows: clusters; columns: classes (metrics.Summary.Contingency).
		sum["contingency"] = t.lastScore.Contingency
	}
	var werr error
	if t.rank == 0 {
		t.wrote(SummaryFile)
		j, err := json.MarshalIndent(sum, "", "  ")
		if err == nil {
			err = atomicfile.WriteBytes(filepath.Join(t.cfg.RunDir, SummaryFile), append(j, '\n'))
		}
		if err != nil {
			werr = fmt.Errorf("train: %w", err)
		}
	}
	if err := t.agree(werr); err != nil {
		return nil, err
	}
	return res, nil
}

// LoadMetrics reads a run folder's metrics.jsonl.
func LoadMetrics(path string) ([]EvalRecord, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []EvalRecord
	for i, line := range bytes.Split(raw, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var r EvalRecord
		if err := json.Unmarshal(line, &r); err != nil {
			return nil, fmt.Errorf("%s: line %d: %w", path, i+1, err)
		}
		out = append(out, r)
	}
	return out, nil
}
