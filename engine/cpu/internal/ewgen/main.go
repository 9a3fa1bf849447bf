// Command ewgen generates engine/cpu's elementwise assembly (ew_amd64.s and its Go
// declarations ew_stub_amd64.go) with avo: AVX2+FMA array versions of the fmath
// functions (Exp, Log, Log1p, Tanh, Sigmoid, Softplus) and of the hot elementwise
// twins built on them (adam_step, bernoulli_loglik's terms and backward,
// gaussian_loglik's terms and backward, reparam, reparam_bwd, gumbel). Run it through
// `go generate ./engine/cpu/` (see the go:generate line in engine/cpu/ew_amd64.go).
//
// Bit-exactness (DETERMINISM.md): every lane performs exactly the scalar twin's
// operation sequence. VADDPS/VSUBPS/VMULPS/VDIVPS/VSQRTPS are IEEE-754 correctly
// rounded, VFMADD231PS is a float32 fma with one rounding (fmaf), comparisons, blends,
// integer and bit operations are exact. A scalar branch becomes both arms computed on
// every lane and a blend on the branch's own comparison, so each lane keeps the value
// of the arm the scalar code takes (the other arm's value, possibly NaN or Inf, is
// discarded; floating-point exceptions are masked, MXCSR is Go's default: no FTZ/DAZ).
// Go's float32 negation is a sign flip (VXORPS with the sign bit), its int32 -> float32
// conversion is VCVTDQ2PS (exact for the small exponents converted here).
//
// Every kernel processes n elements, n a multiple of 8 (the Go wrappers run the tail
// through a zero-padded block of 8).
package main

