package cpu

import (
	"runtime"
	"sync"
	"time"
)

// FMAPeak measures this machine's float32 FMA throughput in flop/s: every core
// (GOMAXPROCS goroutines) runs the assembly loop of 12 independent fused multiply-add
// chains on registers (fmaPeak8, or fmaPeak16 where AVX-512 runs) for about d. It is
// the ceiling of the matrix products, whose microkernel issues the same instructions
// with loads in between. It returns 0 without the assembly (off amd64, or a CPU
// without AVX2 and FMA).
func FMAPeak(d time.Duration) float64 {
	if !gemmHaveAsm {
		return 0
	}
	peak, lanes := fmaPeak8, 8
	if gemmHaveAsm512 {
		peak, lanes = fmaPeak16, 16
	}
	var sink float32
	// Calibrate one core's iterations for d/5, then time every core at once.
	n := 1 << 16
	for {
		t0 := time.Now()
		peak(n, &sink)
		if el := time.Since(t0); el > d/20 || n >= 1<<34 {
			n = int(float64(n) * float64(d/5) / float64(max(el, time.Microsecond)))
			break
		}
		n *= 4
	}
	p := runtime.GOMAXPROCS(0)
	best := 0.0
	for rep := 0; rep < 3; rep++ {
		var wg sync.WaitGroup
		sinks := make([]float32, p)
		t0 := time.Now()
		for w := range p {
			wg.Add(1)
			go func() { defer wg.Done(); peak(n, &sinks[w]) }()
		}
		wg.Wait()
		rate := float64(p) * float64(n) * 24 * float64(lanes) / time.Since(t0).Seconds()
		best = max(best, rate)
	}
	return best
}
