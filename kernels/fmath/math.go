package fmath

import "math"

// Log2Pi is log(2*pi) rounded to float32 (GM_LOG_2PI, 0x3feb3f8e).
const Log2Pi float32 = 1.837877

// rintMagic is 1.5*2^23: adding it to |v| < 2^22 rounds v to the nearest integer
// (ties to even), and the integer is then the low bits of the sum's representation.
const (
	rintMagic     float32 = 12582912
	rintMagicBits int32   = 0x4b400000
)

var (
	inf32 = math.Float32frombits(0x7f800000)
	nan32 = math.Float32frombits(0x7fffffff)
)

func f2i(x float32) int32 { return int32(math.Float32bits(x)) }
func i2f(i int32) float32 { return math.Float32frombits(uint32(i)) }

// pow2i returns 2^k for -126 <= k <= 127 (gm_pow2i).
func pow2i(k int32) float32 { return i2f((k + 127) << 23) }

// copysign returns |a| with the sign bit of b (gm_copysign).
func copysign(a, b float32) float32 {
	return i2f(f2i(a)&0x7fffffff | f2i(b)&-0x80000000)
}

// Exp returns e^x (gm_exp). Max error 1 ulp (measured: see TestExp), subnormal results
// included. Exp(NaN) = NaN, Exp(+Inf) = +Inf, Exp(-Inf) = +0, overflow (x > 88.7228)
// gives +Inf, x < -103.98 gives +0.
//
// x = k*ln2 + r with k = rint(x/ln2), |r| <= ln2/2 (Cody-Waite with ln2 = L1 + L2,
// L1 = float32(ln2), x - k*L1 exact in the fma), e^r by a degree-7 Taylor polynomial
// in Horner form, e^x = e^r * 2^k through the exponent bits, in two exact steps and
// one final rounding when 2^k is not a normal float.
func Exp(x float32) float32 {
	if !(x == x) {
		return x + x
	}
	if x > 88.8 {
		return inf32
	}
	if x < -104 {
		return 0
	}
	t := FMA(x, 1.442695, rintMagic)
	kf := t - rintMagic
	k := f2i(t) - rintMagicBits
	r := FMA(kf, -0.6931472, x)
	r = FMA(kf, 1.9046542e-09, r)
	p := float32(0.0001984127)
	p = FMA(p, r, 0.0013888889)
	p = FMA(p, r, 0.008333334)
	p = FMA(p, r, 0.041666668)
	p = FMA(p, r, 0.16666667)
	p = FMA(p, r, 0.5)
	p = FMA(p, r, 1)
	p = FMA(p, r, 1)
	if k > 127 {
		p = float32(p * 2)
		k = k - 1
	} else if k < -126 {
		p = float32(p * pow2i(k+64))
		k = -64
	}
	return float32(p * pow2i(k))
}

// div1p returns n/(1+e) for finite e >= 0 with the rounding errors of 1+e and of the
// division corrected (gm_div1p).
func div1p(n, e float32) float32 {
	d := 1 + e
	var err float32
	if e >= 1 {
		err = (e - d) + 1
	} else {
		err = (1 - d) + e
	}
	q := n / d
	r := FMA(-q, d, n) - float32(q*err)
	return q + r/d
}

// logCore returns log(x) + c for finite x > 0 and a small correction c
// (gm_log_core; the FreeBSD logf scheme).
func logCore(x, c float32) float32 {
	k := int32(0)
	if x < 0x1p-126 {
		x = float32(x * 16777216)
		k = -24
	}
	ix := f2i(x) + (0x3f800000 - 0x3f3504f3)
	k = k + ix>>23 - 127
	ix = ix&0x007fffff + 0x3f3504f3
	f := i2f(ix) - 1
	s := f / (2 + f)
	z := float32(s * s)
	R := float32(0.24279079)
	R = FMA(R, z, 0.28498787)
	R = FMA(R, z, 0.40000972)
	R = FMA(R, z, 0.6666666)
	R = float32(z * R)
	hfsq := float32(float32(0.5*f) * f)
	dk := float32(k)
	lo := FMA(s, hfsq+R, FMA(dk, -1.9046542e-09, c))
	return FMA(dk, 0.6931472, f-(hfsq-lo))
}

