// Command bench times every kernel family at training sizes on a backend and prints,
// per kernel, the median time, the achieved bandwidth or FLOP rate, and the ratio to
// the machine's measured ceilings:
//
//	go run ./cmd/bench                       # CPU twins
//	go run -tags cuda ./cmd/bench -device cuda -flops-ceiling 51e12
//	go run ./cmd/bench -epoch                # one MNIST epoch of model B (bench/peer/run.sh)
//	go run ./cmd/bench -checkpoint RUN/checkpoint.safetensors   # a trained model's steps vs a fresh one's
//
// Both ceilings are measured in the same run: the bandwidth by a large copy (device to
// device on a GPU; in memory on every core of the CPU, with buffers far larger than the
// caches), the FLOP rate on the CPU by an assembly loop of independent fused
// multiply-adds on every core (engine.CPUPeakFLOPS); on a GPU -flops-ceiling gives it
// (a large float32 matrix product in PyTorch on the same card, GPU-RUNS.md).
//
//	go run ./cmd/bench -vade                 # vade's epochs against the FMA peak and the GEMM rate at its shapes
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/gmvae"
	"github.com/gmvae/gmvae/kernels"
	"github.com/gmvae/gmvae/kernels/philox"
	"github.com/gmvae/gmvae/ops"
)

// workload is one kernel launch at a representative size.
type workload struct {
	name  string  // shown in the table
	flops float64 // floating-point operations of one launch (0: bandwidth-bound)
	bytes float64 // bytes the launch must move at least
	sizes []int   // buffer sizes, in float32 elements, for the pointer args
	run   func(be engine.Backend, b []*engine.Buf) error
}

func workloads(small bool) []workload {
	s := func(big, tiny int) int {
		if small {
			return tiny
		}
		return big
	}
	gemm := func(m, k, n int) workload {
		return workload{
			name:  fmt.Sprintf("gemm_nn %dx%dx%d", m, k, n),
			flops: 2 * float64(m) * float64(n) * float64(k), bytes: 4 * float64(m*k+k*n+m*n),
			sizes: []int{m * k, k * n, n, m * n},
			run: func(be engine.Backend, b []*engine.Buf) error {
				return ops.GemmNN(be, b[0], b[1], b[2], b[3], m, n, k, kernels.ActNone, false)
			},
		}
	}
	n, K, D := s(1024, 64), s(16, 4), s(200, 40)
	el := s(1<<22, 1<<12)
	rows, cols := s(100, 20), s(784, 100)
	return []workload{
		gemm(s(100, 20), s(784, 64), s(512, 64)),
		gemm(s(100, 20), s(512, 64), s(512, 64)),
		gemm(s(1024, 64), s(1024, 64), s(1024, 64)),
		{
			name:  fmt.Sprintf("mixture_loglik N=%d K=%d D=%d shared", n, K, D),
			flops: 5 * float64(n*K*D), bytes: 4 * float64(n*D+2*K*D+2*n*K+n),
			sizes: []int{n * D, K * D, K * D, n * K, n, n * K},
			run: func(be engine.Backend, b []*engine.Buf) error {
				return ops.MixtureLoglik(be, n, K, D, b[0], b[1], b[2], 0, nil, 0, b[3], b[4], b[5])
			},
		},
		{
			name:  fmt.Sprintf("kl_mixture N=%d K=%d D=%d shared", n, K, D),
			flops: 8 * float64(n*K*D), bytes: 4 * float64(2*n*D+2*K*D+n*K),
			sizes: []int{n * D, n * D, K * D, K * D, n * K},
			run: func(be engine.Backend, b []*engine.Buf) error {
				return ops.KlMixture(be, n, K, D, b[0], b[1], b[2], b[3], 0, b[4])
			},
		},
		{
			name:  fmt.Sprintf("bernoulli_loglik %dx%d", rows, cols),
			bytes: 4 * float64(2*rows*cols+rows),
			sizes: []int{rows * cols, rows * cols, rows},
			run: func(be engine.Backend, b []*engine.Buf) error {
				return ops.BernoulliLoglik(be, b[0], b[1], b[2], rows, cols)
			},
		},
		{
			name:  fmt.Sprintf("act_fwd tanh n=%d", el),
			bytes: 8 * float64(el), sizes: []int{el, el},
			run: func(be engine.Backend, b []*engine.Buf) error { return ops.ActFwd(be, b[0], b[1], el, kernels.ActTanh) },
		},
		{
			name:  fmt.Sprintf("reparam n=%d", el),
			bytes: 16 * float64(el), sizes: []int{el, el, el, el},
			run: func(be engine.Backend, b []*engine.Buf) error {
				return ops.Reparam(be, b[0], b[1], b[2], b[3], el, 1, 2)
			},
		},
		{
			name:  fmt.Sprintf("adam_step n=%d", el),
			bytes: 28 * float64(el), sizes: []int{el, el, el, el},
			run: func(be engine.Backend, b []*engine.Buf) error {
				return ops.AdamStep(be, b[0], b[1], b[2], b[3], el, 1e-3, 0.9, 0.999, 1e-8, 0, 0.1, 0.001)
			},
		},
		{
			name:  fmt.Sprintf("sum_squares n=%d", el),
			bytes: 4 * float64(el), sizes: []int{el, 1},
			run: func(be engine.Backend, b []*engine.Buf) error { return ops.SumSquares(be, b[0], b[1], el) },
		},
	}
}

