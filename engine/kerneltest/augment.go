package kerneltest

import (
	"fmt"
	"math"
	"math/rand"

	"github.com/gmvae/gmvae/engine/cpu"
	"github.com/gmvae/gmvae/kernels/philox"
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

// The augment sweeps (run on one launch shape, see Case.Sweep):
//   - shifts of at most 1e-9 to 1e-6 pixels on images of one pixel and of 2 x 3: with
//     no turn sx = -tx and sy = -ty, so fx and fy are tiny, or 1 minus tiny, where
//     sx - floor(sx), 1 - fx and 1 - fy round;
//   - one 28 x 28 image per hard input v of sin 2πu and cos 2πu (hard.go), with
//     max_turns chosen so that the image turns by exactly v: a last-bit change of the
//     sine or cosine moves some of the 784 sampling points across a float boundary.
func init() {
	registerSweep("augment_affine", func(r *rand.Rand) []Case {
		var cs []Case
		for _, sh := range []struct{ n, h, w int }{{256, 1, 1}, {64, 2, 3}} {
			for _, shift := range []float32{1e-9, 3e-8, 1e-6} {
				for _, turns := range []float32{0, 1e-9} {
					size := sh.n * sh.h * sh.w
					cs = append(cs, Case{
						Name: fmt.Sprintf("n=%d %dx%d shift=%g turns=%g", sh.n, sh.h, sh.w, shift, turns),
						Args: cpu.KernelArgs{ewkInput(r, size, 0, 1, false), ewkGarbage(r, size), int64(sh.n), int64(sh.h), int64(sh.w),
							shift, turns, uint64(r.Int63()), uint64(r.Int63())},
						Work: size, Sweep: true,
					})
				}
			}
		}
		const side = 28
		for _, v := range append(hardFor("sin2pi", nil), hardFor("cos2pi", nil)...) {
			var seed, stream uint64
			var maxTurns float32
			ok := false
			for try := 0; try < 32 && !ok; try++ {
				seed, stream = uint64(r.Int63()), uint64(r.Int63())
				maxTurns, ok = augmentTurnsFor(v, seed, stream)
			}
			if !ok {
				panic(fmt.Sprintf("kerneltest: no max_turns turns an image by %v in 32 streams", v))
			}
			cs = append(cs, Case{
				Name: fmt.Sprintf("1 image of %dx%d turned by %v (a hard input of sincos2pi)", side, side, v),
				Args: cpu.KernelArgs{ewkInput(r, side*side, 0, 1, false), ewkGarbage(r, side*side), int64(1), int64(side), int64(side),
					float32(0), maxTurns, seed, stream},
				Work: side * side, Sweep: true,
			})
		}
		return cs
	})
}

// augmentTurnsFor returns a max_turns that turns image 0 of Philox stream (seed,
// stream) by exactly v: turns = float32((2u0 - 1) * max_turns), searched a few ulps
// around v / (2u0 - 1); false when none gives v.
func augmentTurnsFor(v float32, seed, stream uint64) (float32, bool) {
	u0 := philox.Uniform(philox.Block(seed, stream, 0)[0])
	m := float32(2*u0) - 1
	if math.Abs(float64(m)) < 0.25 {
		return 0, false // a small factor spreads the products too thin to hit v
	}
	mt := float32(float64(v) / float64(m))
	lo, hi := mt, mt
	for i := 0; i < 8; i++ {
		for _, c := range []float32{lo, hi} {
			if float32(m*c) == v {
				return c, true
			}
		}
		lo, hi = math.Nextafter32(lo, float32(math.Inf(-1))), math.Nextafter32(hi, float32(math.Inf(1)))
	}
	return 0, false
}