import (
	"fmt"
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

func main() {
	unary("ewExp8", "Exp", vexp)
	unary("ewLog8", "Log", vlog)
	unary("ewLog1p8", "Log1p", vlog1p)
	unary("ewTanh8", "Tanh", vtanh)
	unary("ewSigmoid8", "Sigmoid", vsigmoid)
	unary("ewSoftplus8", "Softplus", vsoftplus)
	gumbel()
	relu()
	adam(false) // adam(true), AVX-512, measured no faster (AdamStep is bound by memory and the divider)
	bernTerms()
	bernBwd()
	gaussTerms()
	gaussBwd()
	reparamZ()
	reparamBwd()
	philox(false)
	philox(true)
	binarize()
	mixTerms(false)
	mixTerms(true)
	sum32()
	actBwd("actBwdTanh8", "FMA(-y, y, 1)", "y", func(y Register) V { return fma(neg(y), y, one) })
	actBwd("actBwdSigmoid8", "y*(1-y)", "y", func(y Register) V { return mul(y, sub(ld(one), y)) })
	actBwd("actBwdSoftplus8", "fmath.Sigmoid(x)", "x", vsigmoid)
	actBwd("actBwdExp8", "y", "y", func(y Register) V { return y.(V) })
	klTerms(false)
	klTerms(true)
	mixBwdZ(false)
	mixBwdZ(true)
	mixBwdPS()
	klBwdQ(false)
	klBwdQ(true)
	klBwdPPS()
	Generate()
}

// ---- constants: 32-byte vectors of 8 equal words, one global per value ----

var consts = map[uint32]Mem{}

// ku returns a memory operand holding 8 copies of the 32-bit word u.
func ku(u uint32) Mem {
	if m, ok := consts[u]; ok {
		return m
	}
	m := GLOBL(fmt.Sprintf("ewconst_%08x", u), RODATA|NOPTR)
	for i := 0; i < 8; i++ {
		DATA(4*i, U32(u))
	}
	consts[u] = m
	return m
}

// kf returns 8 copies of the float32 f (Go's float32 rounding of the constant, as the
// scalar code's typed constants).
func kf(f float32) Mem { return ku(math.Float32bits(f)) }

// ki returns 8 copies of the int32 i.
func ki(i int32) Mem { return ku(uint32(i)) }

var (
	one      = kf(1)
	inf      = ku(0x7f800000)
	ninf     = ku(0xff800000)
	nan      = ku(0x7fffffff) // fmath's nan32
	signBit  = ku(0x80000000)
	absMask  = ku(0x7fffffff)
	zeroWord = ku(0)
)

// ---- vector operations: each returns a fresh register ----

type V = VecVirtual

// newVec allocates a vector register: YMM, or ZMM while an AVX-512 kernel is emitted
// (only the arithmetic helpers below are used there: no 32-byte constants, no
// VBLENDVPS or VCMPPS masks).
var newVec = YMM

func ld(m Op) V { t := newVec(); VMOVUPS(m, t); return t }

// reg returns op as a register (loading it if it is memory).
func reg(op Op) Register {
	if r, ok := op.(Register); ok {
		return r
	}
	return ld(op)
}

func add(a, b Op) V { t := newVec(); VADDPS(b, reg(a), t); return t }
func sub(a, b Op) V { t := newVec(); VSUBPS(b, reg(a), t); return t }
func mul(a, b Op) V { t := newVec(); VMULPS(b, reg(a), t); return t }
func div(a, b Op) V { t := newVec(); VDIVPS(b, reg(a), t); return t }
func sqrt(a Op) V   { t := newVec(); VSQRTPS(a, t); return t }

// fma returns a*b+c with one rounding.
func fma(a, b, c Op) V {
	if _, ok := a.(Register); !ok {
		a, b = b, a // the product is exact: the order of the factors is immaterial
	}
	t := newVec()
	VMOVUPS(c, t)
	VFMADD231PS(b, reg(a), t)
	return t
}

func neg(a Op) V { t := YMM(); VXORPS(signBit, reg(a), t); return t }

// Comparison predicates of VCMPPS (ordered, quiet unless stated).
const (
	pEQ    = 0x00 // a == b
	pLT    = 0x11 // a < b
	pUNORD = 0x03 // a or b NaN (x != x for a == b == x)
	pNGT   = 0x0a // !(a > b), true for NaN
	pGE    = 0x1d // a >= b
	pGT    = 0x1e // a > b
	pNLE   = 0x06 // !(a <= b), true for NaN
	pNEQ   = 0x04 // !(a == b), true for NaN
)

func cmp(a Op, pred uint8, b Op) V { t := YMM(); VCMPPS(U8(pred), b, reg(a), t); return t }

// sel returns mask ? t : f per lane.
func sel(mask Register, t, f Op) V { r := YMM(); VBLENDVPS(mask, t, reg(f), r); return r }

func and(a, b Op) V { t := YMM(); VANDPS(b, reg(a), t); return t }
func or(a, b Op) V  { t := YMM(); VORPS(b, reg(a), t); return t }

// Integer (int32 lanes) operations.
func iadd(a, b Op) V { t := YMM(); VPADDD(b, reg(a), t); return t }
func isub(a, b Op) V { t := YMM(); VPSUBD(b, reg(a), t); return t }
func igt(a, b Op) V  { t := YMM(); VPCMPGTD(b, reg(a), t); return t } // a > b, signed
func shl(a Op, n uint8) V {
	t := YMM()
	VPSLLD(U8(n), reg(a), t)
	return t
}
func sar(a Op, n uint8) V {
	t := YMM()
	VPSRAD(U8(n), reg(a), t)
	return t
}
func cvt(a Op) V { t := YMM(); VCVTDQ2PS(a, t); return t }

func zero() V { t := YMM(); VXORPS(t, t, t); return t }

// pow2i returns 2^k from int32 lanes k, -126 <= k <= 127 (fmath.pow2i).
func pow2i(k Op) V { return shl(iadd(k, ki(127)), 23) }

// ---- fmath, lane by lane ----

const (
	rintMagic     = float32(12582912)
	rintMagicBits = 0x4b400000
)

// vexp is fmath.Exp.
func vexp(x Register) V {
	t := fma(x, kf(1.442695), kf(rintMagic))
	kfl := sub(t, kf(rintMagic))
	k := isub(t, ki(rintMagicBits))
	r := fma(kfl, kf(-0.6931472), x)
	r = fma(kfl, kf(1.9046542e-09), r)
	p := fma(ld(kf(0.0001984127)), r, kf(0.0013888889))
	p = fma(p, r, kf(0.008333334))
	p = fma(p, r, kf(0.041666668))
	p = fma(p, r, kf(0.16666667))
	p = fma(p, r, kf(0.5))
	p = fma(p, r, one)
	p = fma(p, r, one)
	// if k > 127 { p = p*2; k = k-1 } else if k < -126 { p = p*pow2i(k+64); k = -64 }
	hi := igt(k, ki(127))
	lo := igt(ld(ki(-126)), k)
	pHi := mul(p, kf(2))
	pLo := mul(p, pow2i(iadd(k, ki(64))))
	kHi := isub(k, ki(1))
	p = sel(lo, pLo, sel(hi, pHi, p))
	k = sel(lo, ki(-64), sel(hi, kHi, k))
	res := mul(p, pow2i(k))
	res = sel(cmp(x, pLT, kf(-104)), zeroWord, res)
	res = sel(cmp(x, pGT, kf(88.8)), inf, res)
	return sel(cmp(x, pUNORD, x), add(x, x), res)
}

// vdiv1p is fmath.div1p: n/(1+e) for finite e >= 0.
func vdiv1p(n, e Register) V {
	d := add(ld(one), e) // 1 + e
	err := sel(cmp(e, pGE, one), add(sub(e, d), one), add(sub(ld(one), d), e))
	q := div(n, d)
	r := sub(fma(neg(q), d, n), mul(q, err))
	return add(q, div(r, d))
}

// vlogCore is fmath.logCore: log(x) + c for finite x > 0.
func vlogCore(x, c Register) V {
	small := cmp(x, pLT, kf(0x1p-126))
	xs := sel(small, mul(x, kf(16777216)), x)
	k0 := and(small, ki(-24))
	ix := iadd(xs, ki(0x3f800000-0x3f3504f3))
	k := isub(iadd(k0, sar(ix, 23)), ki(127))
	ix = iadd(and(ix, ki(0x007fffff)), ki(0x3f3504f3))
	f := sub(ix, one)
	s := div(f, add(ld(kf(2)), f))
	z := mul(s, s)
	R := fma(ld(kf(0.24279079)), z, kf(0.28498787))
	R = fma(R, z, kf(0.40000972))
	R = fma(R, z, kf(0.6666666))
	R = mul(z, R)
	hfsq := mul(mul(ld(kf(0.5)), f), f)
	dk := cvt(k)
	lo := fma(s, add(hfsq, R), fma(dk, kf(-1.9046542e-09), c))
	return fma(dk, kf(0.6931472), sub(f, sub(hfsq, lo)))
}

// vlog is fmath.Log.
func vlog(x Register) V {
	res := vlogCore(x, zero())
	res = sel(cmp(x, pEQ, inf), x, res)
	special := sel(cmp(x, pEQ, zeroWord), ninf, nan)
	return sel(cmp(x, pNGT, zeroWord), special, res)
}

// vlog1p is fmath.Log1p.
func vlog1p(x Register) V {
	u := add(ld(one), x)
	c := sel(cmp(u, pGT, kf(2)), sub(ld(one), sub(u, x)), sub(x, sub(u, one)))
	c = div(c, u)
	res := vlogCore(u, c)
	res = sel(or(cmp(x, pEQ, inf), cmp(x, pEQ, zeroWord)), x, res)
	special := sel(cmp(x, pEQ, kf(-1)), ninf, nan)
	return sel(cmp(x, pNGT, kf(-1)), special, res)
}

// copysign is fmath.copysign: |a| with the sign of b.
func copysign(a, b Op) V { return or(and(a, absMask), and(b, signBit)) }

// vtanh is fmath.Tanh.
func vtanh(x Register) V {
	a := and(x, absMask)
	z := mul(a, a)
	p := fma(ld(kf(-0.0062742396)), z, kf(0.021071678))
	p = fma(p, z, kf(-0.05385231))
	p = fma(p, z, kf(0.13332586))
	p = fma(p, z, kf(-0.33333316))
	ySmall := fma(mul(a, z), p, a)
	yMid := sub(ld(one), vdiv1p(ld(kf(2)), vexp(mul(ld(kf(2)), a))))
	y := sel(cmp(a, pLT, kf(9.1)), yMid, one)
	y = sel(cmp(a, pLT, kf(0.55)), ySmall, y)
	return sel(cmp(x, pUNORD, x), add(x, x), copysign(y, x))
}

// vsigmoid is fmath.Sigmoid.
func vsigmoid(x Register) V {
	pos := cmp(x, pGE, zeroWord)
	e := vexp(sel(pos, neg(x), x))
	res := vdiv1p(sel(pos, one, e), e)
	return sel(cmp(x, pUNORD, x), add(x, x), res)
}

// vsoftplus is fmath.Softplus.
func vsoftplus(x Register) V {
	l := vlog1p(vexp(or(x, signBit)))
	res := sel(cmp(x, pGT, zeroWord), add(x, l), l)
	return sel(cmp(x, pUNORD, x), add(x, x), res)
}

// ---- loops ----

// loop emits the per-8-elements loop over n (a GP register) with the given pointer
// registers advanced by 32 bytes per iteration.
func loop(n Register, ptrs []Register, body func()) {
	Label("loop")
	CMPQ(n, U32(8))
	JL(LabelRef("done"))
	body()
	for _, p := range ptrs {
		ADDQ(U32(32), p)
	}
	SUBQ(U32(8), n)
	JMP(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// paddr returns the frame address of parameter name.
func paddr(name string) Mem {
	b, err := Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}

func ptr(name string) Register { return Load(Param(name), GP64()) }

// bcast loads float32 parameter name into all 8 lanes.
func bcast(name string) V {
	x := Load(Param(name), XMM())
	y := YMM()
	VBROADCASTSS(x, y)
	return y
}

func unary(name, fn string, f func(Register) V) {
	TEXT(name, NOSPLIT, "func(x, y *float32, n int)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s sets y[i] = fmath.%s(x[i]) for i < n, n a multiple of 8 (y may be x).", name, fn),
		"Requires AVX2 and FMA.")
	x, y, n := ptr("x"), ptr("y"), ptr("n")
	loop(n, []Register{x, y}, func() {
		VMOVUPS(f(ld(Mem{Base: x})), Mem{Base: y})
	})
}

func gumbel() {
	TEXT("ewGumbel8", NOSPLIT, "func(u, y *float32, n int)")
	Pragma("noescape")
	Doc("ewGumbel8 sets y[i] = -fmath.Log(-fmath.Log(u[i])) for i < n, n a multiple of 8",
		"(y may be u): the gumbel twin's transform. Requires AVX2 and FMA.")
	u, y, n := ptr("u"), ptr("y"), ptr("n")
	loop(n, []Register{u, y}, func() {
		VMOVUPS(neg(vlog(neg(vlog(ld(Mem{Base: u}))))), Mem{Base: y})
	})
}

func relu() {
	TEXT("reluFwd8", NOSPLIT, "func(x, y *float32, n int)")
	Pragma("noescape")
	Doc("reluFwd8 sets y[i] = fmath.Activate(ActRelu, x[i]) (x > 0 or NaN ? x : +0) for",
		"i < n, n a multiple of 8 (y may be x). Requires AVX2.")
	x, y, n := ptr("x"), ptr("y"), ptr("n")
	loop(n, []Register{x, y}, func() {
		xi := ld(Mem{Base: x})
		VMOVUPS(and(cmp(xi, pNLE, zeroWord), xi), Mem{Base: y})
	})

	TEXT("reluBwd8", NOSPLIT, "func(x, dy, dx *float32, n int, acc int)")
	Pragma("noescape")
	Doc("reluBwd8 sets dx[i] (+)= dy[i] * (x[i] > 0 ? 1 : 0) for i < n, n a multiple of 8",
		"(the product rounded, as ActBwd; adding when acc != 0; dx may be dy). Requires AVX2.")
	x, dy, dx, n, acc := ptr("x"), ptr("dy"), ptr("dx"), ptr("n"), ptr("acc")
	twoLoops(n, acc, []Register{x, dy, dx}, func(accumulate bool) {
		gr := and(cmp(ld(Mem{Base: x}), pGT, zeroWord), one)
		v := mul(ld(Mem{Base: dy}), gr)
		if accumulate {
			v = add(Mem{Base: dx}, v)
		}
		VMOVUPS(v, Mem{Base: dx})
	})
}

// adam emits adamStep8 (AVX2) or, wide, adamStep16 (AVX-512F): AdamStep's loop.
func adam(wide bool) {
	name, lanes, req := "adamStep8", 8, "Requires AVX2 and FMA."
	if wide {
		name, lanes, req = "adamStep16", 16, "Requires AVX-512F."
		newVec = ZMM
		defer func() { newVec = YMM }()
	}
	TEXT(name, NOSPLIT, "func(p, grad, m, v *float32, n int, negLr, beta1, beta2, eps, wd, bc1, bc2, c1, c2 float32, useWd int)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s is AdamStep's loop for n a multiple of %d (negLr = -lr, c1 = 1-beta1,", name, lanes),
		"c2 = 1-beta2; weight decay applied when useWd != 0). "+req)
	p, g, m, v, n := ptr("p"), ptr("grad"), ptr("m"), ptr("v"), ptr("n")
	useWd := ptr("useWd")
	// The scalars are broadcast from the argument frame where they are used (L1 hits),
	// which leaves the registers to the loop body.
	bc := func(name string) V {
		t := newVec()
		VBROADCASTSS(paddr(name), t)
		return t
	}
	body := func(wd bool) {
		gi := ld(Mem{Base: g})
		pi := ld(Mem{Base: p})
		m1 := fma(bc("beta1"), Mem{Base: m}, mul(bc("c1"), gi))
		v1 := fma(bc("beta2"), Mem{Base: v}, mul(mul(bc("c2"), gi), gi))
		mhat := div(m1, bc("bc1"))
		vhat := div(v1, bc("bc2"))
		u := div(mhat, add(sqrt(vhat), bc("eps")))
		if wd {
			u = fma(bc("wd"), pi, u)
		}
		VMOVUPS(fma(bc("negLr"), u, pi), Mem{Base: p})
		VMOVUPS(m1, Mem{Base: m})
		VMOVUPS(v1, Mem{Base: v})
	}
	ptrs := []Register{p, g, m, v}
	TESTQ(useWd, useWd)
	JNZ(LabelRef("wdloop"))
	for _, wd := range []bool{false, true} {
		top, done := "loop", "done"
		if wd {
			top, done = "wdloop", "wddone"
		}
		Label(top)
		CMPQ(n, U32(lanes))
		JL(LabelRef(done))
		body(wd)
		for _, r := range ptrs {
			ADDQ(U32(4*lanes), r)
		}
		SUBQ(U32(lanes), n)
		JMP(LabelRef(top))
		Label(done)
		VZEROUPPER()
		RET()
	}
}

// bernoulliTerm is cpu.bernoulliTerm.
func bernoulliTerm(x, l Register) V {
	pos := cmp(l, pGT, zeroWord)
	a := sel(pos, sub(x, one), x)
	nl := sel(pos, neg(l), l)
	nsp := neg(vsoftplus(nl))
	return sel(cmp(a, pEQ, zeroWord), nsp, fma(a, l, nsp))
}

func bernTerms() {
	TEXT("bernTerms8", NOSPLIT, "func(x, l, t *float32, n int)")
	Pragma("noescape")
	Doc("bernTerms8 sets t[i] = bernoulliTerm(x[i], l[i]) for i < n, n a multiple of 8.",
		"Requires AVX2 and FMA.")
	x, l, t, n := ptr("x"), ptr("l"), ptr("t"), ptr("n")
	loop(n, []Register{x, l, t}, func() {
		VMOVUPS(bernoulliTerm(ld(Mem{Base: x}), ld(Mem{Base: l})), Mem{Base: t})
	})
}

func bernBwd() {
	TEXT("bernBwd8", NOSPLIT, "func(x, l, dl *float32, n int, gr float32, acc int)")
	Pragma("noescape")
	Doc("bernBwd8 is BernoulliLoglikBwd's loop over one row's n elements (n a multiple of",
		"8) with upstream g, adding to dl when acc != 0. Requires AVX2 and FMA.")
	x, l, dl, n, acc := ptr("x"), ptr("l"), ptr("dl"), ptr("n"), ptr("acc")
	body := func(accumulate bool) {
		xi, li := ld(Mem{Base: x}), ld(Mem{Base: l})
		pos := cmp(li, pGT, zeroWord)
		sg := vsigmoid(sel(pos, neg(li), li))
		d := sel(pos, add(sub(xi, one), sg), sub(xi, sg))
		gv := YMM()
		VBROADCASTSS(paddr("gr"), gv)
		v := mul(gv, d)
		if accumulate {
			v = add(Mem{Base: dl}, v)
		}
		VMOVUPS(v, Mem{Base: dl})
	}
	twoLoops(n, acc, []Register{x, l, dl}, body)
}

// twoLoops emits a loop with body(false) when flag == 0 and body(true) otherwise.
func twoLoops(n, flag Register, ptrs []Register, body func(bool)) {
	TESTQ(flag, flag)
	JNZ(LabelRef("loop1"))
	loop(n, ptrs, func() { body(false) })
	Label("loop1")
	CMPQ(n, U32(8))
	JL(LabelRef("done1"))
	body(true)
	for _, r := range ptrs {
		ADDQ(U32(32), r)
	}
	SUBQ(U32(8), n)
	JMP(LabelRef("loop1"))
	Label("done1")
	VZEROUPPER()
	RET()
}

// gaussScaled is cpu.gaussScaled: s = (x-mu)*h (+0 when x == mu), h = Exp(-0.5*lv).
func gaussScaled(x, mu, lv Register) (s, h V) {
	d := sub(x, mu)
	h = vexp(mul(ld(kf(-0.5)), lv))
	s = sel(cmp(d, pEQ, zeroWord), zeroWord, mul(d, h))
	return s, h
}

const log2Pi = float32(1.837877)

func gaussTerms() {
	TEXT("gaussTerms8", NOSPLIT, "func(x, mu, lv, t *float32, n int)")
	Pragma("noescape")
	Doc("gaussTerms8 sets t[i] = FMA(s, s, Log2Pi + lv[i]) with s from gaussScaled, for",
		"i < n, n a multiple of 8: GaussianLoglik's terms. Requires AVX2 and FMA.")
	x, mu, lv, t, n := ptr("x"), ptr("mu"), ptr("lv"), ptr("t"), ptr("n")
	loop(n, []Register{x, mu, lv, t}, func() {
		lvi := ld(Mem{Base: lv})
		s, _ := gaussScaled(ld(Mem{Base: x}), ld(Mem{Base: mu}), lvi)
		VMOVUPS(fma(s, s, add(ld(kf(log2Pi)), lvi)), Mem{Base: t})
	})
}

// Flags of gaussBwd8.
const (
	gbDmu = 1
	gbDlv = 2
	gbAcc = 4
)

func gaussBwd() {
	TEXT("gaussBwd8", NOSPLIT, "func(x, mu, lv, dmu, dlv *float32, n int, gr float32, flags int)")
	Pragma("noescape")
	Doc("gaussBwd8 is GaussianLoglikBwd's loop over one row's n elements (n a multiple of 8)",
		"with upstream g: flags&1 computes dmu, flags&2 dlv, flags&4 accumulates (a nil",
		"output's pointer is never touched but still advanced). Requires AVX2 and FMA.")
	x, mu, lv, dmu, dlv, n := ptr("x"), ptr("mu"), ptr("lv"), ptr("dmu"), ptr("dlv"), ptr("n")
	flags := ptr("flags")
	// One loop per flag combination (flags&3 != 0).
	for f := 1; f < 8; f++ {
		if f&3 == 0 {
			continue
		}
		lbl := fmt.Sprintf("f%d", f)
		CMPQ(flags, U32(f))
		JE(LabelRef(lbl))
	}
	VZEROUPPER()
	RET()
	for f := 1; f < 8; f++ {
		if f&3 == 0 {
			continue
		}
		Label(fmt.Sprintf("f%d", f))
		Label(fmt.Sprintf("loop%d", f))
		CMPQ(n, U32(8))
		JL(LabelRef(fmt.Sprintf("done%d", f)))
		s, h := gaussScaled(ld(Mem{Base: x}), ld(Mem{Base: mu}), ld(Mem{Base: lv}))
		gv := YMM()
		VBROADCASTSS(paddr("gr"), gv)
		if f&gbDmu != 0 {
			sh := sel(cmp(s, pEQ, zeroWord), zeroWord, mul(s, h))
			v := mul(gv, sh)
			if f&gbAcc != 0 {
				v = add(Mem{Base: dmu}, v)
			}
			VMOVUPS(v, Mem{Base: dmu})
		}
		if f&gbDlv != 0 {
			v := mul(gv, mul(ld(kf(0.5)), fma(s, s, kf(-1))))
			if f&gbAcc != 0 {
				v = add(Mem{Base: dlv}, v)
			}
			VMOVUPS(v, Mem{Base: dlv})
		}
		for _, r := range []Register{x, mu, lv, dmu, dlv} {
			ADDQ(U32(32), r)
		}
		SUBQ(U32(8), n)
		JMP(LabelRef(fmt.Sprintf("loop%d", f)))
		Label(fmt.Sprintf("done%d", f))
		VZEROUPPER()
		RET()
	}
}

func reparamZ() {
	TEXT("reparamZ8", NOSPLIT, "func(m, lv, eps, z *float32, n int)")
	Pragma("noescape")
	Doc("reparamZ8 sets z[i] = FMA(Exp(0.5*lv[i]), eps[i], m[i]) for i < n, n a multiple",
		"of 8: Reparam's transform of its normals. Requires AVX2 and FMA.")
	m, lv, eps, z, n := ptr("m"), ptr("lv"), ptr("eps"), ptr("z"), ptr("n")
	loop(n, []Register{m, lv, eps, z}, func() {
		s := vexp(mul(ld(kf(0.5)), Mem{Base: lv}))
		VMOVUPS(fma(s, Mem{Base: eps}, Mem{Base: m}), Mem{Base: z})
	})
}

func reparamBwd() {
	TEXT("reparamBwdLv8", NOSPLIT, "func(lv, eps, dz, dlv *float32, n int, acc int)")
	Pragma("noescape")
	Doc("reparamBwdLv8 computes ReparamBwd's dlv[i] (+)= (dz[i]*eps[i]) * (0.5*Exp(0.5*lv[i]))",
		"for i < n, n a multiple of 8 (adding when acc != 0). Requires AVX2 and FMA.")
	lv, eps, dz, dlv, n, acc := ptr("lv"), ptr("eps"), ptr("dz"), ptr("dlv"), ptr("n"), ptr("acc")
	twoLoops(n, acc, []Register{lv, eps, dz, dlv}, func(accumulate bool) {
		hs := mul(ld(kf(0.5)), vexp(mul(ld(kf(0.5)), Mem{Base: lv})))
		v := mul(mul(ld(Mem{Base: dz}), Mem{Base: eps}), hs)
		if accumulate {
			v = add(Mem{Base: dlv}, v)
		}
		VMOVUPS(v, Mem{Base: dlv})
	})
}

// ---- Philox-4x32-10 (philox.go), 8 blocks per iteration, one per 32-bit lane ----

var iota8 Mem

// laneIota returns the vector (0, 1, ..., 7).
func laneIota() Mem {
	if iota8.Symbol.Name == "" {
		iota8 = GLOBL("ewconst_iota8", RODATA|NOPTR)
		for i := 0; i < 8; i++ {
			DATA(4*i, U32(uint32(i)))
		}
	}
	return iota8
}

func ixor(a, b Op) V { t := YMM(); VPXOR(b, reg(a), t); return t }

// mulhilo returns the high and low 32 bits of the 64-bit products m*c per lane.
func mulhilo(m uint32, c Register) (hi, lo V) {
	even := YMM()
	VPMULUDQ(ku(m), c, even) // lanes 0, 2, 4, 6 as 64-bit products
	codd := YMM()
	VPSRLQ(U8(32), c, codd)
	odd := YMM()
	VPMULUDQ(ku(m), codd, odd) // lanes 1, 3, 5, 7
	evenHi := YMM()
	VPSRLQ(U8(32), even, evenHi)
	hi = YMM()
	VPBLENDD(U8(0xaa), odd, evenHi, hi)
	oddLo := YMM()
	VPSLLQ(U8(32), odd, oddLo)
	lo = YMM()
	VPBLENDD(U8(0xaa), oddLo, even, lo)
	return hi, lo
}

// uniform is philox.Uniform: float32((w>>9)*2+1) * 2^-24, exactly.
func uniform(w Register) V {
	t := YMM()
	VPSRLD(U8(9), w, t)
	VPSLLD(U8(1), t, t)
	VPOR(ki(1), t, t)
	return mul(cvt(t), kf(1.0/(1<<24)))
}

// sincos2pi is fmath.Sincos2Pi.
func sincos2pi(u Register) (ss, cc V) {
	a := and(u, absMask)
	n := sel(cmp(a, pLT, kf(8388608)), sub(add(a, kf(8388608)), kf(8388608)), a)
	v := sub(a, n)
	t := fma(v, kf(4), kf(rintMagic))
	qf := sub(t, kf(rintMagic))
	q := and(isub(t, ki(rintMagicBits)), ki(3))
	w := fma(qf, kf(-0.25), v)
	z := mul(w, w)
	ps := fma(ld(kf(42.058693)), z, kf(-76.70586))
	ps = fma(ps, z, kf(81.60525))
	ps = fma(ps, z, kf(-41.3417))
	ps = fma(ps, z, kf(-1.7484555e-07))
	sw := fma(w, kf(6.2831855), mul(w, ps))
	pc := fma(ld(kf(-26.426256)), z, kf(60.24464))
	pc = fma(pc, z, kf(-85.45682))
	pc = fma(pc, z, kf(64.93939))
	pc = fma(pc, z, kf(-19.739208))
	cw := fma(z, pc, one)
	nsw := sub(zero(), sw) // 0 - sw
	ncw := sub(zero(), cw)
	ieq := func(v int32) V { t := YMM(); VPCMPEQD(ki(v), q, t); return t }
	q1, q2, q3 := ieq(1), ieq(2), ieq(3)
	ss = sel(q3, ncw, sel(q2, nsw, sel(q1, cw, sw)))
	cc = sel(q3, sw, sel(q2, ncw, sel(q1, nsw, cw)))
	ss = ixor(ss, and(u, signBit)) // if u < 0 (sign bit): ss = -ss
	bad := cmp(sub(u, u), pNEQ, zeroWord)
	return sel(bad, nan, ss), sel(bad, nan, cc)
}

// boxMuller is philox.BoxMuller on words wa, wb.
func boxMuller(wa, wb Register) (n0, n1 V) {
	r := sqrt(mul(vlog(uniform(wa)), kf(-2)))
	s, c := sincos2pi(uniform(wb))
	return mul(r, c), mul(r, s)
}

// philox emits philoxUniform8 or philoxNormal8.
func philox(normal bool) {
	name, what := "philoxUniform8", "uniforms (philox.Uniform)"
	if normal {
		name, what = "philoxNormal8", "normals (philox.Normal4)"
	}
	TEXT(name, NOSPLIT, "func(out *float32, nblk int, key0, key1, ctr0, ctr1, ctr2, ctr3 uint32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s writes the %s of nblk Philox-4x32-10 blocks (nblk a", name, what),
		"multiple of 8) to out, 4 per block in element order: block j has the counter",
		"(ctr0 + j, ctr1, ctr2, ctr3) (ctr0 + nblk - 1 must not wrap) and the key (key0, key1).",
		"Requires AVX2 and FMA.")
	out, n := ptr("out"), ptr("nblk")
	b := func(name string) V {
		g := Load(Param(name), GP32())
		x := XMM()
		VMOVD(g, x)
		t := YMM()
		VPBROADCASTD(x, t)
		return t
	}
	ctr := iadd(b("ctr0"), laneIota())
	Label("loop")
	CMPQ(n, U32(8))
	JL(LabelRef("done"))
	c := [4]Register{ctr, b("ctr1"), b("ctr2"), b("ctr3")}
	k0, k1 := Register(b("key0")), Register(b("key1"))
	for r := 0; r < 10; r++ {
		if r > 0 {
			k0 = iadd(k0, ku(0x9E3779B9))
			k1 = iadd(k1, ku(0xBB67AE85))
		}
		hi0, lo0 := mulhilo(0xD2511F53, c[0])
		hi1, lo1 := mulhilo(0xCD9E8D57, c[2])
		c = [4]Register{ixor(ixor(hi1, c[1]), k0), lo1, ixor(ixor(hi0, c[3]), k1), lo0}
	}
	var w [4]Register
	if normal {
		n0, n1 := boxMuller(c[0], c[1])
		n2, n3 := boxMuller(c[2], c[3])
		w = [4]Register{n0, n1, n2, n3}
	} else {
		for j := range w {
			w[j] = uniform(c[j])
		}
	}
	// Transpose: lane l of w[j] is element 4l + j.
	unpack := func(f func(...Op), a, b Register) V { t := YMM(); f(b, a, t); return t }
	t0 := unpack(VPUNPCKLDQ, w[0], w[1])
	t1 := unpack(VPUNPCKHDQ, w[0], w[1])
	t2 := unpack(VPUNPCKLDQ, w[2], w[3])
	t3 := unpack(VPUNPCKHDQ, w[2], w[3])
	u0 := unpack(VPUNPCKLQDQ, t0, t2) // blocks 0 | 4
	u1 := unpack(VPUNPCKHQDQ, t0, t2) // blocks 1 | 5
	u2 := unpack(VPUNPCKLQDQ, t1, t3) // blocks 2 | 6
	u3 := unpack(VPUNPCKHQDQ, t1, t3) // blocks 3 | 7
	perm := func(imm uint8, a, b Register) V { t := YMM(); VPERM2I128(U8(imm), b, a, t); return t }
	VMOVUPS(perm(0x20, u0, u1), Mem{Base: out})
	VMOVUPS(perm(0x20, u2, u3), Mem{Base: out, Disp: 32})
	VMOVUPS(perm(0x31, u0, u1), Mem{Base: out, Disp: 64})
	VMOVUPS(perm(0x31, u2, u3), Mem{Base: out, Disp: 96})
	VPADDD(ki(8), ctr, ctr)
	ADDQ(U32(128), out)
	SUBQ(U32(8), n)
	JMP(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

func binarize() {
	TEXT("binarize8", NOSPLIT, "func(p, x *float32, n int)")
	Pragma("noescape")
	Doc("binarize8 sets x[i] = x[i] < p[i] ? 1 : 0 for i < n, n a multiple of 8: Binarize's",
		"comparison, with the uniforms already in x. Requires AVX.")
	p, x, n := ptr("p"), ptr("x"), ptr("n")
	loop(n, []Register{p, x}, func() {
		VMOVUPS(and(cmp(ld(Mem{Base: x}), pLT, Mem{Base: p}), one), Mem{Base: x})
	})
}

// mixTerms emits mixTerms8 (e given) or mixTermsExp8 (e = Exp(-lv) computed):
// t[i] = FMA((z-mu)*(z-mu), e, Log2Pi + lv), cpu.mixTerm.
func mixTerms(withExp bool) {
	name, sig := "mixTerms8", "func(z, mu, lv, e, t *float32, n int)"
	if withExp {
		name, sig = "mixTermsExp8", "func(z, mu, lv, t *float32, n int)"
	}
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	if withExp {
		Doc(name+" sets t[i] = mixTerm(z[i], mu[i], lv[i], Exp(-lv[i])) for i < n, n a multiple",
			"of 8. Requires AVX2 and FMA.")
	} else {
		Doc(name+" sets t[i] = mixTerm(z[i], mu[i], lv[i], e[i]) for i < n, n a multiple of 8.",
			"Requires AVX2 and FMA.")
	}
	z, mu, lv, t, n := ptr("z"), ptr("mu"), ptr("lv"), ptr("t"), ptr("n")
	ptrs := []Register{z, mu, lv, t}
	var e Register
	if !withExp {
		e = ptr("e")
		ptrs = append(ptrs, e)
	}
	loop(n, ptrs, func() {
		lvi := ld(Mem{Base: lv})
		var ev Op
		if withExp {
			ev = vexp(neg(lvi))
		} else {
			ev = Mem{Base: e}
		}
		diff := sub(ld(Mem{Base: z}), Mem{Base: mu})
		q := mul(diff, diff)
		VMOVUPS(fma(q, ev, add(ld(kf(log2Pi)), lvi)), Mem{Base: t})
	})
}

// sum32 emits sum32Acc8: the lane partials of cpu.Sum32.
func sum32() {
	TEXT("sum32Acc8", NOSPLIT, "func(t *float32, n int, lanes *float32)")
	Pragma("noescape")
	Doc("sum32Acc8 adds t[i] to lanes[i%32] (lanes = lanes + t, one rounding each) for",
		"i < n in increasing i, n a multiple of 8: Sum32's lane partials. Requires AVX.")
	t, n, lanes := ptr("t"), ptr("n"), ptr("lanes")
	var acc [4]VecVirtual
	for j := range acc {
		acc[j] = YMM()
		VMOVUPS(Mem{Base: lanes, Disp: 32 * j}, acc[j])
	}
	Label("loop32")
	CMPQ(n, U32(32))
	JL(LabelRef("tail"))
	for j := range acc {
		VADDPS(Mem{Base: t, Disp: 32 * j}, acc[j], acc[j])
	}
	ADDQ(U32(128), t)
	SUBQ(U32(32), n)
	JMP(LabelRef("loop32"))
	Label("tail")
	// n is 0, 8, 16 or 24 here.
	for j := 0; j < 3; j++ {
		CMPQ(n, U32(8*(j+1)))
		JL(LabelRef("store"))
		VADDPS(Mem{Base: t, Disp: 32 * j}, acc[j], acc[j])
	}
	Label("store")
	for j := range acc {
		VMOVUPS(acc[j], Mem{Base: lanes, Disp: 32 * j})
	}
	VZEROUPPER()
	RET()
}

// actBwd emits one activation's ActBwd loop: dx (+)= dy * grad(src).
func actBwd(name, grad, src string, f func(Register) V) {
	TEXT(name, NOSPLIT, "func(src, dy, dx *float32, n int, acc int)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s sets dx[i] (+)= dy[i] * %s with %s = src[i], for i < n, n a", name, grad, src),
		"multiple of 8 (the product rounded; adding when acc != 0): ActBwd's loop. Requires",
		"AVX2 and FMA.")
	sp, dy, dx, n, acc := ptr("src"), ptr("dy"), ptr("dx"), ptr("n"), ptr("acc")
	twoLoops(n, acc, []Register{sp, dy, dx}, func(accumulate bool) {
		v := mul(ld(Mem{Base: dy}), f(ld(Mem{Base: sp})))
		if accumulate {
			v = add(Mem{Base: dx}, v)
		}
		VMOVUPS(v, Mem{Base: dx})
	})
}

// klTerms emits klTerms8 (e given) or klTermsExp8 (e = Exp(-lv)): t[i] = cpu.klTerm.
func klTerms(withExp bool) {
	name, sig := "klTerms8", "func(m, s, mu, lv, es, e, t *float32, n int)"
	if withExp {
		name, sig = "klTermsExp8", "func(m, s, mu, lv, es, t *float32, n int)"
	}
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	Doc(name+" sets t[i] = klTerm(m[i], s[i], mu[i], lv[i], es[i], e) for i < n, n a multiple",
		"of 8, with e = e[i] or (klTermsExp8) Exp(-lv[i]). Requires AVX2 and FMA.")
	m, sv, mu, lv, es, t, n := ptr("m"), ptr("s"), ptr("mu"), ptr("lv"), ptr("es"), ptr("t"), ptr("n")
	ptrs := []Register{m, sv, mu, lv, es, t}
	var e Register
	if !withExp {
		e = ptr("e")
		ptrs = append(ptrs, e)
	}
	loop(n, ptrs, func() {
		lvi := ld(Mem{Base: lv})
		var ev Op
		if withExp {
			ev = vexp(neg(lvi))
		} else {
			ev = Mem{Base: e}
		}
		diff := sub(ld(Mem{Base: m}), Mem{Base: mu})
		a := fma(diff, diff, Mem{Base: es})
		c := sub(sub(lvi, Mem{Base: sv}), one) // (lv - s) - 1
		VMOVUPS(fma(a, ev, c), Mem{Base: t})
	})
}

var labelN int

// newLabel returns a fresh label name.
func newLabel(prefix string) string {
	labelN++
	return fmt.Sprintf("%s%d", prefix, labelN)
}

// ifFlag emits body only when flags & bit != 0 (at run time).
func ifFlag(flags Register, bit uint32, body func()) {
	skip := newLabel("skip")
	TESTQ(U32(bit), flags)
	JZ(LabelRef(skip))
	body()
	Label(skip)
}

// storeAcc emits dst (+)= v: with flags&accBit, dst = dst + v.
func storeAcc(v Register, dst Mem, flags Register, accBit uint32) {
	plain, done := newLabel("plain"), newLabel("stored")
	TESTQ(U32(accBit), flags)
	JZ(LabelRef(plain))
	VMOVUPS(add(dst, v), dst)
	JMP(LabelRef(done))
	Label(plain)
	VMOVUPS(v, dst)
	Label(done)
}

// dLoop emits a loop over nd (a multiple of 8) in blocks of 8, advancing ptrs by 32
// bytes, then VZEROUPPER and RET.
func dLoop(nd Register, ptrs []Register, body func()) {
	top, done := newLabel("dloop"), newLabel("ddone")
	Label(top)
	CMPQ(nd, U32(8))
	JL(LabelRef(done))
	body()
	for _, p := range ptrs {
		ADDQ(U32(32), p)
	}
	SUBQ(U32(8), nd)
	JMP(LabelRef(top))
	Label(done)
	VZEROUPPER()
	RET()
}

// mixBwdZ emits mixBwdZ8 (e from a table) or mixBwdZExp8 (e = Exp(-lv)): MixtureBwdZ's
// chains over k for one sample n.
func mixBwdZ(withExp bool) {
	name := "mixBwdZ8"
	if withExp {
		name = "mixBwdZExp8"
	}
	TEXT(name, NOSPLIT, "func(z, mu, e, gl, dz *float32, nd, K, kstride, acc int)")
	Pragma("noescape")
	Doc(name+" computes MixtureBwdZ for one sample: for d < nd (a multiple of 8),",
		"acc_d = FMA(gl[k], (z[d]-mu_k[d])*e_k[d], acc_d) over k = 0..K-1 from +0, with mu_k and",
		"e_k kstride bytes apart ("+map[bool]string{false: "e_k[d] from the table e", true: "e_k[d] = Exp(-lv_k[d]), lv at e"}[withExp]+"),",
		"then dz[d] = -acc_d, or dz[d] - acc_d when acc != 0. Requires AVX2 and FMA.")
	z, mu, e, gl, dz := ptr("z"), ptr("mu"), ptr("e"), ptr("gl"), ptr("dz")
	nd, K, ks, acc := ptr("nd"), ptr("K"), ptr("kstride"), ptr("acc")
	dLoop(nd, []Register{z, mu, e, dz}, func() {
		zv := ld(Mem{Base: z})
		a := zero()
		k, off, g := GP64(), GP64(), GP64()
		MOVQ(K, k)
		XORQ(off, off)
		MOVQ(gl, g)
		top, done := newLabel("kloop"), newLabel("kdone")
		Label(top)
		TESTQ(k, k)
		JZ(LabelRef(done))
		var ev Op = Mem{Base: e, Index: off, Scale: 1}
		if withExp {
			ev = vexp(neg(ld(Mem{Base: e, Index: off, Scale: 1})))
		}
		u := mul(sub(zv, Mem{Base: mu, Index: off, Scale: 1}), ev)
		gv := YMM()
		VBROADCASTSS(Mem{Base: g}, gv)
		VFMADD231PS(u, gv, a) // a = g*u + a
		ADDQ(ks, off)
		ADDQ(U32(4), g)
		DECQ(k)
		JMP(LabelRef(top))
		Label(done)
		plain, stored := newLabel("plain"), newLabel("stored")
		TESTQ(acc, acc)
		JZ(LabelRef(plain))
		VMOVUPS(sub(ld(Mem{Base: dz}), a), Mem{Base: dz})
		JMP(LabelRef(stored))
		Label(plain)
		VMOVUPS(neg(a), Mem{Base: dz})
		Label(stored)
	})
}

// mixBwdPS emits mixBwdPS8: MixtureBwdParams' per-sample elementwise loop for one
// (n, k).
func mixBwdPS() {
	TEXT("mixBwdPS8", NOSPLIT, "func(z, mu, lv, dmu, dlv *float32, nd int, gr float32, flags int)")
	Pragma("noescape")
	Doc("mixBwdPS8 computes MixtureBwdParams' per-sample gradients of one (n, k) for d < nd",
		"(a multiple of 8): with diff = z-mu, e = Exp(-lv): dmu (+)= g*mixGradMu(diff, e)",
		"(flags&1), dlv (+)= g*mixGradLv(diff, e) (flags&2), adding when flags&4. Requires",
		"AVX2 and FMA.")
	z, mu, lv, dmu, dlv, nd, flags := ptr("z"), ptr("mu"), ptr("lv"), ptr("dmu"), ptr("dlv"), ptr("nd"), ptr("flags")
	dLoop(nd, []Register{z, mu, lv, dmu, dlv}, func() {
		diff := sub(ld(Mem{Base: z}), Mem{Base: mu})
		e := vexp(neg(ld(Mem{Base: lv})))
		ifFlag(flags, 1, func() {
			gv := YMM()
			VBROADCASTSS(paddr("gr"), gv)
			storeAcc(mul(gv, mul(diff, e)), Mem{Base: dmu}, flags, 4)
		})
		ifFlag(flags, 2, func() {
			gv := YMM()
			VBROADCASTSS(paddr("gr"), gv)
			h := mul(ld(kf(-0.5)), fma(neg(mul(diff, diff)), e, one))
			storeAcc(mul(gv, h), Mem{Base: dlv}, flags, 4)
		})
	})
}

// klBwdQ emits klBwdQ8 (e from a table) or klBwdQExp8 (e = Exp(-lv)): KlMixtureBwd's
// chains over k for the q gradients of one sample n.
func klBwdQ(withExp bool) {
	name := "klBwdQ8"
	if withExp {
		name = "klBwdQExp8"
	}
	TEXT(name, NOSPLIT, "func(m, es, mu, e, gk, dm, ds *float32, nd, K, kstride, flags int)")
	Pragma("noescape")
	Doc(name+" computes KlMixtureBwd's dm, ds for one sample: for d < nd (a multiple of 8),",
		"over k = 0..K-1 from +0: am = FMA(gk[k], (m-mu_k)*e_k, am),",
		"as = FMA(gk[k], FMA(es, e_k, -1), as), with mu_k and e_k kstride bytes apart",
		"("+map[bool]string{false: "e_k from the table e", true: "e_k = Exp(-lv_k), lv at e"}[withExp]+");",
		"then dm (+)= am (flags&1), ds (+)= 0.5*as (flags&2), adding when flags&4.",
		"Requires AVX2 and FMA.")
	m, es, mu, e, gk, dm, ds := ptr("m"), ptr("es"), ptr("mu"), ptr("e"), ptr("gk"), ptr("dm"), ptr("ds")
	nd, K, ks, flags := ptr("nd"), ptr("K"), ptr("kstride"), ptr("flags")
	dLoop(nd, []Register{m, es, mu, e, dm, ds}, func() {
		mv, esv := ld(Mem{Base: m}), ld(Mem{Base: es})
		am, as := zero(), zero()
		k, off, g := GP64(), GP64(), GP64()
		MOVQ(K, k)
		XORQ(off, off)
		MOVQ(gk, g)
		top, done := newLabel("kloop"), newLabel("kdone")
		Label(top)
		TESTQ(k, k)
		JZ(LabelRef(done))
		var ev Register
		if withExp {
			ev = vexp(neg(ld(Mem{Base: e, Index: off, Scale: 1})))
		} else {
			ev = ld(Mem{Base: e, Index: off, Scale: 1})
		}
		u := mul(sub(mv, Mem{Base: mu, Index: off, Scale: 1}), ev)
		w := fma(esv, ev, kf(-1))
		gv := YMM()
		VBROADCASTSS(Mem{Base: g}, gv)
		VFMADD231PS(u, gv, am)
		VFMADD231PS(w, gv, as)
		ADDQ(ks, off)
		ADDQ(U32(4), g)
		DECQ(k)
		JMP(LabelRef(top))
		Label(done)
		ifFlag(flags, 1, func() { storeAcc(am, Mem{Base: dm}, flags, 4) })
		ifFlag(flags, 2, func() { storeAcc(mul(ld(kf(0.5)), as), Mem{Base: ds}, flags, 4) })
	})
}

// klBwdPPS emits klBwdPPS8: KlMixtureBwd's per-sample p gradients of one (n, k).
func klBwdPPS() {
	TEXT("klBwdPPS8", NOSPLIT, "func(m, es, mu, lv, dmu, dlv *float32, nd int, gr float32, flags int)")
	Pragma("noescape")
	Doc("klBwdPPS8 computes KlMixtureBwd's per-sample dmu, dlv of one (n, k) for d < nd (a",
		"multiple of 8): with diff = m-mu, e = Exp(-lv): dmu (+)= -(g*(diff*e)) (flags&1),",
		"dlv (+)= 0.5*(g*FMA(-FMA(diff, diff, es), e, 1)) (flags&2), adding when flags&4.",
		"Requires AVX2 and FMA.")
	m, es, mu, lv, dmu, dlv := ptr("m"), ptr("es"), ptr("mu"), ptr("lv"), ptr("dmu"), ptr("dlv")
	nd, flags := ptr("nd"), ptr("flags")
	dLoop(nd, []Register{m, es, mu, lv, dmu, dlv}, func() {
		diff := sub(ld(Mem{Base: m}), Mem{Base: mu})
		e := vexp(neg(ld(Mem{Base: lv})))
		ifFlag(flags, 1, func() {
			gv := YMM()
			VBROADCASTSS(paddr("gr"), gv)
			storeAcc(neg(mul(gv, mul(diff, e))), Mem{Base: dmu}, flags, 4)
		})
		ifFlag(flags, 2, func() {
			gv := YMM()
			VBROADCASTSS(paddr("gr"), gv)
			r := fma(neg(fma(diff, diff, Mem{Base: es})), e, one)
			storeAcc(mul(ld(kf(0.5)), mul(gv, r)), Mem{Base: dlv}, flags, 4)
		})
	})
}
