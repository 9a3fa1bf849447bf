package nn

import (
	"fmt"

	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/kernels"
	"github.com/gmvae/gmvae/ops"
)

// Mode says whether a forward pass is part of a training step or an evaluation. Only
// batch normalisation tells them apart: in Train mode it normalises with the batch's
// statistics and updates its running estimates; in Eval mode it normalises with the
// running estimates and changes nothing.
type Mode int

const (
	// Train: batch statistics, running estimates updated.
	Train Mode = iota
	// Eval: running estimates, nothing updated.
	Eval
)

// String returns "train" or "eval".
func (m Mode) String() string {
	switch m {
	case Train:
		return "train"
	case Eval:
		return "eval"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Batch normalisation's settings: Torch's and PyTorch's defaults (the GMVAE authors'
// Torch code uses nn.BatchNormalization with them).
const (
	// BatchNormEps is added to the variance before its square root.
	BatchNormEps float32 = 1e-5
	// BatchNormMomentum is the weight of the newest batch in the running estimates:
	// running = momentum*batch + (1-momentum)*running.
	BatchNormMomentum float32 = 0.1
)

// BatchNorm normalises every column of a layer's (N, C) pre-activation over the batch
// rows and applies a learnt per-column affine map, y = gamma*(x - mean)/sqrt(var + eps)
// + beta (Ioffe and Szegedy 2015), before the layer's activation. Training normalises
// with the batch mean and (biased) variance and updates the running mean and the
// running unbiased variance with BatchNormMomentum; evaluation normalises with the
// running estimates. gamma starts at 1, beta at 0, the running mean at 0 and the
// running variance at 1 (as in Torch and PyTorch).
//
// Kernels (kernels/norm.cu): bn_stats (column statistics in row order, running
// estimates), bn_fwd (normalise, affine, activation), bn_bwd (the gradients of gamma,
// beta and the input), bn_invstd (evaluation: 1/sqrt(running var + eps)).
//
// A batch of one row has variance 0: its normalised values are 0, the output is beta
// and no gradient reaches the input. In a data-parallel run every rank normalises
// with its own shard's statistics (as PyTorch's DistributedDataParallel does without
// SyncBatchNorm), so the ranks' running estimates differ between synchronisations;
// the trainer copies rank 0's to every rank before it evaluates or checkpoints.
type BatchNorm struct {
	C               int
	gamma, beta     int // tensor indices in the Params
	runMean, runVar int // state indices in the Params
	ps              *Params
}

// NewBatchNorm declares gamma and beta (trained) and the running mean and variance
// (state) of a batch normalisation over c columns, named name.gamma, name.beta,
// name.running_mean and name.running_var.
func NewBatchNorm(ps *Params, name string, c int) *BatchNorm {
	return &BatchNorm{
		C:       c,
		gamma:   ps.Add(name+".gamma", c, ps.scaleInit()),
		beta:    ps.Add(name+".beta", c, Init{}),
		runMean: ps.AddState(name+".running_mean", c, 0),
		runVar:  ps.AddState(name+".running_var", c, 1),
		ps:      ps,
	}
}

// Gamma returns the scale tensor's views, Beta the shift's.
func (bn *BatchNorm) Gamma() Tensor { return bn.ps.Tensor(bn.gamma) }
func (bn *BatchNorm) Beta() Tensor  { return bn.ps.Tensor(bn.beta) }

// RunningMean returns the running mean (C), RunningVar the running variance (C).
func (bn *BatchNorm) RunningMean() *engine.Buf { return bn.ps.State(bn.runMean) }
func (bn *BatchNorm) RunningVar() *engine.Buf  { return bn.ps.State(bn.runVar) }

// Forward normalises x (n, C) into y (n, C) with activation act: in Train mode with
// the batch statistics, which it leaves in mean and invstd (C each) for Backward, and
// updates the running estimates; in Eval mode with the running estimates (invstd is
// overwritten, mean is not used). y must not alias x when Backward follows.
func (bn *BatchNorm) Forward(b engine.Backend, x, y *engine.Buf, n int, act kernels.Act, mean, invstd *engine.Buf, mode Mode) error {
	if err := bn.check("forward", n, x, y, mean, invstd); err != nil {
		return err
	}
	g, be := bn.Gamma(), bn.Beta()
	mu := mean
	switch mode {
	case Train:
		if err := ops.BnStats(b, x, mean, invstd, bn.RunningMean(), bn.RunningVar(), n, bn.C, BatchNormEps, BatchNormMomentum); err != nil {
			return err
		}
	case Eval:
		if err := ops.BnInvstd(b, bn.RunningVar(), invstd, bn.C, BatchNormEps); err != nil {
			return err
		}
		mu = bn.RunningMean()
	default:
		return fmt.Errorf("nn: batch norm forward: unknown mode %v", mode)
	}
	return ops.BnFwd(b, x, mu, invstd, g.P, be.P, y, n, bn.C, act)
}

// Backward takes dy (n, C), the gradient with respect to the normalised output before
// the activation, adds the gradients of gamma and beta into the Params' gradient
// buffer and writes the gradient with respect to the input into dx (n, C; it may be
// dy). x, mean and invstd are those of the last Train-mode Forward.
func (bn *BatchNorm) Backward(b engine.Backend, x, dy, dx *engine.Buf, n int, mean, invstd *engine.Buf) error {
	if err := bn.check("backward", n, x, dy, mean, invstd); err != nil {
		return err
	}
	if dx.Len() < n*bn.C {
		return fmt.Errorf("nn: batch norm backward: dx has %d values, want %d", dx.Len(), n*bn.C)
	}
	g, be := bn.Gamma(), bn.Beta()
	return ops.BnBwd(b, x, mean, invstd, g.P, dy, dx, g.G, be.G, n, bn.C, true)
}

func (bn *BatchNorm) check(op string, n int, x, y, mean, invstd *engine.Buf) error {
	if n < 1 {
		return fmt.Errorf("nn: batch norm %s: batch of %d rows, want at least 1", op, n)
	}
	if x.Len() < n*bn.C || y.Len() < n*bn.C || mean.Len() < bn.C || invstd.Len() < bn.C {
		return fmt.Errorf("nn: batch norm over %d columns %s: batch of %d needs x and y of %d and statistics of %d, got %d, %d, %d, %d",
			bn.C, op, n, n*bn.C, bn.C, x.Len(), y.Len(), mean.Len(), invstd.Len())
	}
	return nil
}
