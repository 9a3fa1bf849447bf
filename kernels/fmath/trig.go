package fmath

import (
	"math"
	"math/bits"
)

// trigCWMax: arguments up to it are reduced by Cody-Waite (trigReduceCW), larger ones by
// Payne-Hanek (trigReducePH) (GM_TRIG_CW_MAX).
const trigCWMax float32 = 131072

// sincosPoly evaluates sin(r) and cos(r) for |r| <= pi/4 (gm_sincos_poly).
func sincosPoly(r float32) (sr, cr float32) {
	z := float32(r * r)
	ps := float32(2.7557319e-06)
	ps = FMA(ps, z, -0.0001984127)
	ps = FMA(ps, z, 0.008333334)
	ps = FMA(ps, z, -0.16666667)
	sr = FMA(float32(r*z), ps, r)
	pc := float32(-2.755732e-07)
	pc = FMA(pc, z, 2.4801588e-05)
	pc = FMA(pc, z, -0.0013888889)
	pc = FMA(pc, z, 0.041666668)
	pc = FMA(pc, z, -0.5)
	cr = FMA(z, pc, 1)
	return sr, cr
}

// trigReduceCW: x = k*pi/2 + r with k = rint(x*2/pi), pi/2 = P1 + P2 + P3 (Cody-Waite,
// one fma per step, the first exact for |k| < 4.8e6); returns r and k mod 4
// (gm_trig_reduce_cw).
func trigReduceCW(x float32) (r float32, q int32) {
	t := FMA(x, 0.63661975, rintMagic)
	kf := t - rintMagic
	k := f2i(t) - rintMagicBits
	rr := FMA(kf, -1.5707964, x)
	rr = FMA(kf, 4.371139e-08, rr)
	r = FMA(kf, 1.7151245e-15, rr)
	return r, k & 3
}

// twoOverPi holds 2/pi in 32-bit fixed point after one zero word: word j holds the bits
// of weight 2^(31-32j) .. 2^(-32j) (gm_2opi_word).
var twoOverPi = [8]uint32{0, 0xa2f9836e, 0x4e441529, 0xfc2757d1, 0xf534ddc0, 0xdb629599, 0x3c439041, 0xfe5163ab}

// twoOverPiWindow returns 32 bits of twoOverPi's bit stream starting at bit b
// (gm_2opi_window).
func twoOverPiWindow(b int32) uint32 {
	j := b >> 5
	w := uint64(twoOverPi[j])<<32 | uint64(twoOverPi[j+1])
	return uint32(w >> (32 - b&31))
}

// trigReducePH: x = k*pi/2 + r for finite |x| >= 2^17 by Payne-Hanek in integers
// (gm_trig_reduce_ph): |x| = M*2^E, |x|*2/pi mod 4 = (M*W mod 2^96) * 2^-94 with W the
// 96-bit window of 2/pi from the bit of weight 2^(1-E); the fraction, rounded to
// |f| <= 1/2, keeps 64 bits, split exactly into fh + fl, and r = (fh + fl)*(P1 + P2).
func trigReducePH(x float32) (r float32, q int32) {
	ix := f2i(x)
	M := uint64(ix&0x007fffff | 0x00800000)
	E := (ix>>23)&0xff - 150
	b := E + 30
	w0 := uint64(twoOverPiWindow(b))
	w1 := uint64(twoOverPiWindow(b + 32))
	w2 := uint64(twoOverPiWindow(b + 64))
	p2 := M * w2
	p1 := M*w1 + p2>>32
	p0 := M*w0 + p1>>32
	hi, mid, lo := uint32(p0), uint32(p1), uint32(p2)
	q = int32(hi >> 30)
	f := uint64(hi&0x3fffffff)<<34 | uint64(mid)<<2 | uint64(lo>>30)
	neg := false
	if f >= 0x8000000000000000 {
		q = q + 1
		f = 0 - f
		neg = true
	}
	rr := float32(0)
	if f != 0 {
		lz := int32(bits.LeadingZeros64(f))
		m := f << lz
		fh := float32(float32(uint32(m>>40)) * pow2i(-24-lz))
		fl := float32(float32(uint32(m>>16)&0x00ffffff) * pow2i(-48-lz))
		rr = FMA(fh, 1.5707964, FMA(fl, 1.5707964, float32(fh*-4.371139e-08)))
	}
	if neg {
		rr = -rr
	}
	if x < 0 {
		rr = -rr
		q = -q
	}
	return rr, q & 3
}

