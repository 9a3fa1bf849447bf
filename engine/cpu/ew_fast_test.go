package cpu

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/kernels"
	"github.com/gmvae/gmvae/kernels/fmath"
	"github.com/gmvae/gmvae/kernels/philox"
)

// The vector kernels of ew_amd64.s must give the bits of the scalar loops they
// replace, on every input: these tests run both (ewAsm on and off) on random bit
// patterns, random values in the functions' interesting ranges, special values (NaN,
// +-Inf, +-0, subnormals, range boundaries) and awkward lengths, and compare bits (NaN
// as one class, DETERMINISM.md rule 8).

// ewLengths are the awkward lengths every fast path is run at.
var ewLengths = []int{0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 1000}

// ewSpecials are values at which the scalar code branches or overflows.
func ewSpecials() []float32 {
	f := math.Float32frombits
	s := []float32{
		0, f(0x80000000), 1, -1, 2, -2, 0.5, -0.5, f(0x7f800000), f(0xff800000),
		f(0x7fc00000), f(0xffc00000), f(0x7f800001), f(0x7fbfffff), f(0xffffffff),
		f(1), f(0x80000001), f(0x007fffff), f(0x807fffff), f(0x00800000), f(0x80800000),
		math.MaxFloat32, -math.MaxFloat32, 88.8, 88.72283, 88.7229, 88.80001, 89, -104,
		-103.97, -103.98, -104.00001, -87.3, -87.4, -126 * 0.6931472, -149 * 0.6931472,
		0.55, -0.55, 9.1, -9.1, 9.099999, 0.5499999, 1e-8, -1e-8, 1e-30, -1e-30, 1e30, -1e30,
		f(0x3f7fffff), f(0xbf7fffff), f(0x3f800001), f(0xbf800001), 0x1p-126, 0x1p-127,
		-0.9999999, -0.99999994, 0x1p-24, 0x1p-25, -0x1p-24, 16.635532, 1 - 0x1p-24, 0x1p-24,
		0.6931472, -0.6931472, 1.4142135, 0.70710677, 20, -20, 40, -40, 100, -100,
	}
	// Neighbours of every value.
	n := len(s)
	for i := 0; i < n; i++ {
		b := math.Float32bits(s[i])
		s = append(s, f(b+1), f(b-1))
	}
	return s
}

// ewInputs returns n values drawn from a mix of special values, random bit patterns
// and random values in [-lim, lim], logarithmically spread magnitudes included.
func ewInputs(r *rand.Rand, n int, lim float64) []float32 {
	sp := ewSpecials()
	x := make([]float32, n)
	for i := range x {
		switch r.Intn(6) {
		case 0:
			x[i] = sp[r.Intn(len(sp))]
		case 1:
			x[i] = math.Float32frombits(r.Uint32())
		case 2:
			x[i] = float32((2*r.Float64() - 1) * lim)
		case 3:
			x[i] = float32((2*r.Float64() - 1) * 2)
		case 4:
			e := r.Float64()*160 - 150
			x[i] = float32(math.Copysign(math.Exp2(e)*(1+r.Float64()), float64(r.Intn(2)*2-1)))
		default:
			x[i] = float32(r.Float64()) // (0, 1): the uniforms
		}
	}
	return x
}

// ewCheck compares the vector path's got with the scalar path's want bit for bit (NaN
// as a class, see ewSame): it reports the first five differing elements with their
// inputs, then how many differ; it does not stop the test.
func ewCheck(t *testing.T, what string, got, want []float32, in ...[]float32) {
	t.Helper()
	bad := 0
	for i := range want {
		if !ewSame(got[i], want[i]) {
			if bad < 5 {
				args := ""
				for _, s := range in {
					args += fmt.Sprintf(" %g(%#08x)", s[i], math.Float32bits(s[i]))
				}
				assert.Equal(t, math.Float32bits(want[i]), math.Float32bits(got[i]), "%s[%d]: vector %g, scalar %g (bits); inputs%s", what, i,
					got[i], want[i], args)
			}
			bad++
		}
	}
	assert.Zero(t, bad, "%s: %d of %d elements differ", what, bad, len(want))
}

