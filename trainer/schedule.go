package trainer

import (
	"github.com/gmvae/gmvae/gmvae"
	"github.com/gmvae/gmvae/kernels/fmath"
)

// Schedules, computed in float32 with the engine's own math (kernels/fmath), so that
// every machine uses the same values. They know nothing of the loop around them.

// LearningRate returns the learning rate of step s (0-based) of a run of total steps
// with perEpoch steps per epoch under c's schedule: c.LR (constant); half a cosine
// from c.LR down to c.LRMin over the run (cosine); c.LR·c.LRDecay^(s/perEpoch) (exp);
// max(c.LRMin, c.LR·c.LRDecay^floor(epoch/c.LRStep)) (step, VaDE's: the decays are
// applied one after the other in float32, as its code multiplies the rate).
func LearningRate(c Config, s, total uint64, perEpoch int) float32 {
	lr := float32(c.LR)
	switch c.Schedule {
	case ScheduleCosine:
		lo := float32(c.LRMin)
		frac := float32(float64(s) / float64(max(total, 1)))
		_, cos := fmath.Sincos2Pi(float32(frac * 0.5)) // cos(pi * frac)
		return lo + float32(float32(0.5*(lr-lo))*(1+cos))
	case ScheduleExp:
		e := float32(float64(s) / float64(max(perEpoch, 1)))
		return float32(lr * fmath.Exp(float32(e*fmath.Log(float32(c.LRDecay)))))
	case ScheduleStep:
		epoch := int(s / uint64(max(perEpoch, 1)))
		lo := float32(c.LRMin)
		for i := 0; i < epoch/max(c.LRStep, 1) && lr > lo; i++ {
			lr = max(float32(lr*float32(c.LRDecay)), lo)
		}
		return max(lr, lo)
	}
	return lr
}

// Temperature returns the Gumbel-softmax temperature of epoch e (0-based) of model m
// under c: max(c.TauMin, m.Tau·exp(-c.TauDecay·e)), or m.Tau when c.TauDecay is 0;
// 0 for a model without Gumbel-softmax draws.
func Temperature(m gmvae.Config, c Config, e int) float32 {
	if !m.Gumbel {
		return 0
	}
	if c.TauDecay == 0 {
		return m.Tau
	}
	v := float32(m.Tau * fmath.Exp(float32(-c.TauDecay*float64(e))))
	return max(v, float32(c.TauMin))
}

// setTemperature gives the model the temperature of epoch e (gmvae.Tempered models only).
func (t *trainer) setTemperature(e int) error {
	if m, ok := t.m.(gmvae.Tempered); ok && t.mc.Gumbel {
		return m.SetTemperature(Temperature(t.mc, t.cfg, e))
	}
	return nil
}
