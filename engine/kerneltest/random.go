package kerneltest

import (
	"fmt"
	"math"
	"math/rand"

	"github.com/gmvae/gmvae/engine/cpu"
	"github.com/gmvae/gmvae/kernels"
	"github.com/gmvae/gmvae/kernels/philox"
)

// Cases of the random family (kernels/random.cu). Sizes cover n = 0 (nothing may be
// written), n < 4, n not a multiple of 4 (a partial last Philox block), one and two
// warps' worth of blocks and a few hundred elements; seeds and streams use both 32-bit
// halves, so a kernel that drops one shows. Outputs are pre-filled with garbage (and a
// few elements past n) so an unwritten element or a write past n is caught.

// randSizes are the element counts of the random kernels' cases.
var randSizes = []int{0, 1, 3, 4, 5, 31, 33, 128, 130, 257, 600}

// randKeys are (seed, stream) pairs: small, both halves set, all ones.
var randKeys = [][2]uint64{
	{0, 0},
	{12345, kernels.StreamID(7, 3)},
	{0xfedcba9876543210, 0x0123456789abcdef},
	{math.MaxUint64, math.MaxUint64},
}

// randSizeFor says whether the case of size n is drawn with key number ki: every size
// with the first key, fewer with the others (the emulator's budget: about 2M
// thread-instructions per kernel over all cases and launch shapes).
func randSizeFor(ki, n int) bool {
	switch {
	case ki == 0:
		return true
	case ki == 1:
		return n <= 257
	default:
		return n <= 130
	}
}

// randPad is how many garbage elements follow n in every output buffer.
const randPad = 3

// randGarbage returns n+randPad values that no kernel would write (huge, NaN, negative).
func randGarbage(r *rand.Rand, n int) []float32 {
	b := make([]float32, n+randPad)
	for i := range b {
		switch r.Intn(3) {
		case 0:
			b[i] = float32(math.NaN())
		case 1:
			b[i] = -1e30
		default:
			b[i] = float32(r.NormFloat64() * 1e6)
		}
	}
	return b
}

// randBlocks is the number of work items (Philox blocks) for n elements.
func randBlocks(n int) int { return (n + 3) / 4 }

// randGenCases returns the cases of a kernel with parameters (out, n, seed, stream).
func randGenCases(r *rand.Rand) []Case {
	var cs []Case
	for ki, k := range randKeys {
		for _, n := range randSizes {
			if !randSizeFor(ki, n) {
				continue
			}
			cs = append(cs, Case{
				Name: fmt.Sprintf("n=%d seed=%#x stream=%#x", n, k[0], k[1]),
				Args: cpu.KernelArgs{randGarbage(r, n), int64(n), k[0], k[1]},
				Work: randBlocks(n),
			})
		}
	}
	return cs
}

