package cpu

import (
	"fmt"
	"testing"
)

func BenchmarkTmpSmall(b *testing.B) {
	for _, s := range [][3]int{{100, 64, 10}, {100, 256, 32}, {100, 512, 64}, {100, 512, 128}, {100, 256, 256}, {32, 128, 128}} {
		for _, w := range []int{1, 2} {
			cfg := gemmDefault()
			cfg.workers = w
			b.Run(fmt.Sprintf("%dx%dx%d_w%d", s[0], s[1], s[2], w), func(b *testing.B) {
				r := gemmBenchShapes
				_ = r
				a := make([]float32, s[0]*s[1])
				bb := make([]float32, s[1]*s[2])
				c := make([]float32, s[0]*s[2])
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					gemmFast(false, false, a, bb, nil, c, s[0], s[2], s[1], 0, false, cfg)
				}
				b.ReportMetric(2*float64(s[0]*s[1]*s[2])*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
