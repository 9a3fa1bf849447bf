package kerneltest

import (
	"fmt"
	"math/rand"

	"github.com/gmvae/gmvae/engine/cpu"
)

// The augment family: augment_affine over awkward image shapes (1x1, a column, a row,
// odd and even sides, MNIST's 28x28), angles from none to half a turn, shifts from none
// to beyond the image (every output pixel then reads zeros), inputs with NaN and ±Inf
// pixels (they spread to the outputs that interpolate them), outputs pre-filled with
// garbage. Work is one item per output pixel.
func init() {
	register("augment_affine", func(r *rand.Rand) []Case {
		var cs []Case
		for _, sh := range []struct{ n, h, w int }{{1, 1, 1}, {3, 5, 1}, {2, 1, 7}, {4, 5, 6}, {3, 28, 28}, {33, 4, 4}} {
			for _, p := range []struct{ shift, turns float32 }{{0, 0}, {2, 0.03}, {1.5, 0.5}, {40, 0.1}} {
				size := sh.n * sh.h * sh.w
				bad := sh.h*sh.w > 1 && p.turns == 0.03
				cs = append(cs, Case{
					Name: fmt.Sprintf("n=%d %dx%d shift=%g turns=%g specials=%v", sh.n, sh.h, sh.w, p.shift, p.turns, bad),
					Args: cpu.KernelArgs{ewkInput(r, size, 0, 1, bad), ewkGarbage(r, size), int64(sh.n), int64(sh.h), int64(sh.w),
						p.shift, p.turns, uint64(7 + sh.n), uint64(0xA0<<32 | sh.h)},
					Work: size,
				})
			}
		}
		return cs
	})
}
