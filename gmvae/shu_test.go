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
	"github.com/gmvae/gmvae/nn"
)

// shuTiny is a model B small enough for the PTX emulator.
func shuTiny(gumbel bool) Config {
	return Config{Model: "shu", D: 12, K: 3, Dz: 3, Hidden: []int{8, 6}, MaxBatch: 7, Seed: 11, Gumbel: gumbel, Tau: 0.7}.Defaults()
}

// TestShuCPUEqualsEmulator trains model B (exact marginal and Gumbel-softmax; exact with
// the Gaussian likelihood too) from the
// same seed on the CPU backend and on the GPU backend over the PTX emulator, with a
// change of batch size: the parameters, every step's Terms and Infer's outputs must be
// identical bits, and the steady state must make no driver allocation.
func TestShuCPUEqualsEmulator(t *testing.T) {
	for _, c := range []struct {
		gumbel bool
		lik    Likelihood
	}{{false, Bernoulli}, {true, Bernoulli}, {false, Gaussian}} {
		gumbel := c.gumbel
		cfg := shuTiny(gumbel)
		cfg.Likelihood = c.lik
		x, _ := testutil.ClusteredBits(20, cfg.D, 3, 5)
		batches := []int{7, 7, 5, 7}
		pc, tc, ic := trainAndInfer(t, engine.NewCPU(), cfg, x, batches)
		gpu := engine.NewGPU(emu.New(emu.Options{}), engine.GPUOptions{})
		pg, tg, ig := trainAndInfer(t, gpu, cfg, x, batches)
		testutil.RequireSameBits(t, "parameters", pc, pg)
		ic.requireSameBits(t, ig)
		for i := range tc {
			require.Equal(t, tc[i], tg[i], "gumbel=%v: terms of step %d, cpu then emulator", gumbel, i)
			require.Empty(t, tc[i].Finite(), "gumbel=%v: step %d: a term not finite: %+v", gumbel, i, tc[i])
		}
		t.Logf("gumbel=%v: losses %.4f .. %.4f; pool %v", gumbel, tc[0].Loss, tc[len(tc)-1].Loss, gpu.Pool().Stats())
		testutil.Must(t, gpu.Close())
	}
}

// TestShuLearns trains model B on clustered binary data on the CPU backend: the mean
// loss of the last 10 of 60 steps must be well below that of the first 10, and Infer's
// posteriors must be distributions, the softmax of its logits.
func TestShuLearns(t *testing.T) {
	for _, gumbel := range []bool{false, true} {
		cfg := Config{Model: "shu", D: 32, K: 4, Dz: 4, Hidden: []int{32, 32}, MaxBatch: 40, Seed: 3, Gumbel: gumbel}.Defaults()
		x, _ := testutil.ClusteredBits(200, cfg.D, 4, 9)
		b := engine.NewCPU()
		batches := make([]int, 60)
		for i := range batches {
			batches[i] = 40
		}
		_, terms, inf := trainAndInfer(t, b, cfg, x, batches)
		mean := func(ts []Terms) float64 {
			s := 0.0
			for _, tm := range ts {
				s += tm.Loss
			}
			return s / float64(len(ts))
		}
		first, last := mean(terms[:10]), mean(terms[50:60])
		t.Logf("gumbel=%v: loss %.3f -> %.3f (last step %+v)", gumbel, first, last, terms[59])
		assert.Less(t, last, first-2, "gumbel=%v: loss did not fall enough: first 10 steps %.3f, last 10 %.3f", gumbel, first, last)
		inf.checkDistributions(t, cfg.K)
	}
}

// TestShuTermsConsistent checks the Terms' bookkeeping: Loss = Recon + KLz + KLy =
// -ELBO, KLy in [0, log K], Infer with a step's draws repeats that step's forward
// pass (same Terms as TrainBatch) and leaves the gradients alone, and TrainBatch adds
// to the gradients rather than overwriting them.
func TestShuTermsConsistent(t *testing.T) {
	for _, gumbel := range []bool{false, true} {
		cfg := shuTiny(gumbel)
		b := engine.NewCPU()
		m, err := New(b, cfg)
		testutil.Must(t, err)
		x, _ := testutil.ClusteredBits(7, cfg.D, 3, 2)
		xb := testutil.Upload(t, b, x, "x")
		tr, err := m.TrainBatch(xb, 7, 4)
		testutil.Must(t, err)
		g1 := testutil.Download(t, b, m.Params().G)
		post := testutil.New(t, b, 7*cfg.K, "post")
		zmean := testutil.New(t, b, 7*cfg.Dz, "zmean")
		ti, err := m.Infer(xb, 7, post, nil, zmean, 4)
		testutil.Must(t, err)
		assert.Equal(t, tr, ti, "gumbel=%v: terms of TrainBatch, then Infer", gumbel)
		testutil.RequireSameBits(t, "gradients after Infer", testutil.Download(t, b, m.Params().G), g1)
		// TrainBatch adds to the gradients: every tensor gets one accumulating
		// launch per call, so the same batch twice gives exactly twice the gradient.
		tr2, err := m.TrainBatch(xb, 7, 4)
		testutil.Must(t, err)
		assert.Equal(t, tr, tr2, "gumbel=%v: the same step twice", gumbel)
		for i := range g1 {
			g1[i] *= 2
		}
		testutil.RequireSameBits(t, "gradients after two calls", testutil.Download(t, b, m.Params().G), g1)
		d := math.Abs(tr.Loss - (tr.Recon + tr.KLz + tr.KLy))
		assert.False(t, d > 1e-9 || tr.ELBO != -tr.Loss, "gumbel=%v: inconsistent terms %+v", gumbel, tr)
		assert.False(t, tr.KLy < -1e-5 || tr.KLy > math.Log(float64(cfg.K))+1e-5, "gumbel=%v: KLy %g outside [0, log K]", gumbel, tr.KLy)
		testutil.Must(t, m.Release())
	}
}

