// Package nn holds the building blocks of the models on any engine.Backend: a flat
// parameter store with its gradients and Adam state, and fully connected layers whose
// forward and backward passes are written out by hand as kernel launches (the llm.c
// way: buffers laid out once, shapes in comments, no graph).
package nn

import (
	"fmt"
	"math"

	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/kernels"
	"github.com/gmvae/gmvae/kernels/philox"
	"github.com/gmvae/gmvae/ops"
)

// Params is every trainable float32 of a model in one buffer, with a gradient buffer
// and Adam's two moment buffers of the same layout, so that zeroing the gradients and
// the optimizer step are one launch each whatever the number of tensors.
type Params struct {
	b      engine.Backend
	names  []string
	offs   []int
	sizes  []int
	inits  []Init
	n      int
	P, G   *engine.Buf // parameters and their gradients
	M, V   *engine.Buf // Adam's first and second moments
	step   int         // Adam steps taken
	frozen bool
	scheme Scheme // initialisation of the layers declared in ps

	// State: tensors that are part of the model but not trained by the optimizer
	// (batch normalisation's running statistics), in one buffer S of their own. A
	// checkpoint stores them; the gradient sum and Adam never see them.
	snames []string
	soffs  []int
	ssizes []int
	sinit  []float32
	sn     int
	S      *engine.Buf
}

// Init says how a tensor's initial values are drawn: Const plus a normal draw of
// standard deviation Std, or plus a uniform draw on (-Half, Half); with both zero,
// Const everywhere. At most one of Std and Half is non-zero.
type Init struct {
	Std   float32
	Half  float32
	Const float32
}

// Glorot returns the Glorot/Xavier normal initialisation for a fan-in x fan-out matrix.
func Glorot(fanIn, fanOut int) Init {
	return Init{Std: float32(math.Sqrt(2 / float64(fanIn+fanOut)))}
}

// Scheme names how the layers declared in a Params draw their initial values.
type Scheme string

const (
	// SchemeGlorot (the default, also for ""): weights Glorot normal, biases zero,
	// batch-norm scales one.
	SchemeGlorot Scheme = "glorot"
	// SchemeTorch is Torch7's nn defaults, the ones the GMVAE authors' code ran with:
	// nn.Linear draws weights and biases uniform on ±1/sqrt(fan-in), and
	// nn.BatchNormalization draws its scales uniform on (0, 1) with zero shifts.
	SchemeTorch Scheme = "torch"
)

// Valid reports whether s is a known scheme ("" counts as SchemeGlorot).
func (s Scheme) Valid() bool { return s == "" || s == SchemeGlorot || s == SchemeTorch }

// SetScheme chooses how the layers declared after it initialise (NewLinear,
// NewLinearBN, NewBatchNorm); it must be called before Alloc.
func (ps *Params) SetScheme(s Scheme) {
	if !s.Valid() {
		panic(fmt.Sprintf("nn: unknown initialisation scheme %q", s))
	}
	ps.scheme = s
}

// torchLinear is Torch7's nn.Linear initialisation, for its weights and its biases
// alike: uniform on ±1/sqrt(fan-in).
func torchLinear(in int) Init { return Init{Half: float32(1 / math.Sqrt(float64(in)))} }

// weightInit is a Linear's W initialisation under the Params' scheme.
func (ps *Params) weightInit(in, out int) Init {
	if ps.scheme == SchemeTorch {
		return torchLinear(in)
	}
	return Glorot(in, out)
}

// biasInit is a Linear's b initialisation under the Params' scheme.
func (ps *Params) biasInit(in int) Init {
	if ps.scheme == SchemeTorch {
		return torchLinear(in)
	}
	return Init{}
}

// scaleInit is a BatchNorm's gamma initialisation under the Params' scheme.
func (ps *Params) scaleInit() Init {
	if ps.scheme == SchemeTorch {
		return Init{Half: 0.5, Const: 0.5}
	}
	return Init{Const: 1}
}

// Tensor is one named tensor of a Params: its values and gradient as views.
type Tensor struct {
	Name string
	P, G *engine.Buf
}

// NewParams returns an empty parameter store on b.
func NewParams(b engine.Backend) *Params { return &Params{b: b} }

// Add declares a tensor of n values. It must be called before Alloc.
func (ps *Params) Add(name string, n int, init Init) int {
	if ps.frozen {
		panic("nn: Params.Add after Alloc: " + name)
	}
	ps.names = append(ps.names, name)
	ps.offs = append(ps.offs, ps.n)
	ps.sizes = append(ps.sizes, n)
	ps.inits = append(ps.inits, init)
	ps.n += n
	return len(ps.names) - 1
}

// Len returns the number of parameters.
func (ps *Params) Len() int { return ps.n }

// AddState declares a state tensor of n values, all starting at value: part of the
// model (saved and restored with it) but not trained. It must be called before Alloc.
func (ps *Params) AddState(name string, n int, value float32) int {
	if ps.frozen {
		panic("nn: Params.AddState after Alloc: " + name)
	}
	ps.snames = append(ps.snames, name)
	ps.soffs = append(ps.soffs, ps.sn)
	ps.ssizes = append(ps.ssizes, n)
	ps.sinit = append(ps.sinit, value)
	ps.sn += n
	return len(ps.snames) - 1
}

// StateLen returns the number of state values (0: the model has none and S is nil).
func (ps *Params) StateLen() int { return ps.sn }

// State returns the view of state tensor i (as returned by AddState).
func (ps *Params) State(i int) *engine.Buf { return ps.S.Slice(ps.soffs[i], ps.ssizes[i]) }