// ewBoth runs f with the vector kernels and with the scalar loops.
func ewBoth(t *testing.T, f func()) {
	if !ewHaveAsm {
		t.Skip("no AVX2+FMA: the scalar loops are the only path")
	}
	defer func() { ewAsm = ewHaveAsm }()
	ewAsm = false
	f()
	ewAsm = true
	f()
}

func TestEwVecUnary(t *testing.T) {
	if !ewHaveAsm {
		t.Skip("no AVX2+FMA")
	}
	r := rand.New(rand.NewSource(1))
	ops := []struct {
		op   ewOp
		name string
		lim  float64
	}{
		{ewOpExp, "Exp", 110}, {ewOpLog, "Log", 1e6}, {ewOpLog1p, "Log1p", 4},
		{ewOpTanh, "Tanh", 12}, {ewOpSigmoid, "Sigmoid", 110}, {ewOpSoftplus, "Softplus", 30},
		{ewOpGumbel, "Gumbel", 1},
	}
	for _, o := range ops {
		lengths := append(append([]int{}, ewLengths...), 1<<18)
		for _, n := range lengths {
			x := ewInputs(r, n, o.lim)
			got := make([]float32, n)
			ewVec(o.op, x, got)
			want := make([]float32, n)
			for i, v := range x {
				want[i] = ewScalar(o.op, v)
			}
			ewCheck(t, fmt.Sprintf("%s n=%d", o.name, n), got, want, x)
			// In place.
			ewVec(o.op, x, x)
			ewCheck(t, fmt.Sprintf("%s in place n=%d", o.name, n), x, want)
		}
	}
}

// TestEwVecSweep runs every unary kernel on every special value and on a dense
// sweep of the float32 line (every 509th bit pattern: 8.4M values).
func TestEwVecSweep(t *testing.T) {
	if !ewHaveAsm {
		t.Skip("no AVX2+FMA")
	}
	step := uint32(509)
	if testing.Short() {
		step = 4093
	}
	x := ewSpecials()
	for b := uint64(0); b < 1<<32; b += uint64(step) {
		x = append(x, math.Float32frombits(uint32(b)))
	}
	got := make([]float32, len(x))
	for op := ewOpExp; op <= ewOpGumbel; op++ {
		ewVec(op, x, got)
		bad := 0
		for i, v := range x {
			if w := ewScalar(op, v); !ewSame(got[i], w) {
				if bad < 5 { // the first few only
					assert.Equal(t, math.Float32bits(w), math.Float32bits(got[i]), "op %d: f(%g = %#08x): vector against scalar (bits)", op, v, math.Float32bits(v))
				}
				bad++
			}
		}
		assert.Zero(t, bad, "op %d: %d of %d differ", op, bad, len(x))
	}
}

func TestActFwdFast(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	for _, act := range []kernels.Act{kernels.ActNone, kernels.ActRelu, kernels.ActTanh, kernels.ActSigmoid, kernels.ActSoftplus, kernels.ActExp, 9} {
		for _, n := range append(ewLengths, 1<<17+3) {
			x := ewInputs(r, n, 20)
			var outs [2][]float32
			k := 0
			ewBoth(t, func() {
				outs[k] = make([]float32, n)
				ActFwd(x, outs[k], n, act)
				k++
			})
			ewCheck(t, fmt.Sprintf("ActFwd act=%d n=%d", act, n), outs[1], outs[0], x)
		}
	}
}

