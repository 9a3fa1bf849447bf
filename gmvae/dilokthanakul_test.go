package gmvae

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/cuda/emu"
	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/internal/testutil"
	"github.com/gmvae/gmvae/nn"
)

// dkTiny is a model A configuration small enough for the PTX emulator.
func dkTiny() Config {
	return Config{Model: "dilokthanakul", D: 8, K: 3, Dz: 2, Dw: 2, Hidden: []int{5}, M: 2, MaxBatch: 7,
		Seed: 11, LvMin: -6, LvMax: 6}
}

// TestDilokthanakulCPUEqualsEmulator trains model A a few steps on the CPU backend and
// on the GPU backend over the PTX emulator (batches of 7 and 5 rows, M = 2, free bits on
// and off, both likelihoods, the batch-norm encoder): the parameters (and batch norm's
// running estimates), every step's Terms and Infer's outputs (posteriors, logits,
// latent means) must be identical, and the steady state must make no driver
// allocation.
func TestDilokthanakulCPUEqualsEmulator(t *testing.T) {
	for _, c := range []struct {
		name   string
		lik    Likelihood
		lambda float32
		bn     bool
		pgrad  PGrad
	}{{"bernoulli", Bernoulli, 0, false, ""}, {"bernoulli lambda=0.5", Bernoulli, 0.5, false, ""}, {"gaussian", Gaussian, 0, false, ""},
		{"bernoulli batch norm", Bernoulli, 0, true, ""}, {"bernoulli lambda=0.5 p_grad authors", Bernoulli, 0.5, false, PGradAuthors},
		{"gaussian p_grad exact", Gaussian, 0, false, PGradExact}} {
		t.Run(c.name, func(t *testing.T) {
			cfg := dkTiny()
			cfg.Likelihood, cfg.Lambda, cfg.PGrad = c.lik, c.lambda, c.pgrad
			if c.bn {
				cfg.BatchNorm, cfg.Hidden = true, []int{5, 4}
			}
			x, _ := testutil.ClusteredBits(cfg.MaxBatch, cfg.D, cfg.K, 5)
			batches := []int{7, 5, 7}
			pc, tc, ic := trainAndInfer(t, engine.NewCPU(), cfg, x, batches)
			gpu := engine.NewGPU(emu.New(emu.Options{}), engine.GPUOptions{})
			pg, tg, ig := trainAndInfer(t, gpu, cfg, x, batches)
			testutil.RequireSameBits(t, "parameters", pc, pg)
			ic.requireSameBits(t, ig)
			for s := range tc {
				require.Equal(t, tc[s], tg[s], "step %d: terms, cpu then emulator", s)
				require.Empty(t, tc[s].Finite(), "step %d: a term not finite: %+v", s, tc[s])
			}
			t.Logf("terms %+v; pool %v", tc[len(tc)-1], gpu.Pool().Stats())
			testutil.Must(t, gpu.Close())
		})
	}
}

// TestDilokthanakulLearns trains 60 steps on a clustered binary data set (CPU backend):
// the loss must fall well below its start, and Infer's posteriors must be distributions,
// the softmax of its logits.
func TestDilokthanakulLearns(t *testing.T) {
	for _, c := range []struct {
		M  int
		bn bool
	}{{1, false}, {3, false}, {1, true}} {
		M := c.M
		cfg := Config{Model: "dilokthanakul", D: 24, K: 4, Dz: 4, Dw: 3, Hidden: []int{32}, M: M,
			MaxBatch: 64, Seed: 3, Lambda: 0.1, BatchNorm: c.bn}
		x, _ := testutil.ClusteredBits(cfg.MaxBatch, cfg.D, 4, 9)
		batches := make([]int, 60)
		for i := range batches {
			batches[i] = cfg.MaxBatch
		}
		_, terms, inf := trainAndInfer(t, engine.NewCPU(), cfg, x, batches)
		first := (terms[0].Loss + terms[1].Loss + terms[2].Loss) / 3
		last := (terms[57].Loss + terms[58].Loss + terms[59].Loss) / 3
		t.Logf("M=%d batch norm %v: loss %.4f -> %.4f (last terms %+v)", M, c.bn, first, last, terms[59])
		assert.Less(t, last, first-0.2*math.Abs(first), "M=%d: loss did not fall enough: %.4f -> %.4f", M, first, last)
		for s, tm := range terms {
			require.Empty(t, tm.Finite(), "M=%d step %d: a term not finite", M, s)
			require.Less(t, math.Abs(tm.ELBO+tm.Recon+tm.KLz+tm.KLw+tm.KLy), 1e-9*(1+math.Abs(tm.ELBO)), "step %d: ELBO %g is not minus the sum of the terms %+v", s, tm.ELBO, tm)
			require.False(t, tm.KLy < -1e-4 || tm.KLw < -1e-4, "step %d: negative KL %+v", s, tm)
		}
		for i, p := range inf.post {
			if !(p >= 0 && p <= 1) {
				require.Failf(t, "posterior outside [0, 1]", "post[%d] = %g", i, p)
			}
		}
		inf.checkDistributions(t, cfg.K)
	}
}

