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
