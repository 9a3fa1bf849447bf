package trainer

import (
	"github.com/gmvae/gmvae/gmvae"
	"github.com/gmvae/gmvae/kernels/fmath"
)

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

// setTemperature gives the model the temperature of epoch e (gmvae.Tempered models only).
func (t *trainer) setTemperature(e int) error {
	if m, ok := t.m.(gmvae.Tempered); ok && t.mc.Gumbel {
		return m.SetTemperature(t.temperature(e))
	}
	return nil
}