// TestDilokthanakulExtremeInputs: inputs far outside the data range (±1e4, and all
// zeros/ones) with tight and wide log-variance bounds give finite terms, finite
// gradients and finite parameters after a step.
func TestDilokthanakulExtremeInputs(t *testing.T) {
	for _, lik := range []Likelihood{Bernoulli, Gaussian} {
		for _, lim := range [][2]float32{{-6, 6}, {-30, 30}} {
			cfg := dkTiny()
			cfg.Likelihood, cfg.LvMin, cfg.LvMax, cfg.Lambda = lik, lim[0], lim[1], 0.5
			n := cfg.MaxBatch
			x := make([]float32, n*cfg.D)
			for i := range x {
				switch i / cfg.D {
				case 0:
					x[i] = 1e4
				case 1:
					x[i] = -1e4
				case 2:
					x[i] = 1
				case 3:
					x[i] = float32(1e4 * (float32(i%2) - 0.5))
				}
			}
			b := engine.NewCPU()
			m, err := New(b, cfg)
			testutil.Must(t, err)
			xb := testutil.Upload(t, b, x, "x")
			for s := 0; s < 3; s++ {
				testutil.Must(t, m.Params().ZeroGrad())
				tm, err := m.TrainBatch(xb, n, uint64(s))
				testutil.Must(t, err)
				require.Empty(t, tm.Finite(), "%s %v step %d: a term not finite: %+v", lik, lim, s, tm)
				for i, g := range testutil.Download(t, b, m.Params().G) {
					if math.IsNaN(float64(g)) || math.IsInf(float64(g), 0) {
						require.Failf(t, "non-finite gradient", "%s %v step %d: gradient %d = %g", lik, lim, s, i, g)
					}
				}
				testutil.Must(t, m.Params().Step(nn.DefaultAdam(0.01)))
			}
			for i, p := range testutil.Download(t, b, m.Params().P) {
				if math.IsNaN(float64(p)) || math.IsInf(float64(p), 0) {
					require.Failf(t, "non-finite parameter", "%s %v: parameter %d = %g", lik, lim, i, p)
				}
			}
			testutil.Must(t, m.Release())
		}
	}
}

// TestDilokthanakulErrors: bad configurations and bad calls give errors that name the
// problem.
func TestDilokthanakulErrors(t *testing.T) {
	b := engine.NewCPU()
	for _, c := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.Hidden = []int{} }, "hidden layer"},
		{func(c *Config) { c.Hidden = []int{4, 0} }, "hidden[1]"},
		{func(c *Config) { c.Dw = -1 }, "dw"},
		{func(c *Config) { c.M = -2 }, "m = -2"},
		{func(c *Config) { c.Lambda = -1 }, "lambda"},
		{func(c *Config) { c.LvMin, c.LvMax = 3, 2 }, "lv_min"},
		{func(c *Config) { c.LvMin, c.LvMax = -100, 5 }, "log-variance bounds"},
		{func(c *Config) { c.Likelihood = "poisson" }, "likelihood"},
		{func(c *Config) { c.Model, c.M, c.BatchNorm = "shu", 0, true }, "model shu has no batch normalisation"},
		{func(c *Config) { c.PGrad = "sometimes" }, `p_grad = "sometimes": want stop, authors or exact`},
		{func(c *Config) { c.Model, c.M, c.PGrad = "shu", 0, PGradAuthors }, "model shu has no p(y|z,w)"},
		{func(c *Config) { c.Model, c.M = "shu", 2 }, "m = 2: Monte Carlo samples of (z, w) are model dilokthanakul's"},
		{func(c *Config) { c.Model, c.M, c.Lambda = "shu", 0, 0.5 }, "lambda = 0.5: free bits are model dilokthanakul's"},
		{func(c *Config) { c.Gumbel = true }, "gumbel = true: Gumbel-softmax draws are model shu's"},
		{func(c *Config) { c.Init = "he" }, `init = "he": want glorot or torch`},
		{func(c *Config) { c.Model, c.M, c.PGrad, c.Init = "shu", 0, "", nn.SchemeTorch }, "model shu keeps its own initialisation"},
	} {
		cfg := dkTiny()
		c.mod(&cfg)
		_, err := New(b, cfg)
		assert.ErrorContains(t, err, c.want, "config %+v", cfg)
	}
	cfg := dkTiny()
	m, err := New(b, cfg)
	testutil.Must(t, err)
	defer m.Release()
	x := testutil.New(t, b, cfg.MaxBatch*cfg.D, "x")
	post := testutil.New(t, b, cfg.MaxBatch*cfg.K, "post")
	zm := testutil.New(t, b, cfg.MaxBatch*cfg.Dz, "zmean")
	for _, n := range []int{0, -1, cfg.MaxBatch + 1} {
		_, err := m.TrainBatch(x, n, 0)
		assert.ErrorContains(t, err, "max_batch", "batch of %d", n)
	}
	_, err = m.TrainBatch(x.Slice(0, 5), 2, 0)
	assert.ErrorContains(t, err, "needs", "short x")
	_, err = m.TrainBatch(x, 2, 1<<32)
	assert.ErrorContains(t, err, "2^32", "step 2^32")
	_, err = m.Infer(x, 3, post.Slice(0, 2), nil, zm, 0)
	assert.ErrorContains(t, err, "post", "short post")
	_, err = m.Infer(x, 3, post, nil, zm.Slice(0, 1), 0)
	assert.ErrorContains(t, err, "zmean", "short zmean")
}

