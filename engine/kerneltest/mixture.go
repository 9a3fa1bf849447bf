package kerneltest

// Cases of the mixture family (kernels/mixture.cu): sizes around a warp (1, 31, 32, 33,
// 64, 65, 200), both parameter layouts (shared (K, D) and per sample (N, K, D)), every
// nullable pointer null and not, accumulate on and off, and bad values: NaN in z, rows
// of -Inf log-weights, log-variances of +-80 and past exp's range.
//
// Work, for the kernels that give a warp to each item (a row, or an (n, k) pair), is
// 32 threads per item, so that the largest grid the harness picks spreads the items
// one per warp.

import (
	"math"
	"math/rand"

	"github.com/gmvae/gmvae/engine/cpu"
)

func init() {
	register("mixture_loglik", mixtureLoglikCases)
	register("lse_softmax", lseSoftmaxCases)
	register("lse_softmax_bwd", lseSoftmaxBwdCases)
	register("mixture_bwd_z", mixtureBwdZCases)
	register("mixture_bwd_params", mixtureBwdParamsCases)
}

var (
	mixNaN    = float32(math.NaN())
	mixPosInf = float32(math.Inf(1))
	mixNegInf = float32(math.Inf(-1))
)

// mixNormals returns n draws of scale * N(0, 1).
func mixNormals(r *rand.Rand, n int, scale float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(scale * r.NormFloat64())
	}
	return out
}

// mixUniforms returns n draws uniform in [lo, hi).
func mixUniforms(r *rand.Rand, n int, lo, hi float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(lo + (hi-lo)*r.Float64())
	}
	return out
}

// mixGarbage returns an output buffer of n recognisable values (not NaN, so that an
// element the kernel forgets to write cannot pass as a NaN result).
func mixGarbage(r *rand.Rand, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(-7777 - r.Intn(1000))
	}
	return out
}

// mixBuf returns a non-nil buffer or nil (a null pointer) as an argument.
func mixBuf(on bool, b []float32) any {
	if !on {
		return nil
	}
	return b
}

// mixShape is one size and layout of the mixture and KL cases.
type mixShape struct {
	name      string
	N, K, D   int
	perSample bool
}

func (s mixShape) stride() int64 {
	if s.perSample {
		return int64(s.K * s.D)
	}
	return 0
}

func (s mixShape) nParams() int {
	if s.perSample {
		return s.N * s.K * s.D
	}
	return s.K * s.D
}

// mixShapes are the sizes shared by the mixture and KL cases (total work kept small
// for the emulator).
var mixShapes = []mixShape{
	{"empty batch N=0", 0, 3, 5, false},
	{"N=1 K=1 D=1", 1, 1, 1, false},
	{"N=1 K=1 D=1 per-sample", 1, 1, 1, true},
	{"N=33 K=2 D=33 per-sample", 33, 2, 33, true},
	{"N=3 K=64 D=3", 3, 64, 3, false},
	{"N=1 K=65 D=2 per-sample", 1, 65, 2, true},
	{"N=3 K=5 D=200", 3, 5, 200, false},
	{"N=31 K=3 D=32", 31, 3, 32, false},
	{"N=40 K=2 D=4", 40, 2, 4, false},
	{"N=4 K=16 D=31 per-sample", 4, 16, 31, true},
}

// mixInputs draws z (N, D), mu and lv (layout of s) with log-variances in [lo, hi).
func mixInputs(r *rand.Rand, s mixShape, lo, hi float64) (z, mu, lv []float32) {
	return mixNormals(r, s.N*s.D, 1.5), mixNormals(r, s.nParams(), 1.5), mixUniforms(r, s.nParams(), lo, hi)
}

// mixSpoil puts the bad values into a case with at least 3 rows: NaN in z of row 0,
// log-variances of -80 and +80 in row 1's parameters (or component 0's, when shared),
// and one past exp's range (-100) with z == mu in the last row (NaN there, by IEEE).
func mixSpoil(s mixShape, z, mu, lv []float32) {
	if s.N < 3 || s.D < 2 {
		return
	}
	z[0*s.D+s.D-1] = mixNaN
	row := 0
	if s.perSample {
		row = 1
	}
	lv[row*s.K*s.D+0] = -80
	lv[row*s.K*s.D+1] = 80
	last := s.N - 1
	p := 0
	if s.perSample {
		p = last * s.K * s.D
	}
	lv[p+s.D-1] = -100
	mu[p+s.D-1] = z[last*s.D+s.D-1]
}

