package gmvae

import (
	"fmt"

	"github.com/gmvae/gmvae/engine"
)

// launcher runs a model's kernel launches until the first error, which it keeps,
// prefixed with the model's name: a forward or backward pass is written as a straight
// list of launches and checked once at its end.
type launcher struct {
	b     engine.Backend
	model string
	err   error
}

func (l *launcher) run(kernel string, work int, args ...any) {
	if l.err == nil {
		if err := l.b.Launch(kernel, work, args...); err != nil {
			l.err = fmt.Errorf("gmvae: %s: %s: %w", l.model, kernel, err)
		}
	}
}

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
	l.run("clamp_bwd", n, g, g, scratch, n, -gTiny, gTiny, 0)
	l.run("ew_axpby", n, scratch, g, n, float32(-1), float32(1))
}
