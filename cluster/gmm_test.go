package cluster

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/kernels/philox"
	"github.com/gmvae/gmvae/metrics"
)

// llSlack is how much EM may lower the mean log-likelihood per row between iterations
// and still count as non-decreasing: the float32 rounding of the kernel's log-sum-exps
// (a few ulps of |lse| per row, averaged) plus RegCovar's perturbation of the exact
// M-step.
func llSlack(ll float64) float64 { return 1e-6 * (1 + math.Abs(ll)) }

func TestGMMLogLikNeverDecreases(t *testing.T) {
	tests := []struct {
		n, d, k  int
		sep      float32
		init     string
		restarts int
	}{
		{600, 2, 3, 3, InitKMeans, 1},
		{600, 5, 4, 1, InitKMeans, 2},
		{500, 17, 6, 2, InitRandom, 1},
		{300, 1, 3, 2, InitRandom, 3},
		{1000, 3, 10, 0.5, InitKMeans, 1},
	}
	b := engine.NewCPU()
	for _, tc := range tests {
		x, _ := blobs(tc.n, tc.d, tc.k, tc.sep, 1, uint64(tc.n+tc.d))
		g, err := FitGMM(context.Background(), b, upload(t, b, x), tc.n, tc.d,
			GMMConfig{K: tc.k, Init: tc.init, Restarts: tc.restarts, Tol: 1e-7, MaxIter: 300, Seed: 5})
		require.NoError(t, err)
		require.NotEmpty(t, g.History)
		require.Len(t, g.History, g.Iters)
		worst := 0.0
		for i := 1; i < len(g.History); i++ {
			worst = max(worst, g.History[i-1]-g.History[i])
			assert.GreaterOrEqual(t, g.History[i], g.History[i-1]-llSlack(g.History[i-1]),
				"%+v: iteration %d lowered the log-likelihood from %.9g to %.9g", tc, i, g.History[i-1], g.History[i])
		}
		t.Logf("%+v: %d iterations, largest decrease %.3g", tc, g.Iters, worst)
		last := g.History[len(g.History)-1]
		assert.GreaterOrEqual(t, g.LogLik, last-llSlack(last))
		assert.Equal(t, g.LogLik, g.LogLiks[g.Restart])
		assert.Equal(t, slices.Max(g.LogLiks), g.LogLik)
		checkParams(t, g, 1e-6)
	}
}

// checkParams checks that g's parameters are finite, weights sum to 1, variances are
// at least reg.
func checkParams(t *testing.T, g *GMM, reg float64) {
	t.Helper()
	sum := 0.0
	for _, w := range g.Weights {
		require.False(t, math.IsNaN(float64(w)) || math.IsInf(float64(w), 0))
		require.Positive(t, w)
		sum += float64(w)
	}
	assert.InDelta(t, 1, sum, 1e-6)
	for i := range g.Means {
		require.False(t, math.IsNaN(float64(g.Means[i])) || math.IsInf(float64(g.Means[i]), 0))
		require.GreaterOrEqual(t, g.Vars[i], float32(reg))
	}
	require.False(t, math.IsNaN(g.LogLik) || math.IsInf(g.LogLik, 0))
}

