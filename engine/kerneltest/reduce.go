package kerneltest

import (
	"fmt"
	"math/rand"

	"github.com/gmvae/gmvae/engine/cpu"
)

// Cases of the reduce family (kernels/reduce.cu). sum_all and sum_squares run on one
// block of exactly 256 threads; their Work is n so that the harness also launches
// grids of many blocks, whose blocks other than 0 must do nothing. Sizes straddle the
// block (255, 256, 257) and a few thousand elements; values of mixed magnitudes (the
// order shows in the low bits) and specials. Buffers padded as in elementwise.go.

var rdkSizes = []int{0, 1, 31, 32, 33, 255, 256, 257, 1000, 3000}

func init() {
	register("sum_all", func(r *rand.Rand) []Case {
		var cs []Case
		for _, n := range rdkSizes {
			for _, scale := range []float32{1, 1 / float32(max(n, 1)), -0.5} {
				cs = append(cs, Case{Name: fmt.Sprintf("n=%d scale=%v mixed magnitudes", n, scale),
					Args: cpu.KernelArgs{ewkInput(r, n, -1e4, 1e4, false), ewkGarbage(r, 1), int64(n), scale}, Work: n})
			}
			if n > 0 && n <= 257 {
				cs = append(cs, Case{Name: fmt.Sprintf("n=%d with specials", n),
					Args: cpu.KernelArgs{ewkInput(r, n, -1, 1, true), ewkGarbage(r, 1), int64(n), float32(1)}, Work: n})
			}
		}
		for i := 0; i < 4; i++ {
			cs = append(cs, Case{Name: "n=1000 one thread's elements nonzero (its order shows)",
				Args: cpu.KernelArgs{ewkOneLane(r, 1, 1000, 256), ewkGarbage(r, 1), int64(1000), float32(1)}, Work: 1000})
		}
		return cs
	})
	register("sum_squares", func(r *rand.Rand) []Case {
		var cs []Case
		for _, n := range rdkSizes {
			cs = append(cs, Case{Name: fmt.Sprintf("n=%d", n),
				Args: cpu.KernelArgs{ewkInput(r, n, -3, 3, false), ewkGarbage(r, 1), int64(n)}, Work: n})
			if n > 0 && n <= 257 {
				cs = append(cs, Case{Name: fmt.Sprintf("n=%d with specials (overflow, NaN, subnormal)", n),
					Args: cpu.KernelArgs{ewkInput(r, n, -1, 1, true), ewkGarbage(r, 1), int64(n)}, Work: n})
			}
		}
		for i := 0; i < 8; i++ {
			cs = append(cs, Case{Name: "n=1000 one thread's elements nonzero (fused squares would show)",
				Args: cpu.KernelArgs{ewkOneLane(r, 1, 1000, 256), ewkGarbage(r, 1), int64(1000)}, Work: 1000})
		}
		return cs
	})
	register("sum_rows", func(r *rand.Rand) []Case {
		var cs []Case
		for _, sh := range lkkShapes {
			rows, cols := sh[0], sh[1]
			for _, scale := range []float32{1, 0.02} {
				for _, bad := range []bool{false, true} {
					cs = append(cs, Case{Name: fmt.Sprintf("rows=%d cols=%d scale=%v specials=%v", rows, cols, scale, bad),
						Args: cpu.KernelArgs{ewkInput(r, rows*cols, -1e3, 1e3, bad), ewkGarbage(r, rows),
							int64(rows), int64(cols), scale}, Work: rows})
				}
			}
		}
		cs = append(cs, Case{Name: "rows=16 cols=100 one lane per row nonzero (its order shows)",
			Args: cpu.KernelArgs{ewkOneLane(r, 16, 100, 32), ewkGarbage(r, 16), int64(16), int64(100), float32(1)}, Work: 16})
		return cs
	})
}
