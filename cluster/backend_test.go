package cluster

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/engine"
)

// fitBoth fits k-means and a GMM of x on b.
func fitBoth(t *testing.T, b engine.Backend, x []float32, n, d, k int, init string) (*KMeans, *GMM) {
	t.Helper()
	xb := upload(t, b, x)
	km, err := FitKMeans(context.Background(), b, xb, n, d, KMeansConfig{K: k, Restarts: 2, Seed: 4})
	require.NoError(t, err)
	g, err := FitGMM(context.Background(), b, xb, n, d, GMMConfig{K: k, Init: init, MaxIter: 8, Tol: 1e-6, Seed: 4})
	require.NoError(t, err)
	return km, g
}

// requireSameBits fails unless the two fits are the same bits.
func requireSameBits(t *testing.T, km1, km2 *KMeans, g1, g2 *GMM) {
	t.Helper()
	require.Equal(t, bits(km1.Centers), bits(km2.Centers), "k-means centers")
	require.Equal(t, km1.Labels, km2.Labels, "k-means labels")
	require.Equal(t, bits64(km1.Inertias), bits64(km2.Inertias), "k-means inertias")
	require.Equal(t, []int{km1.Iters, km1.Restart}, []int{km2.Iters, km2.Restart})
	require.Equal(t, bits(g1.Weights), bits(g2.Weights), "GMM weights")
	require.Equal(t, bits(g1.Means), bits(g2.Means), "GMM means")
	require.Equal(t, bits(g1.Vars), bits(g2.Vars), "GMM variances")
	require.Equal(t, bits64(g1.History), bits64(g2.History), "GMM log-likelihoods")
	require.Equal(t, math.Float64bits(g1.LogLik), math.Float64bits(g2.LogLik))
}

// TestCPUMatchesEmulator fits the same awkward small data on the CPU backend and on
// the PTX emulator, with 16-row chunks so that n > 16 runs the multi-chunk sums, and
// requires the same bits everywhere, posteriors and labels of new data included.
func TestCPUMatchesEmulator(t *testing.T) {
	if testing.Short() {
		t.Skip("emulator")
	}
	withChunkRows(16, func() {
		for _, tc := range []struct{ n, d, k int }{
			{1, 1, 1}, {2, 3, 2}, {5, 17, 3}, {17, 1, 2}, {33, 3, 3}, {50, 17, 3}, {50, 3, 1},
		} {
			for _, init := range []string{InitKMeans, InitRandom} {
				t.Run(fmt.Sprintf("n%d_d%d_k%d_%s", tc.n, tc.d, tc.k, init), func(t *testing.T) {
					x, _ := blobs(tc.n, tc.d, tc.k, 2, 1, uint64(tc.n*100+tc.d))
					cpu, gpu := engine.NewCPU(), emuBackend()
					km1, g1 := fitBoth(t, cpu, x, tc.n, tc.d, tc.k, init)
					km2, g2 := fitBoth(t, gpu, x, tc.n, tc.d, tc.k, init)
					requireSameBits(t, km1, km2, g1, g2)
					r1, l1, err := g1.Posteriors(cpu, upload(t, cpu, x), tc.n)
					require.NoError(t, err)
					r2, l2, err := g1.Posteriors(gpu, upload(t, gpu, x), tc.n)
					require.NoError(t, err)
					require.Equal(t, bits(r1), bits(r2))
					require.Equal(t, l1, l2)
					a1, d1, err := km1.Nearest(cpu, upload(t, cpu, x), tc.n)
					require.NoError(t, err)
					a2, d2, err := km1.Nearest(gpu, upload(t, gpu, x), tc.n)
					require.NoError(t, err)
					require.Equal(t, a1, a2)
					require.Equal(t, bits64(d1), bits64(d2))
				})
			}
		}
	})
}

// TestGOMAXPROCS runs the CPU twins single-threaded and on two threads (their parallel
// split starts at a few thousand rows) and requires the same bits; the 5000 rows make
// two chunks.
func TestGOMAXPROCS(t *testing.T) {
	const n, d, k = 5000, 17, 3
	x, _ := blobs(n, d, k, 1, 1, 77)
	var kms []*KMeans
	var gs []*GMM
	for _, procs := range []int{1, 2} {
		old := runtime.GOMAXPROCS(procs)
		km, g := fitBoth(t, engine.NewCPU(), x, n, d, k, InitKMeans)
		runtime.GOMAXPROCS(old)
		kms, gs = append(kms, km), append(gs, g)
	}
	requireSameBits(t, kms[0], kms[1], gs[0], gs[1])
}