// TestShuErrors: configurations and batches the model refuses.
func TestShuErrors(t *testing.T) {
	b := engine.NewCPU()
	cfg := shuTiny(false)
	cfg.Hidden = []int{}
	_, err := New(b, cfg)
	assert.Error(t, err, "no hidden layer")
	cfg = shuTiny(false)
	cfg.LvMin, cfg.LvMax = -100, 5
	_, err = New(b, cfg)
	assert.Error(t, err, "log-variance bound -100")
	m, err := New(b, shuTiny(false))
	testutil.Must(t, err)
	x := testutil.New(t, b, 8*12, "x")
	_, err = m.TrainBatch(x, 8, 0)
	assert.Error(t, err, "batch above max_batch")
	_, err = m.TrainBatch(x, 0, 0)
	assert.Error(t, err, "empty batch")
	testutil.Must(t, m.Release())
}

// TestShuInfer: Infer's post is q(y|x), and zmean is the mean of q(z|x, y = argmax q):
// in exact mode the block of m of each row's argmax; in Gumbel mode (the same
// parameters: both modes declare the same tensors from the same seed) the z-encoder
// rerun with the one-hot argmax gives the very same bits.
func TestShuInfer(t *testing.T) {
	const n = 6
	var posts, zmeans [2][]float32
	for mode, gumbel := range []bool{false, true} {
		cfg := shuTiny(gumbel)
		b := engine.NewCPU()
		mod, err := New(b, cfg)
		testutil.Must(t, err)
		s := mod.(*shu)
		x, _ := testutil.ClusteredBits(n, cfg.D, 3, 8)
		xb := testutil.Upload(t, b, x, "x")
		post := testutil.New(t, b, n*cfg.K, "post")
		zmean := testutil.New(t, b, n*cfg.Dz, "zmean")
		_, err = mod.Infer(xb, n, post, nil, zmean, 1)
		testutil.Must(t, err)
		posts[mode], zmeans[mode] = testutil.Download(t, b, post), testutil.Download(t, b, zmean)
		q := testutil.Download(t, b, s.q)[:n*cfg.K]
		testutil.RequireSameBits(t, "post vs q", posts[mode], q)
		if !gumbel {
			m := testutil.Download(t, b, s.m)
			K, Dz := cfg.K, cfg.Dz
			for i := 0; i < n; i++ {
				best := 0
				for k := 1; k < K; k++ {
					if q[i*K+k] > q[i*K+best] {
						best = k
					}
				}
				row := m[(best*n+i)*Dz : (best*n+i+1)*Dz]
				testutil.RequireSameBits(t, fmt.Sprintf("zmean row %d (cluster %d)", i, best), zmeans[mode][i*Dz:(i+1)*Dz], row)
			}
		}
		testutil.Must(t, mod.Release())
	}
	testutil.RequireSameBits(t, "post exact vs gumbel", posts[0], posts[1])
	testutil.RequireSameBits(t, "zmean exact vs gumbel", zmeans[0], zmeans[1])
}

// TestShuExtremeInputs: inputs far outside [0, 1] (±1e4), all-zero and all-one rows,
// both likelihoods, tight and wide log-variance bounds, and K = 1 give finite terms, finite gradients and
// finite parameters after a few steps.
func TestShuExtremeInputs(t *testing.T) {
	for _, lik := range []Likelihood{Bernoulli, Gaussian} {
		for _, gumbel := range []bool{false, true} {
			for _, lim := range [][2]float32{{-6, 6}, {-30, 30}} {
				for _, K := range []int{1, 3} {
					cfg := shuTiny(gumbel)
					cfg.LvMin, cfg.LvMax, cfg.K, cfg.Likelihood = lim[0], lim[1], K, lik
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
					what := fmt.Sprintf("%s gumbel=%v lv %v K=%d", lik, gumbel, lim, K)
					for step := 0; step < 3; step++ {
						testutil.Must(t, m.Params().ZeroGrad())
						tm, err := m.TrainBatch(xb, n, uint64(step))
						testutil.Must(t, err)
						require.Empty(t, tm.Finite(), "%s step %d: a term not finite: %+v", what, step, tm)
						if K == 1 {
							require.Zero(t, tm.KLy, "%s: KLy with one cluster", what)
						}
						for i, g := range testutil.Download(t, b, m.Params().G) {
							if math.IsNaN(float64(g)) || math.IsInf(float64(g), 0) {
								require.Failf(t, "non-finite gradient", "%s step %d: gradient %d = %g", what, step, i, g)
							}
						}
						testutil.Must(t, m.Params().Step(nn.DefaultAdam(0.01)))
					}
					for i, p := range testutil.Download(t, b, m.Params().P) {
						if math.IsNaN(float64(p)) || math.IsInf(float64(p), 0) {
							require.Failf(t, "non-finite parameter", "%s: parameter %d = %g", what, i, p)
						}
					}
					testutil.Must(t, m.Release())
				}
			}
		}
	}
}

