package cluster

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/metrics"
)

// sheared returns n rows of 2 features: k blobs of unit noise stretched 4× along x and
// turned by 35° (the same linear map for every blob, so every cluster is one elongated,
// tilted ellipse), centers 8 apart, with each row's blob (row i in blob i % k). Axis-
// aligned variances cannot describe them; full covariances can.
func sheared(n, k int, seed uint64) ([]float32, []int) {
	x, labels := blobs(n, 2, k, 0, 1, seed)
	c, s := math.Cos(35*math.Pi/180), math.Sin(35*math.Pi/180)
	for i := 0; i < n; i++ {
		u, v := 4*float64(x[2*i]), float64(x[2*i+1])
		off := 8 * float64(labels[i])
		x[2*i] = float32(c*u - s*v)
		x[2*i+1] = float32(s*u + c*v + off)
	}
	return x, labels
}

// checkFull checks a full fit's shapes and its factors: Chol lower triangular with a
// positive diagonal, PrecChol its inverse (L·W = I within float32 rounding), Vars the
// diagonal of L·Lᵀ.
func checkFull(t *testing.T, g *GMM) {
	t.Helper()
	k, d := g.K, g.D
	require.Equal(t, CovFull, g.Covariance)
	require.Len(t, g.Chol, k*d*d)
	require.Len(t, g.PrecChol, k*d*d)
	require.Len(t, g.Shift, k*d)
	require.Len(t, g.LogNorm, k)
	require.Len(t, g.Center, d)
	for c := 0; c < k; c++ {
		L, W := g.Chol[c*d*d:(c+1)*d*d], g.PrecChol[c*d*d:(c+1)*d*d]
		for a := 0; a < d; a++ {
			assert.Positive(t, L[a*d+a], "component %d: L[%d,%d]", c, a, a)
			v := 0.0
			for b := 0; b < d; b++ {
				if b > a {
					assert.Zero(t, L[a*d+b], "component %d: L above the diagonal", c)
					assert.Zero(t, W[a*d+b], "component %d: W above the diagonal", c)
				}
				v += float64(L[a*d+b]) * float64(L[a*d+b])
				lw := 0.0
				for e := 0; e < d; e++ {
					lw += float64(L[a*d+e]) * float64(W[e*d+b])
				}
				want := 0.0
				if a == b {
					want = 1
				}
				assert.InDelta(t, want, lw, 1e-5, "component %d: (L·W)[%d,%d]", c, a, b)
			}
			assert.InEpsilon(t, v, float64(g.Vars[c*d+a]), 1e-5, "component %d: Vars[%d] is Sigma's diagonal", c, a)
		}
	}
}

// TestFullRecoversShearedBlobs: on tilted, elongated clusters the full model finds
// the blobs (ACC 1) where the diagonal one does not, its parameters are the blobs'
// (weights, means, covariance of the map), and BIC prefers it; on axis-aligned blobs
// BIC prefers the diagonal model, which describes them with fewer parameters.
func TestFullRecoversShearedBlobs(t *testing.T) {
	const n, k = 3000, 3
	b := engine.NewCPU()
	x, truth := sheared(n, k, 5)
	xb := upload(t, b, x)
	fit := func(cov string, xb *engine.Buf) *GMM {
		g, err := FitGMM(context.Background(), b, xb, n, 2, GMMConfig{K: k, Seed: 1, Restarts: 3, Covariance: cov})
		require.NoError(t, err)
		return g
	}
	full, diag := fit(CovFull, xb), fit(CovDiag, xb)
	checkFull(t, full)
	_, labels, err := full.Posteriors(b, xb, n)
	require.NoError(t, err)
	accFull, err := metrics.ACCHungarian(labels, truth)
	require.NoError(t, err)
	_, labels, err = diag.Posteriors(b, xb, n)
	require.NoError(t, err)
	accDiag, err := metrics.ACCHungarian(labels, truth)
	require.NoError(t, err)
	t.Logf("ACC full %.4f diag %.4f; BIC full %.1f diag %.1f", accFull, accDiag, full.BIC(n), diag.BIC(n))
	assert.GreaterOrEqual(t, accFull, 0.99)
	assert.Less(t, accDiag, accFull)
	assert.Less(t, full.BIC(n), diag.BIC(n), "BIC prefers the full model on tilted clusters")
	assert.Greater(t, full.LogLik, diag.LogLik)
	// Every component's covariance is the map's: M·Mᵀ with M = R·diag(4, 1).
	c, s := math.Cos(35*math.Pi/180), math.Sin(35*math.Pi/180)
	want := []float64{16*c*c + s*s, 16*c*s - s*c, 16*c*s - s*c, 16*s*s + c*c}
	for comp := 0; comp < k; comp++ {
		assert.InDelta(t, 1.0/k, full.Weights[comp], 0.02)
		L := full.Chol[comp*4 : comp*4+4]
		got := []float64{
			float64(L[0]) * float64(L[0]),
			float64(L[0]) * float64(L[2]),
			float64(L[2]) * float64(L[0]),
			float64(L[2])*float64(L[2]) + float64(L[3])*float64(L[3]),
		}
		for i := range want {
			assert.InDelta(t, want[i], got[i], 0.12*16, "component %d: Sigma[%d]", comp, i)
		}
	}

	// Axis-aligned, well-separated blobs: the diagonal model is enough.
	y, _ := blobs(n, 2, k, 6, 1, 9)
	yb := upload(t, b, y)
	fullY, diagY := fit(CovFull, yb), fit(CovDiag, yb)
	t.Logf("axis-aligned: BIC full %.1f diag %.1f", fullY.BIC(n), diagY.BIC(n))
	assert.Less(t, diagY.BIC(n), fullY.BIC(n), "BIC prefers the diagonal model on axis-aligned blobs")
}