func median(ds []time.Duration) time.Duration {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
}

// timeIt runs f reps times after one warm-up run and returns the median.
func timeIt(b engine.Backend, reps int, f func() error) (time.Duration, error) {
	if err := f(); err != nil {
		return 0, err
	}
	if err := b.Sync(); err != nil {
		return 0, err
	}
	var ds []time.Duration
	for i := 0; i < reps; i++ {
		t0 := time.Now()
		if err := f(); err != nil {
			return 0, err
		}
		if err := b.Sync(); err != nil {
			return 0, err
		}
		ds = append(ds, time.Since(t0))
	}
	return median(ds), nil
}

// copyCeiling measures the bandwidth of a large buffer copy on b, in bytes/s (read +
// write counted): a device-to-device copy on the GPU backends, one copy per core on the
// CPU (the memory system's practical ceiling for a streaming kernel).
func copyCeiling(b engine.Backend, n, reps int) (float64, error) {
	x, err := b.New(n, "ceiling src")
	if err != nil {
		return 0, err
	}
	y, err := b.New(n, "ceiling dst")
	if err != nil {
		return 0, err
	}
	defer b.Release(x)
	defer b.Release(y)
	host := make([]float32, n)
	if err := b.Upload(x, host); err != nil {
		return 0, err
	}
	var d time.Duration
	if _, isCPU := b.(*engine.CPU); isCPU {
		// One copy per core, as the twins use every core. A copy also pays for the
		// write-allocate reads of its destination, which in-place kernels (Adam) do
		// not: those can show more than 100% of this ceiling.
		dst := make([]float32, n)
		p := runtime.GOMAXPROCS(0)
		d, err = timeIt(b, reps, func() error {
			var wg sync.WaitGroup
			for w := 0; w < p; w++ {
				lo, hi := w*n/p, (w+1)*n/p
				wg.Add(1)
				go func() { defer wg.Done(); copy(dst[lo:hi], host[lo:hi]) }()
			}
			wg.Wait()
			return nil
		})
	} else if g, ok := b.(*engine.GPU); ok {
		d, err = timeIt(b, reps, func() error { return g.CopyBuf(y, x) })
	}
	if err != nil {
		return 0, err
	}
	return 8 * float64(n) / d.Seconds(), nil
}