// BenchmarkShuStep times a training step (forward, backward, Adam) of model B at Rui
// Shu's MNIST size (D=784, K=10, Dz=64, Hidden=[512, 512], batch 100) on the CPU
// backend, exact marginal (K decoder passes) and Gumbel-softmax (one).
func BenchmarkShuStep(b *testing.B) {
	for _, gumbel := range []bool{false, true} {
		b.Run(fmt.Sprintf("gumbel=%v", gumbel), func(b *testing.B) {
			cfg := Config{Model: "shu", D: 784, K: 10, Dz: 64, Hidden: []int{512, 512}, MaxBatch: 100, Gumbel: gumbel}
			be := engine.NewCPU()
			m, err := New(be, cfg)
			require.NoError(b, err)
			defer m.Release()
			x, _ := testutil.ClusteredBits(100, 784, 10, 1)
			xb, _ := be.New(len(x), "x")
			require.NoError(b, be.Upload(xb, x))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := m.Params().ZeroGrad(); err != nil {
					b.Fatal(err)
				}
				if _, err := m.TrainBatch(xb, 100, uint64(i)); err != nil {
					b.Fatal(err)
				}
				if err := m.Params().Step(nn.DefaultAdam(1e-3)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestShuNegligibleBranches: with the exact marginal, the branches whose q(y=k|x) is in
// (0, 2^-64) get row weight 0, the others q/n and -q/n; CPU and emulator agree. Large
// inputs make some posteriors that small.
func TestShuNegligibleBranches(t *testing.T) {
	cfg := shuTiny(false)
	x := make([]float32, cfg.MaxBatch*cfg.D)
	for i := range x {
		x[i] = float32((i*37)%11-5) * 40
	}
	n, K := cfg.MaxBatch, cfg.K
	var got [2][]float32
	for bi, b := range []engine.Backend{engine.NewCPU(), engine.NewGPU(emu.New(emu.Options{}), engine.GPUOptions{})} {
		mi, err := New(b, cfg)
		testutil.Must(t, err)
		s := mi.(*shu)
		xb := testutil.Upload(t, b, x, "x")
		testutil.Must(t, s.ps.ZeroGrad())
		_, err = s.TrainBatch(xb, n, 1)
		testutil.Must(t, err)
		qT := testutil.Download(t, b, s.qT.Slice(0, K*n))
		w := testutil.Download(t, b, s.w.Slice(0, K*n))
		negw := testutil.Download(t, b, s.negw.Slice(0, K*n))
		inv := float32(1) / float32(n)
		small := 0
		for i, q := range qT {
			switch {
			case q > 0 && q < pNegligible:
				small++
				if w[i] != 0 || negw[i] != 0 {
					require.Failf(t, "weights of a negligible posterior", "q[%d] = %g below 2^-64 has weights %g, %g", i, q, w[i], negw[i])
				}
			case q >= pNegligible && (w[i] != q*inv || negw[i] != q*-inv):
				require.Equal(t, [2]float32{q * inv, q * -inv}, [2]float32{w[i], negw[i]}, "q[%d] = %g: weights", i, q)
			}
		}
		require.True(t, small > 0 && small < len(qT), "%d of %d posteriors in (0, 2^-64); the test needs some of each", small, len(qT))
		got[bi] = testutil.Download(t, b, s.ps.G)
		testutil.Must(t, b.Release(xb))
		testutil.Must(t, mi.Release())
	}
	testutil.RequireSameBits(t, "gradients", got[0], got[1])
}

// TestNewRefusesWhatDoesNotFit: a model whose buffers pass the backend's memory is an
// error matching engine.ErrOutOfMemory, for every model; model shu used to go on to
// its host copies of the same sizes after the backend refused, and a
// max_batch of 10^8 ended the process with Go's fatal out-of-memory trace.
func TestNewRefusesWhatDoesNotFit(t *testing.T) {
	for _, model := range []string{"shu", "dilokthanakul", "vade"} {
		t.Run(model, func(t *testing.T) {
			b := engine.NewCPU()
			b.SetMemoryLimit(64 << 20) // the test takes at most this much
			_, err := New(b, Config{Model: model, D: 2, K: 10, MaxBatch: 100_000_000})
			require.ErrorIs(t, err, engine.ErrOutOfMemory)
			assert.Contains(t, err.Error(), "would bring this backend's memory to")
			assert.Contains(t, err.Error(), "more than the 67 MB it may hold (its memory limit)")
		})
	}
}
