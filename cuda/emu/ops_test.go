package emu

import (
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"math/rand"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/cuda"
)

// Instruction edge cases on hand-written PTX. Each test wraps a few instructions in a
// kernel that loads three 64-bit inputs a, b, c per thread (with 32-bit, f32 and f64
// views), runs the body, and stores the 64-bit %rd11. References are computed
// independently: exact rational arithmetic (math/big) for floats, the PTX ISA's
// definitions written out plainly for integers.

const opTemplate = `
.version 7.8
.target sm_70
.address_size 64
.visible .entry t(.param .u64 pa, .param .u64 pb, .param .u64 pc, .param .u64 pd, .param .u32 pn)
{
	.reg .pred %p<8>;
	.reg .b16 %rs<8>;
	.reg .b32 %r<16>;
	.reg .b64 %rd<16>;
	.reg .f32 %f<8>;
	.reg .f64 %fd<8>;
	ld.param.u64 %rd1, [pa];
	ld.param.u64 %rd2, [pb];
	ld.param.u64 %rd3, [pc];
	ld.param.u64 %rd4, [pd];
	ld.param.u32 %r15, [pn];
	mov.u32 %r14, %tid.x;
	setp.ge.u32 %p7, %r14, %r15;
	@%p7 bra DONE;
	mul.wide.u32 %rd5, %r14, 8;
	add.s64 %rd1, %rd1, %rd5;
	add.s64 %rd2, %rd2, %rd5;
	add.s64 %rd3, %rd3, %rd5;
	add.s64 %rd4, %rd4, %rd5;
	ld.global.u64 %rd8, [%rd1];
	ld.global.u64 %rd9, [%rd2];
	ld.global.u64 %rd10, [%rd3];
	cvt.u32.u64 %r1, %rd8;
	cvt.u32.u64 %r2, %rd9;
	cvt.u32.u64 %r3, %rd10;
	mov.b32 %f1, %r1;
	mov.b32 %f2, %r2;
	mov.b32 %f3, %r3;
	mov.b64 %fd1, %rd8;
	mov.b64 %fd2, %rd9;
	mov.b64 %fd3, %rd10;
	cvt.u16.u32 %rs1, %r1;
	cvt.u16.u32 %rs2, %r2;
	mov.u64 %rd11, 0;
BODY
	st.global.u64 [%rd4], %rd11;
DONE:
	ret;
}
`

// Result moves for the common destination registers.
const (
	resF32  = "\n\tmov.b32 %r4, %f4;\n\tcvt.u64.u32 %rd11, %r4;"
	resR32  = "\n\tcvt.u64.u32 %rd11, %r4;"
	resPred = "\n\tselp.u64 %rd11, 1, 0, %p1;"
	resF64  = "\n\tmov.b64 %rd11, %fd4;"
)

// evalPTX runs body on every input triple and returns the %rd11 values.
func evalPTX(t *testing.T, body string, in [][3]uint64) []uint64 {
	t.Helper()
	d := New(Options{})
	defer d.Close()
	m, err := d.LoadModule("ops", strings.Replace(opTemplate, "BODY", body, 1))
	require.NoError(t, err, "%s", body)
	f, _ := m.Function("t")
	out := make([]uint64, 0, len(in))
	for start := 0; start < len(in); start += 1024 {
		chunk := in[start:min(start+1024, len(in))]
		n := len(chunk)
		a, b, c := make([]uint64, n), make([]uint64, n), make([]uint64, n)
		for i, x := range chunk {
			a[i], b[i], c[i] = x[0], x[1], x[2]
		}
		pd := zeros[uint64](t, d, n)
		pa, pb, pc := upload(t, d, a), upload(t, d, b), upload(t, d, c)
		require.NoError(t, d.Launch(f, d1(1), d1((n+31)/32*32), 0, nil, cuda.Ptr(pa), cuda.Ptr(pb), cuda.Ptr(pc), cuda.Ptr(pd), cuda.U64(uint64(n))), "%s", body)
		out = append(out, download[uint64](t, d, pd, n)...)
		for _, p := range []cuda.DevicePtr{pa, pb, pc, pd} {
			d.Free(p)
		}
	}
	return out
}

// ---- float inputs and exact references -----------------------------------------------

var specialF32 = []float32{0, float32(math.Copysign(0, -1)), 1, -1, 1.5, 3, 1.0 / 3, -2.5,
	math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32,
	0x1p-126, -0x1p-126, 0x1.fffffcp-127, 0x1p-140, 0x1p127, 16777216, 16777217 - 1, 0.5, 2.5, -3.5,
	float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1e-30, -7e25}

func f32Inputs(r *rand.Rand, n int, ternary bool) [][3]uint64 {
	var in [][3]uint64
	w := func(x float32) uint64 { return uint64(math.Float32bits(x)) }
	for _, a := range specialF32 {
		for _, b := range specialF32 {
			c := specialF32[r.Intn(len(specialF32))]
			in = append(in, [3]uint64{w(a), w(b), w(c)})
		}
	}
	rnd := func() float32 {
		switch r.Intn(4) {
		case 0:
			return math.Float32frombits(r.Uint32())
		case 1:
			return math.Float32frombits(r.Uint32() & 0x80ffffff) // tiny and subnormal
		case 2:
			return float32(r.Intn(1<<13)-1<<12) * float32(math.Ldexp(1, r.Intn(30)-15)) // exact sums, ties
		}
		return float32(r.NormFloat64() * math.Ldexp(1, r.Intn(80)-40))
	}
	for i := 0; i < n; i++ {
		a, b, c := rnd(), rnd(), rnd()
		if ternary && r.Intn(3) == 0 { // near-cancellation of a*b+c
			c = -float32(float64(a)*float64(b)) * (1 + float32(r.Intn(3)-1)*0x1p-23)
		}
		in = append(in, [3]uint64{w(a), w(b), w(c)})
	}
	return in
}

