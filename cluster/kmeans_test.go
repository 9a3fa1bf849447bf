package cluster

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/metrics"
)

// sortedRows returns the K rows of centers (K, d) sorted lexicographically, so that
// centers can be compared whatever their order.
func sortedRows(centers []float32, d int) [][]float32 {
	var rows [][]float32
	for i := 0; i+d <= len(centers); i += d {
		rows = append(rows, centers[i:i+d])
	}
	slices.SortFunc(rows, func(a, b []float32) int { return slices.Compare(a, b) })
	return rows
}

func TestKMeansTiny(t *testing.T) {
	tests := []struct {
		name    string
		x       []float32
		d, k    int
		centers [][]float32 // sorted
		inertia float64
	}{
		{"3 separated points K=3", []float32{0, 0, 10, 0, 0, 10}, 2, 3,
			[][]float32{{0, 0}, {0, 10}, {10, 0}}, 0},
		{"identical points K=2", []float32{1.5, -2, 1.5, -2, 1.5, -2, 1.5, -2}, 2, 2,
			[][]float32{{1.5, -2}, {1.5, -2}}, 0},
		{"K=1 gives the mean", []float32{1, 2, 3, 4, 5, 6, 7, 8}, 2, 1,
			[][]float32{{4, 5}}, 40},
		{"d=1 two groups", []float32{0, 0.5, 1, 100, 100.5, 101}, 1, 2,
			[][]float32{{0.5}, {100.5}}, 1},
		{"n=K=1", []float32{3, -1, 2}, 3, 1, [][]float32{{3, -1, 2}}, 0},
		{"constant feature", []float32{0, 7, 1, 7, 10, 7, 11, 7}, 2, 2,
			[][]float32{{0.5, 7}, {10.5, 7}}, 1},
	}
	b := engine.NewCPU()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := len(tc.x) / tc.d
			km, err := FitKMeans(context.Background(), b, upload(t, b, tc.x), n, tc.d, KMeansConfig{K: tc.k, Seed: 7})
			require.NoError(t, err)
			assert.Equal(t, tc.centers, sortedRows(km.Centers, tc.d))
			assert.InDelta(t, tc.inertia, km.Inertia, 1e-5*(1+tc.inertia))
			assert.Len(t, km.Inertias, 10)
			assert.True(t, km.Converged)
			for i, l := range km.Labels {
				assert.InDelta(t, 0, sqDist64(tc.x[i*tc.d:(i+1)*tc.d], km.Centers[l*tc.d:(l+1)*tc.d])-
					minDist(tc.x[i*tc.d:(i+1)*tc.d], km.Centers, tc.d), 1e-9)
			}
		})
	}
}

// minDist is the float64 squared distance of row to its nearest center.
func minDist(row, centers []float32, d int) float64 {
	best := math.Inf(1)
	for c := 0; c+d <= len(centers); c += d {
		best = min(best, sqDist64(row, centers[c:c+d]))
	}
	return best
}

// TestKMeansPlusPlusSeeding checks the seeding itself on hand-checkable data: with K
// equal to the number of distinct points, greedy k-means++ picks each one (a point at
// distance 0 is never drawn while the potential is positive).
func TestKMeansPlusPlusSeeding(t *testing.T) {
	b := engine.NewCPU()
	x := []float32{0, 0, 0, 0, 5, 5, 5, 5, 5, 5, -9, 1}
	s, err := newSession(context.Background(), b, upload(t, b, x), 6, 2)
	require.NoError(t, err)
	defer s.close()
	w, err := newKMWork(s, 3)
	require.NoError(t, err)
	for seed := uint64(0); seed < 20; seed++ {
		c, err := w.seedPlusPlus(seed, int(seed%3))
		require.NoError(t, err)
		assert.Equal(t, [][]float32{{-9, 1}, {0, 0}, {5, 5}}, sortedRows(c, 2), "seed %d", seed)
	}
}