func TestBadInputs(t *testing.T) {
	b := engine.NewCPU()
	good := []float32{0, 1, 2, 3, 4, 5}
	withNaN := []float32{0, 1, 2, float32(math.NaN()), 4, 5}
	withInf := []float32{0, 1, float32(math.Inf(-1)), 3, 4, 5}
	tests := []struct {
		name string
		x    []float32
		n, d int
		k    int
		want string
	}{
		{"NaN", withNaN, 3, 2, 2, "column 1 (of 2) holds NaN"},
		{"Inf", withInf, 3, 2, 2, "column 0 (of 2) holds NaN or ±Inf"},
		{"n < K", good, 3, 2, 4, "n = 3 rows < K = 4"},
		{"overflowing squares", []float32{0, 1, 3e19, 3, -3e19, 5}, 3, 2, 2, "column 0 (of 2): squared deviations overflow"},
		{"K = 0", good, 3, 2, 0, "K = 0: want 1 <= K"},
		{"K < 0", good, 3, 2, -1, "K = -1: want 1 <= K"},
		{"d = 0", good, 3, 0, 2, "d = 0 features"},
		{"d < 0", good, 3, -2, 2, "d = -2 features"},
		{"n = 0", good, 0, 2, 1, "n = 0 rows"},
		{"x too short", good, 4, 2, 2, "x has 6 elements, n×d = 4×2 needs 8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			xb := upload(t, b, tc.x)
			_, err := FitKMeans(context.Background(), b, xb, tc.n, tc.d, KMeansConfig{K: tc.k})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			_, err = FitGMM(context.Background(), b, xb, tc.n, tc.d, GMMConfig{K: tc.k})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	_, err := FitKMeans(context.Background(), b, nil, 3, 2, KMeansConfig{K: 1})
	assert.ErrorContains(t, err, "nil data buffer")
	// A fitted model refuses bad data too.
	km, err := FitKMeans(context.Background(), b, upload(t, b, good), 3, 2, KMeansConfig{K: 2})
	require.NoError(t, err)
	_, err = km.Assign(b, upload(t, b, withNaN), 3)
	assert.ErrorContains(t, err, "holds NaN")
	g, err := FitGMM(context.Background(), b, upload(t, b, good), 3, 2, GMMConfig{K: 2})
	require.NoError(t, err)
	_, _, err = g.Posteriors(b, upload(t, b, withInf), 3)
	assert.ErrorContains(t, err, "holds NaN")
	_, _, err = (&GMM{}).Posteriors(b, upload(t, b, good), 3)
	assert.ErrorContains(t, err, "not fitted")
}

func TestConfigValidate(t *testing.T) {
	km := []struct {
		cfg  KMeansConfig
		want string
	}{
		{KMeansConfig{K: 2, Restarts: -1}, "KMeansConfig.Restarts = -1"},
		{KMeansConfig{K: 2, MaxIter: -5}, "KMeansConfig.MaxIter = -5"},
		{KMeansConfig{K: 2, Tol: -1}, "KMeansConfig.Tol = -1"},
		{KMeansConfig{K: 2, Tol: math.NaN()}, "KMeansConfig.Tol = NaN"},
		{KMeansConfig{K: 1 << 25}, "KMeansConfig.K = 33554432"},
	}
	for _, tc := range km {
		assert.ErrorContains(t, tc.cfg.Defaults().Validate(), tc.want)
	}
	assert.NoError(t, KMeansConfig{K: 3}.Defaults().Validate())
	assert.Equal(t, KMeansConfig{K: 3, Restarts: 10, MaxIter: 300, Tol: 1e-4}, KMeansConfig{K: 3}.Defaults())
	gm := []struct {
		cfg  GMMConfig
		want string
	}{
		{GMMConfig{K: 2, Restarts: -1}, "GMMConfig.Restarts = -1"},
		{GMMConfig{K: 2, MaxIter: -1}, "GMMConfig.MaxIter = -1"},
		{GMMConfig{K: 2, Tol: math.Inf(1)}, "GMMConfig.Tol = +Inf"},
		{GMMConfig{K: 2, RegCovar: -1e-6}, "GMMConfig.RegCovar = -1e-06"},
		{GMMConfig{K: 2, Init: "kmeans++"}, `GMMConfig.Init = "kmeans++"`},
		{GMMConfig{K: 0}, "GMMConfig.K = 0"},
		{GMMConfig{K: 2, Covariance: "spherical"}, `GMMConfig.Covariance = "spherical"`},
	}
	for _, tc := range gm {
		assert.ErrorContains(t, tc.cfg.Defaults().Validate(), tc.want)
	}
	assert.Equal(t, GMMConfig{K: 3, Restarts: 1, MaxIter: 100, Tol: 1e-3, RegCovar: 1e-6, Init: InitKMeans, Covariance: CovDiag},
		GMMConfig{K: 3}.Defaults())
}

func TestContextCancelled(t *testing.T) {
	b := engine.NewCPU()
	x, _ := blobs(100, 2, 2, 3, 1, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := FitKMeans(ctx, b, upload(t, b, x), 100, 2, KMeansConfig{K: 2})
	assert.ErrorIs(t, err, context.Canceled)
	_, err = FitGMM(ctx, b, upload(t, b, x), 100, 2, GMMConfig{K: 2})
	assert.ErrorIs(t, err, context.Canceled)
}
