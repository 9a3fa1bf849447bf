package gmvae

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/cuda/emu"
	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/internal/testutil"
	"github.com/gmvae/gmvae/kernels/philox"
	"github.com/gmvae/gmvae/nn"
)

// genCase is a small model of either kind for the Decode and SampleCluster tests.
type genCase struct {
	name string
	cfg  Config
}

func genCases(maxBatch int) []genCase {
	base := func(model string, lik Likelihood, gumbel bool) Config {
		return Config{Model: model, D: 12, K: 3, Dz: 4, Dw: 3, Hidden: []int{8}, MaxBatch: maxBatch, Seed: 7,
			Likelihood: lik, Gumbel: gumbel}.Defaults()
	}
	deep := base("shu", Bernoulli, false)
	deep.Hidden = []int{8, 6}
	return []genCase{
		{"dilokthanakul bernoulli", base("dilokthanakul", Bernoulli, false)},
		{"dilokthanakul gaussian", base("dilokthanakul", Gaussian, false)},
		{"shu bernoulli", base("shu", Bernoulli, false)},
		{"shu gaussian", base("shu", Gaussian, false)},
		{"shu gumbel", base("shu", Bernoulli, true)},
		{"shu two hidden layers", deep},
	}
}

// genModel builds cfg on b with every parameter replaced by normals of scale 0.5 (the
// same on every backend), so that biases and prior log-variances are not zero.
func genModel(t *testing.T, b engine.Backend, cfg Config) Model {
	t.Helper()
	m, err := New(b, cfg)
	testutil.Must(t, err)
	t.Cleanup(func() { m.Release() })
	p := make([]float32, m.Params().P.Len())
	philox.Normals(p, 99, 1)
	for i := range p {
		p[i] *= 0.5
	}
	testutil.Must(t, b.Upload(m.Params().P, p))
	return m
}

// genRun runs Decode on fixed latent rows (n = MaxBatch and n = 2) and SampleCluster
// for every cluster (n = MaxBatch and n = 2), returning every output in turn.
func genRun(t *testing.T, b engine.Backend, cfg Config) [][]float32 {
	t.Helper()
	m := genModel(t, b, cfg)
	N := cfg.MaxBatch
	zh := make([]float32, N*cfg.Dz)
	philox.Normals(zh, 5, 2)
	z := testutil.Upload(t, b, zh, "z")
	xm, err := b.New(N*cfg.D, "xmean")
	testutil.Must(t, err)
	var out [][]float32
	for _, n := range []int{N, 2} {
		testutil.Must(t, m.Decode(z, n, xm))
		out = append(out, testutil.Download(t, b, xm.Slice(0, n*cfg.D)))
	}
	for k := range cfg.K {
		for _, n := range []int{N, 2} {
			testutil.Must(t, m.SampleCluster(k, n, z, 1234))
			out = append(out, testutil.Download(t, b, z.Slice(0, n*cfg.Dz)))
		}
	}
	testutil.Must(t, b.Release(z))
	testutil.Must(t, b.Release(xm))
	return out
}

// TestDecodeSampleBitsCPUEmu: Decode and SampleCluster give the same bits on the CPU
// backend and on the GPU backend over the PTX emulator; n draws are the first n rows
// of MaxBatch draws; the draws differ between clusters.
func TestDecodeSampleBitsCPUEmu(t *testing.T) {
	for _, tc := range genCases(5) {
		t.Run(tc.name, func(t *testing.T) {
			c := genRun(t, engine.NewCPU(), tc.cfg)
			gpu := engine.NewGPU(emu.New(emu.Options{}), engine.GPUOptions{})
			defer gpu.Close()
			g := genRun(t, gpu, tc.cfg)
			for i := range c {
				require.Len(t, g[i], len(c[i]), "output %d: values on emu, against cpu", i)
				for j := range c[i] {
					if math.Float32bits(c[i][j]) != math.Float32bits(g[i][j]) {
						require.Equal(t, math.Float32bits(c[i][j]), math.Float32bits(g[i][j]), "output %d element %d: cpu %v, emu %v (bits)", i, j, c[i][j], g[i][j])
					}
				}
			}
			for i := 0; i < len(c); i += 2 {
				for j, v := range c[i+1] {
					if math.Float32bits(v) != math.Float32bits(c[i][j]) {
						require.Equal(t, math.Float32bits(c[i][j]), math.Float32bits(v), "output %d: n=2 element %d %v is not the n=MaxBatch one %v (bits)", i, j, v, c[i][j])
					}
				}
			}
			K := tc.cfg.K
			for k := 1; k < K; k++ {
				assert.False(t, same(c[2+2*k], c[2]), "cluster %d draws the bits of cluster 0", k)
			}
			for _, o := range c {
				for j, v := range o {
					if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
						require.Failf(t, "non-finite value", "%v at %d", v, j)
					}
				}
			}
		})
	}
}

