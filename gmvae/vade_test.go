package gmvae

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/cuda/emu"
	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/internal/testutil"
)

// vadeTiny is a model C small enough for the PTX emulator.
func vadeTiny(pretrain bool, lik Likelihood) Config {
	return Config{Model: "vade", D: 12, K: 3, Dz: 3, Hidden: []int{8, 6}, MaxBatch: 7, Seed: 13,
		Pretrain: pretrain, Likelihood: lik, LvMin: -6, LvMax: 6}.Defaults()
}

// setTestPrior gives a vade model a prior that is not the zero initialisation, so that
// the mixture's gradients are exercised: unequal weights, spread means, mixed
// variances.
func setTestPrior(t *testing.T, m Model) {
	t.Helper()
	c := m.Config()
	w := make([]float32, c.K)
	mu := make([]float32, c.K*c.Dz)
	va := make([]float32, c.K*c.Dz)
	for k := range w {
		w[k] = float32(k + 1)
		for d := 0; d < c.Dz; d++ {
			mu[k*c.Dz+d] = float32((k*3+d)%5) - 2
			va[k*c.Dz+d] = 0.3 + 0.4*float32((k+d)%3)
		}
	}
	require.NoError(t, SetPrior(m, w, mu, va))
}

// TestVaDECPUEqualsEmulator trains model C (pretraining and the full model, Bernoulli
// and Gaussian) from the same seed on the CPU backend and on the GPU backend over the
// PTX emulator, with a change of batch size: parameters, every step's terms and
// Infer's outputs are the same bits.
func TestVaDECPUEqualsEmulator(t *testing.T) {
	for _, c := range []struct {
		pretrain bool
		lik      Likelihood
	}{{true, Bernoulli}, {false, Bernoulli}, {false, Gaussian}} {
		t.Run(fmt.Sprintf("pretrain=%v %s", c.pretrain, c.lik), func(t *testing.T) {
			cfg := vadeTiny(c.pretrain, c.lik)
			x, _ := testutil.ClusteredBits(20, cfg.D, 3, 5)
			batches := []int{7, 7, 5, 7}
			pc, tc, ic := trainAndInferPrior(t, engine.NewCPU(), cfg, x, batches)
			gpu := engine.NewGPU(emu.New(emu.Options{}), engine.GPUOptions{})
			pg, tg, ig := trainAndInferPrior(t, gpu, cfg, x, batches)
			testutil.RequireSameBits(t, "parameters", pc, pg)
			ic.requireSameBits(t, ig)
			require.Equal(t, tc, tg, "terms")
			for i, tm := range tc {
				require.Empty(t, tm.Finite(), "step %d: %+v", i, tm)
				if c.pretrain {
					assert.Zero(t, tm.KLz, "pretraining has no KL term")
					assert.Zero(t, tm.KLy, "pretraining has no KL term")
				} else {
					assert.Greater(t, tm.KLz, 0.0, "step %d", i)
					assert.GreaterOrEqual(t, tm.KLy, -1e-6, "step %d: KL(gamma || pi)", i)
				}
			}
			ic.checkDistributions(t, cfg.K)
			require.NoError(t, gpu.Close())
		})
	}
}

// trainAndInferPrior is trainAndInfer with the test prior set before the first step.
func trainAndInferPrior(t *testing.T, b engine.Backend, cfg Config, x []float32, batches []int) ([]float32, []Terms, inferred) {
	t.Helper()
	prev := newModelHook
	newModelHook = func(m Model) {
		if m.Config().Model == "vade" {
			setTestPrior(t, m)
		}
	}
	defer func() { newModelHook = prev }()
	return trainAndInfer(t, b, cfg, x, batches)
}

// TestVaDELearns trains model C on clustered binary data on the CPU backend, first as
// an autoencoder, then in full from the pretrained parameters: both losses fall.
func TestVaDELearns(t *testing.T) {
	x, _ := testutil.ClusteredBits(200, 32, 4, 9)
	batches := make([]int, 60)
	for i := range batches {
		batches[i] = 40
	}
	for _, pretrain := range []bool{true, false} {
		cfg := Config{Model: "vade", D: 32, K: 4, Dz: 4, Hidden: []int{32, 32}, MaxBatch: 40, Seed: 3, Pretrain: pretrain}.Defaults()
		_, terms, inf := trainAndInferPrior(t, engine.NewCPU(), cfg, x, batches)
		mean := func(ts []Terms) float64 {
			s := 0.0
			for _, tm := range ts {
				s += tm.Loss
			}
			return s / float64(len(ts))
		}
		first, last := mean(terms[:10]), mean(terms[50:60])
		t.Logf("pretrain=%v: loss %.3f -> %.3f (last step %+v)", pretrain, first, last, terms[59])
		assert.Less(t, last, first-2, "pretrain=%v: the loss did not fall enough", pretrain)
		inf.checkDistributions(t, cfg.K)
	}
}

// TestSetPrior: the prior takes the logs of weights and variances; bad values and
// other models are refused.
func TestSetPrior(t *testing.T) {
	b := engine.NewCPU()
	m, err := New(b, vadeTiny(false, Bernoulli))
	require.NoError(t, err)
	defer m.Release()
	c := m.Config()
	ones := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = 1
		}
		return v
	}
	w := []float32{1, 2, 4}
	require.NoError(t, SetPrior(m, w, ones(c.K*c.Dz), ones(c.K*c.Dz)))
	logits, _, lv := m.(*vade).Prior()
	got := testutil.Download(t, b, logits.P)
	for k := range w {
		assert.InDelta(t, math.Log(float64(w[k])), float64(got[k]), 1e-6)
	}
	assert.Equal(t, make([]float32, c.K*c.Dz), testutil.Download(t, b, lv.P), "log of variance 1")
	for _, tc := range []struct {
		name     string
		w, mu, v []float32
		want     string
	}{
		{"zero weight", []float32{1, 0, 1}, ones(9), ones(9), "weight 1 is 0"},
		{"negative variance", w, ones(9), append(ones(8), -1), "variance 8 is -1"},
		{"NaN mean", w, append(ones(8), float32(math.NaN())), ones(9), "mean 8"},
		{"short", w[:2], ones(9), ones(9), "K = 3"},
	} {
		assert.ErrorContains(t, SetPrior(m, tc.w, tc.mu, tc.v), tc.want, tc.name)
	}
	other, err := New(b, shuTiny(false))
	require.NoError(t, err)
	defer other.Release()
	assert.ErrorContains(t, SetPrior(other, w, ones(9), ones(9)), "no learned mixture prior")
}