func init() {
	register("rand_uniform", randGenCases)
	register("rand_normal", randGenCases)
	register("gumbel", randGenCases)

	register("reparam", func(r *rand.Rand) []Case {
		var cs []Case
		for ki, k := range randKeys[:3] {
			for _, n := range randSizes {
				if !randSizeFor(ki, n) {
					continue
				}
				m, lv := make([]float32, n+randPad), make([]float32, n+randPad)
				for i := 0; i < n; i++ {
					m[i] = float32(r.NormFloat64() * 2)
					lv[i] = float32(r.Float64()*16 - 8)
				}
				cs = append(cs, Case{
					Name: fmt.Sprintf("n=%d seed=%#x stream=%#x", n, k[0], k[1]),
					Args: cpu.KernelArgs{m, lv, randGarbage(r, n), randGarbage(r, n), int64(n), k[0], k[1]},
					Work: randBlocks(n),
				})
			}
		}
		// Bad values: huge and tiny log-variances (exp overflows to Inf, underflows to
		// 0 and into subnormals), +-Inf, NaN, and -Inf/NaN means.
		inf := float32(math.Inf(1))
		nan := float32(math.NaN())
		bad := []float32{-inf, inf, nan, 200, -200, 176, 177.5, -180, -190, 88.7, -88.7, 0, -0.0, 1e-30}
		n := 3 * len(bad)
		m, lv := make([]float32, n), make([]float32, n)
		for i := 0; i < n; i++ {
			lv[i] = bad[i%len(bad)]
			switch i / len(bad) {
			case 0:
				m[i] = float32(r.NormFloat64())
			case 1:
				m[i] = -inf
			default:
				m[i] = nan
			}
		}
		cs = append(cs, Case{
			Name: "bad log-variances and means",
			Args: cpu.KernelArgs{m, lv, randGarbage(r, n), randGarbage(r, n), int64(n), uint64(99), uint64(1)},
			Work: randBlocks(n),
		})
		return cs
	})

	register("reparam_bwd", func(r *rand.Rand) []Case {
		var cs []Case
		inf := float32(math.Inf(1))
		nan := float32(math.NaN())
		bad := []float32{-inf, inf, nan, 200, -200, 177.5, -190, 0}
		for _, n := range randSizes {
			for acc := int64(0); acc <= 1; acc++ {
				lv, eps, dz := make([]float32, n), make([]float32, n), make([]float32, n)
				for i := 0; i < n; i++ {
					lv[i] = float32(r.Float64()*16 - 8)
					eps[i] = float32(r.NormFloat64())
					dz[i] = float32(r.NormFloat64())
					if i%17 == 5 {
						lv[i] = bad[(i/17)%len(bad)]
					}
					if i%23 == 7 {
						dz[i] = bad[(i/23)%len(bad)]
					}
				}
				cs = append(cs, Case{
					Name: fmt.Sprintf("n=%d accumulate=%d", n, acc),
					Args: cpu.KernelArgs{lv, eps, dz, randGarbageOrValues(r, n, acc), randGarbageOrValues(r, n, acc), int64(n), acc},
					Work: n,
				})
			}
		}
		// Null outputs: only one of the two gradients wanted.
		n := 33
		lv, eps, dz := make([]float32, n), make([]float32, n), make([]float32, n)
		for i := 0; i < n; i++ {
			lv[i], eps[i], dz[i] = float32(r.NormFloat64()), float32(r.NormFloat64()), float32(r.NormFloat64())
		}
		cs = append(cs,
			Case{Name: "n=33 dm=null", Args: cpu.KernelArgs{lv, eps, dz, nil, randGarbage(r, n), int64(n), int64(0)}, Work: n},
			Case{Name: "n=33 dlv=null accumulate=1", Args: cpu.KernelArgs{lv, eps, dz, randGarbageOrValues(r, n, 1), nil, int64(n), int64(1)}, Work: n},
		)
		return cs
	})

	register("binarize", func(r *rand.Rand) []Case {
		var cs []Case
		inf := float32(math.Inf(1))
		edge := []float32{0, 1, -1, 2, float32(math.NaN()), inf, -inf, 0.5, float32(math.Ldexp(1, -24)),
			float32(1 - math.Ldexp(1, -24)), float32(math.Copysign(0, -1)), 1e-40}
		for ki, k := range randKeys {
			for _, n := range randSizes {
				if !randSizeFor(ki, n) {
					continue
				}
				p := make([]float32, n)
				for i := range p {
					switch i % 5 {
					case 4:
						p[i] = edge[(i/5)%len(edge)]
					case 2:
						// Exactly this element's uniform, so that u < p (0) and
						// u <= p (1) differ.
						p[i] = philox.Uniform(philox.Block(k[0], k[1], uint64(i/4))[i%4])
					default:
						p[i] = float32(r.Float64()) // pixel intensities in [0, 1)
					}
				}
				cs = append(cs, Case{
					Name: fmt.Sprintf("n=%d seed=%#x stream=%#x", n, k[0], k[1]),
					Args: cpu.KernelArgs{p, randGarbage(r, n), int64(n), k[0], k[1]},
					Work: randBlocks(n),
				})
			}
		}
		return cs
	})
}

// randGarbageOrValues returns garbage for an overwritten gradient (accumulate = 0) and
// finite values to add to (accumulate = 1), with garbage past n either way.
func randGarbageOrValues(r *rand.Rand, n int, accumulate int64) []float32 {
	b := randGarbage(r, n)
	if accumulate != 0 {
		for i := 0; i < n; i++ {
			b[i] = float32(r.NormFloat64())
		}
	}
	return b
}