func TestKMeansInertiaMatchesFloat64(t *testing.T) {
	tests := []struct {
		n, d, k int
		spread  float32
	}{
		{500, 5, 4, 1}, {300, 17, 3, 3}, {1000, 2, 8, 0.5}, {200, 1, 5, 1},
	}
	b := engine.NewCPU()
	for _, tc := range tests {
		x, _ := blobs(tc.n, tc.d, tc.k, 4, tc.spread, uint64(tc.n))
		km, err := FitKMeans(context.Background(), b, upload(t, b, x), tc.n, tc.d, KMeansConfig{K: tc.k, Restarts: 3, Seed: 1})
		require.NoError(t, err)
		want := 0.0
		for i, l := range km.Labels {
			row := x[i*tc.d : (i+1)*tc.d]
			want += sqDist64(row, km.Centers[l*tc.d:(l+1)*tc.d])
			// The label is the float64-nearest center up to float32 rounding.
			assert.LessOrEqual(t, sqDist64(row, km.Centers[l*tc.d:(l+1)*tc.d]), minDist(row, km.Centers, tc.d)*(1+1e-5)+1e-9)
		}
		assert.InEpsilon(t, want, km.Inertia, 1e-6, "n=%d d=%d k=%d", tc.n, tc.d, tc.k)
		assert.Equal(t, km.Inertias[km.Restart], km.Inertia)
		assert.Equal(t, slices.Min(km.Inertias), km.Inertia)
		// After a strict convergence (no label changed) a center is the mean of its
		// rows (float64 mean, rounded to float32).
		km, err = FitKMeans(context.Background(), b, upload(t, b, x), tc.n, tc.d, KMeansConfig{K: tc.k, Restarts: 1, Tol: 1e-300, Seed: 1})
		require.NoError(t, err)
		require.True(t, km.Converged)
		for j := 0; j < tc.k; j++ {
			for f := 0; f < tc.d; f++ {
				sum, cnt := 0.0, 0
				for i, l := range km.Labels {
					if l == j {
						sum += float64(x[i*tc.d+f])
						cnt++
					}
				}
				require.Positive(t, cnt)
				assert.InDelta(t, sum/float64(cnt), km.Centers[j*tc.d+f], 1e-5*(1+math.Abs(sum/float64(cnt))))
			}
		}
	}
}

func TestKMeansRecoversBlobs(t *testing.T) {
	b := engine.NewCPU()
	for _, k := range []int{2, 5, 10} {
		x, truth := blobs(100*k, 8, k, 10, 0.5, uint64(k))
		km, err := FitKMeans(context.Background(), b, upload(t, b, x), 100*k, 8, KMeansConfig{K: k, Seed: 3})
		require.NoError(t, err)
		acc, err := metrics.ACCHungarian(km.Labels, truth)
		require.NoError(t, err)
		assert.Equal(t, 1.0, acc, "K=%d", k)
		labels, dist, err := km.Nearest(b, upload(t, b, x), 100*k)
		require.NoError(t, err)
		assert.Equal(t, km.Labels, labels)
		sum := 0.0
		for _, v := range dist {
			sum += v
		}
		assert.Equal(t, km.Inertia, sum)
	}
}

// TestKMeansEmptyClusterRelocation forces empty clusters: 4 distinct points, K = 4,
// but k-means++ cannot help picking duplicates when most rows coincide; every cluster
// must end non-empty and no center NaN.
func TestKMeansEmptyClusterRelocation(t *testing.T) {
	b := engine.NewCPU()
	x := make([]float32, 0, 2*40)
	for i := 0; i < 37; i++ {
		x = append(x, 1, 1)
	}
	x = append(x, 50, 50, -50, 50, 0, -70)
	for seed := uint64(0); seed < 10; seed++ {
		km, err := FitKMeans(context.Background(), b, upload(t, b, x), 40, 2, KMeansConfig{K: 5, Restarts: 1, Seed: seed})
		require.NoError(t, err)
		for _, c := range km.Centers {
			require.False(t, math.IsNaN(float64(c)))
		}
		// 4 distinct values and 5 clusters: the inertia is 0 (two clusters on one value).
		assert.Equal(t, 0.0, km.Inertia, "seed %d", seed)
	}
	// The relocation itself, on sums (the state of an iteration with cluster 2 empty).
	s, err := newSession(context.Background(), b, upload(t, b, []float32{0, 1, 2, 10}), 4, 1)
	require.NoError(t, err)
	defer s.close()
	w, err := newKMWork(s, 3)
	require.NoError(t, err)
	labels := []int{0, 0, 1, 1}
	dist := []float64{0.25, 0.25, 16, 16} // centers 0.5 and 6: rows 2 and 3 tie
	sums := []float64{1, 12, 0}
	counts := []int{2, 2, 0}
	require.NoError(t, w.relocate(labels, dist, sums, counts))
	assert.Equal(t, []float64{1, 10, 2}, sums) // row 2 (first of the tie) moves
	assert.Equal(t, []int{2, 1, 1}, counts)
}

func TestKMeansMaxIterAndTol(t *testing.T) {
	b := engine.NewCPU()
	x, _ := blobs(400, 4, 6, 1, 1, 9)
	xb := upload(t, b, x)
	km, err := FitKMeans(context.Background(), b, xb, 400, 4, KMeansConfig{K: 6, Restarts: 1, MaxIter: 2, Seed: 1})
	require.NoError(t, err)
	assert.Equal(t, 2, km.Iters)
	assert.False(t, km.Converged)
	loose, err := FitKMeans(context.Background(), b, xb, 400, 4, KMeansConfig{K: 6, Restarts: 1, Tol: 1e3, Seed: 1})
	require.NoError(t, err)
	assert.Equal(t, 1, loose.Iters)
	strict, err := FitKMeans(context.Background(), b, xb, 400, 4, KMeansConfig{K: 6, Restarts: 1, Tol: 1e-300, Seed: 1})
	require.NoError(t, err)
	assert.True(t, strict.Converged)
	assert.Less(t, strict.Iters, 300)
	assert.LessOrEqual(t, strict.Inertia, loose.Inertia)
}
