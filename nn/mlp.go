package nn

import (
	"fmt"

	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/kernels"
)

// MLP is a stack of Linear layers: sizes[0] -> sizes[1] -> ... -> sizes[L], every
// layer with activation act except the last, which has lastAct. Activations are
// batch-major: the input is (N, sizes[0]), layer i's output (N, sizes[i+1]).
type MLP struct {
	Layers []*Linear
}

// NewMLP declares the layers' parameters in ps, named name.0, name.1, ... (each with
// Linear's initialisation under ps's Scheme). sizes needs at least two entries.
func NewMLP(ps *Params, name string, sizes []int, act, lastAct kernels.Act) *MLP {
	if len(sizes) < 2 {
		panic(fmt.Sprintf("nn: NewMLP %s: %d sizes, want at least 2 (input and output)", name, len(sizes)))
	}
	m := &MLP{}
	for i := 0; i+1 < len(sizes); i++ {
		a := act
		if i+2 == len(sizes) {
			a = lastAct
		}
		m.Layers = append(m.Layers, NewLinear(ps, fmt.Sprintf("%s.%d", name, i), sizes[i], sizes[i+1], a))
	}
	return m
}

// NewMLPBN is NewMLP with batch normalisation before the activation of every layer
// (NewLinearBN: no biases), as in the GMVAE authors' recogniser,
// Linear-BatchNormalization-ReLU repeated.
func NewMLPBN(ps *Params, name string, sizes []int, act kernels.Act) *MLP {
	if len(sizes) < 2 {
		panic(fmt.Sprintf("nn: NewMLPBN %s: %d sizes, want at least 2 (input and output)", name, len(sizes)))
	}
	m := &MLP{}
	for i := 0; i+1 < len(sizes); i++ {
		m.Layers = append(m.Layers, NewLinearBN(ps, fmt.Sprintf("%s.%d", name, i), sizes[i], sizes[i+1], act))
	}
	return m
}

// In returns the input width, Out the output width.
func (m *MLP) In() int  { return m.Layers[0].In }
func (m *MLP) Out() int { return m.Layers[len(m.Layers)-1].Out }

// MLPBufs is an MLP's activation memory for batches of up to Rows rows: every layer's
// output Y[i] (Rows, Out_i), the gradient DY[i] of every layer's output but the last
// (the caller passes the last one to Backward), and each layer's Scratch.
type MLPBufs struct {
	Rows int
	Y    []*engine.Buf
	DY   []*engine.Buf
	S    []Scratch
}

// NewBufs allocates the activation memory for batches of up to rows rows.
func (m *MLP) NewBufs(b engine.Backend, rows int, tag string) (*MLPBufs, error) {
	bufs := &MLPBufs{Rows: rows}
	for i, l := range m.Layers {
		y, err := b.New(rows*l.Out, fmt.Sprintf("%s.%d output", tag, i))
		if err != nil {
			bufs.Release(b)
			return nil, err
		}
		bufs.Y = append(bufs.Y, y)
		if i+1 < len(m.Layers) {
			dy, err := b.New(rows*l.Out, fmt.Sprintf("%s.%d output gradient", tag, i))
			if err != nil {
				bufs.Release(b)
				return nil, err
			}
			bufs.DY = append(bufs.DY, dy)
		}
		s, err := l.NewScratch(b, rows, fmt.Sprintf("%s.%d", tag, i))
		bufs.S = append(bufs.S, s)
		if err != nil {
			bufs.Release(b)
			return nil, err
		}
	}
	return bufs, nil
}

// Output returns the last layer's output buffer (Rows, Out()); a batch of n rows
// occupies its first n*Out() elements.
func (bufs *MLPBufs) Output() *engine.Buf { return bufs.Y[len(bufs.Y)-1] }

// Release gives every buffer back to b.
func (bufs *MLPBufs) Release(b engine.Backend) error {
	var first error
	rel := func(x *engine.Buf) {
		if x != nil {
			if err := b.Release(x); err != nil && first == nil {
				first = err
			}
		}
	}
	for _, x := range bufs.Y {
		rel(x)
	}
	for _, x := range bufs.DY {
		rel(x)
	}
	for _, s := range bufs.S {
		for _, x := range s.Bufs() {
			rel(x)
		}
	}
	bufs.Y, bufs.DY, bufs.S = nil, nil, nil
	return first
}

// Forward computes the outputs of every layer for the batch x (n, In()) in the given
// mode (it matters only to layers with batch normalisation; Backward follows a Train
// forward pass); the result is bufs.Output().
func (m *MLP) Forward(b engine.Backend, x *engine.Buf, n int, bufs *MLPBufs, mode Mode) error {
	if n > bufs.Rows {
		return fmt.Errorf("nn: MLP forward: batch of %d rows, buffers for %d", n, bufs.Rows)
	}
	in := x
	for i, l := range m.Layers {
		if err := l.ForwardMode(b, in, bufs.Y[i], n, bufs.S[i], mode); err != nil {
			return err
		}
		in = bufs.Y[i]
	}
	return nil
}

// Backward takes dy (n, Out()), the gradient of the loss with respect to the output of
// the last Forward on x, adds every layer's parameter gradients into the Params'
// gradient buffer and, when dx is not nil, writes the gradient with respect to x into
// dx (n, In()) (added to it when accumulateDX). dy must not be one of bufs' buffers.
func (m *MLP) Backward(b engine.Backend, x, dy, dx *engine.Buf, n int, bufs *MLPBufs, accumulateDX bool) error {
	if n > bufs.Rows {
		return fmt.Errorf("nn: MLP backward: batch of %d rows, buffers for %d", n, bufs.Rows)
	}
	g := dy
	for i := len(m.Layers) - 1; i >= 0; i-- {
		l := m.Layers[i]
		in, dIn, acc := x, dx, accumulateDX
		if i > 0 {
			in, dIn, acc = bufs.Y[i-1], bufs.DY[i-1], false
		}
		if err := l.Backward(b, in, bufs.Y[i], g, dIn, n, bufs.S[i], acc); err != nil {
			return err
		}
		g = dIn
	}
	return nil
}
