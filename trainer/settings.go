package trainer

import (
	"github.com/gmvae/gmvae/gmvae"
	"github.com/gmvae/gmvae/internal/field"
)

// Settings are a run's two configurations, as a run folder's config.json holds them.
type Settings struct {
	Model gmvae.Config `json:"model"`
	Train Config       `json:"train"`
}

// Settle fills the defaults of both configurations (the training's for the model's),
// sizes the model's buffers for the batches (max_batch), and checks every setting and
// how they fit together, once, returning the first invalid one as a *field.Error. The
// model's D may still be 0 (it comes from the data: set it before gmvae.New).
func (s Settings) Settle() (Settings, error) {
	m := s.Model.Defaults()
	t := s.Train.Defaults(m)
	m.MaxBatch = max(m.MaxBatch, t.BatchSize, t.EvalBatch)
	check := m
	if check.D == 0 { // not known yet: check the rest with a stand-in
		check.D = 1
		check = check.Defaults()
	}
	if err := check.Validate(); err != nil {
		return s, err
	}
	if err := t.Validate(); err != nil {
		return s, err
	}
	if err := annealing(m, t); err != nil {
		return s, err
	}
	if err := fitted(m, t); err != nil {
		return s, err
	}
	return Settings{Model: m, Train: t}, nil
}

// annealing checks that a temperature schedule has a temperature to anneal.
func annealing(m gmvae.Config, t Config) error {
	if t.TauDecay == 0 && t.TauMin == 0 {
		return nil
	}
	if !m.Gumbel {
		key, v := "tau_decay", t.TauDecay
		if v == 0 {
			key, v = "tau_min", t.TauMin
		}
		return field.New("train", key, v, "anneals the Gumbel-softmax temperature of model shu with gumbel, not of model %s (gumbel %v)", m.Model, m.Gumbel)
	}
	if t.TauMin > float64(m.Tau) {
		return field.New("train", "tau_min", t.TauMin, "is above the starting temperature tau = %g", m.Tau)
	}
	return nil
}

// fitted refuses the training-only settings that a fitted model (kmeans, gmm: no
// training steps) would silently ignore.
func fitted(m gmvae.Config, t Config) error {
	if m.Model != "kmeans" && m.Model != "gmm" {
		return nil
	}
	switch {
	case t.AugmentShift > 0:
		return field.New("train", "augment_shift", t.AugmentShift, "moves the images of a trained model's batches; model %s is fitted to the data as it is", m.Model)
	case t.AugmentRotate > 0:
		return field.New("train", "augment_rotate", t.AugmentRotate, "turns the images of a trained model's batches; model %s is fitted to the data as it is", m.Model)
	}
	return nil
}