// refRound rounds the exact finite nonzero value x to float32 (single) or float64
// by mode "rn", "rz", "rm", "rp", choosing among the neighbours of the nearest value.
func refRound(x *big.Float, mode string, single bool) float64 {
	maxv := math.MaxFloat64
	if single {
		maxv = math.MaxFloat32
	}
	var near float64
	if single {
		f, _ := x.Float32()
		near = float64(f)
	} else {
		near, _ = x.Float64()
	}
	if mode == "rn" {
		return near
	}
	next := func(v, dir float64) float64 {
		if single {
			return float64(math.Nextafter32(float32(v), float32(dir)))
		}
		return math.Nextafter(v, dir)
	}
	var cands []float64
	for _, c := range []float64{next(near, math.Inf(-1)), near, next(near, math.Inf(1))} {
		if !math.IsInf(c, 0) {
			cands = append(cands, c)
		}
	}
	cands = append(cands, maxv, -maxv, math.Inf(1), math.Inf(-1))
	cmp := func(c float64) int { // c vs x
		if math.IsInf(c, 1) {
			return 1
		}
		if math.IsInf(c, -1) {
			return -1
		}
		return new(big.Float).SetFloat64(c).Cmp(x)
	}
	best := math.NaN()
	for _, c := range cands {
		k := cmp(c)
		switch mode {
		case "rm":
			if k <= 0 && (best != best || c > best) {
				best = c
			}
		case "rp":
			if k >= 0 && (best != best || c < best) {
				best = c
			}
		case "rz":
			if x.Sign() > 0 && k <= 0 && (best != best || c > best) && !math.IsInf(c, 0) {
				best = c
			}
			if x.Sign() < 0 && k >= 0 && (best != best || c < best) && !math.IsInf(c, 0) {
				best = c
			}
		}
	}
	return best
}

// refArith computes op ("add", "sub", "mul", "fma", "div", "sqrt") exactly and
// rounds it; NaN/Inf operands and exact zeros follow IEEE 754.
func refArith(op, mode string, single bool, x, y, z float64) float64 {
	var native float64 // IEEE results for the special cases, from float64 arithmetic
	switch op {
	case "add":
		native = x + y
	case "sub":
		native = x - y
	case "mul":
		native = x * y
	case "fma":
		native = math.FMA(x, y, z)
	case "div":
		native = x / y
	case "sqrt":
		native = math.Sqrt(x)
	}
	if op != "fma" {
		z = 0
	}
	if op == "sqrt" {
		y = 1
	}
	if math.IsNaN(native) || math.IsInf(x, 0) || math.IsInf(y, 0) || math.IsInf(z, 0) || (op == "div" && y == 0) || (op == "sqrt" && x < 0) {
		if single {
			return float64(float32(native))
		}
		return native
	}
	const prec = 3000
	bx := new(big.Float).SetPrec(prec).SetFloat64(x)
	by := new(big.Float).SetPrec(prec).SetFloat64(y)
	bz := new(big.Float).SetPrec(prec).SetFloat64(z)
	r := new(big.Float).SetPrec(prec)
	switch op {
	case "add":
		r.Add(bx, by)
	case "sub":
		r.Sub(bx, by)
	case "mul":
		r.Mul(bx, by)
	case "fma":
		r.Add(r.Mul(bx, by), bz)
	case "div":
		r.Quo(bx, by)
	case "sqrt":
		r.Sqrt(bx)
	}
	if r.Sign() == 0 {
		// Exact zero: a product's sign is the xor of the signs; a sum of opposite
		// signs (or of zeros of different signs) is +0, or -0 when rounding down.
		neg := false
		switch op {
		case "mul":
			neg = math.Signbit(x) != math.Signbit(y)
		case "sqrt":
			neg = math.Signbit(x)
		case "div":
			neg = math.Signbit(x) != math.Signbit(y)
		default:
			p, q := x, y
			if op == "sub" {
				q = -y
			}
			if op == "fma" {
				pneg := math.Signbit(x) != math.Signbit(y)
				p = math.Copysign(0, 1)
				if pneg {
					p = math.Copysign(0, -1)
				}
				if x*y != 0 {
					p = x * y // nonzero product cancelled by z: signs differ
				}
				q = z
			}
			if p == 0 && q == 0 && math.Signbit(p) && math.Signbit(q) {
				neg = true
			} else if p == 0 && q == 0 && !math.Signbit(p) && !math.Signbit(q) {
				neg = false
			} else {
				neg = mode == "rm"
			}
		}
		if neg {
			return math.Copysign(0, -1)
		}
		return 0
	}
	return refRound(r, mode, single)
}

func sameFloat(a, b float64) bool {
	if a != a || b != b {
		return a != a && b != b
	}
	return math.Float64bits(a) == math.Float64bits(b)
}

