package cluster

import (
	"context"
	"testing"

	"github.com/gmvae/gmvae/engine"
)

// The fits on 4096 rows of 64 features, K = 10, on the CPU backend: one chunk, a
// fixed number of Lloyd / EM iterations (Tol tiny). For MNIST-sized timings, see
// internal/cmp -mnist.
func BenchmarkFitKMeans(bm *testing.B) {
	const n, d, k = 4096, 64, 10
	x, _ := blobs(n, d, k, 1, 1, 1)
	b := engine.NewCPU()
	xb := upload(bm, b, x)
	bm.ResetTimer()
	for i := 0; i < bm.N; i++ {
		if _, err := FitKMeans(context.Background(), b, xb, n, d, KMeansConfig{K: k, Restarts: 1, MaxIter: 10, Tol: 1e-300}); err != nil {
			bm.Fatal(err)
		}
	}
}

func BenchmarkFitGMM(bm *testing.B) {
	const n, d, k = 4096, 64, 10
	x, _ := blobs(n, d, k, 1, 1, 1)
	b := engine.NewCPU()
	xb := upload(bm, b, x)
	bm.ResetTimer()
	for i := 0; i < bm.N; i++ {
		if _, err := FitGMM(context.Background(), b, xb, n, d, GMMConfig{K: k, Init: InitRandom, MaxIter: 10, Tol: 1e-300}); err != nil {
			bm.Fatal(err)
		}
	}
}
