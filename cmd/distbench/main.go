// Command distbench measures the cost of data-parallel training's gradient sum: the
// time per step of the fixed-order all-reduce (dist.GradSync over a CPU backend
// buffer: copy out, Comm.AllReduceSum, copy in) of a model's gradient, and its share
// of a whole CPU training step (the model's TrainBatch on the rank's shard of the
// global batch, the gradient sum, Adam), every rank running at once.
//
//	go build -tags mpi -o distbench ./cmd/distbench
//	./distbench                                  # one process (no MPI)
//	mpirun --oversubscribe -np 2 ./distbench     # 2 ranks, global batch split in 2
//	mpirun --oversubscribe -np 4 ./distbench
//
// The gradient is model A's with the defaults (gmvae.Config{}), or -n floats.
// Times are the median over -iters of the slowest rank's time.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"time"

	"github.com/gmvae/gmvae/dist"
	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/gmvae"
	"github.com/gmvae/gmvae/kernels/philox"
	"github.com/gmvae/gmvae/nn"
)

func main() {
	model := flag.String("model", "dilokthanakul", "model whose gradient is summed: dilokthanakul (A) or shu (B)")
	n := flag.Int("n", 0, "sum a gradient of n floats instead of a model's (no training step)")
	batch := flag.Int("batch", 100, "global batch size, split among the ranks")
	iters := flag.Int("iters", 10, "timed repetitions (after one warm-up)")
	steps := flag.Int("steps", 3, "timed training steps (after one warm-up); 0: all-reduce only")
	flag.Parse()
	if err := run(*model, *n, *batch, *iters, *steps); err != nil {
		fmt.Fprintln(os.Stderr, "distbench:", err)
		os.Exit(1)
	}
}

// slowest returns the largest of every rank's d, in seconds.
func slowest(c dist.Comm, d time.Duration) (float64, error) {
	all := make([]float64, c.Size())
	if err := c.AllGather([]float64{d.Seconds()}, all); err != nil {
		return 0, err
	}
	m := 0.0
	for _, x := range all {
		m = max(m, x)
	}
	return m, nil
}

func median(x []float64) float64 {
	s := append([]float64(nil), x...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func run(modelName string, n, batch, iters, steps int) error {
	c, l, err := dist.Open()
	if err != nil {
		return err
	}
	defer c.Close()
	// Share the cores among the ranks of this node.
	if ls := c.LocalSize(); ls > 1 {
		runtime.GOMAXPROCS(max(1, runtime.NumCPU()/ls))
	}
	b := engine.NewCPU()
	p := c.Size()
	lo, hi := dist.ShardRange(batch, c.Rank(), p)
	rows := hi - lo

	var m gmvae.Model
	if n == 0 {
		m, err = gmvae.New(b, gmvae.Config{Model: modelName, MaxBatch: max(rows, 1)})
		if err != nil {
			return err
		}
		defer m.Release()
		n = m.Params().Len()
		if err := dist.BcastBufs(c, b, 0, m.Params().P); err != nil {
			return err
		}
	} else {
		steps = 0
	}
	g, err := b.New(n, "gradient")
	if err != nil {
		return err
	}
	host := make([]float32, n)
	philox.Normals(host[:n], 1, uint64(c.Rank()))
	if err := b.Upload(g, host); err != nil {
		return err
	}
	gs, err := dist.NewGradSync(c, b, n, dist.GradSyncOptions{})
	if err != nil {
		return err
	}
	defer gs.Close()

	// The all-reduce alone, every rank entering together.
	var ar []float64
	for i := 0; i <= iters; i++ {
		if err := c.Barrier(); err != nil {
			return err
		}
		t0 := time.Now()
		if err := gs.Sum(g); err != nil {
			return err
		}
		s, err := slowest(c, time.Since(t0))
		if err != nil {
			return err
		}
		if i > 0 {
			ar = append(ar, s)
		}
	}
	arT := median(ar)

	// Whole steps: TrainBatch on the shard, the gradient sum, Adam.
	var stepT, syncT, waitT float64
	if steps > 0 {
		cfg := m.Config()
		x, err := b.New(max(rows, 1)*cfg.D, "batch")
		if err != nil {
			return err
		}
		u := make([]float32, max(rows, 1)*cfg.D)
		philox.Uniforms(u, 3, uint64(c.Rank()))
		for i := range u {
			if u[i] < 0.3 {
				u[i] = 1
			} else {
				u[i] = 0
			}
		}
		if err := b.Upload(x, u); err != nil {
			return err
		}
		ps := m.Params()
		var st, sy, wt []float64
		for s := 0; s <= steps; s++ {
			if err := c.Barrier(); err != nil {
				return err
			}
			t0 := time.Now()
			if err := ps.ZeroGrad(); err != nil {
				return err
			}
			if rows > 0 {
				if _, err := m.TrainBatch(x, rows, uint64(s)); err != nil {
					return err
				}
			}
			// The barrier only splits the time of the sum (data movement and adds) from
			// the wait for the slowest rank's backward pass, which the sum would
			// otherwise include.
			t1 := time.Now()
			if err := c.Barrier(); err != nil {
				return err
			}
			t1b := time.Now()
			if err := gs.Sum(ps.G); err != nil {
				return err
			}
			t2 := time.Now()
			if err := ps.Step(nn.DefaultAdam(1e-3)); err != nil {
				return err
			}
			whole, err := slowest(c, time.Since(t0))
			if err != nil {
				return err
			}
			sync, err := slowest(c, t2.Sub(t1b))
			if err != nil {
				return err
			}
			wait, err := slowest(c, t1b.Sub(t1))
			if err != nil {
				return err
			}
			if s > 0 {
				st, sy, wt = append(st, whole), append(sy, sync), append(wt, wait)
			}
		}
		waitT = median(wt)
		stepT, syncT = median(st), median(sy)
		if err := dist.CheckSame(c, b, ps.P); err != nil {
			return err
		}
	}
	if c.Rank() != 0 {
		return nil
	}
	what := fmt.Sprintf("%d floats", n)
	if m != nil {
		what = fmt.Sprintf("model %s, %d parameters", modelName, n)
	}
	fmt.Printf("ranks %d (%s; %s, GOMAXPROCS %d per rank), gradient: %s (%.2f MB)\n",
		p, l.Launcher, gs.Name(), runtime.GOMAXPROCS(0), what, float64(n)*4/1e6)
	fmt.Printf("  all-reduce alone: %.3f ms per step (%.2f GB/s algorithm bandwidth: 2(P-1)/P·bytes / time)\n",
		arT*1e3, busBW(n, p, arT))
	if steps > 0 {
		fmt.Printf("  training step, global batch %d (%d rows on rank 0): %.1f ms; its gradient sum %.3f ms = %.1f%% of the step"+
			" (waiting for the slowest rank before it: %.1f ms)\n",
			batch, rows, stepT*1e3, syncT*1e3, 100*syncT/stepT, waitT*1e3)
	}
	return nil
}

// busBW is the bytes each rank moves in a reduce-scatter + all-gather, 2(P-1)/P of
// the buffer, per second (0 for one rank).
func busBW(n, p int, t float64) float64 {
	if p == 1 || t == 0 {
		return 0
	}
	return 2 * float64(p-1) / float64(p) * float64(n) * 4 / t / 1e9
}
