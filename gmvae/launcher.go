package gmvae

import (
	"fmt"

	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/kernels"
	"github.com/gmvae/gmvae/ops"
)

// launcher keeps the first error of a model's ops (package ops), prefixed with the
// model's name: a forward or backward pass is written as a straight list of ops on l.b,
// each wrapped in do, and checked once at its end. Once an op has failed, the ops
// that follow launch nothing (l.b skips them).
type launcher struct {
	b     engine.Backend // the model's backend, guarded: no launch after an error
	model string
	err   error
}

// newLauncher returns a launcher for the ops of model on b.
func newLauncher(b engine.Backend, model string) *launcher {
	l := &launcher{model: model}
	l.b = guarded{Backend: b, l: l}
	return l
}

// guarded is a backend that launches nothing once its launcher holds an error.
type guarded struct {
	engine.Backend
	l *launcher
}

// Launch implements engine.Backend.
func (g guarded) Launch(k *kernels.Kernel, threads int, args ...any) error {
	if g.l.err != nil {
		return nil
	}
	return g.Backend.Launch(k, threads, args...)
}

// do records err when it is the first error.
func (l *launcher) do(err error) {
	if l.err == nil && err != nil {
		l.err = fmt.Errorf("gmvae: %s: %w", l.model, err)
	}
}

// gTiny is the magnitude up to which flushTiny drops a gradient element: 2^-100, far
// below anything a float32 sum of a gradient's normal-sized terms can show.
const gTiny = float32(1.0 / (1 << 50) / (1 << 50))

// flushTiny sets to +0 the elements of g (n) whose magnitude is at most gTiny, in two
// exact launches, with scratch (n values) overwritten: t = g where |g| <= gTiny, else 0
// (clamp_bwd with x = dy = g), then g = g - t. NaN and ±Inf stay. It keeps subnormal
// floats out of the products that follow, which x86 cores compute with microcode
// assists (dilokthanakul.go, "Negligible responsibilities"): a Bernoulli decoder pushes
// the logits of always-black pixels far below -87, where sigmoid, and so the
// gradient, is subnormal.
func (l *launcher) flushTiny(g, scratch *engine.Buf, n int) {
	l.do(ops.ClampBwd(l.b, g, g, scratch, n, -gTiny, gTiny, false))
	l.do(ops.EwAxpby(l.b, scratch, g, n, float32(-1), float32(1)))
}
