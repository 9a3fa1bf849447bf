package trainer

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/checkpoint"
	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/gmvae"
)

// TestTemperatureSchedule: max(TauMin, tau·exp(-TauDecay·e)) per 0-based epoch, with
// the PyTorch port's constants (floor 0.5 reached at epoch 50), a constant temperature
// without decay, and none for a model without Gumbel-softmax.
func TestTemperatureSchedule(t *testing.T) {
	portModel, port := gmvae.Config{Gumbel: true, Tau: 1}, Config{TauDecay: 0.013862944, TauMin: 0.5}
	for _, c := range []struct {
		epoch int
		want  float64
		tol   float64
	}{
		{0, 1, 0},
		{1, math.Exp(-0.013862944), 1e-6},
		{25, math.Sqrt(0.5), 1e-6},
		{49, math.Exp(-0.013862944 * 49), 1e-6},
		{50, 0.5, 0}, // exp(-ln 2) rounds just below 0.5: the floor
		{200, 0.5, 0},
	} {
		assert.InDelta(t, c.want, float64(Temperature(portModel, port, c.epoch)), c.tol, "epoch %d: temperature", c.epoch)
	}
	assert.Equal(t, float32(0.7), Temperature(gmvae.Config{Gumbel: true, Tau: 0.7}, Config{}, 30), "no decay")
	assert.Equal(t, float32(0), Temperature(gmvae.Config{Tau: 1}, port, 3), "no gumbel")
}

// gumbelConfig is a small model B in Gumbel mode for the blobs data.
func gumbelConfig() gmvae.Config {
	return gmvae.Config{Model: "shu", D: fd, K: fk, Dz: 3, Hidden: []int{8}, MaxBatch: 16, Seed: 3, Gumbel: true}
}

// TestTrainGumbelAnnealing: the trainer sets the schedule's temperature before every
// epoch and evaluation (recorded in metrics.jsonl); the first epoch equals a run
// without decay bit for bit and the later ones do not (the temperature reaches the
// draws); an interrupted and resumed run ends with the same bits as an uninterrupted
// one (the temperature follows from the epoch).
func TestTrainGumbelAnnealing(t *testing.T) {
	b := engine.NewCPU()
	train := blobs(t, "blobs-train", 40, fd, fk, 7)
	test := blobs(t, "blobs-test", 20, fd, fk, 8)
	cfg := Config{Epochs: 3, BatchSize: 16, LR: 0.01, EvalBatch: 16, Seed: 3, TauDecay: 0.5, TauMin: 0.4}
	newModel := func(gmvae.Model) {}
	run := func(c Config, hooks Hooks) ([]map[string]any, []float32, error) {
		m, err := gmvae.New(b, gumbelConfig())
		require.NoError(t, err)
		defer m.Release()
		newModel(m)
		_, err = Train(context.Background(), b, m, train, test, c, hooks)
		if err != nil {
			return nil, nil, err
		}
		p, _, _ := params(t, b, m.Params())
		return stripTiming(t, filepath.Join(c.RunDir, MetricsFile)), p, nil
	}
	wantTau := []float64{1, float64(float32(math.Exp(-0.5))), 0.4} // epoch 2: exp(-1) = 0.37 < the floor
	// The model itself must hold the epoch's temperature at every step.
	var model gmvae.Tempered
	steps := 0
	check := Hooks{Step: func(pr Progress) {
		steps++
		assert.InDelta(t, wantTau[pr.Epoch], float64(model.Temperature()), 1e-6, "step %d (epoch %d): the model's tau", pr.Step, pr.Epoch+1)
	}}
	c := cfg
	c.RunDir = t.TempDir()
	newModel = func(m gmvae.Model) { model = m.(gmvae.Tempered) }
	metrics, p, err := run(c, check)
	newModel = func(gmvae.Model) {}
	require.NoError(t, err)
	require.Equal(t, 9, steps, "steps")
	for i, rec := range metrics {
		assert.InDelta(t, wantTau[i], rec["tau"].(float64), 1e-6, "epoch %d: tau in metrics.jsonl", i+1)
	}

	flat := cfg
	flat.TauDecay, flat.TauMin, flat.RunDir = 0, 0, t.TempDir()
	flatMetrics, pFlat, err := run(flat, Hooks{})
	require.NoError(t, err)
	assert.Equal(t, string(mustJSON(flatMetrics[:1])), string(mustJSON(metrics[:1])), "epoch 1, without decay then with (both at tau = 1)")
	assert.NotEqual(t, -1, sameBits(p, pFlat), "annealing changed nothing: the temperature does not reach the model")

	// Interrupted in epoch 2 (step 4 of 3 per epoch), then resumed.
	c2 := cfg
	c2.RunDir = t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	m, err := gmvae.New(b, gumbelConfig())
	require.NoError(t, err)
	_, err = Train(ctx, b, m, train, test, c2, Hooks{Step: func(pr Progress) {
		if pr.Step == 4 {
			cancel()
		}
	}})
	m.Release()
	require.ErrorIs(t, err, context.Canceled, "interrupted run")
	c2.Resume = filepath.Join(c2.RunDir, checkpoint.File)
	resumedMetrics, pResumed, err := run(c2, Hooks{})
	require.NoError(t, err)
	assert.Equal(t, -1, sameBits(p, pResumed), "the first parameter that differs after resume (bits)")
	assert.Equal(t, string(mustJSON(metrics)), string(mustJSON(resumedMetrics)), "metrics, straight then resumed")
}

