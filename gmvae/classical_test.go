package gmvae

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/cluster"
	"github.com/gmvae/gmvae/cuda/emu"
	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/internal/testutil"
	"github.com/gmvae/gmvae/kernels/philox"
)

// tilted returns n rows of 2 features in k elongated clusters tilted by 35° (the same
// shape each, centers 8 apart): a full-covariance mixture's data. Row i is in cluster
// i % k.
func tilted(n, k int, seed uint64) []float32 {
	noise := make([]float32, 2*n)
	philox.Normals(noise, seed, 1)
	c, s := math.Cos(35*math.Pi/180), math.Sin(35*math.Pi/180)
	x := make([]float32, 2*n)
	for i := 0; i < n; i++ {
		u, v := 4*float64(noise[2*i]), float64(noise[2*i+1])
		x[2*i] = float32(c*u - s*v)
		x[2*i+1] = float32(s*u + c*v + 8*float64(i%k))
	}
	return x
}

// fitClassical builds and fits a classical model of x (n, D) on b and returns it with
// its report and Infer's posteriors and logits of x.
func fitClassical(t *testing.T, b engine.Backend, cfg Config, x []float32, n int) (Model, FitReport, []float32, []float32) {
	t.Helper()
	m, err := New(b, cfg)
	require.NoError(t, err)
	xb := testutil.Upload(t, b, x, "x")
	rep, err := m.(Fitter).Fit(context.Background(), xb, n)
	require.NoError(t, err)
	post, logits, zmean := testutil.New(t, b, n*cfg.K, "post"), testutil.New(t, b, n*cfg.K, "logits"), testutil.New(t, b, n*cfg.D, "zmean")
	terms, err := m.Infer(xb, n, post, logits, zmean, 0)
	require.NoError(t, err)
	assert.Empty(t, terms.Finite())
	assert.Equal(t, x, testutil.Download(t, b, zmean), "zmean is the data")
	return m, rep, testutil.Download(t, b, post), testutil.Download(t, b, logits)
}

// TestGMMCovariances: model gmm with diag, full and auto covariances gives the
// posteriors of package cluster's fit, bit for bit; auto keeps full on tilted clusters
// and diag on axis-aligned ones, reporting both BICs; the full tensors are in the
// checkpoint's parameter names.
func TestGMMCovariances(t *testing.T) {
	const n, k = 600, 3
	b := engine.NewCPU()
	tilt := tilted(n, k, 4)
	round := make([]float32, 2*n)
	philox.Normals(round, 5, 1)
	for i := 0; i < n; i++ {
		round[2*i+1] += 8 * float32(i%k)
	}
	for _, tc := range []struct {
		cov, data, kept string
		x               []float32
	}{
		{"", "tilted", cluster.CovDiag, tilt},
		{cluster.CovFull, "tilted", cluster.CovFull, tilt},
		{CovAuto, "tilted", cluster.CovFull, tilt},
		{CovAuto, "axis-aligned", cluster.CovDiag, round},
	} {
		t.Run(tc.cov+" "+tc.data, func(t *testing.T) {
			cfg := Config{Model: "gmm", D: 2, K: k, Covariance: tc.cov, Restarts: 2, Seed: 7, MaxBatch: n}
			m, rep, post, _ := fitClassical(t, b, cfg, tc.x, n)
			defer m.Release()
			assert.Equal(t, tc.kept, rep.Covariance)
			if tc.cov == CovAuto {
				require.Len(t, rep.BIC, 2)
				other := map[string]string{cluster.CovDiag: cluster.CovFull, cluster.CovFull: cluster.CovDiag}[tc.kept]
				assert.Less(t, rep.BIC[tc.kept], rep.BIC[other], "the lower BIC is kept")
			} else {
				assert.Empty(t, rep.BIC)
			}
			names, _ := m.Params().Layout()
			if tc.cov == "" {
				assert.Equal(t, []string{"log_weights", "means", "log_vars"}, names)
			} else {
				assert.Equal(t, []string{"log_weights", "means", "chol", "prec_chol", "center", "shift", "log_norm"}, names)
			}
			// The same posteriors as package cluster's fit of the kept type (auto's diag
			// winner goes through the full E-step: the same labels, posteriors within
			// rounding).
			g, err := cluster.FitGMM(context.Background(), b, testutil.Upload(t, b, tc.x, "x"), n, 2,
				cluster.GMMConfig{K: k, Restarts: 2, Seed: 7, Covariance: tc.kept})
			require.NoError(t, err)
			want, _, err := g.Posteriors(b, testutil.Upload(t, b, tc.x, "x"), n)
			require.NoError(t, err)
			if tc.cov == CovAuto && tc.kept == cluster.CovDiag {
				for i := range want {
					assert.InDelta(t, want[i], post[i], 1e-5)
				}
			} else {
				assert.Equal(t, -1, testutil.SameBits(want, post), "the first posterior that differs from package cluster's")
			}
		})
	}
}