func TestFloat32Arithmetic(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for _, op := range []string{"add", "sub", "mul", "fma", "div", "sqrt"} {
		modes := []string{"rn", "rz", "rm", "rp"}
		if op == "div" || op == "sqrt" {
			modes = []string{"rn"}
		}
		in := f32Inputs(r, 3000, op == "fma")
		for _, mode := range modes {
			var body string
			switch op {
			case "fma":
				body = fmt.Sprintf("\tfma.%s.f32 %%f4, %%f1, %%f2, %%f3;", mode)
			case "sqrt":
				body = "\tsqrt.rn.f32 %f4, %f1;"
			default:
				body = fmt.Sprintf("\t%s.%s.f32 %%f4, %%f1, %%f2;", op, mode)
			}
			got := evalPTX(t, body+resF32, in)
			bad := 0
			for i, x := range in {
				a, b, c := float64(f32(x[0])), float64(f32(x[1])), float64(f32(x[2]))
				want := refArith(op, mode, true, a, b, c)
				g := float64(f32(got[i]))
				if !sameFloat(g, want) {
					if bad < 5 { // the first few only
						assert.Equal(t, math.Float64bits(want), math.Float64bits(g), "%s.%s.f32(%g, %g, %g) = %g (%#08x), want %g (%#08x) (bits; NaN as a class)",
							op, mode, a, b, c, g, uint32(got[i]), want, math.Float32bits(float32(want)))
					}
					bad++
				}
			}
		}
	}
}

func TestFloat64Arithmetic(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	var in [][3]uint64
	sp := []float64{0, math.Copysign(0, -1), 1, -1, 3, 1.0 / 3, math.MaxFloat64, math.SmallestNonzeroFloat64, 0x1p-1022, math.Inf(1), math.NaN()}
	for _, a := range sp {
		for _, b := range sp {
			in = append(in, [3]uint64{math.Float64bits(a), math.Float64bits(b), math.Float64bits(sp[r.Intn(len(sp))])})
		}
	}
	for i := 0; i < 1500; i++ {
		in = append(in, [3]uint64{r.Uint64(), math.Float64bits(r.NormFloat64() * 1e10), math.Float64bits(r.NormFloat64())})
	}
	for _, c := range []struct{ op, body string }{
		{"add", "add.rn.f64 %fd4, %fd1, %fd2;"},
		{"sub", "sub.rn.f64 %fd4, %fd1, %fd2;"},
		{"mul", "mul.rn.f64 %fd4, %fd1, %fd2;"},
		{"fma", "fma.rn.f64 %fd4, %fd1, %fd2, %fd3;"},
		{"div", "div.rn.f64 %fd4, %fd1, %fd2;"},
		{"sqrt", "sqrt.rn.f64 %fd4, %fd1;"},
	} {
		got := evalPTX(t, "\t"+c.body+resF64, in)
		for i, x := range in {
			want := refArith(c.op, "rn", false, f64(x[0]), f64(x[1]), f64(x[2]))
			if !sameFloat(f64(got[i]), want) {
				require.Equal(t, math.Float64bits(want), got[i], "%s(%g, %g, %g) = %g, want %g (bits; NaN as a class)", c.body, f64(x[0]), f64(x[1]), f64(x[2]), f64(got[i]), want)
			}
		}
	}
}

func TestFloat32Misc(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	in := f32Inputs(r, 500, false)
	isNaN := func(x float32) bool { return x != x }
	check := func(name, body string, ref func(a, b float32) uint64) {
		got := evalPTX(t, body, in)
		for i, x := range in {
			a, b := f32(x[0]), f32(x[1])
			want := ref(a, b)
			if got[i] != want && !(isNaN(f32(got[i])) && isNaN(f32(want)) && strings.Contains(body, "%f4")) {
				require.Equal(t, want, got[i], "%s(%g, %g) (bits; float NaNs as a class)", name, a, b)
			}
		}
	}
	bitsOf := func(x float32) uint64 { return uint64(math.Float32bits(x)) }
	check("min", "\tmin.f32 %f4, %f1, %f2;"+resF32, func(a, b float32) uint64 {
		switch {
		case isNaN(a):
			return bitsOf(b)
		case isNaN(b):
			return bitsOf(a)
		case a == 0 && b == 0: // -0 < +0
			if math.Signbit(float64(a)) {
				return bitsOf(a)
			}
			return bitsOf(b)
		}
		return bitsOf(float32(math.Min(float64(a), float64(b))))
	})
	check("max", "\tmax.f32 %f4, %f1, %f2;"+resF32, func(a, b float32) uint64 {
		switch {
		case isNaN(a):
			return bitsOf(b)
		case isNaN(b):
			return bitsOf(a)
		case a == 0 && b == 0:
			if !math.Signbit(float64(a)) {
				return bitsOf(a)
			}
			return bitsOf(b)
		}
		return bitsOf(float32(math.Max(float64(a), float64(b))))
	})
	check("neg", "\tneg.f32 %f4, %f1;"+resF32, func(a, b float32) uint64 { return bitsOf(a) ^ 0x80000000 })
	check("abs", "\tabs.f32 %f4, %f1;"+resF32, func(a, b float32) uint64 { return bitsOf(a) &^ 0x80000000 })
	check("rcp", "\trcp.rn.f32 %f4, %f2;"+resF32, func(a, b float32) uint64 {
		return bitsOf(float32(refArith("div", "rn", true, 1, float64(b), 0)))
	})
	check("copysign", "\tcopysign.f32 %f4, %f1, %f2;"+resF32, func(a, b float32) uint64 {
		return bitsOf(b)&^0x80000000 | bitsOf(a)&0x80000000
	})
	check("selp", "\tsetp.lt.f32 %p1, %f1, %f2;\n\tselp.f32 %f4, %f1, %f2, %p1;"+resF32, func(a, b float32) uint64 {
		if a < b {
			return bitsOf(a)
		}
		return bitsOf(b)
	})
	// Every comparison, with its NaN rule.
	cmps := map[string]func(a, b float64) bool{
		"eq": func(a, b float64) bool { return a == b }, "ne": func(a, b float64) bool { return a != b && a == a && b == b },
		"lt": func(a, b float64) bool { return a < b }, "le": func(a, b float64) bool { return a <= b },
		"gt": func(a, b float64) bool { return a > b }, "ge": func(a, b float64) bool { return a >= b },
		"equ": func(a, b float64) bool { return a != a || b != b || a == b }, "neu": func(a, b float64) bool { return a != b },
		"ltu": func(a, b float64) bool { return a != a || b != b || a < b }, "leu": func(a, b float64) bool { return a != a || b != b || a <= b },
		"gtu": func(a, b float64) bool { return a != a || b != b || a > b }, "geu": func(a, b float64) bool { return a != a || b != b || a >= b },
		"num": func(a, b float64) bool { return a == a && b == b }, "nan": func(a, b float64) bool { return a != a || b != b },
	}
	for name, f := range cmps {
		f := f
		check("setp."+name, fmt.Sprintf("\tsetp.%s.f32 %%p1, %%f1, %%f2;", name)+resPred, func(a, b float32) uint64 {
			return b2u(f(float64(a), float64(b)))
		})
	}
	// setp with a boolean combination and two destinations.
	check("setp.and", "\tsetp.gt.f32 %p2, %f2, 0f00000000;\n\tsetp.lt.and.f32 %p1|%p3, %f1, 0f3F800000, !%p2;\n\tselp.u64 %rd11, 1, 0, %p1;\n\tselp.u64 %rd12, 2, 0, %p3;\n\tadd.s64 %rd11, %rd11, %rd12;",
		func(a, b float32) uint64 {
			c := !(b > 0)
			return b2u(a < 1 && c) + 2*b2u(!(a < 1) && c)
		})
	tests := map[string]func(x float64) bool{
		"finite": func(x float64) bool { return !math.IsInf(x, 0) && x == x }, "infinite": func(x float64) bool { return math.IsInf(x, 0) },
		"number": func(x float64) bool { return x == x }, "notanumber": func(x float64) bool { return x != x },
		"normal":    func(x float64) bool { return math.Abs(x) >= 0x1p-126 && !math.IsInf(x, 0) },
		"subnormal": func(x float64) bool { return x != 0 && math.Abs(x) < 0x1p-126 },
	}
	for name, f := range tests {
		f := f
		check("testp."+name, fmt.Sprintf("\ttestp.%s.f32 %%p1, %%f1;", name)+resPred, func(a, b float32) uint64 { return b2u(f(float64(a))) })
	}
}