// StateLayout returns the state tensors' names and sizes in buffer order.
func (ps *Params) StateLayout() (names []string, sizes []int) {
	return append([]string(nil), ps.snames...), append([]int(nil), ps.ssizes...)
}

// ResetState sets every state tensor to its initial value.
func (ps *Params) ResetState() error {
	if ps.sn == 0 {
		return nil
	}
	host := make([]float32, ps.sn)
	for i, v := range ps.sinit {
		for j := ps.soffs[i]; j < ps.soffs[i]+ps.ssizes[i]; j++ {
			host[j] = v
		}
	}
	return ps.b.Upload(ps.S, host)
}

// Alloc allocates the four buffers (and S when there is state), draws the initial
// values, zeroes the gradients and moments and sets the state to its initial values. The values are drawn on the host by the Philox twin (engine/cpu) from
// seed, stream = tensor index, and uploaded, so every backend starts from the same bits.
func (ps *Params) Alloc(seed uint64) error {
	ps.frozen = true
	var err error
	alloc := func(tag string) *engine.Buf {
		if err != nil {
			return nil
		}
		var buf *engine.Buf
		buf, err = ps.b.New(ps.n, tag)
		return buf
	}
	ps.P, ps.G, ps.M, ps.V = alloc("parameters"), alloc("gradients"), alloc("adam m"), alloc("adam v")
	if ps.sn > 0 {
		var buf *engine.Buf
		if buf, err = ps.b.New(ps.sn, "state"); err == nil {
			ps.S = buf
		}
	}
	if err != nil {
		return err
	}
	if err := ps.ResetState(); err != nil {
		return err
	}
	host := make([]float32, ps.n)
	for i, init := range ps.inits {
		v := host[ps.offs[i] : ps.offs[i]+ps.sizes[i]]
		switch {
		case init.Std != 0:
			philox.Normals(v, seed, uint64(i))
			for j := range v {
				v[j] = float32(v[j]*init.Std) + init.Const
			}
		case init.Half != 0:
			// RandUniform is in (0, 1); 2u-1 is exact in float32 and in (-1, 1).
			philox.Uniforms(v, seed, uint64(i))
			for j := range v {
				v[j] = float32((2*v[j]-1)*init.Half) + init.Const
			}
		default:
			for j := range v {
				v[j] = init.Const
			}
		}
	}
	if err := ps.b.Upload(ps.P, host); err != nil {
		return err
	}
	for _, buf := range []*engine.Buf{ps.G, ps.M, ps.V} {
		if err := Fill(ps.b, buf, 0); err != nil {
			return err
		}
	}
	return nil
}

// Tensor returns the views of tensor i (as returned by Add).
func (ps *Params) Tensor(i int) Tensor {
	return Tensor{Name: ps.names[i], P: ps.P.Slice(ps.offs[i], ps.sizes[i]), G: ps.G.Slice(ps.offs[i], ps.sizes[i])}
}

// ZeroGrad sets every gradient to zero.
func (ps *Params) ZeroGrad() error { return Fill(ps.b, ps.G, 0) }

// Adam holds the optimizer's settings.
type Adam struct {
	LR, Beta1, Beta2, Eps, WeightDecay float32
}

// DefaultAdam returns Adam with the usual defaults and learning rate lr.
func DefaultAdam(lr float32) Adam { return Adam{LR: lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8} }

// Step applies one Adam update with the current gradients (one launch of adam_step)
// and counts it.
func (ps *Params) Step(o Adam) error {
	ps.step++
	return ps.StepAt(o, ps.step)
}

// StepAt applies one Adam update as the t-th step (t >= 1 sets the bias corrections
// 1 - beta^t) and makes t the store's step count: a resumed run continues from the
// count in its checkpoint.
func (ps *Params) StepAt(o Adam, t int) error {
	ps.step = t
	bc1, bc2 := kernels.AdamBiasCorrections(o.Beta1, o.Beta2, t)
	return ops.AdamStep(ps.b, ps.P, ps.G, ps.M, ps.V, ps.n, o.LR, o.Beta1, o.Beta2, o.Eps, o.WeightDecay, bc1, bc2)
}

// Layout returns the tensors' names and sizes in buffer order (checkpoints name every
// tensor by it).
func (ps *Params) Layout() (names []string, sizes []int) {
	return append([]string(nil), ps.names...), append([]int(nil), ps.sizes...)
}

// Steps returns the number of optimizer steps taken.
func (ps *Params) Steps() int { return ps.step }

// Release gives the buffers back to the backend.
func (ps *Params) Release() error {
	for _, buf := range []*engine.Buf{ps.P, ps.G, ps.M, ps.V, ps.S} {
		if buf != nil {
			if err := ps.b.Release(buf); err != nil {
				return err
			}
		}
	}
	ps.P, ps.G, ps.M, ps.V, ps.S = nil, nil, nil, nil, nil
	return nil
}

// Fill sets every element of buf to v.
func Fill(b engine.Backend, buf *engine.Buf, v float32) error {
	return ops.EwFill(b, buf, buf.Len(), v)
}

// String describes the store: one line per tensor.
func (ps *Params) String() string {
	s := fmt.Sprintf("%d parameters", ps.n)
	for i, name := range ps.names {
		s += fmt.Sprintf("\n  %-24s %d", name, ps.sizes[i])
	}
	for i, name := range ps.snames {
		s += fmt.Sprintf("\n  %-24s %d (state, not trained)", name, ps.ssizes[i])
	}
	return s
}