func TestAdamStepFast(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for _, wd := range []float32{0, 0.01} {
		for _, n := range append(ewLengths, 23, 24, 25, 1<<17+5, 1<<17+13) {
			p0, g := ewInputs(r, n, 3), ewInputs(r, n, 3)
			m0, v0 := ewInputs(r, n, 1), ewInputs(r, n, 1)
			for i := range v0 {
				if r.Intn(3) > 0 {
					v0[i] = float32(math.Abs(float64(v0[i])))
				}
			}
			var res [2][3][]float32
			k := 0
			ewBoth(t, func() {
				p, m, v := append([]float32{}, p0...), append([]float32{}, m0...), append([]float32{}, v0...)
				bc1, bc2 := kernels.AdamBiasCorrections(0.9, 0.999, 1+k*7)
				bc1, bc2 = 0.19, 0.0029
				AdamStep(p, g, m, v, n, 1e-3, 0.9, 0.999, 1e-8, wd, bc1, bc2)
				res[k] = [3][]float32{p, m, v}
				k++
			})
			for j, name := range []string{"p", "m", "v"} {
				ewCheck(t, fmt.Sprintf("AdamStep wd=%g n=%d %s", wd, n, name), res[1][j], res[0][j], p0, g, m0, v0)
			}
		}
	}
}

// ewShapes are (rows, cols) pairs with awkward row lengths.
var ewShapes = [][2]int{{0, 5}, {1, 1}, {3, 7}, {2, 8}, {5, 9}, {1, 15}, {4, 16}, {3, 17}, {2, 31},
	{3, 33}, {2, 1000}, {100, 784}, {64, 64}}

// ewTwinCheck runs f (which returns its outputs) on both paths and compares them.
func ewTwinCheck(t *testing.T, what string, f func() [][]float32, in ...[]float32) {
	t.Helper()
	var res [2][][]float32
	k := 0
	ewBoth(t, func() { res[k] = f(); k++ })
	for j := range res[0] {
		if res[0][j] == nil {
			continue
		}
		ewCheck(t, fmt.Sprintf("%s out%d", what, j), res[1][j], res[0][j])
	}
}

func TestBernoulliFast(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	for _, sh := range ewShapes {
		rows, cols := sh[0], sh[1]
		n := rows * cols
		x := ewInputs(r, n, 1)
		for i := range x {
			if r.Intn(4) > 0 {
				x[i] = float32(r.Intn(2)) // mostly binary pixels
			}
		}
		l := ewInputs(r, n, 30)
		g := ewInputs(r, rows, 2)
		old := ewInputs(r, n, 2)
		name := fmt.Sprintf("%dx%d", rows, cols)
		ewTwinCheck(t, "BernoulliLoglik "+name, func() [][]float32 {
			out := make([]float32, rows)
			BernoulliLoglik(x, l, out, rows, cols)
			return [][]float32{out}
		})
		for _, acc := range []bool{false, true} {
			ewTwinCheck(t, fmt.Sprintf("BernoulliLoglikBwd %s acc=%v", name, acc), func() [][]float32 {
				d := append([]float32{}, old...)
				BernoulliLoglikBwd(x, l, g, d, rows, cols, acc)
				return [][]float32{d}
			})
		}
	}
}

func TestGaussianFast(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	for _, sh := range ewShapes {
		rows, cols := sh[0], sh[1]
		n := rows * cols
		x, mu, lv := ewInputs(r, n, 5), ewInputs(r, n, 5), ewInputs(r, n, 200)
		for i := range mu {
			if r.Intn(8) == 0 {
				mu[i] = x[i] // s = +0
			}
		}
		g := ewInputs(r, rows, 2)
		old1, old2 := ewInputs(r, n, 2), ewInputs(r, n, 2)
		name := fmt.Sprintf("%dx%d", rows, cols)
		ewTwinCheck(t, "GaussianLoglik "+name, func() [][]float32 {
			out := make([]float32, rows)
			GaussianLoglik(x, mu, lv, out, rows, cols)
			return [][]float32{out}
		})
		for _, acc := range []bool{false, true} {
			for mask := 0; mask < 4; mask++ {
				ewTwinCheck(t, fmt.Sprintf("GaussianLoglikBwd %s acc=%v mask=%d", name, acc, mask), func() [][]float32 {
					var dmu, dlv []float32
					if mask&1 != 0 {
						dmu = append([]float32{}, old1...)
					}
					if mask&2 != 0 {
						dlv = append([]float32{}, old2...)
					}
					GaussianLoglikBwd(x, mu, lv, g, dmu, dlv, rows, cols, acc)
					return [][]float32{dmu, dlv}
				})
			}
		}
	}
}

