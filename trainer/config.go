package trainer

import (
	"fmt"
	"math"

	"github.com/gmvae/gmvae/dist"
	"github.com/gmvae/gmvae/gmvae"
)

// Learning-rate schedules of Config.Schedule.
const (
	ScheduleConstant = "constant" // LR at every step
	ScheduleCosine   = "cosine"   // LR down to LRMin over the run's steps, half a cosine
	ScheduleExp      = "exp"      // LR * LRDecay^(step / steps per epoch)
)

// Config configures Train. Zero fields are filled by Defaults.
type Config struct {
	Epochs    int     `json:"epochs"`     // passes over the training set
	BatchSize int     `json:"batch_size"` // examples per step (<= the model's MaxBatch)
	LR        float64 `json:"lr"`         // Adam's learning rate (the schedule's peak)
	Schedule  string  `json:"schedule"`   // constant, cosine or exp
	LRMin     float64 `json:"lr_min"`     // cosine: the rate at the last step
	LRDecay   float64 `json:"lr_decay"`   // exp: factor per epoch (e.g. 0.97)
	// TauDecay anneals the Gumbel-softmax temperature of model B with gumbel (0:
	// constant): epoch e (0-based) trains and evaluates at max(TauMin, tau·exp(-TauDecay·e)),
	// tau the model's gmvae.Config.Tau, as the popular PyTorch port does after every epoch
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
	// Config (RunDir and Resume included; checked), on its own backend.
	// BatchSize is then the global batch: each step, rank r trains on its block
	// dist.Shard(batch, r, P) and the gradients are summed in rank order; see Train.
	Comm dist.Comm `json:"-"`
}

// Defaults fills zero fields with the papers' settings for the model m (GMVAE.md):
// model A (dilokthanakul) batch 50, learning rate 1e-4; model B (shu) batch 100,
// learning rate 1e-3; 10 epochs; constant rate; evaluation every epoch in batches of
// the model's MaxBatch.
func (c Config) Defaults(m gmvae.Config) Config {
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
func (c Config) Validate() error {
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
