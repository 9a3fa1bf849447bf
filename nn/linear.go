package nn

import (
	"fmt"

	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/kernels"
	"github.com/gmvae/gmvae/ops"
)

// Linear is a fully connected layer y = act(x·W + b) with W (In, Out) and b (Out),
// row-major, batch-major activations: x is (N, In), y is (N, Out). With batch
// normalisation (Norm not nil) it is y = act(BN(x·W)), without a bias (BN's beta takes
// its place: a bias before a normalisation cancels).
type Linear struct {
	In, Out int
	Act     kernels.Act // the activation (kernels.ActNone: none)
	Norm    *BatchNorm  // nil: no batch normalisation
	w, b    int         // tensor indices in the Params; b is -1 without a bias
	ps      *Params
}

// NewLinear declares the layer's W and b in ps, initialised by ps's Scheme (by default
// W Glorot normal, b zero).
func NewLinear(ps *Params, name string, in, out int, act kernels.Act) *Linear {
	l := &Linear{In: in, Out: out, Act: act, ps: ps}
	l.w = ps.Add(name+".W", in*out, ps.weightInit(in, out))
	l.b = ps.Add(name+".b", out, ps.biasInit(in))
	return l
}

// NewLinearBN declares a layer with batch normalisation before its activation: W
// (initialised by ps's Scheme) and the BatchNorm named name.bn, no bias.
func NewLinearBN(ps *Params, name string, in, out int, act kernels.Act) *Linear {
	l := &Linear{In: in, Out: out, Act: act, ps: ps, b: -1}
	l.w = ps.Add(name+".W", in*out, ps.weightInit(in, out))
	l.Norm = NewBatchNorm(ps, name+".bn", out)
	return l
}

// W returns the weight tensor's views.
func (l *Linear) W() Tensor { return l.ps.Tensor(l.w) }

// B returns the bias tensor's views; a layer with batch normalisation has none (zero
// Tensor).
func (l *Linear) B() Tensor {
	if l.b < 0 {
		return Tensor{}
	}
	return l.ps.Tensor(l.b)
}

// needsPre reports whether the activation's gradient needs the pre-activation: it does
// for softplus (sigmoid of the input); relu's, tanh's, sigmoid's and exp's are exact
// functions of the output (relu: y > 0 exactly when x > 0, NaN included).
func (l *Linear) needsPre() bool { return l.Act == kernels.ActSoftplus }

// Scratch is the per-batch memory a Linear needs besides its input and output: the
// pre-activation (softplus only), the gradient of the pre-activation, and with batch
// normalisation the product x·W (Lin) and the batch statistics (Mean, Invstd).
type Scratch struct {
	Pre, DPre         *engine.Buf
	Lin, Mean, Invstd *engine.Buf
}

// Bufs returns the scratch's buffers that are allocated.
func (s Scratch) Bufs() []*engine.Buf {
	var out []*engine.Buf
	for _, x := range []*engine.Buf{s.Pre, s.DPre, s.Lin, s.Mean, s.Invstd} {
		if x != nil {
			out = append(out, x)
		}
	}
	return out
}

// NewScratch allocates the layer's scratch for batches of up to n rows.
func (l *Linear) NewScratch(b engine.Backend, n int, tag string) (Scratch, error) {
	var s Scratch
	var err error
	buf := func(k int, what string) *engine.Buf {
		if err != nil {
			return nil
		}
		var x *engine.Buf
		x, err = b.New(k, tag+" "+what)
		return x
	}
	if l.needsPre() {
		s.Pre = buf(n*l.Out, "pre-activation")
	}
	if l.Act != kernels.ActNone || l.Norm != nil {
		s.DPre = buf(n*l.Out, "pre-activation gradient")
	}
	if l.Norm != nil {
		s.Lin = buf(n*l.Out, "product before batch norm")
		s.Mean, s.Invstd = buf(l.Out, "batch mean"), buf(l.Out, "batch inverse std")
	}
	if err != nil {
		for _, x := range s.Bufs() {
			_ = b.Release(x)
		}
		return Scratch{}, err
	}
	return s, nil
}

// GemmWork is the work (threads, see engine.Backend.Launch) of a gemm_nn, gemm_nt or
// gemm_tn launch with an (m, n) output: 256 threads per 64x64 tile.
func GemmWork(m, n int) int { return ((m + 63) / 64) * ((n + 63) / 64) * 256 }