func TestConversions(t *testing.T) {
	r := rand.New(rand.NewSource(6))
	var in [][3]uint64
	fs := append([]float32{2147483647, 2147483648, -2147483648, -2147483904, 4294967295, 4294967296, 9.2233715e18, -9.2233715e18, 1.8446743e19,
		0.5, 1.5, 2.5, -0.5, -1.5, 0.49999997, -0.0, 255.5, 65535.5}, specialF32...)
	for i := 0; i < 600; i++ {
		fs = append(fs, float32(r.NormFloat64()*math.Ldexp(1, r.Intn(70)-5)), math.Float32frombits(r.Uint32()))
	}
	ints := []uint64{0, 1, ^uint64(0), 1 << 63, 1<<63 - 1, 1 << 24, 1<<24 + 1, 1<<25 + 3, 0xffffffff, 0x80000000, 0x7fffffff, 1<<53 + 1}
	for i, f := range fs {
		v := ints[i%len(ints)]
		if i >= len(ints) {
			v = r.Uint64() >> uint(r.Intn(64))
			if r.Intn(2) == 0 {
				v = -v
			}
		}
		dv := r.NormFloat64() * math.Ldexp(1, r.Intn(300)-150)
		if i%5 == 0 {
			dv = float64(f) + float64(r.Intn(3)-1)*math.Ldexp(math.Abs(float64(f)), -25) // near float32 ties
		}
		in = append(in, [3]uint64{uint64(math.Float32bits(f)), v, math.Float64bits(dv)})
	}
	type conv struct {
		body string
		ref  func(f float32, v uint64, d float64) uint64
	}
	f2i := func(f float32, rnd func(float64) float64, lo, hi float64) float64 {
		x := float64(f)
		if x != x {
			return 0
		}
		x = rnd(x)
		return math.Max(lo, math.Min(hi, x))
	}
	u32 := func(x float64) uint64 { return uint64(uint32(int64(x))) }
	bigRound := func(x *big.Float, mode string) uint64 {
		if x.Sign() == 0 {
			return 0
		}
		return uint64(math.Float32bits(float32(refRound(x, mode, true))))
	}
	convs := []conv{
		{"cvt.rni.s32.f32 %r4, %f1;" + resR32, func(f float32, v uint64, d float64) uint64 {
			return u32(f2i(f, math.RoundToEven, -2147483648, 2147483647))
		}},
		{"cvt.rzi.s32.f32 %r4, %f1;" + resR32, func(f float32, v uint64, d float64) uint64 {
			return u32(f2i(f, math.Trunc, -2147483648, 2147483647))
		}},
		{"cvt.rmi.u32.f32 %r4, %f1;" + resR32, func(f float32, v uint64, d float64) uint64 {
			return uint64(uint32(f2i(f, math.Floor, 0, 4294967295)))
		}},
		{"cvt.rpi.s64.f32 %rd11, %f1;", func(f float32, v uint64, d float64) uint64 {
			x := f2i(f, math.Ceil, -9223372036854775808, 9223372036854775807)
			if x >= 9223372036854775807 {
				return 1<<63 - 1
			}
			return uint64(int64(x))
		}},
		{"cvt.rzi.u64.f32 %rd11, %f1;", func(f float32, v uint64, d float64) uint64 {
			x := f2i(f, math.Trunc, 0, 18446744073709551615)
			if x >= 18446744073709551615 {
				return ^uint64(0)
			}
			return uint64(x)
		}},
		{"cvt.rni.u16.f32 %rs3, %f1;\n\tcvt.u64.u16 %rd11, %rs3;", func(f float32, v uint64, d float64) uint64 {
			return uint64(f2i(f, math.RoundToEven, 0, 65535))
		}},
		{"cvt.rni.s8.f32 %rs3, %f1;\n\tcvt.s64.s8 %rd11, %rs3;", func(f float32, v uint64, d float64) uint64 {
			return uint64(int64(f2i(f, math.RoundToEven, -128, 127)))
		}},
		{"cvt.rzi.s32.f64 %r4, %fd3;" + resR32, func(f float32, v uint64, d float64) uint64 {
			if d != d {
				return 0
			}
			return u32(math.Max(-2147483648, math.Min(2147483647, math.Trunc(d))))
		}},
	}
	for _, mode := range []string{"rn", "rz", "rm", "rp"} {
		mode := mode
		convs = append(convs,
			conv{fmt.Sprintf("cvt.%s.f32.f64 %%f4, %%fd3;", mode) + resF32, func(f float32, v uint64, d float64) uint64 {
				if d != d || d == 0 {
					return uint64(math.Float32bits(float32(d)))
				}
				return bigRound(new(big.Float).SetFloat64(d), mode)
			}},
			conv{fmt.Sprintf("cvt.%s.f32.s64 %%f4, %%rd9;", mode) + resF32, func(f float32, v uint64, d float64) uint64 {
				return bigRound(new(big.Float).SetInt64(int64(v)), mode)
			}},
			conv{fmt.Sprintf("cvt.%s.f32.u64 %%f4, %%rd9;", mode) + resF32, func(f float32, v uint64, d float64) uint64 {
				return bigRound(new(big.Float).SetUint64(v), mode)
			}},
			conv{fmt.Sprintf("cvt.%s.f32.s32 %%f4, %%r2;", mode) + resF32, func(f float32, v uint64, d float64) uint64 {
				return bigRound(new(big.Float).SetInt64(int64(int32(v))), mode)
			}},
			conv{fmt.Sprintf("cvt.%s.f32.u32 %%f4, %%r2;", mode) + resF32, func(f float32, v uint64, d float64) uint64 {
				return bigRound(new(big.Float).SetUint64(uint64(uint32(v))), mode)
			}},
			conv{fmt.Sprintf("cvt.%s.f64.s64 %%fd4, %%rd9;", mode) + resF64, func(f float32, v uint64, d float64) uint64 {
				x := new(big.Float).SetInt64(int64(v))
				if x.Sign() == 0 {
					return 0
				}
				return math.Float64bits(refRound(x, mode, false))
			}},
		)
	}
	for name, rf := range map[string]func(float64) float64{"rni": math.RoundToEven, "rzi": math.Trunc, "rmi": math.Floor, "rpi": math.Ceil} {
		rf := rf
		convs = append(convs, conv{fmt.Sprintf("cvt.%s.f32.f32 %%f4, %%f1;", name) + resF32, func(f float32, v uint64, d float64) uint64 {
			return uint64(math.Float32bits(float32(rf(float64(f)))))
		}})
	}
	convs = append(convs,
		conv{"cvt.f64.f32 %fd4, %f1;" + resF64, func(f float32, v uint64, d float64) uint64 { return math.Float64bits(float64(f)) }},
		conv{"cvt.sat.f32.f32 %f4, %f1;" + resF32, func(f float32, v uint64, d float64) uint64 {
			x := float64(f)
			if x != x || x <= 0 {
				return 0 // NaN and negatives (and -0) saturate to +0
			}
			return uint64(math.Float32bits(float32(math.Min(1, x))))
		}},
		conv{"cvt.s64.s32 %rd11, %r2;", func(f float32, v uint64, d float64) uint64 { return uint64(int64(int32(v))) }},
		conv{"cvt.u64.u32 %rd11, %r2;", func(f float32, v uint64, d float64) uint64 { return uint64(uint32(v)) }},
		conv{"cvt.u64.s32 %rd11, %r2;", func(f float32, v uint64, d float64) uint64 { return uint64(int64(int32(v))) }},
		conv{"cvt.s64.s16 %rd11, %rs2;", func(f float32, v uint64, d float64) uint64 { return uint64(int64(int16(v))) }},
		conv{"cvt.u32.u16 %r4, %rs2;" + resR32, func(f float32, v uint64, d float64) uint64 { return uint64(uint16(v)) }},
		conv{"cvt.sat.s32.s64 %r4, %rd9;" + resR32, func(f float32, v uint64, d float64) uint64 {
			x := int64(v)
			x = max(math.MinInt32, min(math.MaxInt32, x))
			return uint64(uint32(int32(x)))
		}},
		conv{"cvt.sat.u8.s32 %rs3, %r2;\n\tcvt.u64.u16 %rd11, %rs3;", func(f float32, v uint64, d float64) uint64 {
			return uint64(max(0, min(255, int64(int32(v)))))
		}},
		conv{"cvt.sat.u32.u64 %r4, %rd9;" + resR32, func(f float32, v uint64, d float64) uint64 { return min(v, 0xffffffff) }},
		conv{"cvt.sat.s32.u32 %r4, %r2;" + resR32, func(f float32, v uint64, d float64) uint64 { return min(uint64(uint32(v)), 0x7fffffff) }},
	)
	for _, c := range convs {
		got := evalPTX(t, "\t"+c.body, in)
		for i, x := range in {
			want := c.ref(f32(x[0]), x[1], f64(x[2]))
			g := got[i]
			if g != want {
				// NaN results compare as a class
				if strings.Contains(c.body, "f32 %f4") && f32(g) != f32(g) && f32(want) != f32(want) {
					continue
				}
				require.Equal(t, want, g, "%s with f=%g v=%#x d=%g", c.body, f32(x[0]), x[1], f64(x[2]))
			}
		}
	}
}