// Log returns the natural logarithm of x (gm_log). Max error 1 ulp (measured: see
// TestLog). Log(+-0) = -Inf, Log(x<0) = NaN, Log(+Inf) = +Inf, Log(NaN) = NaN.
func Log(x float32) float32 {
	if !(x > 0) {
		if x == 0 {
			return -inf32
		}
		return nan32
	}
	if x == inf32 {
		return x
	}
	return logCore(x, 0)
}

// Log1p returns log(1+x), accurate near 0 (gm_log1p): u = 1+x is rounded and its
// exact rounding error, divided by u, is added as a first-order correction. Max error
// 1 ulp (measured: see TestLog1p). Log1p(+-0) = +-0, Log1p(-1) = -Inf,
// Log1p(x<-1) = NaN, Log1p(+Inf) = +Inf, Log1p(NaN) = NaN.
func Log1p(x float32) float32 {
	if !(x > -1) {
		if x == -1 {
			return -inf32
		}
		return nan32
	}
	if x == inf32 || x == 0 {
		return x
	}
	u := 1 + x
	var c float32
	if u > 2 {
		c = 1 - (u - x)
	} else {
		c = x - (u - 1)
	}
	c = c / u
	return logCore(u, c)
}

// Tanh returns tanh(x) (gm_tanh), odd: x + x^3*P(x^2) for |x| < 0.55 (P a degree-4
// minimax fit, relative error 2^-29.8), 1 - 2/(1+e^(2|x|)) for 0.55 <= |x| < 9.1,
// beyond +-1, with x's sign. Max error 1.5 ulp (measured: see TestTanh).
// Tanh(+-Inf) = +-1, Tanh(+-0) = +-0, Tanh(NaN) = NaN.
func Tanh(x float32) float32 {
	if !(x == x) {
		return x + x
	}
	a := copysign(x, 1)
	var y float32
	if a < 0.55 {
		z := float32(a * a)
		p := float32(-0.0062742396)
		p = FMA(p, z, 0.021071678)
		p = FMA(p, z, -0.05385231)
		p = FMA(p, z, 0.13332586)
		p = FMA(p, z, -0.33333316)
		y = FMA(float32(a*z), p, a)
	} else if a < 9.1 {
		y = 1 - div1p(2, Exp(float32(2*a)))
	} else {
		y = 1
	}
	return copysign(y, x)
}

// Sigmoid returns 1/(1+e^-x) without overflow (gm_sigmoid): 1/(1+e^-x) for x >= 0,
// e^x/(1+e^x) for x < 0, both with the rounding of 1+e and of the division corrected
// (div1p). Max error 2 ulp (measured: see TestSigmoid).
// Sigmoid(+Inf) = 1, Sigmoid(-Inf) = 0, Sigmoid(NaN) = NaN.
func Sigmoid(x float32) float32 {
	if !(x == x) {
		return x + x
	}
	if x >= 0 {
		return div1p(1, Exp(-x))
	}
	e := Exp(x)
	return div1p(e, e)
}

// Softplus returns log(1+e^x) = max(x,0) + log1p(e^-|x|) (gm_softplus; never
// overflows, equals x once the log1p term is below half an ulp of x). Max error 2 ulp
// (measured: see TestSoftplus). Softplus(+Inf) = +Inf, Softplus(-Inf) = +0,
// Softplus(NaN) = NaN.
func Softplus(x float32) float32 {
	if !(x == x) {
		return x + x
	}
	l := Log1p(Exp(copysign(x, -1)))
	if x > 0 {
		return x + l
	}
	return l
}
