package cpu

import (
	"fmt"
	"math"
	"math/rand"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/kernels"
	"github.com/gmvae/gmvae/kernels/fmath"
)

// Tests of the gemm twins (gemm.go): each product against a float64 reference within
// the fma-chain bound, the assembly path against the scalar path bit for bit on many
// shapes, bad values and epilogues, worker counts, and a linear layer's gradients
// against finite differences.

// gemmOps are the three products: name, transposes, public function.
var gemmOps = []struct {
	name   string
	ta, tb bool
	f      func(a, b, bias, c []float32, m, n, k int, act kernels.Act, accumulate bool)
}{
	{"NN", false, false, GemmNN},
	{"NT", false, true, GemmNT},
	{"TN", true, false, GemmTN},
}

// gemmRand returns n floats drawn from a mix meant to exercise rounding: mostly
// normal(0, 1), and with probability bad each one of +-0, subnormal-producing tiny
// values, huge values whose products overflow, +-Inf and NaN.
func gemmRand(r *rand.Rand, n int, bad float64) []float32 {
	s := make([]float32, n)
	for i := range s {
		if r.Float64() >= bad {
			s[i] = float32(r.NormFloat64())
			continue
		}
		switch r.Intn(7) {
		case 0:
			s[i] = 0
		case 1:
			s[i] = float32(math.Copysign(0, -1))
		case 2:
			s[i] = float32(r.NormFloat64() * 1e-22) // products ~1e-44: subnormal or ±0
		case 3:
			s[i] = float32(r.NormFloat64() * 1e20) // products overflow
		case 4:
			s[i] = float32(math.Inf(1))
		case 5:
			s[i] = float32(math.Inf(-1))
		default:
			s[i] = float32(math.NaN())
		}
	}
	return s
}

// gemmOpA and gemmOpB read op(A)[i,k] and op(B)[k,j] of a product with the given transposes.
func gemmOpA(a []float32, ta bool, m, k, i, kk int) float32 {
	if ta {
		return a[kk*m+i]
	}
	return a[i*k+kk]
}

func gemmOpB(b []float32, tb bool, n, k, kk, j int) float32 {
	if tb {
		return b[j*k+kk]
	}
	return b[kk*n+j]
}

// TestGemmAgainstFloat64 checks every product (bias, accumulate, no activation)
// against a float64 reference. Bound: an fma chain of K steps from 0 has
// |err| <= gamma_K * sum_k |a_k b_k| with gamma_K = K u / (1 - K u), u = 2^-24 (each
// step rounds once, Higham 3.1); the bias and C_old additions add one rounding each
// of the running value. We allow (K+2) u (1 + 1e-3) (sum_k |a_k b_k| + |bias| + |C_old|),
// plus 2^-149 for underflow.
func TestGemmAgainstFloat64(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	const u = 1.0 / (1 << 24)
	shapes := [][3]int{{1, 1, 1}, {3, 5, 7}, {17, 33, 31}, {100, 64, 257}, {64, 100, 784}, {33, 17, 1000}, {5, 300, 16}}
	for _, op := range gemmOps {
		for _, s := range shapes {
			m, n, k := s[0], s[1], s[2]
			a, b := gemmRand(r, m*k, 0), gemmRand(r, k*n, 0)
			bias := gemmRand(r, n, 0)
			old := gemmRand(r, m*n, 0)
			c := append([]float32(nil), old...)
			op.f(a, b, bias, c, m, n, k, kernels.ActNone, true)
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					var sum, mag float64
					for kk := 0; kk < k; kk++ {
						p := float64(gemmOpA(a, op.ta, m, k, i, kk)) * float64(gemmOpB(b, op.tb, n, k, kk, j))
						sum += p
						mag += math.Abs(p)
					}
					want := float64(old[i*n+j]) + sum + float64(bias[j])
					mag += math.Abs(float64(bias[j])) + math.Abs(float64(old[i*n+j]))
					bound := float64(k+2)*u*(1+1e-3)*mag + 0x1p-149
					// LessOrEqual, not InDelta: a NaN error fails, as !(err <= bound) did.
					require.LessOrEqual(t, math.Abs(float64(c[i*n+j])-want), bound, "Gemm%s %dx%dx%d: C[%d,%d] = %v, want %v: |err| over the bound",
						op.name, m, k, n, i, j, c[i*n+j], want)
				}
			}
		}
	}
}