func TestRandomFast(t *testing.T) {
	r := rand.New(rand.NewSource(6))
	for _, n := range append(ewLengths, 1<<17+1) {
		m, lv := ewInputs(r, n, 5), ewInputs(r, n, 200)
		dz := ewInputs(r, n, 3)
		old1, old2 := ewInputs(r, n, 2), ewInputs(r, n, 2)
		seed, stream := r.Uint64(), r.Uint64()
		ewTwinCheck(t, fmt.Sprintf("Reparam n=%d", n), func() [][]float32 {
			eps, z := make([]float32, n), make([]float32, n)
			Reparam(m, lv, eps, z, n, seed, stream)
			return [][]float32{eps, z}
		})
		ewTwinCheck(t, fmt.Sprintf("Gumbel n=%d", n), func() [][]float32 {
			out := make([]float32, n)
			Gumbel(out, n, seed, stream)
			return [][]float32{out}
		})
		eps := make([]float32, n)
		RandNormal(eps, n, seed, stream)
		for _, acc := range []bool{false, true} {
			for mask := 0; mask < 4; mask++ {
				ewTwinCheck(t, fmt.Sprintf("ReparamBwd n=%d acc=%v mask=%d", n, acc, mask), func() [][]float32 {
					var dm, dlv []float32
					if mask&1 != 0 {
						dm = append([]float32{}, old1...)
					}
					if mask&2 != 0 {
						dlv = append([]float32{}, old2...)
					}
					ReparamBwd(lv, eps, dz, dm, dlv, n, acc)
					return [][]float32{dm, dlv}
				})
			}
		}
	}
}

func TestActBwdFast(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	for _, act := range []kernels.Act{kernels.ActNone, kernels.ActRelu} {
		for _, n := range append(ewLengths, 1<<18+3) {
			x, dy, old := ewInputs(r, n, 3), ewInputs(r, n, 3), ewInputs(r, n, 3)
			for _, acc := range []bool{false, true} {
				// The specialised loops against the generic one (ActivateGrad).
				got := append([]float32{}, old...)
				ActBwd(x, nil, dy, got, n, act, acc)
				want := append([]float32{}, old...)
				for i := range want {
					v := float32(dy[i] * fmath.ActivateGrad(act, x[i], fmath.Activate(act, x[i])))
					if acc {
						v = want[i] + v
					}
					want[i] = v
				}
				ewCheck(t, fmt.Sprintf("ActBwd act=%d n=%d acc=%v", act, n, acc), got, want, x, dy)
			}
		}
	}
}

func TestEwFillFast(t *testing.T) {
	for _, v := range []float32{0, float32(math.Copysign(0, -1)), 1.5, float32(math.NaN())} {
		for _, n := range append(ewLengths, 1<<19+1) {
			y := make([]float32, n+1)
			for i := range y {
				y[i] = 7
			}
			EwFill(y, n, v)
			for i := 0; i < n; i++ {
				require.Equal(t, math.Float32bits(v), math.Float32bits(y[i]), "EwFill(%g) n=%d: y[%d] = %g (bits)", v, n, i, y[i])
			}
			require.Equal(t, float32(7), y[n], "EwFill n=%d wrote past n", n)
		}
	}
}