// TestTemperatureErrors: the schedule needs model B with Gumbel-softmax and a floor
// at most the starting temperature; SetTemperature refuses a model without Gumbel and
// bad values.
func TestTemperatureErrors(t *testing.T) {
	b := engine.NewCPU()
	train := blobs(t, "blobs-train", 20, fd, fk, 7)
	for _, c := range []struct {
		mc   gmvae.Config
		tc   Config
		want string
	}{
		{gmvae.Config{Model: "dilokthanakul", D: fd, K: fk, Dz: 3, Dw: 2, Hidden: []int{8}, MaxBatch: 16}, Config{TauDecay: 0.1}, "not of model dilokthanakul"},
		{gmvae.Config{Model: "shu", D: fd, K: fk, Dz: 3, Hidden: []int{8}, MaxBatch: 16}, Config{TauMin: 0.5}, "gumbel false"},
		{gumbelConfig(), Config{TauDecay: 0.1, TauMin: 2}, "tau_min = 2: is above the starting temperature tau = 1"},
		{gumbelConfig(), Config{TauDecay: -1}, "tau_decay = -1"},
		{gumbelConfig(), Config{TauDecay: 0.1, TauMin: math.NaN()}, "tau_min = NaN"},
	} {
		m, err := gmvae.New(b, c.mc)
		require.NoError(t, err)
		tc := c.tc
		tc.Epochs, tc.BatchSize, tc.EvalBatch = 1, 16, 16
		_, err = Train(context.Background(), b, m, train, nil, tc, Hooks{})
		assert.ErrorContains(t, err, c.want, "%s %+v", c.mc.Model, c.tc)
		m.Release()
	}
	exact, err := gmvae.New(b, gmvae.Config{Model: "shu", D: fd, K: fk, Dz: 3, Hidden: []int{8}, MaxBatch: 16})
	require.NoError(t, err)
	assert.ErrorContains(t, exact.(gmvae.Tempered).SetTemperature(0.5), "needs gumbel", "exact marginal")
	g, err := gmvae.New(b, gumbelConfig())
	require.NoError(t, err)
	for _, tau := range []float32{0, -1, float32(math.Inf(1)), float32(math.NaN())} {
		assert.Error(t, g.(gmvae.Tempered).SetTemperature(tau), "SetTemperature(%v)", tau)
	}
}

// TestLearningRateStep: VaDE's schedule, the rate multiplied by the decay every LRStep
// epochs (in float32, one multiplication after the other, as its code does) down to
// the floor.
func TestLearningRateStep(t *testing.T) {
	c := Config{LR: 2e-3, Schedule: ScheduleStep, LRDecay: 0.9, LRStep: 10, LRMin: 2e-4}
	want := float32(2e-3)
	for epoch := 0; epoch < 300; epoch++ {
		if epoch > 0 && epoch%10 == 0 {
			want = max(float32(want*float32(0.9)), float32(2e-4))
		}
		for _, step := range []uint64{0, 7, 49} {
			require.Equal(t, want, LearningRate(c, uint64(epoch)*50+step, 300*50, 50), "epoch %d step %d", epoch, step)
		}
	}
	assert.Equal(t, float32(2e-4), want, "epoch 299: want the floor")
}
