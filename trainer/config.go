package trainer

import (
	"fmt"
	"math"

	"github.com/gmvae/gmvae/dist"
	"github.com/gmvae/gmvae/gmvae"
	"github.com/gmvae/gmvae/internal/field"
)

// Learning-rate schedules of Config.Schedule.
const (
	ScheduleConstant = "constant" // LR at every step
	ScheduleCosine   = "cosine"   // LR down to LRMin over the run's steps, half a cosine
	ScheduleExp      = "exp"      // LR * LRDecay^(step / steps per epoch)
	ScheduleStep     = "step"     // max(LRMin, LR * LRDecay^floor(epoch / LRStep)): VaDE's
)

// Config configures Train. Zero fields are filled by Defaults.
type Config struct {
	Epochs    int     `json:"epochs"`            // passes over the training set
	BatchSize int     `json:"batch_size"`        // examples per step (<= the model's MaxBatch)
	LR        float64 `json:"lr"`                // Adam's learning rate (the schedule's peak)
	Schedule  string  `json:"schedule"`          // constant, cosine, exp or step
	LRMin     float64 `json:"lr_min"`            // cosine: the rate at the last step; step: the floor
	LRDecay   float64 `json:"lr_decay"`          // exp: factor per epoch (e.g. 0.97); step: factor per LRStep epochs
	LRStep    int     `json:"lr_step,omitempty"` // step: epochs between decays (VaDE: 10)
	// AdamEps is Adam's epsilon (0: 1e-8; VaDE's code trains with 1e-4).
	AdamEps float64 `json:"adam_eps,omitempty"`
	// TauDecay anneals the Gumbel-softmax temperature of model B with gumbel (0:
	// constant): epoch e (0-based) trains and evaluates at max(TauMin, tau·exp(-TauDecay·e)),
	// tau the model's gmvae.Config.Tau, as the popular PyTorch port does after every epoch
	// (its defaults, which cmd/train uses with -gumbel: tau 1, TauDecay 0.013862944,
	// TauMin 0.5, reached at epoch 50). Computed in float32 with kernels/fmath, so every
	// machine uses the same temperature.
	TauDecay float64 `json:"tau_decay,omitempty"`
	TauMin   float64 `json:"tau_min,omitempty"` // the floor of TauDecay's schedule
	Clip     float64 `json:"clip"`              // gradient-norm clip; 0: off
	// AugmentShift and AugmentRotate, for images (a data set whose examples have a 2-D
	// shape): every training batch is moved by a random shift of up to AugmentShift
	// pixels and turned by up to AugmentRotate degrees, per image (ops.AugmentAffine,
	// from the run's Philox streams; DEC-DA's augmentation of MNIST: 3 pixels, 10°).
	// Evaluation sees the images as they are. 0, 0: off. Model vade augments its
	// autoencoder pretraining only: its clustering stage trained on moved images lost
	// ground (MNIST, seed 1: 74.0 to 71.3 % Hungarian ACC in 5 epochs) where on the
	// images as they are it climbed (docs/clustering.md).
	AugmentShift  float64 `json:"augment_shift,omitempty"`
	AugmentRotate float64 `json:"augment_rotate,omitempty"`
	Binarize      bool    `json:"binarize"`   // dynamic binarisation of every batch (data in [0,1])
	DropLast      bool    `json:"drop_last"`  // leave out each epoch's last, short batch
	EvalBatch     int     `json:"eval_batch"` // examples per evaluation batch (<= MaxBatch)
	EvalEvery     int     `json:"eval_every"` // evaluate every N epochs (and always at the end)
	// CheckpointEvery writes a checkpoint every N steps besides the one at the end of
	// every epoch; 0: only at epoch ends (and on interruption).
	CheckpointEvery int    `json:"checkpoint_every"`
	Seed            uint64 `json:"seed"`         // batch order and binarisation
	MaxSteps        int    `json:"max_steps"`    // stop after this many steps in all; 0: no limit
	TrainSubset     int    `json:"train_subset"` // train on the first N examples only; 0: all
	TestSubset      int    `json:"test_subset"`  // evaluate on the first N examples only; 0: all
	// Model vade's recipe (TrainVaDE): the autoencoder pretraining's epochs and learning
	// rate, and the restarts of the Gaussian mixture fitted to the pretrained latent
	// means (the one of the highest log-likelihood initialises the prior).
	PretrainEpochs int     `json:"pretrain_epochs,omitempty"`
	PretrainLR     float64 `json:"pretrain_lr,omitempty"`
	PriorRestarts  int     `json:"prior_restarts,omitempty"`
	RunDir         string  `json:"run_dir,omitempty"` // run folder; "": write nothing
	Resume         string  `json:"resume,omitempty"`  // checkpoint to continue from

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
// the model's MaxBatch. Model vade: its code's recipe, batch 100, Adam (eps 1e-4) at
// 2e-3 decayed by 0.9 every 10 epochs to a floor of 2e-4, after 50 epochs of
// autoencoder pretraining at 1e-3 and a prior from the best of 10 Gaussian mixtures.
func (c Config) Defaults(m gmvae.Config) Config {
	m = m.Defaults()
	if m.Model == "kmeans" || m.Model == "gmm" {
		c.Epochs = 1 // fitted in one call
	}
	if m.Model == "vade" {
		if c.BatchSize == 0 {
			c.BatchSize = min(100, m.MaxBatch)
		}
		if c.LR == 0 {
			c.LR = 2e-3
		}
		if c.Schedule == "" {
			c.Schedule = ScheduleStep
		}
		if c.Schedule == ScheduleStep {
			if c.LRDecay == 0 {
				c.LRDecay = 0.9
			}
			if c.LRStep == 0 {
				c.LRStep = 10
			}
			if c.LRMin == 0 {
				c.LRMin = 2e-4
			}
		}
		if c.AdamEps == 0 {
			c.AdamEps = 1e-4
		}
		if c.PretrainEpochs == 0 {
			c.PretrainEpochs = 50
		}
		if c.PretrainLR == 0 {
			c.PretrainLR = 1e-3
		}
		if c.PriorRestarts == 0 {
			c.PriorRestarts = 10
		}
	}
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

// Validate reports the first invalid field as a *field.Error naming it as the JSON
// configuration does (section "train").
func (c Config) Validate() error {
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	bad := func(key string, value any, want string) error { return field.New("train", key, value, "%s", want) }
	switch {
	case c.Epochs < 1:
		return bad("epochs", c.Epochs, "want at least 1")
	case c.BatchSize < 1:
		return bad("batch_size", c.BatchSize, "want at least 1")
	case !(c.LR > 0) || !finite(c.LR):
		return bad("lr", c.LR, "want a positive number")
	case c.Schedule != ScheduleConstant && c.Schedule != ScheduleCosine && c.Schedule != ScheduleExp && c.Schedule != ScheduleStep:
		return bad("schedule", fmt.Sprintf("%q", c.Schedule), "want constant, cosine, exp or step")
	case c.LRMin < 0 || !finite(c.LRMin) || (c.Schedule == ScheduleCosine && c.LRMin > c.LR):
		return bad("lr_min", c.LRMin, "want 0 <= lr_min <= lr")
	case (c.Schedule == ScheduleExp || c.Schedule == ScheduleStep) && !(c.LRDecay > 0 && c.LRDecay <= 1):
		return bad("lr_decay", c.LRDecay, "want 0 < lr_decay <= 1 with the exp and step schedules")
	case c.Schedule == ScheduleStep && c.LRStep < 1:
		return bad("lr_step", c.LRStep, "want at least 1 epoch between decays with the step schedule")
	case c.Schedule == ScheduleStep && c.LRMin > c.LR:
		return bad("lr_min", c.LRMin, "the step schedule's floor must not be above lr")
	case c.AdamEps < 0 || !finite(c.AdamEps):
		return bad("adam_eps", c.AdamEps, "want a positive number (0: 1e-8)")
	case c.PretrainEpochs < 0 || c.PretrainLR < 0 || !finite(c.PretrainLR) || c.PriorRestarts < 0:
		return bad("pretrain_epochs", c.PretrainEpochs, "want pretrain_epochs, pretrain_lr and prior_restarts >= 0")
	case c.TauDecay < 0 || !finite(c.TauDecay):
		return bad("tau_decay", c.TauDecay, "want >= 0 (0: a constant temperature)")
	case c.TauMin < 0 || !finite(c.TauMin):
		return bad("tau_min", c.TauMin, "want >= 0")
	case c.AugmentShift < 0 || !finite(c.AugmentShift):
		return bad("augment_shift", c.AugmentShift, "want >= 0 pixels (0: no shift)")
	case c.AugmentRotate < 0 || c.AugmentRotate > 180 || !finite(c.AugmentRotate):
		return bad("augment_rotate", c.AugmentRotate, "want 0 to 180 degrees (0: no rotation)")
	case c.Clip < 0 || !finite(c.Clip):
		return bad("clip", c.Clip, "want >= 0 (0 turns clipping off)")
	case c.EvalBatch < 1:
		return bad("eval_batch", c.EvalBatch, "want at least 1")
	case c.EvalEvery < 1:
		return bad("eval_every", c.EvalEvery, "want at least 1")
	case c.CheckpointEvery < 0:
		return bad("checkpoint_every", c.CheckpointEvery, "want >= 0 (0: at epoch ends only)")
	case c.MaxSteps < 0:
		return bad("max_steps", c.MaxSteps, "want >= 0 (0: no limit)")
	case c.TrainSubset < 0:
		return bad("train_subset", c.TrainSubset, "want >= 0 (0: all)")
	case c.TestSubset < 0:
		return bad("test_subset", c.TestSubset, "want >= 0 (0: all)")
	}
	return nil
}