// gemmRun runs one product on a chosen configuration and returns C.
func gemmRun(ta, tb bool, a, b, bias, c0 []float32, m, n, k int, act kernels.Act, acc bool, cfg gemmConfig) []float32 {
	c := append([]float32(nil), c0...)
	gemm("test", ta, tb, a, b, bias, c, m, n, k, act, acc, cfg)
	return c
}

// gemmCase is one shape with its epilogue.
type gemmCase struct {
	m, n, k   int
	act       kernels.Act
	bias, acc bool
	bad       float64
}

func (g gemmCase) String() string {
	return fmt.Sprintf("m=%d n=%d k=%d act=%d bias=%v acc=%v bad=%g", g.m, g.n, g.k, g.act, g.bias, g.acc, g.bad)
}

// gemmCases returns the shapes of the path comparison: every awkward size as m, n and
// k against a few others, k = 0 and 1, k-block boundaries (gemmKC = 256 and its
// multiples), plus random shapes, each with a random epilogue.
func gemmCases(r *rand.Rand) []gemmCase {
	awk := []int{1, 3, 15, 16, 17, 31, 33, 100, 257}
	ks := []int{0, 1, 2, 7, 8, 9, 16, 33, 255, 256, 257, 513}
	var cs []gemmCase
	add := func(m, n, k int) {
		g := gemmCase{m: m, n: n, k: k, act: kernels.Act(r.Intn(6)), bias: r.Intn(2) == 0, acc: r.Intn(2) == 0}
		if r.Intn(4) == 0 {
			g.bad = 0.05
		}
		cs = append(cs, g)
	}
	for _, m := range awk {
		for _, n := range awk {
			add(m, n, ks[r.Intn(len(ks))])
		}
	}
	for _, k := range ks {
		add(awk[r.Intn(len(awk))], awk[r.Intn(len(awk))], k)
	}
	for i := 0; i < 30; i++ {
		add(1+r.Intn(130), 1+r.Intn(130), r.Intn(300))
	}
	// Large enough for several tasks and both goroutine paths.
	add(250, 300, 260)
	add(7, 700, 40)
	add(700, 7, 40)
	return cs
}

// gemmAsmConfigs are the assembly configurations this CPU can run: the AVX2 kernel
// alone and, with AVX-512, the wide kernel too, each on 1 and on 3 workers, each
// packing every panel of Y and reading a row-major Y in place whatever X's rows.
func gemmAsmConfigs() []gemmConfig {
	var cs []gemmConfig
	for _, wide := range []bool{false, true} {
		if wide && !gemmHaveAsm512 {
			continue
		}
		for _, workers := range []int{1, 3} {
			for _, direct := range []int{0, 1 << 30} {
				cs = append(cs, gemmConfig{asm: true, wide: wide, workers: workers, directRows: direct})
			}
		}
	}
	return cs
}