// TestFullEStepMatchesFloat64 checks the full E-step against a float64 evaluation of
// the fitted float32 parameters (the means, and Sigma⁻¹ = WᵀW from the float32 W):
// log pi_k - 1/2 (d log 2π + (x-mu)ᵀ Sigma⁻¹ (x-mu)) + log|W|. Bounds as the diagonal
// test's, looser for the GEMM's float32 transform (seen: 1e-7 and 3e-7).
func TestFullEStepMatchesFloat64(t *testing.T) {
	const n, d, k = 400, 5, 3
	x, _ := blobs(n, d, k, 2, 1, 23)
	for i := 0; i < n; i++ { // correlate the features
		x[i*d+1] += 0.8 * x[i*d]
		x[i*d+3] -= 0.5 * x[i*d+2]
	}
	b := engine.NewCPU()
	g, err := FitGMM(context.Background(), b, upload(t, b, x), n, d, GMMConfig{K: k, Seed: 2, MaxIter: 5, Covariance: CovFull})
	require.NoError(t, err)
	checkFull(t, g)
	resp, labels, err := g.Posteriors(b, upload(t, b, x), n)
	require.NoError(t, err)
	worstR, sumLse := 0.0, 0.0
	for i := 0; i < n; i++ {
		l := make([]float64, k)
		for c := 0; c < k; c++ {
			W := g.PrecChol[c*d*d : (c+1)*d*d]
			l[c] = math.Log(float64(g.Weights[c])) - 0.5*float64(d)*math.Log(2*math.Pi)
			for a := 0; a < d; a++ {
				l[c] += math.Log(float64(W[a*d+a]))
				y := 0.0
				for e := 0; e <= a; e++ {
					y += float64(W[a*d+e]) * (float64(x[i*d+e]) - float64(g.Means[c*d+e]))
				}
				l[c] -= 0.5 * y * y
			}
		}
		lse, dr, best := compareRow64(l, resp[i*k:(i+1)*k])
		sumLse += lse
		worstR = max(worstR, dr)
		assert.Equal(t, best, labels[i], "row %d", i)
	}
	t.Logf("worst |resp - resp64| = %.3g", worstR)
	assert.LessOrEqual(t, worstR, 2e-6)
	assert.InDelta(t, sumLse/n, g.LogLik, 2e-6*(1+math.Abs(g.LogLik)))
}