// Forward computes y (N, Out) = act(x (N, In)·W + b) as a training step's forward
// pass. A layer with batch normalisation needs ForwardMode.
func (l *Linear) Forward(b engine.Backend, x, y *engine.Buf, n int, s Scratch) error {
	if l.Norm != nil {
		return fmt.Errorf("nn: linear %dx%d with batch norm: Forward without a mode (use ForwardMode)", l.In, l.Out)
	}
	return l.ForwardMode(b, x, y, n, s, Train)
}

// ForwardMode computes y (N, Out) = act(x (N, In)·W + b), or act(BN(x·W)) with batch
// normalisation in the given mode (see Mode).
func (l *Linear) ForwardMode(b engine.Backend, x, y *engine.Buf, n int, s Scratch, mode Mode) error {
	if err := l.check("forward", x, y, n); err != nil {
		return err
	}
	w, bias := l.W(), l.B()
	if l.Norm != nil {
		if err := ops.GemmNN(b, x, w.P, nil, s.Lin, n, l.Out, l.In, kernels.ActNone, false); err != nil {
			return err
		}
		if !l.needsPre() {
			return l.Norm.Forward(b, s.Lin, y, n, l.Act, s.Mean, s.Invstd, mode)
		}
		if err := l.Norm.Forward(b, s.Lin, s.Pre, n, kernels.ActNone, s.Mean, s.Invstd, mode); err != nil {
			return err
		}
		return ops.ActFwd(b, s.Pre, y, n*l.Out, l.Act)
	}
	if !l.needsPre() {
		// The activation is fused into the GEMM's epilogue.
		return ops.GemmNN(b, x, w.P, bias.P, y, n, l.Out, l.In, l.Act, false)
	}
	if err := ops.GemmNN(b, x, w.P, bias.P, s.Pre, n, l.Out, l.In, kernels.ActNone, false); err != nil {
		return err
	}
	return ops.ActFwd(b, s.Pre, y, n*l.Out, l.Act)
}

// Backward takes dy (N, Out), the gradient of the loss with respect to y, and adds the
// gradients of W and b (with batch normalisation: W, gamma and beta) into the Params'
// gradient buffer (they accumulate across calls until ZeroGrad). If dx is not nil it
// receives the gradient with respect to x (overwritten, or added when accumulateDX).
// It follows a Train-mode forward pass on the same x and scratch.
func (l *Linear) Backward(b engine.Backend, x, y, dy, dx *engine.Buf, n int, s Scratch, accumulateDX bool) error {
	if err := l.check("backward", x, y, n); err != nil {
		return err
	}
	dpre := dy
	if l.Act != kernels.ActNone {
		pre := y // see needsPre
		if l.needsPre() {
			pre = s.Pre
		}
		if err := ops.ActBwd(b, pre, y, dy, s.DPre, n*l.Out, l.Act, false); err != nil {
			return err
		}
		dpre = s.DPre
	}
	w, bias := l.W(), l.B()
	if l.Norm != nil {
		// dgamma, dbeta (Out) += ...; the gradient of x·W (N, Out) into s.DPre (which
		// may hold the activation's gradient it is computed from).
		if err := l.Norm.Backward(b, s.Lin, dpre, s.DPre, n, s.Mean, s.Invstd); err != nil {
			return err
		}
		dpre = s.DPre
	}
	// dW (In, Out) += xᵀ (In, N) · dpre (N, Out)
	if err := ops.GemmTN(b, x, dpre, nil, w.G, l.In, l.Out, n, kernels.ActNone, true); err != nil {
		return err
	}
	// db (Out) += column sums of dpre (N, Out)
	if bias.G != nil {
		if err := ops.Colsum(b, dpre, bias.G, n, l.Out, true); err != nil {
			return err
		}
	}
	if dx == nil {
		return nil
	}
	// dx (N, In) = dpre (N, Out) · Wᵀ (Out, In)
	acc := 0
	if accumulateDX {
		acc = 1
	}
	return ops.GemmNT(b, dpre, w.P, nil, dx, n, l.In, l.Out, kernels.ActNone, acc != 0)
}

func (l *Linear) check(op string, x, y *engine.Buf, n int) error {
	if x.Len() < n*l.In || y.Len() < n*l.Out {
		return fmt.Errorf("nn: linear %dx%d %s: batch of %d needs x of %d and y of %d, got %d and %d",
			l.In, l.Out, op, n, n*l.In, n*l.Out, x.Len(), y.Len())
	}
	return nil
}
