package dist_test

import (
	"fmt"
	"sync"

	"github.com/gmvae/gmvae/dist"
)

// Three ranks (goroutines here; processes under mpirun) sum their vectors in rank
// order, ((x0 + x1) + x2) on every rank. In float32 1e8 + 1 rounds to 1e8, so the
// first element is 0 where another order would give 1: the order is fixed, never left
// to the library.
func ExampleNewLocalWorld() {
	ranks := dist.NewLocalWorld(3)
	out := make([][]float32, len(ranks))
	var wg sync.WaitGroup
	for _, c := range ranks {
		wg.Add(1)
		go func(c dist.Comm) {
			defer wg.Done()
			first := []float32{1e8, 1, -1e8}[c.Rank()]
			x := []float32{first, float32(c.Rank())}
			if err := c.AllReduceSum(x); err != nil {
				panic(err)
			}
			out[c.Rank()] = x
		}(c)
	}
	wg.Wait()
	fmt.Println(out[0], out[1], out[2])
	// Output: [0 3] [0 3] [0 3]
}