// TestFullCPUMatchesEmulator: full fits (every parameter, the log-likelihoods) and
// their posteriors are the same bits on the CPU and the emulator, multi-chunk sums
// included.
func TestFullCPUMatchesEmulator(t *testing.T) {
	if testing.Short() {
		t.Skip("emulator")
	}
	withChunkRows(16, func() {
		for _, tc := range []struct{ n, d, k int }{{1, 1, 1}, {5, 3, 2}, {33, 2, 3}, {50, 7, 3}} {
			for _, init := range []string{InitKMeans, InitRandom} {
				t.Run(fmt.Sprintf("n%d_d%d_k%d_%s", tc.n, tc.d, tc.k, init), func(t *testing.T) {
					x, _ := blobs(tc.n, tc.d, tc.k, 2, 1, uint64(tc.n*100+tc.d))
					var fits []*GMM
					var posts [][]float32
					for _, b := range []engine.Backend{engine.NewCPU(), emuBackend()} {
						xb := upload(t, b, x)
						g, err := FitGMM(context.Background(), b, xb, tc.n, tc.d,
							GMMConfig{K: tc.k, Init: init, MaxIter: 8, Tol: 1e-6, Seed: 4, Covariance: CovFull, RegCovar: 1e-3})
						require.NoError(t, err)
						r, _, err := g.Posteriors(b, xb, tc.n)
						require.NoError(t, err)
						fits, posts = append(fits, g), append(posts, r)
					}
					g1, g2 := fits[0], fits[1]
					for _, p := range []struct {
						name string
						a, b []float32
					}{{"weights", g1.Weights, g2.Weights}, {"means", g1.Means, g2.Means}, {"chol", g1.Chol, g2.Chol},
						{"prec_chol", g1.PrecChol, g2.PrecChol}, {"shift", g1.Shift, g2.Shift}, {"log_norm", g1.LogNorm, g2.LogNorm},
						{"posteriors", posts[0], posts[1]}} {
						require.Equal(t, bits(p.a), bits(p.b), p.name)
					}
					require.Equal(t, bits64(g1.History), bits64(g2.History), "log-likelihoods")
					require.Equal(t, math.Float64bits(g1.LogLik), math.Float64bits(g2.LogLik))
				})
			}
		}
	})
}

// TestFullErrors: too many features for full covariances, and a covariance that is
// not positive definite, are errors that say what to do.
func TestFullErrors(t *testing.T) {
	b := engine.NewCPU()
	const d = MaxFullD + 1
	x, _ := blobs(10, d, 2, 1, 1, 3)
	_, err := FitGMM(context.Background(), b, upload(t, b, x), 10, d, GMMConfig{K: 2, Covariance: CovFull})
	assert.ErrorContains(t, err, fmt.Sprintf("full covariances of d = %d features: want d <= %d", d, MaxFullD))

	w := &emWork{k: 1, reg: 1e-6, full: true, t: 3, s: &session{d: 2}, st: &stats{mean: []float64{0, 0}, mean32: []float32{0, 0}}}
	p := &gmmParams{weights: []float32{1}, means: []float32{0, 0}, vars: make([]float32, 2),
		chol: make([]float32, 4), prec: make([]float32, 4), shift: make([]float32, 2), lnorm: make([]float32, 1)}
	err = w.fullParams(p, 0, []float64{1, 2, 2, 1}) // eigenvalues 3 and -1
	assert.ErrorContains(t, err, "not positive definite")
	assert.ErrorContains(t, err, "raise RegCovar")
	require.NoError(t, w.fullParams(p, 0, []float64{4, 2, 2, 2}))
	assert.Equal(t, []float32{2, 0, 1, 1}, p.chol, "cholesky of [[4 2] [2 2]]")
	assert.Equal(t, []float32{0.5, 0, -0.5, 1}, p.prec, "its inverse")
}

// TestAsFull: a diagonal fit written as a full one gives the same posteriors (within
// float32 rounding of the two E-steps) and labels; a full fit is itself.
func TestAsFull(t *testing.T) {
	const n, d, k = 300, 3, 3
	x, _ := blobs(n, d, k, 3, 1, 31)
	for i := range x {
		x[i] += 50 // far from the origin: the centering matters
	}
	b := engine.NewCPU()
	xb := upload(t, b, x)
	g, err := FitGMM(context.Background(), b, xb, n, d, GMMConfig{K: k, Seed: 1})
	require.NoError(t, err)
	f, err := g.AsFull()
	require.NoError(t, err)
	checkFull(t, f)
	assert.Equal(t, g.Vars, f.Vars)
	assert.Equal(t, CovDiag, g.Covariance, "the diagonal fit is unchanged")
	r1, l1, err := g.Posteriors(b, xb, n)
	require.NoError(t, err)
	r2, l2, err := f.Posteriors(b, xb, n)
	require.NoError(t, err)
	assert.Equal(t, l1, l2)
	for i := range r1 {
		assert.InDelta(t, r1[i], r2[i], 1e-5)
	}
	again, err := f.AsFull()
	require.NoError(t, err)
	assert.Same(t, f, again)
	_, err = (&GMM{K: 2, D: 2}).AsFull()
	assert.ErrorContains(t, err, "not fitted")
}