func TestPhiloxFast(t *testing.T) {
	r := rand.New(rand.NewSource(8))
	for _, n := range append(ewLengths, 32, 63, 64, 65, 1<<16+7) {
		seed, stream := r.Uint64(), r.Uint64()
		p := ewInputs(r, n, 1)
		ewTwinCheck(t, fmt.Sprintf("RandUniform n=%d", n), func() [][]float32 {
			out := make([]float32, n)
			RandUniform(out, n, seed, stream)
			return [][]float32{out}
		})
		ewTwinCheck(t, fmt.Sprintf("RandNormal n=%d", n), func() [][]float32 {
			out := make([]float32, n)
			RandNormal(out, n, seed, stream)
			return [][]float32{out}
		})
		ewTwinCheck(t, fmt.Sprintf("Binarize n=%d", n), func() [][]float32 {
			out := make([]float32, n)
			Binarize(p, out, n, seed, stream)
			return [][]float32{out}
		})
	}
	if !ewHaveAsm {
		return
	}
	// The kernels at block numbers with a nonzero high word, up to the low word's end.
	for _, b0 := range []uint64{0, 8, 5<<32 | 0xfffffff0, 0xffffffff_fffffff0} {
		seed, stream := r.Uint64(), r.Uint64()
		for _, normal := range []bool{false, true} {
			got := make([]float32, 64)
			k := philoxUniform8
			gen := philox.Uniform4
			if normal {
				k, gen = philoxNormal8, philox.Normal4
			}
			k(&got[0], 16, uint32(seed), uint32(seed>>32), uint32(b0), uint32(b0>>32), uint32(stream), uint32(stream>>32))
			want := make([]float32, 64)
			for j := 0; j < 16; j++ {
				v := gen(philox.Block(seed, stream, b0+uint64(j)))
				copy(want[4*j:], v[:])
			}
			ewCheck(t, fmt.Sprintf("philox normal=%v b0=%#x", normal, b0), got, want)
		}
	}
}

func TestMixtureFast(t *testing.T) {
	r := rand.New(rand.NewSource(9))
	for _, sh := range [][3]int{{1, 1, 1}, {3, 2, 7}, {2, 3, 8}, {5, 1, 9}, {4, 16, 17}, {2, 4, 33}, {33, 10, 64}, {7, 16, 200}, {2, 64, 31}} {
		N, K, D := sh[0], sh[1], sh[2]
		for _, perSample := range []bool{false, true} {
			stride := 0
			np := K * D
			if perSample {
				stride, np = K*D, N*K*D
			}
			z := ewInputs(r, N*D, 4)
			mu, lv := ewInputs(r, np, 4), ewInputs(r, np, 8)
			if r.Intn(2) == 0 { // mostly tame values, so that rows are not all NaN
				for i := range lv {
					lv[i] = float32(r.NormFloat64())
					mu[i] = float32(r.NormFloat64())
				}
				for i := range z {
					z[i] = float32(r.NormFloat64())
				}
			}
			logpi := ewInputs(r, N*K, 3)
			for _, piStride := range []int{0, K} {
				name := fmt.Sprintf("N=%d K=%d D=%d perSample=%v piStride=%d", N, K, D, perSample, piStride)
				ewTwinCheck(t, "MixtureLoglik "+name, func() [][]float32 {
					L, lse, resp := make([]float32, N*K), make([]float32, N), make([]float32, N*K)
					MixtureLoglik(N, K, D, z, mu, lv, stride, logpi, piStride, L, lse, resp)
					return [][]float32{L, lse, resp}
				})
			}
		}
		x := ewInputs(r, N*K, 50)
		ewTwinCheck(t, fmt.Sprintf("LseSoftmax N=%d K=%d", N, K), func() [][]float32 {
			lse, resp := make([]float32, N), make([]float32, N*K)
			LseSoftmax(N, K, x, lse, resp)
			return [][]float32{lse, resp}
		})
	}
}