func TestIntegerOps(t *testing.T) {
	r := rand.New(rand.NewSource(8))
	edge := []uint64{0, 1, 2, 31, 32, 33, 63, 64, 65, 255, 0x7fffffff, 0x80000000, 0xffffffff, 1<<63 - 1, 1 << 63, ^uint64(0), 0xdeadbeefcafef00d}
	var in [][3]uint64
	for _, a := range edge {
		for _, b := range edge {
			in = append(in, [3]uint64{a, b, edge[r.Intn(len(edge))]})
		}
	}
	for i := 0; i < 800; i++ {
		in = append(in, [3]uint64{r.Uint64(), r.Uint64() >> uint(r.Intn(64)), r.Uint64()})
	}
	s32 := func(x uint64) int32 { return int32(uint32(x)) }
	w32 := func(x int64) uint64 { return uint64(uint32(x)) }
	type iop struct {
		body string
		ref  func(a, b, c uint64) uint64
	}
	shl32 := func(a, b uint64) uint64 {
		if uint32(b) >= 32 {
			return 0
		}
		return uint64(uint32(a) << uint32(b))
	}
	ops := []iop{
		{"add.s32 %r4, %r1, %r2;" + resR32, func(a, b, c uint64) uint64 { return uint64(uint32(a) + uint32(b)) }},
		{"sub.s64 %rd11, %rd8, %rd9;", func(a, b, c uint64) uint64 { return a - b }},
		{"add.sat.s32 %r4, %r1, %r2;" + resR32, func(a, b, c uint64) uint64 {
			return w32(max(math.MinInt32, min(math.MaxInt32, int64(s32(a))+int64(s32(b)))))
		}},
		{"shl.b32 %r4, %r1, %r2;" + resR32, func(a, b, c uint64) uint64 { return shl32(a, b) }},
		{"shr.u32 %r4, %r1, %r2;" + resR32, func(a, b, c uint64) uint64 {
			if uint32(b) >= 32 {
				return 0
			}
			return uint64(uint32(a) >> uint32(b))
		}},
		{"shr.s32 %r4, %r1, %r2;" + resR32, func(a, b, c uint64) uint64 {
			n := uint32(b)
			if n > 31 {
				n = 31
			}
			return w32(int64(s32(a) >> n))
		}},
		{"shl.b64 %rd11, %rd8, %r2;", func(a, b, c uint64) uint64 {
			if uint32(b) >= 64 {
				return 0
			}
			return a << uint32(b)
		}},
		{"shr.s64 %rd11, %rd8, %r2;", func(a, b, c uint64) uint64 {
			n := uint32(b)
			if n > 63 {
				n = 63
			}
			return uint64(int64(a) >> n)
		}},
		{"shl.b16 %rs3, %rs1, %r2;\n\tcvt.u64.u16 %rd11, %rs3;", func(a, b, c uint64) uint64 {
			if uint32(b) >= 16 {
				return 0
			}
			return uint64(uint16(a) << uint32(b))
		}},
		{"mul.lo.s32 %r4, %r1, %r2;" + resR32, func(a, b, c uint64) uint64 { return uint64(uint32(a) * uint32(b)) }},
		{"mul.hi.u32 %r4, %r1, %r2;" + resR32, func(a, b, c uint64) uint64 { return uint64(uint32(a)) * uint64(uint32(b)) >> 32 }},
		{"mul.hi.s32 %r4, %r1, %r2;" + resR32, func(a, b, c uint64) uint64 { return w32((int64(s32(a)) * int64(s32(b))) >> 32) }},
		{"mul.wide.s32 %rd11, %r1, %r2;", func(a, b, c uint64) uint64 { return uint64(int64(s32(a)) * int64(s32(b))) }},
		{"mul.wide.u32 %rd11, %r1, %r2;", func(a, b, c uint64) uint64 { return uint64(uint32(a)) * uint64(uint32(b)) }},
		{"mul.hi.u64 %rd11, %rd8, %rd9;", func(a, b, c uint64) uint64 { h, _ := bits.Mul64(a, b); return h }},
		{"mul.hi.s64 %rd11, %rd8, %rd9;", func(a, b, c uint64) uint64 {
			p := new(big.Int).Mul(big.NewInt(int64(a)), big.NewInt(int64(b)))
			return uint64(new(big.Int).Rsh(p, 64).Int64())
		}},
		{"mad.lo.s32 %r4, %r1, %r2, %r3;" + resR32, func(a, b, c uint64) uint64 { return uint64(uint32(a)*uint32(b) + uint32(c)) }},
		{"mad.wide.s32 %rd11, %r1, %r2, %rd10;", func(a, b, c uint64) uint64 { return uint64(int64(s32(a))*int64(s32(b))) + c }},
		{"mad.hi.u32 %r4, %r1, %r2, %r3;" + resR32, func(a, b, c uint64) uint64 {
			return uint64(uint32(uint64(uint32(a))*uint64(uint32(b))>>32) + uint32(c))
		}},
		{"setp.ne.s32 %p1, %r2, 0;\n\t@%p1 div.s32 %r4, %r1, %r2;" + resR32, func(a, b, c uint64) uint64 {
			if uint32(b) == 0 {
				return 0
			}
			if s32(a) == math.MinInt32 && s32(b) == -1 {
				return 0x80000000
			}
			return w32(int64(s32(a) / s32(b)))
		}},
		{"setp.ne.s32 %p1, %r2, 0;\n\t@%p1 rem.s32 %r4, %r1, %r2;" + resR32, func(a, b, c uint64) uint64 {
			if uint32(b) == 0 || s32(b) == -1 {
				return 0
			}
			return w32(int64(s32(a) % s32(b)))
		}},
		{"setp.ne.s64 %p1, %rd9, 0;\n\t@%p1 div.u64 %rd11, %rd8, %rd9;", func(a, b, c uint64) uint64 {
			if b == 0 {
				return 0
			}
			return a / b
		}},
		{"setp.ne.s64 %p1, %rd9, 0;\n\t@%p1 rem.s64 %rd11, %rd8, %rd9;", func(a, b, c uint64) uint64 {
			if b == 0 || int64(b) == -1 {
				return 0
			}
			return uint64(int64(a) % int64(b))
		}},
		{"min.s32 %r4, %r1, %r2;" + resR32, func(a, b, c uint64) uint64 { return w32(int64(min(s32(a), s32(b)))) }},
		{"max.u32 %r4, %r1, %r2;" + resR32, func(a, b, c uint64) uint64 { return uint64(max(uint32(a), uint32(b))) }},
		{"min.u64 %rd11, %rd8, %rd9;", func(a, b, c uint64) uint64 { return min(a, b) }},
		{"max.s64 %rd11, %rd8, %rd9;", func(a, b, c uint64) uint64 { return uint64(max(int64(a), int64(b))) }},
		{"abs.s32 %r4, %r1;" + resR32, func(a, b, c uint64) uint64 {
			x := s32(a)
			if x < 0 {
				x = -x // wraps for the most negative value
			}
			return w32(int64(x))
		}},
		{"neg.s64 %rd11, %rd8;", func(a, b, c uint64) uint64 { return -a }},
		{"not.b32 %r4, %r1;" + resR32, func(a, b, c uint64) uint64 { return uint64(^uint32(a)) }},
		{"cnot.b32 %r4, %r1;" + resR32, func(a, b, c uint64) uint64 { return b2u(uint32(a) == 0) }},
		{"popc.b64 %r4, %rd8;" + resR32, func(a, b, c uint64) uint64 { return uint64(bits.OnesCount64(a)) }},
		{"clz.b32 %r4, %r1;" + resR32, func(a, b, c uint64) uint64 { return uint64(bits.LeadingZeros32(uint32(a))) }},
		{"clz.b64 %r4, %rd8;" + resR32, func(a, b, c uint64) uint64 { return uint64(bits.LeadingZeros64(a)) }},
		{"brev.b32 %r4, %r1;" + resR32, func(a, b, c uint64) uint64 { return uint64(bits.Reverse32(uint32(a))) }},
		{"brev.b64 %rd11, %rd8;", func(a, b, c uint64) uint64 { return bits.Reverse64(a) }},
		{"bfe.u32 %r4, %r1, %r2, %r3;" + resR32, func(a, b, c uint64) uint64 {
			pos, ln := uint(b&0xff), uint(c&0xff)
			var d uint32
			for i := uint(0); i < 32; i++ {
				if i < ln && pos+i < 32 {
					d |= (uint32(a) >> (pos + i) & 1) << i
				}
			}
			return uint64(d)
		}},
		{"bfe.s32 %r4, %r1, %r2, %r3;" + resR32, func(a, b, c uint64) uint64 {
			pos, ln := uint(b&0xff), uint(c&0xff)
			if ln == 0 {
				return 0
			}
			top := min(pos+ln-1, 31)
			sign := uint32(a) >> top & 1
			var d uint32
			for i := uint(0); i < 32; i++ {
				bit := sign
				if i < ln && pos+i < 32 {
					bit = uint32(a) >> (pos + i) & 1
				}
				d |= bit << i
			}
			return uint64(d)
		}},
		{"bfi.b32 %r4, %r1, %r2, %r3, 7;" + resR32, func(a, b, c uint64) uint64 {
			pos := uint(c & 0xff)
			d := uint32(b)
			for i := uint(0); i < 7 && pos+i < 32; i++ {
				d = d&^(1<<(pos+i)) | (uint32(a)>>i&1)<<(pos+i)
			}
			return uint64(d)
		}},
		{"prmt.b32 %r4, %r1, %r2, %r3;" + resR32, func(a, b, c uint64) uint64 {
			src := [8]byte{}
			for i := 0; i < 4; i++ {
				src[i] = byte(uint32(a) >> (8 * i))
				src[4+i] = byte(uint32(b) >> (8 * i))
			}
			var d uint32
			for i := 0; i < 4; i++ {
				s := uint32(c) >> (4 * i) & 15
				v := src[s&7]
				if s&8 != 0 {
					v = byte(int8(v) >> 7)
				}
				d |= uint32(v) << (8 * i)
			}
			return uint64(d)
		}},
		{"shf.l.wrap.b32 %r4, %r1, %r2, %r3;" + resR32, func(a, b, c uint64) uint64 {
			n := uint32(c) & 31
			return uint64(uint32((uint64(uint32(b))<<32 | uint64(uint32(a))) << n >> 32))
		}},
		{"shf.r.clamp.b32 %r4, %r1, %r2, %r3;" + resR32, func(a, b, c uint64) uint64 {
			n := min(uint32(c), 32)
			return uint64(uint32((uint64(uint32(b))<<32 | uint64(uint32(a))) >> n))
		}},
		{"lop3.b32 %r4, %r1, %r2, %r3, 0x96;" + resR32, func(a, b, c uint64) uint64 { return uint64(uint32(a ^ b ^ c)) }},
		{"lop3.b32 %r4, %r1, %r2, %r3, 0xe8;" + resR32, func(a, b, c uint64) uint64 { // majority
			return uint64(uint32(a&b | b&c | a&c))
		}},
		{"setp.lt.s32 %p1, %r1, %r2;" + resPred, func(a, b, c uint64) uint64 { return b2u(s32(a) < s32(b)) }},
		{"setp.lt.u32 %p1, %r1, %r2;" + resPred, func(a, b, c uint64) uint64 { return b2u(uint32(a) < uint32(b)) }},
		{"setp.hs.u64 %p1, %rd8, %rd9;" + resPred, func(a, b, c uint64) uint64 { return b2u(a >= b) }},
		{"setp.le.s64 %p1, %rd8, %rd9;" + resPred, func(a, b, c uint64) uint64 { return b2u(int64(a) <= int64(b)) }},
		{"setp.ne.b16 %p1, %rs1, %rs2;" + resPred, func(a, b, c uint64) uint64 { return b2u(uint16(a) != uint16(b)) }},
		{"setp.gt.s16 %p1, %rs1, %rs2;" + resPred, func(a, b, c uint64) uint64 { return b2u(int16(a) > int16(b)) }},
		{"and.b16 %rs3, %rs1, %rs2;\n\tcvt.u64.u16 %rd11, %rs3;", func(a, b, c uint64) uint64 { return uint64(uint16(a & b)) }},
		{"mov.b64 {%r4, %r5}, %rd8;\n\tmov.b64 %rd11, {%r5, %r4};", func(a, b, c uint64) uint64 { return a<<32 | a>>32 }},
		{"setp.ne.s32 %p2, %r1, 0;\n\tsetp.ne.s32 %p3, %r2, 0;\n\txor.pred %p1, %p2, %p3;\n\tnot.pred %p4, %p1;\n\tor.pred %p1, %p4, %p2;" + resPred,
			func(a, b, c uint64) uint64 {
				p2, p3 := uint32(a) != 0, uint32(b) != 0
				return b2u(!(p2 != p3) || p2)
			}},
	}
	for _, op := range ops {
		got := evalPTX(t, "\t"+op.body, in)
		for i, x := range in {
			require.Equal(t, op.ref(x[0], x[1], x[2]), got[i], "%s with a=%#x b=%#x c=%#x", op.body, x[0], x[1], x[2])
		}
	}
}