func main() {
	device := flag.String("device", "cpu", "backend: cpu, emu, cuda or auto")
	reps := flag.Int("reps", 5, "timed repetitions per kernel (the median is shown)")
	small := flag.Bool("small", false, "small sizes (for the emulator)")
	flopsCeiling := flag.Float64("flops-ceiling", 0, "the device's float32 FLOP/s ceiling; 0: measured on the CPU (an FMA loop on every core)")
	only := flag.String("only", "", "run only workloads whose name contains this")
	epoch := flag.Bool("epoch", false, "time one MNIST training epoch of model B (Gumbel, batch 64) instead of the kernels")
	vade := flag.Bool("vade", false, "time one MNIST pretraining epoch and one training epoch of model vade against ceilings measured in the same run (the FMA peak, the GEMM rate at its shapes)")
	dataDir := flag.String("data-dir", "", "MNIST folder for -epoch and -checkpoint (default: the GoMNIST module's files)")
	limit := flag.Int("limit", 0, "with -epoch: use only the first N training examples")
	ckpt := flag.String("checkpoint", "", "time training steps of this checkpoint's model on MNIST, against a fresh model of the same configuration")
	steps := flag.Int("steps", 60, "with -checkpoint: timed training steps")
	flag.Parse()

	b, closeB, err := engine.OpenBackend(*device)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	defer closeB()
	if *ckpt != "" {
		if _, _, err := checkpointBench(b, *ckpt, *dataDir, *steps); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if *epoch {
		if _, err := epochBench(b, *dataDir, *limit); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if *flopsCeiling == 0 {
		if _, isCPU := b.(*engine.CPU); isCPU {
			*flopsCeiling = engine.CPUPeakFLOPS(time.Second)
		}
		if *flopsCeiling == 0 {
			fmt.Fprintln(os.Stderr, "bench: no FLOP ceiling: give -flops-ceiling (a large float32 matrix product on this device)")
			os.Exit(2)
		}
	}
	if *vade {
		if err := vadeBench(b, *dataDir, *limit, *reps, *flopsCeiling); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	bw, err := copyCeiling(b, 1<<24, *reps)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: bandwidth ceiling:", err)
		os.Exit(1)
	}
	fmt.Printf("backend %s; ceilings measured now: copy %.1f GB/s, FMA peak %.1f GFLOP/s\n", b.Name(), bw/1e9, *flopsCeiling/1e9)
	fmt.Printf("%-44s %12s %12s %8s\n", "kernel", "median", "rate", "of ceil")
	for _, w := range workloads(*small) {
		if *only != "" && !strings.Contains(w.name, *only) {
			continue
		}
		bufs := make([]*engine.Buf, len(w.sizes))
		for i, n := range w.sizes {
			if bufs[i], err = b.New(n, w.name); err != nil {
				fmt.Fprintln(os.Stderr, "bench:", err)
				os.Exit(1)
			}
			host := make([]float32, n)
			philox.Uniforms(host, 1, uint64(i))
			if err := b.Upload(bufs[i], host); err != nil {
				fmt.Fprintln(os.Stderr, "bench:", err)
				os.Exit(1)
			}
		}
		d, err := timeIt(b, *reps, func() error { return w.run(b, bufs) })
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: %s: %v\n", w.name, err)
			os.Exit(1)
		}
		if w.flops > 0 {
			rate := w.flops / d.Seconds()
			fmt.Printf("%-44s %12v %9.1f GF/s %7.1f%%\n", w.name, d, rate/1e9, 100*rate / *flopsCeiling)
		} else {
			rate := w.bytes / d.Seconds()
			fmt.Printf("%-44s %12v %9.2f GB/s %7.1f%%\n", w.name, d, rate/1e9, 100*rate/bw)
		}
		for _, buf := range bufs {
			_ = b.Release(buf)
		}
	}
	if *only != "" {
		return
	}
	for _, st := range []struct {
		name  string
		cfg   gmvae.Config
		batch int
	}{
		{"training step: model A defaults, batch 50", gmvae.Config{Model: "dilokthanakul", MaxBatch: 50}, 50},
		{"training step: model B gumbel, batch 64", gmvae.Config{Model: "shu", Gumbel: true, MaxBatch: 64}, 64},
	} {
		if *small {
			st.cfg.D, st.cfg.Hidden, st.cfg.Dz, st.cfg.Dw = 64, []int{32}, 8, 8
		}
		d, err := stepBench(b, st.cfg, st.batch, *reps)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: %s: %v\n", st.name, err)
			os.Exit(1)
		}
		fmt.Printf("%-44s %12v\n", st.name, d)
	}
}