func TestSum32SliceFast(t *testing.T) {
	r := rand.New(rand.NewSource(10))
	for _, n := range append(ewLengths, 24, 32, 40, 63, 64, 65, 784, 4097) {
		x := ewInputs(r, n, 1e3)
		if r.Intn(2) == 0 {
			for i := range x {
				x[i] = float32(r.NormFloat64())
			}
		}
		want := Sum32(n, func(i int) float32 { return x[i] })
		var got [2]float32
		k := 0
		ewBoth(t, func() { got[k] = sum32Slice(x); k++ })
		ewCheck(t, fmt.Sprintf("sum32Slice n=%d", n), got[:], []float32{want, want})
	}
}

func TestKlAndActBwdFast(t *testing.T) {
	r := rand.New(rand.NewSource(11))
	for _, sh := range [][3]int{{1, 1, 1}, {3, 2, 7}, {2, 3, 8}, {5, 1, 9}, {4, 16, 17}, {2, 4, 33}, {7, 16, 200}} {
		N, K, D := sh[0], sh[1], sh[2]
		for _, perSample := range []bool{false, true} {
			stride, np := 0, K*D
			if perSample {
				stride, np = K*D, N*K*D
			}
			m, s := ewInputs(r, N*D, 4), ewInputs(r, N*D, 8)
			mu, lv := ewInputs(r, np, 4), ewInputs(r, np, 8)
			ewTwinCheck(t, fmt.Sprintf("KlMixture N=%d K=%d D=%d perSample=%v", N, K, D, perSample), func() [][]float32 {
				kl := make([]float32, N*K)
				KlMixture(N, K, D, m, s, mu, lv, stride, kl)
				return [][]float32{kl}
			})
		}
	}
	for _, act := range []kernels.Act{kernels.ActTanh, kernels.ActSigmoid, kernels.ActSoftplus, kernels.ActExp} {
		for _, n := range append(ewLengths, 1<<17+3) {
			x, dy, old := ewInputs(r, n, 20), ewInputs(r, n, 3), ewInputs(r, n, 3)
			y := make([]float32, n)
			ActFwd(x, y, n, act)
			for _, acc := range []bool{false, true} {
				for _, withY := range []bool{false, true} {
					yy := y
					if !withY {
						yy = nil
					}
					ewTwinCheck(t, fmt.Sprintf("ActBwd act=%d n=%d acc=%v y=%v", act, n, acc, withY), func() [][]float32 {
						d := append([]float32{}, old...)
						ActBwd(x, yy, dy, d, n, act, acc)
						return [][]float32{d}
					})
				}
			}
		}
	}
}

func TestMixtureKlBwdFast(t *testing.T) {
	r := rand.New(rand.NewSource(12))
	for _, sh := range [][3]int{{1, 1, 1}, {3, 2, 7}, {2, 3, 8}, {5, 1, 9}, {4, 16, 17}, {2, 4, 33}, {7, 10, 200}} {
		N, K, D := sh[0], sh[1], sh[2]
		for _, perSample := range []bool{false, true} {
			stride, np := 0, K*D
			if perSample {
				stride, np = K*D, N*K*D
			}
			z, s := ewInputs(r, N*D, 4), ewInputs(r, N*D, 8)
			mu, lv := ewInputs(r, np, 4), ewInputs(r, np, 8)
			g := ewInputs(r, N*K, 2)
			o1, o2, o3, o4 := ewInputs(r, N*D, 2), ewInputs(r, N*D, 2), ewInputs(r, np, 2), ewInputs(r, np, 2)
			name := fmt.Sprintf("N=%d K=%d D=%d perSample=%v", N, K, D, perSample)
			for _, acc := range []bool{false, true} {
				ewTwinCheck(t, fmt.Sprintf("MixtureBwdZ %s acc=%v", name, acc), func() [][]float32 {
					dz := append([]float32{}, o1...)
					MixtureBwdZ(N, K, D, z, mu, lv, stride, g, dz, acc)
					return [][]float32{dz}
				})
				for mask := 1; mask < 4; mask++ {
					pick := func(bit int, o []float32) []float32 {
						if mask&bit == 0 {
							return nil
						}
						return append([]float32{}, o...)
					}
					ewTwinCheck(t, fmt.Sprintf("MixtureBwdParams %s acc=%v mask=%d", name, acc, mask), func() [][]float32 {
						dmu, dlv := pick(1, o3), pick(2, o4)
						MixtureBwdParams(N, K, D, z, mu, lv, stride, g, dmu, dlv, acc)
						return [][]float32{dmu, dlv}
					})
					ewTwinCheck(t, fmt.Sprintf("KlMixtureBwd q %s acc=%v mask=%d", name, acc, mask), func() [][]float32 {
						dm, ds := pick(1, o1), pick(2, o2)
						KlMixtureBwd(N, K, D, z, s, mu, lv, stride, g, dm, ds, acc, nil, nil, false)
						return [][]float32{dm, ds}
					})
					ewTwinCheck(t, fmt.Sprintf("KlMixtureBwd p %s acc=%v mask=%d", name, acc, mask), func() [][]float32 {
						dmu, dlv := pick(1, o3), pick(2, o4)
						KlMixtureBwd(N, K, D, z, s, mu, lv, stride, g, nil, nil, false, dmu, dlv, acc)
						return [][]float32{dmu, dlv}
					})
				}
			}
		}
	}
}