// TestGMMFullCPUMatchesEmulator: a full-covariance gmm fits, infers and samples the
// same bits on the CPU and the emulator.
func TestGMMFullCPUMatchesEmulator(t *testing.T) {
	if testing.Short() {
		t.Skip("emulator")
	}
	const n, k = 40, 2
	x := tilted(n, k, 8)
	cfg := Config{Model: "gmm", D: 2, K: k, Covariance: CovAuto, Seed: 3, MaxBatch: n}
	var outs [][]float32
	for _, b := range []engine.Backend{engine.NewCPU(), engine.NewGPU(emu.New(emu.Options{}), engine.GPUOptions{})} {
		m, rep, post, logits := fitClassical(t, b, cfg, x, n)
		z := testutil.New(t, b, 5*2, "z")
		require.NoError(t, m.SampleCluster(1, 5, z, 11))
		outs = append(outs, testutil.Download(t, b, m.Params().P), post, logits, testutil.Download(t, b, z))
		assert.Equal(t, cluster.CovFull, rep.Covariance)
		require.NoError(t, m.Release())
	}
	for i, name := range []string{"parameters", "posteriors", "logits", "samples"} {
		assert.Equal(t, -1, testutil.SameBits(outs[i], outs[4+i]), "%s: the first value that differs between CPU and emulator", name)
	}
}

// TestGMMFullSamples: SampleCluster of a full-covariance component draws from
// N(mu_k, L_k L_kᵀ): the sample mean and covariance of 20,000 draws are the
// component's.
func TestGMMFullSamples(t *testing.T) {
	const n, k, draws = 900, 3, 20000
	b := engine.NewCPU()
	x := tilted(n, k, 6)
	m, _, _, _ := fitClassical(t, b, Config{Model: "gmm", D: 2, K: k, Covariance: cluster.CovFull, Seed: 1, MaxBatch: draws}, x, n)
	defer m.Release()
	p := testutil.Download(t, b, m.Params().P)
	// Parameter layout: log_weights (k), means (2k), chol (4k), ...
	means, chol := p[k:3*k], p[3*k:7*k]
	z := testutil.New(t, b, draws*2, "z")
	require.NoError(t, m.SampleCluster(2, draws, z, 5))
	v := testutil.Download(t, b, z)
	var m0, m1, c00, c01, c11 float64
	for i := 0; i < draws; i++ {
		m0 += float64(v[2*i])
		m1 += float64(v[2*i+1])
	}
	m0, m1 = m0/draws, m1/draws
	for i := 0; i < draws; i++ {
		a, b := float64(v[2*i])-m0, float64(v[2*i+1])-m1
		c00, c01, c11 = c00+a*a, c01+a*b, c11+b*b
	}
	L := chol[2*4 : 3*4]
	want := []float64{float64(L[0]) * float64(L[0]), float64(L[0]) * float64(L[2]), float64(L[2])*float64(L[2]) + float64(L[3])*float64(L[3])}
	got := []float64{c00 / draws, c01 / draws, c11 / draws}
	t.Logf("covariance %v, want %v", got, want)
	assert.InDelta(t, means[4], m0, 0.1)
	assert.InDelta(t, means[5], m1, 0.1)
	for i := range want {
		assert.InDelta(t, want[i], got[i], 0.05*want[0], "covariance element %d", i)
	}
}

// TestCovarianceConfig: covariance is model gmm's, one of diag, full and auto, and
// full needs few enough features.
func TestCovarianceConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Model: "kmeans", Covariance: "full"}, `covariance = "full": covariances are model gmm's option, not model kmeans's`},
		{Config{Model: "gmm", Covariance: "spherical"}, `covariance = "spherical": want diag, full or auto`},
		{Config{Model: "gmm", Covariance: "auto", D: cluster.MaxFullD + 1}, fmt.Sprintf("full covariances need at most %d features; the data has %d", cluster.MaxFullD, cluster.MaxFullD+1)},
	} {
		c := tc.cfg
		c.K = 2
		if c.D == 0 {
			c.D = 3
		}
		assert.ErrorContains(t, c.Defaults().Validate(), tc.want)
	}
	assert.NoError(t, Config{Model: "gmm", K: 2, D: cluster.MaxFullD, Covariance: "full"}.Defaults().Validate())
	assert.NoError(t, Config{Model: "gmm", K: 2, D: 784, Covariance: "diag"}.Defaults().Validate())
}

// TestFullEligibility: auto keeps a full fit only when each component holds more rows
// than there are features.
func TestFullEligibility(t *testing.T) {
	g := &cluster.GMM{K: 3, D: 13, Weights: []float32{0.04, 0.36, 0.6}}
	assert.Equal(t, "full not eligible: its component 0 holds 7.1 rows for 13 features (a singular covariance)", fullIneligible(g, 178))
	assert.Empty(t, fullIneligible(g, 1000), "40 rows for 13 features")
	g = &cluster.GMM{K: 2, D: 2, Weights: []float32{0.5, 0.5}}
	assert.NotEmpty(t, fullIneligible(g, 4), "2 rows for 2 features")
	assert.Empty(t, fullIneligible(g, 6))
}
