package engine

import (
	"time"

	"github.com/gmvae/gmvae/engine/cpu"
)

// CPUPeakFLOPS measures this machine's float32 FMA throughput (flop/s, every core) with
// an assembly loop of independent fused multiply-adds (cpu.FMAPeak): the ceiling that
// "% of peak" in the benchmarks refers to on the CPU backend. 0 when it cannot be
// measured here.
func CPUPeakFLOPS(d time.Duration) float64 { return cpu.FMAPeak(d) }