func mixtureLoglikCases(r *rand.Rand) []Case {
	var cases []Case
	for i, s := range mixShapes {
		z, mu, lv := mixInputs(r, s, -3, 3)
		// Log-weights: (K), (N, K) with bad rows, or null, by case.
		var logpi []float32
		var piStride int64
		switch i % 3 {
		case 0:
			logpi = mixNormals(r, s.K, 1)
		case 1:
			logpi, piStride = mixNormals(r, s.N*s.K, 1), int64(s.K)
			if s.N >= 3 && s.K >= 2 {
				for k := 0; k < s.K; k++ {
					logpi[1*s.K+k] = mixNegInf // a row of -Inf log-weights
				}
				logpi[2*s.K+0] = mixNegInf // some -Inf
			}
		}
		mixSpoil(s, z, mu, lv)
		lseOn, respOn := i%4 != 3, i%4 != 2
		cases = append(cases, Case{
			Name: s.name,
			Args: cpu.KernelArgs{int64(s.N), int64(s.K), int64(s.D), z, mu, lv, s.stride(),
				mixBuf(logpi != nil, logpi), piStride, mixGarbage(r, s.N*s.K),
				mixBuf(lseOn, mixGarbage(r, s.N)), mixBuf(respOn, mixGarbage(r, s.N*s.K))},
			Work: 32 * s.N * s.K,
		})
	}
	// Tiny and huge variances across a whole case, L only.
	s := mixShape{"N=9 K=3 D=40 lv in [-80,-78] and [78,80]", 9, 3, 40, true}
	z, mu, _ := mixInputs(r, s, 0, 0)
	lv := make([]float32, s.nParams())
	for j := range lv {
		if j%2 == 0 {
			lv[j] = float32(-80 + 2*r.Float64())
			mu[j] = z[(j/(s.K*s.D))*s.D+j%s.D] + float32(1e-17*r.NormFloat64())
		} else {
			lv[j] = float32(78 + 2*r.Float64())
		}
	}
	cases = append(cases, Case{
		Name: s.name,
		Args: cpu.KernelArgs{int64(s.N), int64(s.K), int64(s.D), z, mu, lv, s.stride(), nil, int64(0),
			mixGarbage(r, s.N*s.K), nil, nil},
		Work: 32 * s.N * s.K,
	})
	return cases
}

// mixLogitRows returns N rows of K logits at the given scale; with bad set, rows of
// all -Inf, one +Inf, two +Inf, a NaN, -Inf entries with a finite maximum, and signed
// zeros (as many as there are rows).
func mixLogitRows(r *rand.Rand, N, K int, scale float64, bad bool) []float32 {
	x := mixNormals(r, N*K, scale)
	if !bad {
		return x
	}
	negZero := float32(math.Copysign(0, -1))
	for n := 0; n < N; n++ {
		row := x[n*K : n*K+K]
		switch n % 8 {
		case 0:
			for k := range row {
				row[k] = mixNegInf
			}
		case 1:
			row[r.Intn(K)] = mixPosInf
		case 2:
			row[0] = mixPosInf
			row[K-1] = mixPosInf
		case 3:
			row[r.Intn(K)] = mixNaN
		case 4:
			for k := range row {
				if k%3 != 1 {
					row[k] = mixNegInf
				}
			}
		case 5:
			for k := range row {
				if k%2 == 0 {
					row[k] = negZero
				} else {
					row[k] = 0
				}
			}
		case 6:
			row[0] = 3e38
		}
	}
	return x
}

func lseSoftmaxCases(r *rand.Rand) []Case {
	var cases []Case
	for i, c := range []struct {
		name  string
		N, K  int
		scale float64
		bad   bool
	}{
		{"empty batch N=0", 0, 4, 1, false},
		{"N=1 K=1", 1, 1, 1, false},
		{"N=33 K=31", 33, 31, 3, false},
		{"N=8 K=32 bad rows", 8, 32, 3, true},
		{"N=16 K=33 bad rows", 16, 33, 10, true},
		{"N=5 K=64 scale 1e4", 5, 64, 1e4, false},
		{"N=3 K=100", 3, 100, 2, false},
		{"N=300 K=2", 300, 2, 5, false},
		{"N=9 K=3 bad rows", 9, 3, 1, true},
	} {
		x := mixLogitRows(r, c.N, c.K, c.scale, c.bad)
		lseOn, respOn := i%3 != 1, i%3 != 2
		cases = append(cases, Case{
			Name: c.name,
			Args: cpu.KernelArgs{int64(c.N), int64(c.K), x, mixBuf(lseOn, mixGarbage(r, c.N)),
				mixBuf(respOn, mixGarbage(r, c.N*c.K))},
			Work: 32 * c.N,
		})
	}
	return cases
}

