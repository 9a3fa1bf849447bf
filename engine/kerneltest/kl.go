package kerneltest

// Cases of the kl family (kernels/kl.cu): the sizes and layouts of the mixture cases
// (mixShapes), every nullable output null and not, both accumulate flags, and bad
// values: NaN in m, log-variances of +-80 and past exp's range, a NaN upstream
// gradient. Work is as in mixture.go (32 threads per warp-sized item).

import (
	"fmt"
	"math/rand"

	"github.com/gmvae/gmvae/engine/cpu"
)

func init() {
	register("kl_mixture", klMixtureCases)
	register("kl_mixture_bwd", klMixtureBwdCases)
	register("kl_std_normal", klStdNormalCases)
	register("kl_std_normal_bwd", klStdNormalBwdCases)
}

// klInputs draws m, s (N, D) and mu, lv (layout of sh), with the bad values of
// mixSpoil in (m, mu, lv) and log-variances s of -80 and +80 in row 1.
func klInputs(r *rand.Rand, sh mixShape) (m, s, mu, lv []float32) {
	m, mu, lv = mixInputs(r, sh, -3, 3)
	s = mixUniforms(r, sh.N*sh.D, -3, 3)
	mixSpoil(sh, m, mu, lv)
	if sh.N >= 3 && sh.D >= 2 {
		s[1*sh.D+0] = -80
		s[1*sh.D+1] = 80
	}
	return
}

func klMixtureCases(r *rand.Rand) []Case {
	var cases []Case
	for _, sh := range mixShapes {
		m, s, mu, lv := klInputs(r, sh)
		cases = append(cases, Case{
			Name: sh.name,
			Args: cpu.KernelArgs{int64(sh.N), int64(sh.K), int64(sh.D), m, s, mu, lv, sh.stride(),
				mixGarbage(r, sh.N*sh.K)},
			Work: 32 * sh.N * sh.K,
		})
	}
	return cases
}

func klMixtureBwdCases(r *rand.Rand) []Case {
	var cases []Case
	for i, sh := range mixShapes {
		m, s, mu, lv := klInputs(r, sh)
		gKL := mixNormals(r, sh.N*sh.K, 1)
		if sh.N >= 3 && sh.K >= 2 {
			gKL[1*sh.K+1] = mixNaN
		}
		nQ, nP := sh.N*sh.D, sh.nParams()
		// Output sets by case: all four; q only; params only; dm and dlv; ds and dmu.
		on := [5][4]bool{{true, true, true, true}, {true, true, false, false}, {false, false, true, true},
			{true, false, false, true}, {false, true, true, false}}[i%5]
		work := nQ
		if nP > work {
			work = nP
		}
		cases = append(cases, Case{
			Name: sh.name,
			Args: cpu.KernelArgs{int64(sh.N), int64(sh.K), int64(sh.D), m, s, mu, lv, sh.stride(), gKL,
				mixBuf(on[0], mixNormals(r, nQ, 1)), mixBuf(on[1], mixNormals(r, nQ, 1)), int64(i % 2),
				mixBuf(on[2], mixNormals(r, nP, 1)), mixBuf(on[3], mixNormals(r, nP, 1)), int64((i / 2) % 2)},
			Work: work,
		})
	}
	// No output at all: nothing may be written (and nothing read out of bounds).
	sh := mixShapes[3]
	m, s, mu, lv := klInputs(r, sh)
	cases = append(cases, Case{
		Name: sh.name + " all outputs null",
		Args: cpu.KernelArgs{int64(sh.N), int64(sh.K), int64(sh.D), m, s, mu, lv, sh.stride(),
			mixNormals(r, sh.N*sh.K, 1), nil, nil, int64(0), nil, nil, int64(0)},
		Work: sh.N * sh.D,
	})
	return cases
}

// klStdSizes are the (N, D) sizes of the KL(q || N(0, I)) cases.
var klStdSizes = [][2]int{{0, 5}, {1, 1}, {33, 31}, {8, 32}, {5, 33}, {3, 200}, {200, 3}}

func klStdNormalCases(r *rand.Rand) []Case {
	var cases []Case
	for _, sz := range klStdSizes {
		N, D := sz[0], sz[1]
		m, s := mixNormals(r, N*D, 2), mixUniforms(r, N*D, -4, 4)
		if N >= 3 && D >= 3 {
			m[0] = mixNaN
			s[D+0], s[D+1], s[D+2] = -80, 80, 100 // exp(100) = +Inf
		}
		cases = append(cases, Case{
			Name: fmt.Sprintf("N=%d D=%d", N, D),
			Args: cpu.KernelArgs{int64(N), int64(D), m, s, mixGarbage(r, N)},
			Work: 32 * N,
		})
	}
	return cases
}

func klStdNormalBwdCases(r *rand.Rand) []Case {
	var cases []Case
	for i, sz := range klStdSizes {
		N, D := sz[0], sz[1]
		m, s := mixNormals(r, N*D, 2), mixUniforms(r, N*D, -4, 4)
		g := mixNormals(r, N, 1)
		if N >= 3 && D >= 3 {
			g[2] = mixNaN
			s[D+0], s[D+1], s[D+2] = -80, 80, 100
		}
		cases = append(cases, Case{
			Name: fmt.Sprintf("N=%d D=%d", N, D),
			Args: cpu.KernelArgs{int64(N), int64(D), m, s, g, mixBuf(i%3 != 1, mixNormals(r, N*D, 1)),
				mixBuf(i%3 != 2, mixNormals(r, N*D, 1)), int64(i % 2)},
			Work: N * D,
		})
	}
	return cases
}