func TestGMMRecoversTwoBlobs(t *testing.T) {
	// Two blobs with known means, variances and weights 0.3 / 0.7.
	const n, d = 2000, 3
	mu := [2][d]float64{{-4, 0, 10}, {4, 1, 10}}
	sd := [2][d]float64{{1, 0.5, 2}, {0.5, 1, 0.25}}
	noise := make([]float32, n*d)
	philox.Normals(noise, 11, 3)
	x := make([]float32, n*d)
	truth := make([]int, n)
	for i := 0; i < n; i++ {
		c := 0
		if i%10 >= 3 {
			c = 1
		}
		truth[i] = c
		for f := 0; f < d; f++ {
			x[i*d+f] = float32(mu[c][f] + sd[c][f]*float64(noise[i*d+f]))
		}
	}
	b := engine.NewCPU()
	for _, init := range []string{InitKMeans, InitRandom} {
		g, err := FitGMM(context.Background(), b, upload(t, b, x), n, d, GMMConfig{K: 2, Init: init, Seed: 1})
		require.NoError(t, err)
		assert.True(t, g.Converged)
		c0 := 0 // the component of blob 0
		if g.Means[0] > 0 {
			c0 = 1
		}
		for c := 0; c < 2; c++ {
			k := c0 ^ c
			assert.InDelta(t, []float64{0.3, 0.7}[c], g.Weights[k], 0.01, "%s weight %d", init, c)
			for f := 0; f < d; f++ {
				assert.InDelta(t, mu[c][f], g.Means[k*d+f], 4*sd[c][f]/math.Sqrt(0.3*n), "%s mean %d,%d", init, c, f)
				assert.InEpsilon(t, sd[c][f]*sd[c][f], g.Vars[k*d+f], 0.15, "%s var %d,%d", init, c, f)
			}
		}
		resp, labels, err := g.Posteriors(b, upload(t, b, x), n)
		require.NoError(t, err)
		acc, err := metrics.ACCHungarian(labels, truth)
		require.NoError(t, err)
		assert.Equal(t, 1.0, acc, init)
		for i := 0; i < n; i++ {
			r := resp[2*i : 2*i+2]
			assert.InDelta(t, 1, float64(r[0])+float64(r[1]), 1e-6)
			assert.Equal(t, argmaxRow(r), labels[i])
		}
	}
}

// TestEStepMatchesFloat64 checks the E-step (the mixture kernel with the GMM's
// parameters) against a float64 evaluation of the same float32 parameters:
// |resp - resp64| <= 5e-7 and |lse - lse64| <= 5e-7 (1 + |lse64|) on every row (seen:
// 6e-8 and 1e-7). The bound covers the kernel's few-ulp exp/log and the float32 sum
// over d = 17 terms.
func TestEStepMatchesFloat64(t *testing.T) {
	const n, d, k = 400, 17, 5
	x, _ := blobs(n, d, k, 2, 1, 21)
	b := engine.NewCPU()
	g, err := FitGMM(context.Background(), b, upload(t, b, x), n, d, GMMConfig{K: k, Seed: 2, MaxIter: 5})
	require.NoError(t, err)
	resp, labels, err := g.Posteriors(b, upload(t, b, x), n)
	require.NoError(t, err)
	worstR, worstL, sumLse := 0.0, 0.0, 0.0
	for i := 0; i < n; i++ {
		l := make([]float64, k)
		for c := 0; c < k; c++ {
			l[c] = math.Log(float64(g.Weights[c]))
			for f := 0; f < d; f++ {
				v := float64(g.Vars[c*d+f])
				diff := float64(x[i*d+f]) - float64(g.Means[c*d+f])
				l[c] -= 0.5 * (math.Log(2*math.Pi) + math.Log(v) + diff*diff/v)
			}
		}
		lse, dr, best := compareRow64(l, resp[i*k:(i+1)*k])
		sumLse += lse
		worstR = max(worstR, dr)
		worstL = max(worstL, math.Abs(float64(lseOf(t, b, g, x[i*d:(i+1)*d]))-lse)/(1+math.Abs(lse)))
		assert.Equal(t, best, labels[i])
	}
	t.Logf("worst |resp - resp64| = %.3g, worst |lse - lse64|/(1+|lse64|) = %.3g", worstR, worstL)
	assert.LessOrEqual(t, worstR, 5e-7)
	assert.LessOrEqual(t, worstL, 5e-7)
	// LogLik after a last E-step is the mean of the kernel's lse.
	assert.InDelta(t, sumLse/n, g.LogLik, 2e-6*(1+math.Abs(g.LogLik)))
}

// compareRow64 takes one row's float64 log-joint l (log pi_c + log density, per
// component) and the kernel's responsibilities resp for it, and returns the row's
// float64 log-sum-exp, the largest |resp_c - exp(l_c - lse)| and the index of the
// largest l_c (the expected hard label).
func compareRow64(l []float64, resp []float32) (lse, worst float64, best int) {
	m := slices.Max(l)
	s := 0.0
	for _, v := range l {
		s += math.Exp(v - m)
	}
	lse = m + math.Log(s)
	for c, v := range l {
		worst = max(worst, math.Abs(float64(resp[c])-math.Exp(v-lse)))
	}
	return lse, worst, slices.Index(l, m)
}