func same(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// TestDecodeReference: Decode against a float64 forward pass of the decoder computed
// from the downloaded parameters: sigmoid(decoder(z)) (Bernoulli), the mean head
// (Gaussian).
func TestDecodeReference(t *testing.T) {
	for _, tc := range genCases(6) {
		t.Run(tc.name, func(t *testing.T) {
			b := engine.NewCPU()
			cfg := tc.cfg
			m := genModel(t, b, cfg)
			var layers []*nn.Linear
			switch mm := m.(type) {
			case *shu:
				layers = append(append(layers, mm.px.Layers...), mm.pxOut)
			case *dilokthanakul:
				layers = append(append(layers, mm.decTrunk.Layers...), mm.decOut)
			}
			n := cfg.MaxBatch
			zh := make([]float32, n*cfg.Dz)
			philox.Normals(zh, 3, 4)
			for i := range zh {
				zh[i] *= 2
			}
			z := testutil.Upload(t, b, zh, "z")
			xm, err := b.New(n*cfg.D, "xmean")
			testutil.Must(t, err)
			testutil.Must(t, m.Decode(z, n, xm))
			got := testutil.Download(t, b, xm)

			h := make([]float64, len(zh))
			for i, v := range zh {
				h[i] = float64(v)
			}
			for li, l := range layers {
				W, bias := testutil.Download(t, b, l.W().P), testutil.Download(t, b, l.B().P)
				next := make([]float64, n*l.Out)
				for i := range n {
					for o := range l.Out {
						s := float64(bias[o])
						for j := range l.In {
							s += h[i*l.In+j] * float64(W[j*l.Out+o])
						}
						if li < len(layers)-1 && s < 0 { // relu trunk, linear head
							s = 0
						}
						next[i*l.Out+o] = s
					}
				}
				h = next
			}
			worst := 0.0
			for i, v := range h {
				want := v
				if cfg.Likelihood == Bernoulli {
					want = 1 / (1 + math.Exp(-v))
				}
				e := math.Abs(float64(got[i])-want) / (1e-3 + math.Abs(want))
				worst = max(worst, e)
				// float32 sums of at most 8 terms of size ~1, and a sigmoid within 1.5 ulp.
				if e > 2e-5 {
					require.LessOrEqual(t, e, 2e-5, "element %d: got %v, float64 reference %v: relative error", i, got[i], want)
				}
			}
			t.Logf("largest relative error %.3g over %d values", worst, len(h))
		})
	}
}

// setPrior makes cluster k's generative distribution of z N(mu[k], exp(clamp(lv[k])))
// for every w: model B's MU and LV; model A's prior network with zero weights (so
// mu_k(w) and lv_k(w) are the heads' biases).
func setPrior(t *testing.T, b engine.Backend, m Model, mu, lv []float32) {
	t.Helper()
	zero := func(x *engine.Buf) { testutil.Must(t, nn.Fill(b, x, 0)) }
	switch mm := m.(type) {
	case *shu:
		testutil.Must(t, b.Upload(mm.tensor(mm.pMu).P, mu))
		testutil.Must(t, b.Upload(mm.tensor(mm.pLv).P, lv))
	case *dilokthanakul:
		zero(mm.priorH.W().P)
		zero(mm.priorMu.W().P)
		zero(mm.priorLv.W().P)
		testutil.Must(t, b.Upload(mm.priorMu.B().P, mu))
		testutil.Must(t, b.Upload(mm.priorLv.B().P, lv))
	}
}

// TestSampleClusterMoments: over 20000 draws per cluster the sample mean and variance
// of every coordinate of z match the cluster's N(mu_k, exp(clamp(lv_k))). With N draws
// the sample mean's error is sigma/sqrt(N) and the sample variance's relative error
// sqrt(2/(N-1)) (one standard deviation); the test allows 5 of them (a chance below
// 1e-6 per check for independent normals; the draws are fixed, so the test is
// deterministic).
func TestSampleClusterMoments(t *testing.T) {
	const per, seeds = 200, 100
	for _, model := range []string{"shu", "dilokthanakul"} {
		t.Run(model, func(t *testing.T) {
			b := engine.NewCPU()
			cfg := Config{Model: model, D: 12, K: 3, Dz: 4, Dw: 3, Hidden: []int{8}, MaxBatch: per, Seed: 3,
				LvMin: -3, LvMax: 1.5}.Defaults()
			m, err := New(b, cfg)
			testutil.Must(t, err)
			defer m.Release()
			mu := []float32{0.5, -1, 2, 0, 3, 3, -3, 0.25, -0.5, 0, 1, -2}
			lv := []float32{0, 1, -2, 0.5, -1, 0, 1.4, -0.5, 3 /* clamped to 1.5 */, -5 /* clamped to -3 */, 0.2, 0}
			setPrior(t, b, m, mu, lv)
			z, err := b.New(per*cfg.Dz, "z")
			testutil.Must(t, err)
			defer b.Release(z)
			N := float64(per * seeds)
			for k := range cfg.K {
				sum := make([]float64, cfg.Dz)
				sq := make([]float64, cfg.Dz)
				for s := range seeds {
					testutil.Must(t, m.SampleCluster(k, per, z, uint64(1000+s)))
					v := testutil.Download(t, b, z)
					for i := range per {
						for d := range cfg.Dz {
							x := float64(v[i*cfg.Dz+d])
							sum[d] += x
							sq[d] += x * x
						}
					}
				}
				for d := range cfg.Dz {
					wantMu := float64(mu[k*cfg.Dz+d])
					l := math.Min(math.Max(float64(lv[k*cfg.Dz+d]), float64(cfg.LvMin)), float64(cfg.LvMax))
					wantVar := math.Exp(l)
					mean := sum[d] / N
					variance := (sq[d] - N*mean*mean) / (N - 1)
					assert.InDelta(t, wantMu, mean, 5*math.Sqrt(wantVar/N), "cluster %d dim %d: mean", k, d)
					assert.InDelta(t, 1.0, variance/wantVar, 5*math.Sqrt(2/(N-1)), "cluster %d dim %d: variance %.5f / wanted %.5f", k, d, variance, wantVar)
				}
			}
		})
	}
}

// TestSampleDecodeErrors: out-of-range clusters, batch sizes and short buffers are
// refused with errors that name the problem.
func TestSampleDecodeErrors(t *testing.T) {
	for _, tc := range genCases(4)[:4] {
		t.Run(tc.name, func(t *testing.T) {
			b := engine.NewCPU()
			cfg := tc.cfg
			m, err := New(b, cfg)
			testutil.Must(t, err)
			defer m.Release()
			N := cfg.MaxBatch
			z, err := b.New(N*cfg.Dz, "z")
			testutil.Must(t, err)
			xm, err := b.New(N*cfg.D, "xmean")
			testutil.Must(t, err)
			for _, e := range []struct {
				name string
				err  error
				want string
			}{
				{"k=-1", m.SampleCluster(-1, 1, z, 1), "cluster -1, want 0..2"},
				{"k=K", m.SampleCluster(cfg.K, 1, z, 1), "cluster 3, want 0..2"},
				{"n=0", m.SampleCluster(0, 0, z, 1), "0 draws, want 1..4"},
				{"n=-1", m.SampleCluster(0, -1, z, 1), "-1 draws, want 1..4"},
				{"n>MaxBatch", m.SampleCluster(0, N+1, z, 1), "5 draws, want 1..4"},
				{"short z", m.SampleCluster(0, N, z.Slice(0, N*cfg.Dz-1), 1), "z has 15"},
				{"nil z", m.SampleCluster(0, 1, nil, 1), "z has 0"},
				{"decode n=0", m.Decode(z, 0, xm), "0 rows, want 1..4"},
				{"decode n>MaxBatch", m.Decode(z, N+1, xm), "5 rows, want 1..4"},
				{"decode short z", m.Decode(z.Slice(0, 3), 1, xm), "z has 3"},
				{"decode short xmean", m.Decode(z, 2, xm.Slice(0, 2*cfg.D-1)), "xmean has 23"},
			} {
				assert.ErrorContains(t, e.err, e.want, e.name)
			}
			// The model still works after refused calls.
			testutil.Must(t, m.SampleCluster(cfg.K-1, N, z, 1))
			testutil.Must(t, m.Decode(z, N, xm))
		})
	}
}

// TestSampleReleaseEmu: the buffers SampleCluster allocates on first use go back to the
// pool with Release.
func TestSampleReleaseEmu(t *testing.T) {
	for _, tc := range []genCase{genCases(3)[0], genCases(3)[2]} {
		t.Run(tc.name, func(t *testing.T) {
			gpu := engine.NewGPU(emu.New(emu.Options{}), engine.GPUOptions{})
			defer gpu.Close()
			z, err := gpu.New(3*tc.cfg.Dz, "z")
			testutil.Must(t, err)
			before := gpu.Pool().Stats().Allocated
			m, err := New(gpu, tc.cfg)
			testutil.Must(t, err)
			testutil.Must(t, m.SampleCluster(1, 3, z, 9))
			testutil.Must(t, m.Release())
			assert.Equal(t, before, gpu.Pool().Stats().Allocated, "bytes allocated after Release, against before the model")
		})
	}
}