func lseSoftmaxBwdCases(r *rand.Rand) []Case {
	var cases []Case
	for i, c := range []struct {
		name string
		N, K int
		bad  bool
	}{
		{"empty batch N=0", 0, 4, false},
		{"N=1 K=1", 1, 1, false},
		{"N=33 K=31", 33, 31, false},
		{"N=8 K=33 bad rows", 8, 33, true},
		{"N=5 K=64", 5, 64, false},
		{"N=40 K=3 bad rows", 40, 3, true},
		{"N=3 K=65", 3, 65, false},
	} {
		x := mixLogitRows(r, c.N, c.K, 3, c.bad)
		resp := make([]float32, c.N*c.K)
		cpu.LseSoftmax(c.N, c.K, x, nil, resp)
		for mode := 0; mode < 4; mode++ { // glse/gresp null or not; accumulate on odd modes
			glseOn, grespOn := mode != 1, mode != 2
			if c.N > 8 && mode == 3 {
				glseOn, grespOn = false, false
			}
			cases = append(cases, Case{
				Name: c.name,
				Args: cpu.KernelArgs{int64(c.N), int64(c.K), resp, mixBuf(glseOn, mixNormals(r, c.N, 1)),
					mixBuf(grespOn, mixNormals(r, c.N*c.K, 1)), mixNormals(r, c.N*c.K, 1),
					int64((mode + i) % 2)},
				Work: 32 * c.N,
			})
		}
	}
	return cases
}

// mixGradInputs draws a case's inputs and an upstream gradient gL (N, K) with a few
// bad values (NaN in one element, large values) when the case is big enough.
func mixGradInputs(r *rand.Rand, s mixShape) (z, mu, lv, gL []float32) {
	z, mu, lv = mixInputs(r, s, -3, 3)
	mixSpoil(s, z, mu, lv)
	gL = mixNormals(r, s.N*s.K, 1)
	if s.N >= 3 && s.K >= 2 {
		gL[1*s.K+1] = mixNaN
		gL[2*s.K+0] = 1e30
	}
	return
}

func mixtureBwdZCases(r *rand.Rand) []Case {
	var cases []Case
	for i, s := range mixShapes {
		z, mu, lv, gL := mixGradInputs(r, s)
		cases = append(cases, Case{
			Name: s.name,
			Args: cpu.KernelArgs{int64(s.N), int64(s.K), int64(s.D), z, mu, lv, s.stride(), gL,
				mixNormals(r, s.N*s.D, 1), int64(i % 2)},
			Work: s.N * s.D,
		})
	}
	return cases
}

func mixtureBwdParamsCases(r *rand.Rand) []Case {
	var cases []Case
	for i, s := range mixShapes {
		z, mu, lv, gL := mixGradInputs(r, s)
		n := s.nParams()
		work := n
		cases = append(cases, Case{
			Name: s.name,
			Args: cpu.KernelArgs{int64(s.N), int64(s.K), int64(s.D), z, mu, lv, s.stride(), gL,
				mixBuf(i%3 != 1, mixNormals(r, n, 1)), mixBuf(i%3 != 2, mixNormals(r, n, 1)), int64(i % 2)},
			Work: work,
		})
	}
	// Shared parameters summed over many rows.
	s := mixShape{"N=300 K=2 D=3 shared, long sum over n", 300, 2, 3, false}
	z, mu, lv, gL := mixGradInputs(r, s)
	cases = append(cases, Case{
		Name: s.name,
		Args: cpu.KernelArgs{int64(s.N), int64(s.K), int64(s.D), z, mu, lv, int64(0), gL,
			mixGarbage(r, s.nParams()), mixGarbage(r, s.nParams()), int64(0)},
		Work: s.nParams(),
	})
	return cases
}