// BenchmarkVectorKernels times the twins with fast paths on both paths (scalar: the
// vector kernels switched off) at the sizes of model B's step (batch 100, 2.1M
// parameters) and model A's mixture (N=1024, K=16, D=200).
func BenchmarkVectorKernels(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	const np = 1 << 21
	p, g, m, v := seqUniform(np, 1, 1), seqUniform(np, 2, 2), make([]float32, np), make([]float32, np)
	const rows, cols = 100, 784
	x, l := make([]float32, rows*cols), ewRandSlice(r, rows*cols, -8, 8)
	for i := range x {
		x[i] = float32(r.Intn(2))
	}
	out, gr, dl := make([]float32, rows), ewRandSlice(r, rows, -1, 1), make([]float32, rows*cols)
	h := ewRandSlice(r, 1<<18, -5, 5)
	hy := make([]float32, len(h))
	const N, K, D = 1024, 16, 200
	in := mixNewIn(r, N, K, D, false, true, false, -2, 2)
	L, lse, resp := make([]float32, N*K), make([]float32, N), make([]float32, N*K)
	cases := []struct {
		name string
		f    func(i int)
	}{
		{"AdamStep/2M", func(i int) { AdamStep(p, g, m, v, np, 1e-3, 0.9, 0.999, 1e-8, 0, 0.1, 0.001) }},
		{"BernoulliLoglik/100x784", func(i int) { BernoulliLoglik(x, l, out, rows, cols) }},
		{"BernoulliLoglikBwd/100x784", func(i int) { BernoulliLoglikBwd(x, l, gr, dl, rows, cols, false) }},
		{"ActFwd/tanh/256K", func(i int) { ActFwd(h, hy, len(h), kernels.ActTanh) }},
		{"ActBwd/relu/256K", func(i int) { ActBwd(h, nil, h, hy, len(h), kernels.ActRelu, false) }},
		{"Binarize/100x784", func(i int) { Binarize(l, dl, rows*cols, 1, uint64(i)) }},
		{"RandNormal/100x784", func(i int) { RandNormal(dl, rows*cols, 1, uint64(i)) }},
		{"MixtureLoglik/shared", func(i int) {
			MixtureLoglik(N, K, D, in.z, in.mu, in.lv, in.ps, in.logpi, in.pis, L, lse, resp)
		}},
	}
	for _, c := range cases {
		for _, vec := range []bool{false, true} {
			name := c.name + "/scalar"
			if vec {
				name = c.name + "/vector"
			}
			b.Run(name, func(b *testing.B) {
				if vec && !ewHaveAsm {
					b.Skip("no AVX2+FMA")
				}
				defer SetVectorKernels(SetVectorKernels(vec))
				for i := 0; i < b.N; i++ {
					c.f(i)
				}
			})
		}
	}
}