// TestGemmAsmMatchesScalar compares the assembly path with the scalar path bit for bit
// (NaN as a class) on every case of gemmCases for each product, in every
// configuration of gemmAsmConfigs, with every work buffer starting full of NaN.
func TestGemmAsmMatchesScalar(t *testing.T) {
	if !gemmHaveAsm {
		t.Skip("no AVX2+FMA: only the scalar path runs here")
	}
	gemmPoisonBufs = true
	defer func() { gemmPoisonBufs = false }()
	r := rand.New(rand.NewSource(2))
	for _, op := range gemmOps {
		for _, g := range gemmCases(r) {
			a, b := gemmRand(r, g.m*g.k, g.bad), gemmRand(r, g.k*g.n, g.bad)
			var bias []float32
			if g.bias {
				bias = gemmRand(r, g.n, g.bad)
			}
			c0 := gemmRand(r, g.m*g.n, g.bad)
			want := gemmRun(op.ta, op.tb, a, b, bias, c0, g.m, g.n, g.k, g.act, g.acc, gemmConfig{asm: false, workers: 2})
			for _, cfg := range gemmAsmConfigs() {
				got := gemmRun(op.ta, op.tb, a, b, bias, c0, g.m, g.n, g.k, g.act, g.acc, cfg)
				ewRequireSame(t, want, got, fmt.Sprintf("Gemm%s %v %+v", op.name, g, cfg))
			}
		}
	}
}