// TestDilokthanakulNegligibleResponsibilities: the (row, component) pairs whose
// p(y=k|z,w) is below pNegligible get no gradient weight (gKL, gL zero), the others keep
// theirs (gKL = p/(nM)), with the y-prior gradient on and off; and CPU and emulator
// agree. Large inputs make some posteriors that small.
func TestDilokthanakulNegligibleResponsibilities(t *testing.T) {
	const xScale = 10
	for _, lambda := range []float32{0, 100} {
		cfg := dkTiny()
		cfg.Lambda = lambda
		x := make([]float32, cfg.MaxBatch*cfg.D)
		for i := range x {
			x[i] = float32((i*37)%11-5) * xScale
		}
		var got [2][]float32
		for bi, b := range []engine.Backend{engine.NewCPU(), engine.NewGPU(emu.New(emu.Options{}), engine.GPUOptions{})} {
			mi, err := New(b, cfg)
			testutil.Must(t, err)
			d := mi.(*dilokthanakul)
			xb := testutil.Upload(t, b, x, "x")
			testutil.Must(t, d.ps.ZeroGrad())
			tm, err := d.TrainBatch(xb, cfg.MaxBatch, 1)
			testutil.Must(t, err)
			require.Equal(t, lambda > 0, tm.FreeBitsActive, "lambda %g: free bits active", lambda)
			MN := cfg.M * cfg.MaxBatch
			resp := testutil.Download(t, b, d.resp.Slice(0, MN*cfg.K))
			gKL := testutil.Download(t, b, d.gKL.Slice(0, MN*cfg.K))
			gL := make([]float32, MN*cfg.K) // not written without the y-prior gradient
			if lambda == 0 {
				gL = testutil.Download(t, b, d.gL.Slice(0, MN*cfg.K))
			}
			inv := float32(1) / float32(MN)
			small := 0
			for i, p := range resp {
				if p < pNegligible && p > 0 {
					small++
					if gKL[i] != 0 || (lambda == 0 && gL[i] != 0) {
						require.Failf(t, "gradient weight of a negligible responsibility", "lambda %g: p[%d] = %g below 2^-64 has gKL %g, gL %g", lambda, i, p, gKL[i], gL[i])
					}
				} else if gKL[i] != p*inv {
					require.Equal(t, p*inv, gKL[i], "lambda %g: p[%d] = %g: gKL", lambda, i, p)
				}
			}
			require.True(t, small > 0 && small < len(resp), "lambda %g: %d of %d responsibilities in (0, 2^-64); the test needs some of each", lambda, small, len(resp))
			got[bi] = append(testutil.Download(t, b, d.ps.G), gL...)
			testutil.Must(t, b.Release(xb))
			testutil.Must(t, mi.Release())
		}
		testutil.RequireSameBits(t, "gradients", got[0], got[1])
	}
}