// trigReduce reduces finite x to x = k*pi/2 + r, |r| <= ~pi/4, and returns sin(r),
// cos(r) and k mod 4 (gm_trig_reduce).
func trigReduce(x float32) (sr, cr float32, q int32) {
	var r float32
	if copysign(x, 1) <= trigCWMax {
		r, q = trigReduceCW(x)
	} else {
		r, q = trigReducePH(x)
	}
	sr, cr = sincosPoly(r)
	return sr, cr, q
}

// Sin returns sin(x) for any finite x (gm_sin): Cody-Waite reduction by pi/2 up to
// |x| = 2^17, Payne-Hanek beyond. Max error 2 ulp (measured: see TestSin). Sin(x) = x
// for |x| < 2^-12 (so Sin(+-0) = +-0); Sin(+-Inf) = Sin(NaN) = NaN.
func Sin(x float32) float32 {
	a := copysign(x, 1)
	if !(a <= math.MaxFloat32) {
		return nan32
	}
	if a < 0.000244140625 {
		return x
	}
	s, c, q := trigReduce(x)
	switch q {
	case 0:
		return s
	case 1:
		return c
	case 2:
		return -s
	}
	return -c
}

// Cos returns cos(x) for any finite x (gm_cos; reduction as in Sin). Max error 2 ulp
// (measured: see TestCos). Cos(+-Inf) = Cos(NaN) = NaN.
func Cos(x float32) float32 {
	if !(copysign(x, 1) <= math.MaxFloat32) {
		return nan32
	}
	s, c, q := trigReduce(x)
	switch q {
	case 0:
		return c
	case 1:
		return -s
	case 2:
		return -c
	}
	return s
}

// Sincos2Pi returns sin(2*pi*u) and cos(2*pi*u) for any finite u (gm_sincos2pi;
// Box-Muller's angle): v = u - rint(u) is exact, so is w = v - q/4 with q = rint(4v),
// and sin/cos(2*pi*w), |w| <= 1/8, come from polynomials in w (2*pi split in two for
// the leading term). Max error 1.5 ulp (measured: see TestSincos2Pi). Exact zeros are
// +0 in the cosine and carry u's sign in the sine (Sincos2Pi(n) = (+-0, 1) for integer
// n); non-finite u gives NaN in both.
func Sincos2Pi(u float32) (s, c float32) {
	if !(u-u == 0) {
		return nan32, nan32
	}
	a := copysign(u, 1)
	n := a
	if a < 8388608 {
		n = (a + 8388608) - 8388608
	}
	v := a - n
	t := FMA(v, 4, rintMagic)
	qf := t - rintMagic
	q := (f2i(t) - rintMagicBits) & 3
	w := FMA(qf, -0.25, v)
	z := float32(w * w)
	ps := float32(42.058693)
	ps = FMA(ps, z, -76.70586)
	ps = FMA(ps, z, 81.60525)
	ps = FMA(ps, z, -41.3417)
	ps = FMA(ps, z, -1.7484555e-07)
	sw := FMA(w, 6.2831855, float32(w*ps))
	pc := float32(-26.426256)
	pc = FMA(pc, z, 60.24464)
	pc = FMA(pc, z, -85.45682)
	pc = FMA(pc, z, 64.93939)
	pc = FMA(pc, z, -19.739208)
	cw := FMA(z, pc, 1)
	// 0 - v, not -v: an exact zero comes out +0; the sine then takes u's sign.
	var ss, cc float32
	switch q {
	case 0:
		ss, cc = sw, cw
	case 1:
		ss, cc = cw, 0-sw
	case 2:
		ss, cc = 0-sw, 0-cw
	default:
		ss, cc = 0-cw, sw
	}
	if f2i(u) < 0 {
		ss = -ss
	}
	return ss, cc
}