// TestGemmConcurrent runs many small and medium products at once from several
// goroutines, each on several workers of the shared helper pool (below the usual
// single-goroutine threshold too), and compares each with the scalar path: the
// pool's join/leave protocol must never mix up two products.
func TestGemmConcurrent(t *testing.T) {
	if !gemmHaveAsm {
		t.Skip("no AVX2+FMA")
	}
	type job struct {
		op            int
		m, n, k       int
		a, b, bias, c []float32
		want          []float32
	}
	r := rand.New(rand.NewSource(10))
	jobs := make([]job, 48)
	for i := range jobs {
		j := job{op: r.Intn(3), m: 1 + r.Intn(90), n: 1 + r.Intn(90), k: 1 + r.Intn(300)}
		j.a, j.b = gemmRand(r, j.m*j.k, 0), gemmRand(r, j.k*j.n, 0)
		j.bias, j.c = gemmRand(r, j.n, 0), gemmRand(r, j.m*j.n, 0)
		op := gemmOps[j.op]
		j.want = gemmRun(op.ta, op.tb, j.a, j.b, j.bias, j.c, j.m, j.n, j.k, 0, true, gemmConfig{workers: 1})
		jobs[i] = j
	}
	errs := make(chan error, len(jobs))
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g; i < len(jobs); i += 4 {
				j := jobs[i]
				op := gemmOps[j.op]
				for _, cfg := range gemmAsmConfigs() {
					c := append([]float32(nil), j.c...)
					gemmFast(op.ta, op.tb, j.a, j.b, j.bias, c, j.m, j.n, j.k, 0, true, gemmConfig{asm: true, wide: cfg.wide, workers: 2 + i%3, directRows: cfg.directRows})
					for e := range c {
						if !ewSame(c[e], j.want[e]) {
							errs <- fmt.Errorf("job %d Gemm%s %dx%dx%d %+v: element %d: %v, want %v", i, op.name, j.m, j.k, j.n, cfg, e, c[e], j.want[e])
							return
						}
					}
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
}

// TestGemmNTBothLayouts runs gemm_nt's fast path in both of its layouts (transposing
// B, or computing Cᵀ with A transposed) against the scalar path.
func TestGemmNTBothLayouts(t *testing.T) {
	if !gemmHaveAsm {
		t.Skip("no AVX2+FMA")
	}
	r := rand.New(rand.NewSource(3))
	for _, s := range [][3]int{{5, 200, 40}, {200, 5, 40}, {37, 41, 23}, {41, 37, 24}, {70, 100, 300}} {
		m, n, k := s[0], s[1], s[2]
		a, b, bias := gemmRand(r, m*k, 0.02), gemmRand(r, n*k, 0.02), gemmRand(r, n, 0)
		c0 := gemmRand(r, m*n, 0)
		want := gemmRun(false, true, a, b, bias, c0, m, n, k, kernels.ActTanh, true, gemmConfig{workers: 1})
		for _, layout := range []struct{ trans, wide bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
			trans := layout.trans
			if layout.wide && !gemmHaveAsm512 {
				continue
			}
			got := append([]float32(nil), c0...)
			p := gemmSpec{K: k, c: got, bias: bias, ldc: n, act: kernels.ActTanh, acc: true, yCols: true, wide: layout.wide}
			if trans {
				p.R, p.S, p.x, p.xrs, p.xcs, p.y, p.ldy, p.transOut = n, m, b, k, 1, a, k, true
			} else {
				p.R, p.S, p.x, p.xrs, p.xcs, p.y, p.ldy = m, n, a, k, 1, b, k
			}
			p.run(2)
			ewRequireSame(t, want, got, fmt.Sprintf("GemmNT %dx%dx%d %+v", m, k, n, layout))
		}
	}
}

// TestGemmEpilogue checks the epilogue's order on the default path: the activated
// result is Activate(act, ·) of the result without activation, bias is added before
// C_old, and k = 0 gives act(C_old + (+0 + bias)).
func TestGemmEpilogue(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	for _, op := range gemmOps {
		for _, k := range []int{0, 1, 19} {
			m, n := 13, 21
			a, b := gemmRand(r, m*k, 0.05), gemmRand(r, k*n, 0.05)
			bias, c0 := gemmRand(r, n, 0.05), gemmRand(r, m*n, 0.05)
			plain := make([]float32, m*n)
			op.f(a, b, nil, plain, m, n, k, kernels.ActNone, false)
			for act := kernels.ActNone; act <= kernels.ActExp; act++ {
				got := append([]float32(nil), c0...)
				op.f(a, b, bias, got, m, n, k, act, true)
				want := make([]float32, m*n)
				for i := range want {
					want[i] = fmath.Activate(act, c0[i]+(plain[i]+bias[i%n]))
				}
				ewRequireSame(t, want, got, fmt.Sprintf("Gemm%s k=%d act=%d", op.name, k, act))
			}
		}
	}
}

// TestGemmSignedZero: a chain whose products are all -0 stays +0 (fma(x, y, +0) with
// x*y = -0 is +0), while a single underflowing negative product gives -0; both paths
// must agree with that.
func TestGemmSignedZero(t *testing.T) {
	negz := float32(math.Copysign(0, -1))
	for _, cfg := range []gemmConfig{{asm: false, workers: 1}, {asm: gemmHaveAsm, workers: 1}} {
		// k = 1: -1e-30 * 1e-30 underflows to -0 in one rounding.
		c := gemmRun(false, false, []float32{-1e-30}, []float32{1e-30}, nil, []float32{5}, 1, 1, 1, 0, false, cfg)
		ewRequireSame(t, []float32{negz}, c, "underflow to -0")
		// k = 2: the second step adds +0*... to -0: (-0) + (+0) = +0.
		c = gemmRun(false, false, []float32{-1e-30, 0}, []float32{1e-30, 1}, nil, []float32{5}, 1, 1, 2, 0, false, cfg)
		ewRequireSame(t, []float32{0}, c, "-0 then +0")
		c = gemmRun(false, false, []float32{-1, 0}, []float32{0, -1}, nil, []float32{5}, 1, 1, 2, 0, false, cfg)
		ewRequireSame(t, []float32{0}, c, "products -0, -0")
	}
}

// TestColsum checks Colsum against a float64 reference (bound: a sequential sum of M
// terms has |err| <= (M-1) u sum |x|, plus one rounding of the accumulate add) and
// against the sequential definition bit for bit.
func TestColsum(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	const u = 1.0 / (1 << 24)
	for _, m := range []int{0, 1, 31, 32, 33, 257} {
		for _, n := range []int{0, 1, 31, 255, 256, 257, 600} {
			for _, acc := range []bool{false, true} {
				x := gemmRand(r, m*n, 0)
				old := gemmRand(r, n, 0)
				out := append([]float32(nil), old...)
				Colsum(x, out, m, n, acc)
				for j := 0; j < n; j++ {
					var s32 float32
					var s, mag float64
					for i := 0; i < m; i++ {
						s32 = s32 + x[i*n+j]
						s += float64(x[i*n+j])
						mag += math.Abs(float64(x[i*n+j]))
					}
					if acc {
						s32 = old[j] + s32
						s += float64(old[j])
						mag += math.Abs(float64(old[j]))
					}
					if !ewSame(s32, out[j]) {
						require.Equal(t, math.Float32bits(s32), math.Float32bits(out[j]), "Colsum m=%d n=%d acc=%v: out[%d] = %v, want %v (bits; NaN as a class)",
							m, n, acc, j, out[j], s32)
					}
					require.InDelta(t, s, float64(out[j]), float64(m+1)*u*mag, "Colsum m=%d n=%d: out[%d]", m, n, j)
				}
			}
		}
	}
	// NaN and Inf propagate as in the sequential sum.
	inf := float32(math.Inf(1))
	x := []float32{1, inf, 2, -inf, inf, 3} // columns: 1 + 2 + Inf, Inf + -Inf + 3
	out := make([]float32, 2)
	Colsum(x, out, 3, 2, false)
	require.True(t, math.IsInf(float64(out[0]), 1), "Colsum with Inf/NaN: %v: column 0 is +Inf", out)
	require.True(t, math.IsNaN(float64(out[1])), "Colsum with Inf/NaN: %v: column 1 is NaN", out)
}

// TestGemmLinearGradients checks a linear layer's backward, built from the three
// products and Colsum, against central finite differences of its float64 forward
// L(X, W, b) = sum_ij G_ij tanh((X W + b)_ij), X (N,in), W (in,out). The float32
// gradients dX = dP·Wᵀ, dW = Xᵀ·dP, db = colsum(dP) with dP = G (1 - Y²) carry
// float32 rounding; the bound is 1e-3 relative to the gradient's scale.
func TestGemmLinearGradients(t *testing.T) {
	r := rand.New(rand.NewSource(6))
	const N, in, out = 7, 5, 9
	x, w, bias := gemmRand(r, N*in, 0), gemmRand(r, in*out, 0), gemmRand(r, out, 0)
	for i := range w {
		w[i] *= 0.5
	}
	g := gemmRand(r, N*out, 0)
	loss := func(x, w, bias []float64) float64 {
		var l float64
		for i := 0; i < N; i++ {
			for j := 0; j < out; j++ {
				p := bias[j]
				for k := 0; k < in; k++ {
					p += x[i*in+k] * w[k*out+j]
				}
				l += float64(g[i*out+j]) * math.Tanh(p)
			}
		}
		return l
	}
	// Forward and backward in float32 with the twins.
	y := make([]float32, N*out)
	GemmNN(x, w, bias, y, N, out, in, kernels.ActTanh, false)
	dp := make([]float32, N*out)
	for i := range dp {
		dp[i] = float32(g[i] * fmath.ActivateGrad(kernels.ActTanh, 0, y[i]))
	}
	dx := make([]float32, N*in)
	GemmNT(dp, w, nil, dx, N, in, out, kernels.ActNone, false)
	dw := gemmRand(r, in*out, 0) // accumulate onto a known old gradient
	dw0 := append([]float32(nil), dw...)
	GemmTN(x, dp, nil, dw, in, out, N, kernels.ActNone, true)
	db := make([]float32, out)
	Colsum(dp, db, N, out, false)

	to64 := func(s []float32) []float64 {
		d := make([]float64, len(s))
		for i, v := range s {
			d[i] = float64(v)
		}
		return d
	}
	x64, w64, b64 := to64(x), to64(w), to64(bias)
	check := func(name string, v []float64, got func(i int) float64) {
		const h = 1e-5
		for i := range v {
			save := v[i]
			v[i] = save + h
			lp := loss(x64, w64, b64)
			v[i] = save - h
			lm := loss(x64, w64, b64)
			v[i] = save
			fd := (lp - lm) / (2 * h)
			assert.InDelta(t, fd, got(i), 1e-3*(1+math.Abs(fd)), "%s[%d]: twin against the finite difference", name, i)
		}
	}
	check("dX", x64, func(i int) float64 { return float64(dx[i]) })
	check("dW", w64, func(i int) float64 { return float64(dw[i]) - float64(dw0[i]) })
	check("db", b64, func(i int) float64 { return float64(db[i]) })
}

// TestGemmTwins runs the registered twins once through KernelArgs to check the
// parameter order against the kernels' (A, B, bias, C, M, N, K, act, accumulate).
func TestGemmTwins(t *testing.T) {
	for _, op := range gemmOps {
		f, err := TwinOf("gemm_" + map[string]string{"NN": "nn", "NT": "nt", "TN": "tn"}[op.name])
		require.NoError(t, err)
		// A = I (2x2), B = [[1,2],[3,4]] read per op: op(A)·op(B) + bias, accumulate.
		c := []float32{10, 20, 30, 40}
		f(KernelArgs{[]float32{1, 0, 0, 1}, []float32{1, 2, 3, 4}, []float32{100, 200}, c,
			int64(2), int64(2), int64(2), int64(0), int64(1)})
		want := []float32{111, 222, 133, 244}
		if op.tb {
			want = []float32{111, 223, 132, 244}
		}
		ewRequireSame(t, want, c, "twin gemm_"+op.name)
	}
	f, err := TwinOf("colsum")
	require.NoError(t, err)
	out := []float32{1, 1}
	f(KernelArgs{[]float32{1, 2, 3, 4}, out, int64(2), int64(2), int64(1)})
	ewRequireSame(t, []float32{5, 7}, out, "twin colsum")
}

// TestGemmPack checks the packing routines of the fast path directly (the transposing
// pack in particular) on awkward strides.
func TestGemmPack(t *testing.T) {
	if !gemmHaveAsm {
		t.Skip("no AVX2+FMA")
	}
	r := rand.New(rand.NewSource(7))
	for _, kc := range []int{8, 16, 64, 200} {
		ld := kc + 3
		src := gemmRand(r, 16*ld, 0)
		dst := make([]float32, 16*kc)
		gemmPackCols16(kc, &src[0], ld*4, &dst[0])
		for k := 0; k < kc; k++ {
			for j := 0; j < 16; j++ {
				require.Equal(t, src[j*ld+k], dst[16*k+j], "gemmPackCols16 kc=%d: dst[%d,%d]", kc, k, j)
			}
		}
		ld = 21
		src = gemmRand(r, kc*ld, 0)
		gemmPackRows16(kc, &src[1], ld*4, &dst[0], 1, 0)
		for k := 0; k < kc; k++ {
			for j := 0; j < 16; j++ {
				require.Equal(t, src[k*ld+1+j], dst[16*k+j], "gemmPackRows16 kc=%d: dst[%d,%d]", kc, k, j)
			}
		}
	}
}

// gemmBench times one product and reports GFLOP/s (2MNK per op).
func gemmBench(b *testing.B, ta, tb bool, m, k, n int, cfg gemmConfig) {
	r := rand.New(rand.NewSource(8))
	a, bb := gemmRand(r, m*k, 0), gemmRand(r, k*n, 0)
	bias, c := gemmRand(r, n, 0), make([]float32, m*n)
	gemm("bench", ta, tb, a, bb, bias, c, m, n, k, 0, false, cfg) // warm the pools
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		gemm("bench", ta, tb, a, bb, bias, c, m, n, k, 0, false, cfg)
	}
	b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkGemm times the default path (assembly on AVX2+FMA, all cores) at the
// shapes of the MNIST model's linear layers (M = batch 100) and at 1024³. Names give
// M x K x N.
func BenchmarkGemm(b *testing.B) {
	for _, s := range gemmBenchShapes {
		b.Run(s.name, func(b *testing.B) { gemmBench(b, s.ta, s.tb, s.m, s.k, s.n, gemmDefault()) })
	}
}

var gemmBenchShapes = []struct {
	name    string
	ta, tb  bool
	m, k, n int
}{
	{"NN_100x784x512", false, false, 100, 784, 512},
	{"NN_100x512x512", false, false, 100, 512, 512},
	{"NT_100x512x512", false, true, 100, 512, 512},
	{"TN_100x512x512", true, false, 100, 512, 512},
	{"NN_1024x1024x1024", false, false, 1024, 1024, 1024},
	// The first layer's backward (784 -> 512, batch 100): dX = dY·Wᵀ, dW = Xᵀ·dY.
	{"NT_100x512x784", false, true, 100, 512, 784},
	{"TN_784x100x512", true, false, 784, 100, 512},
}

// BenchmarkGemmAVX2 is BenchmarkGemm with the AVX2 microkernel only (what a CPU
// without AVX-512 runs).
func BenchmarkGemmAVX2(b *testing.B) {
	cfg := gemmDefault()
	cfg.wide = false
	for _, s := range gemmBenchShapes[:5] {
		b.Run(s.name, func(b *testing.B) { gemmBench(b, s.ta, s.tb, s.m, s.k, s.n, cfg) })
	}
}

// BenchmarkGemmOneCore is BenchmarkGemm's 1024³ and 100x512x512 NN on one goroutine
// (default kernels).
func BenchmarkGemmOneCore(b *testing.B) {
	cfg := gemmDefault()
	cfg.workers = 1
	b.Run("NN_100x512x512", func(b *testing.B) { gemmBench(b, false, false, 100, 512, 512, cfg) })
	b.Run("NN_1024x1024x1024", func(b *testing.B) { gemmBench(b, false, false, 1024, 1024, 1024, cfg) })
}

// BenchmarkGemmDirect compares, on one goroutine, packing Y with reading it in place
// (gemmConfig.directRows) at a forward layer's shapes: model A's batch of 50, model
// B's of 100, and model B's exact-marginal 1000 rows (above gemmDirectRows, where
// packing wins). Measured on the 2-core AVX-512 machine, loaded: 50x784x500 about 72
// GFLOP/s packed and 93 in place, 100x512x512 87 and 117, 1000x512x512 131 and 110.
func BenchmarkGemmDirect(b *testing.B) {
	for _, s := range [][3]int{{50, 784, 500}, {100, 512, 512}, {1000, 512, 512}} {
		for _, direct := range []bool{false, true} {
			cfg := gemmDefault()
			cfg.workers, cfg.directRows = 1, 0
			name := "packed"
			if direct {
				cfg.directRows, name = 1<<30, "in_place"
			}
			b.Run(fmt.Sprintf("NN_%dx%dx%d/%s", s[0], s[1], s[2], name), func(b *testing.B) { gemmBench(b, false, false, s[0], s[1], s[2], cfg) })
		}
	}
}

// BenchmarkGemmScalar times the portable path (fmath.FMA per step) for comparison.
func BenchmarkGemmScalar(b *testing.B) {
	cfg := gemmDefault()
	cfg.asm = false
	b.Run("NN_100x512x512", func(b *testing.B) { gemmBench(b, false, false, 100, 512, 512, cfg) })
}

// BenchmarkColsum times the bias gradient of a 100 x 512 batch.
func BenchmarkColsum(b *testing.B) {
	r := rand.New(rand.NewSource(9))
	x, out := gemmRand(r, 100*512, 0), make([]float32, 512)
	for i := 0; i < b.N; i++ {
		Colsum(x, out, 100, 512, false)
	}
}