// lseOf runs the E-step on one row and returns its log-sum-exp.
func lseOf(t *testing.T, b engine.Backend, g *GMM, row []float32) float32 {
	s, err := newSession(context.Background(), b, upload(t, b, row), 1, g.D)
	require.NoError(t, err)
	defer s.close()
	w, err := newEMWork(s, nil, g.K, 0, CovDiag)
	require.NoError(t, err)
	require.NoError(t, w.upload(&gmmParams{weights: g.Weights, means: g.Means, vars: g.Vars}))
	require.NoError(t, w.kernel(1, s.x))
	h := []float32{0}
	require.NoError(t, s.download(h, w.lse))
	return h[0]
}

// TestGMMEmptyComponents gives the mixture more components than distinct points: the
// surplus components lose every row and must keep finite parameters (tiny weights, the
// variance floor), never NaN.
func TestGMMEmptyComponents(t *testing.T) {
	b := engine.NewCPU()
	x := []float32{0, 0, 0, 0, 0, 5, 5, 5, 5, 5, 5, 5} // d = 1: two distinct values
	for _, init := range []string{InitKMeans, InitRandom} {
		g, err := FitGMM(context.Background(), b, upload(t, b, x), 12, 1, GMMConfig{K: 4, Init: init, Seed: 3, MaxIter: 50})
		require.NoError(t, err, init)
		checkParams(t, g, 1e-6)
		_, labels, err := g.Posteriors(b, upload(t, b, x), 12)
		require.NoError(t, err)
		if init == InitKMeans {
			assert.NotEqual(t, labels[0], labels[11])
		}
	}
	// The M-step's rule for an empty component, directly.
	w := &emWork{k: 2, reg: 1e-3, s: &session{d: 2}, st: &stats{mean: []float64{0, 0}, mean32: []float32{0, 0}}}
	prev := &gmmParams{means: []float32{1, 2, 3, 4}}
	p, err := w.mstep(&moments{nk: []float64{10, 0}, s1: []float64{10, 20, 0, 0}, s2: []float64{20, 50, 0, 0}}, prev)
	require.NoError(t, err)
	assert.Equal(t, []float32{1, 2, 3, 4}, p.means)
	assert.Equal(t, []float32{1 + 1e-3, 1 + 1e-3, 1e-3, 1e-3}, p.vars)
	assert.Equal(t, float32(1), p.weights[0])
	assert.Positive(t, p.weights[1])
	assert.Less(t, p.weights[1], float32(1e-15))
}

// TestGMMOffsetData shifts the data far from the origin: the centered second moments
// keep the variances accurate where raw float32 moments (E[x²] - mean²) would cancel.
func TestGMMOffsetData(t *testing.T) {
	const n, d = 3000, 2
	x, _ := blobs(n, d, 2, 2, 0.1, 8)
	for i := range x {
		x[i] += 1000
	}
	b := engine.NewCPU()
	g, err := FitGMM(context.Background(), b, upload(t, b, x), n, d, GMMConfig{K: 2, Seed: 1})
	require.NoError(t, err)
	for _, v := range g.Vars {
		assert.InEpsilon(t, 0.01, v, 0.15)
	}
}

// TestGMMConstantFeature: a feature that never varies gets the variance floor, exactly.
func TestGMMConstantFeature(t *testing.T) {
	const n, d = 200, 3
	x, _ := blobs(n, d, 2, 4, 1, 5)
	for i := 0; i < n; i++ {
		x[i*d+1] = 2.5
	}
	b := engine.NewCPU()
	g, err := FitGMM(context.Background(), b, upload(t, b, x), n, d, GMMConfig{K: 2, Seed: 1, RegCovar: 1e-4})
	require.NoError(t, err)
	checkParams(t, g, 1e-4)
	for k := 0; k < 2; k++ {
		assert.Equal(t, float32(2.5), g.Means[k*d+1])
		assert.Equal(t, float32(1e-4), g.Vars[k*d+1])
	}
}
