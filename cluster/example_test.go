package cluster_test

import (
	"context"
	"fmt"

	"github.com/gmvae/gmvae/cluster"
	"github.com/gmvae/gmvae/engine"
)

// Two groups of points on a line: k-means finds their means, a GMM their means,
// variances and weights.
func Example() {
	x := []float32{0, 1, 2, 10, 11, 12, 13, 14}
	b := engine.NewCPU()
	xb, err := b.New(len(x), "data")
	if err != nil {
		panic(err)
	}
	if err := b.Upload(xb, x); err != nil {
		panic(err)
	}
	km, err := cluster.FitKMeans(context.Background(), b, xb, len(x), 1, cluster.KMeansConfig{K: 2, Seed: 1})
	if err != nil {
		panic(err)
	}
	fmt.Println("centers", km.Centers, "labels", km.Labels, "inertia", km.Inertia)
	g, err := cluster.FitGMM(context.Background(), b, xb, len(x), 1, cluster.GMMConfig{K: 2, Seed: 1})
	if err != nil {
		panic(err)
	}
	fmt.Printf("weights %.3f means %.3f vars %.3f\n", g.Weights, g.Means, g.Vars)
	_, labels, err := g.Posteriors(b, xb, len(x))
	if err != nil {
		panic(err)
	}
	fmt.Println("labels", labels)
	// Output:
	// centers [1 12] labels [0 0 0 1 1 1 1 1] inertia 12
	// weights [0.375 0.625] means [1.000 12.000] vars [0.667 2.000]
	// labels [0 0 0 1 1 1 1 1]
}