func init() {
	// reparam: lv = 2h for exp's hard inputs and a sweep (s = e^h exactly the argument
	// reached), each value in four consecutive elements (each of a Philox block's four
	// unrolled copies computes it), m = 0 so that z = s * eps rounded once; the many
	// normals are a sweep of Box-Muller's log and sincos2pi.
	registerSweep("reparam", func(r *rand.Rand) []Case {
		keep := func(x float32) bool { return x >= -104 && x <= 88.8 }
		h := append(hardFor("exp", keep), hardSweep("exp", r, 2000, keep)...)
		n := 4 * len(h)
		m, lv := make([]float32, n+randPad), make([]float32, n+randPad)
		for i := 0; i < n; i++ {
			lv[i] = 2 * h[i/4]
		}
		return sweepPair(Case{Name: fmt.Sprintf("n=%d lv = 2h, exp's hard inputs", n),
			Args: cpu.KernelArgs{m, lv, randGarbage(r, n), randGarbage(r, n), int64(n), uint64(0x5eed), uint64(3)},
			Work: randBlocks(n), Sweep: true}, 4, 256)
	})
	// reparam_bwd: lv = 2h, eps = 1 and dz a power of two: dlv = dz * e^h / 2 exactly.
	registerSweep("reparam_bwd", func(r *rand.Rand) []Case {
		keep := func(x float32) bool { return x >= -104 && x <= 88.8 }
		h := append(hardFor("exp", keep), hardSweep("exp", r, 4000, keep)...)
		return randReparamBwdSweep(r, h, len(h), "exp's hard inputs")
	})
	// rand_normal, gumbel: 40000 numbers, a sweep of their log, sqrt and sincos2pi.
	for _, name := range []string{"rand_normal", "gumbel"} {
		registerSweep(name, func(r *rand.Rand) []Case {
			const n = 40000
			return sweepPair(Case{Name: fmt.Sprintf("n=%d seed=0x5eed stream=9", n),
				Args: cpu.KernelArgs{randGarbage(r, n), int64(n), uint64(0x5eed), uint64(9)},
				Work: randBlocks(n), Sweep: true}, 1, 256)
		})
	}
}

func init() {
	// Seeds whose first Philox block carries the uniforms on which one rounding
	// of Box-Muller's or Gumbel's math changes a number (hardseeds.go): one block
	// (n = 4) per seed, stream 0.
	for _, name := range []string{"rand_normal", "gumbel"} {
		group := map[string]string{"rand_normal": "normal", "gumbel": "gumbel"}[name]
		registerSweep(name, func(r *rand.Rand) []Case {
			var cs []Case
			for _, seed := range hardSeeds[group] {
				cs = append(cs, Case{Name: fmt.Sprintf("n=4 seed=%d: a hard uniform", seed),
					Args: cpu.KernelArgs{randGarbage(r, 4), int64(4), seed, uint64(0)}, Work: 1, Sweep: true})
			}
			return cs
		})
	}
	// reparam: the same seeds as rand_normal, with m = 0 and lv = 0 (z = eps).
	registerSweep("reparam", func(r *rand.Rand) []Case {
		var cs []Case
		for _, seed := range hardSeeds["normal"] {
			cs = append(cs, Case{Name: fmt.Sprintf("n=4 seed=%d: a hard uniform", seed),
				Args: cpu.KernelArgs{make([]float32, 4+randPad), make([]float32, 4+randPad), randGarbage(r, 4), randGarbage(r, 4),
					int64(4), seed, uint64(0)}, Work: 1, Sweep: true})
		}
		return cs
	})
}

func init() {
	// After the sweeps above, so that their draws stay as they were: exp's extremes in
	// every element (extremes.go).
	registerSweep("reparam_bwd", func(r *rand.Rand) []Case {
		h := expExtremes(r)
		return randReparamBwdSweep(r, h, 8*len(h), "exp's extremes in every element")
	})
}

// randReparamBwdSweep: reparam_bwd on n elements cycling through h: lv = 2h, eps = 1
// and dz a power of two, so that dlv = dz e^h / 2 exactly; dm null, accumulated, and
// with 64 elements fewer.
func randReparamBwdSweep(r *rand.Rand, h []float32, n int, what string) []Case {
	lv, eps := make([]float32, n), make([]float32, n)
	for i := range lv {
		lv[i], eps[i] = 2*h[i%len(h)], 1
	}
	c := Case{Name: fmt.Sprintf("n=%d lv = 2h, %s, eps = 1", n, what),
		Args: cpu.KernelArgs{lv, eps, ewkPow2s(r, n), randGarbage(r, n), randGarbage(r, n), int64(n), int64(0)},
		Work: n, Sweep: true}
	var cs []Case
	for _, v := range sweepVariants(c, []int{3}, 6, []int{3, 4}) {
		cs = append(cs, sweepPair(v, 5, 64)...)
	}
	return cs
}