func TestIntegerDivisionByZeroFaults(t *testing.T) {
	d := New(Options{})
	m, err := d.LoadModule("ops", strings.Replace(opTemplate, "BODY", "\tdiv.u32 %r4, %r1, %r2;"+resR32, 1))
	require.NoError(t, err)
	f, _ := m.Function("t")
	pa := upload(t, d, []uint64{7})
	pb := upload(t, d, []uint64{0})
	pd := zeros[uint64](t, d, 1)
	err = d.Launch(f, d1(1), d1(32), 0, nil, cuda.Ptr(pa), cuda.Ptr(pb), cuda.Ptr(pa), cuda.Ptr(pd), cuda.U64(1))
	require.ErrorContains(t, err, "division by zero", "want a division-by-zero fault")
}

// TestLoadErrors checks that constructs the emulator does not implement exactly are
// refused at load time with the PTX line and the instruction.
func TestLoadErrors(t *testing.T) {
	for _, c := range []struct {
		body, want string
	}{
		{"\tex2.approx.f32 %f4, %f1;", "approximate"},
		{"\tadd.f32 %f4, %f1, %f2;", "without a rounding modifier"},
		{"\tadd.rn.ftz.f32 %f4, %f1, %f2;", ".ftz"},
		{"\tdiv.full.f32 %f4, %f1, %f2;", "approximate"},
		{"\tsqrt.rz.f32 %f4, %f1;", "only with .rn"},
		{"\tfoo.b32 %r4, %r1;", "unsupported instruction foo"},
		{"\tadd.s32 %r4, %r1, %r99;", "undeclared register %r99"},
		{"\tbra NOWHERE;", "unknown label NOWHERE"},
		{"\tmov.u32 %r4, %clock;", "unsupported special register"},
		{"\tatom.global.add.f32 %f4, [%rd1], %f1;", "float atomics"},
		{"\tshfl.bfly.b32 %r4, %r1, 1, 31;", "without .sync"},
		{"\tld.global.weird.f32 %f4, [%rd1];", "unsupported modifier .weird"},
		{"\tcvt.rn.s32.f32 %r4, %f1;", "float-to-integer cvt needs"},
		{"\tmul.s32 %r4, %r1, %r2;", ".lo .hi .wide"},
	} {
		src := strings.Replace(opTemplate, "BODY", c.body, 1)
		_, err := New(Options{}).LoadModule("bad", src)
		if !assert.Error(t, err, "%s: loaded without error", c.body) {
			continue
		}
		line := 1 + strings.Count(src[:strings.Index(src, strings.TrimSpace(c.body))], "\n")
		for _, frag := range []string{c.want, fmt.Sprintf("PTX line %d", line), "LoadModule bad"} {
			assert.ErrorContains(t, err, frag, c.body)
		}
	}
	for _, c := range []struct{ src, want string }{
		{".version 7.8\n.target sm_70\n.address_size 64\n.visible .func f()\n{\n ret;\n}\n", ".func"},
		{".version 7.8\n.target sm_70\n.address_size 64\n.visible .entry k()\n{\n\t.reg .v4 .f32 %v;\n ret;\n}\n", "vector registers"},
		{".version 7.8\n.target sm_70\n.visible .entry k()\n{\n ret;\n}\n", "address_size"},
		{".version 7.8\n.target sm_70\n.address_size 64\n.visible .entry k()\n{\n\t.maxclusterrank 2\n ret;\n}\n", "unsupported directive"},
	} {
		_, err := New(Options{}).LoadModule("bad", c.src)
		assert.ErrorContains(t, err, c.want)
	}
}
