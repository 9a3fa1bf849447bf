package kerneltest

// A model of gm_math.cuh (the twin kernels/fmath, line for line) in which any one
// float operation can be rounded towards zero instead of to nearest: the search for the
// hard inputs of hardinputs.go (TestHardInputsSearch) runs every function on many
// inputs with each operation so rounded in turn, and keeps inputs whose result changes.
// TestHardModelMatchesTwins keeps the model in step with the twins.

import (
	"math"
	"math/bits"

	"github.com/gmvae/gmvae/kernels/fmath"
)

// hm evaluates the model. Every operation has a static id (the call site's base plus
// the operation's index in its function); the operation whose id is mut rounds
// towards zero. In a run with record set, away collects the ids of the operations
// whose two roundings differ on this input (only their mutants can change a result).
type hm struct {
	mut    int
	record bool
	away   []int
}

func f32NextToZero(f float32) float32 {
	if f == 0 || f != f || math.IsInf(float64(f), 0) {
		return f
	}
	return math.Float32frombits(math.Float32bits(f) - 1)
}

// rz32 rounds the exact value s + e (s the float64 rounding of it, e its error) to
// float32 towards zero.
func rz32(s, e float64) float32 {
	if s != s || math.IsInf(s, 0) {
		return float32(s)
	}
	f := float32(s)
	if math.IsInf(float64(f), 0) {
		return float32(math.Copysign(math.MaxFloat32, s))
	}
	switch {
	case float64(f) == s:
		if e != 0 && (e < 0) != (s < 0) {
			f = f32NextToZero(f)
		}
	case math.Abs(float64(f)) > math.Abs(s):
		f = f32NextToZero(f)
	}
	return f
}

// rzFMA is a*b + c rounded once towards zero: a*b is exact in float64, and TwoSum
// gives the float64 sum's exact error.
func rzFMA(a, b, c float32) float32 {
	p, q := float64(a)*float64(b), float64(c)
	s := p + q
	if s != s || math.IsInf(s, 0) || math.IsInf(p, 0) || math.IsInf(q, 0) {
		return float32(s)
	}
	bb := s - p
	e := (p - (s - bb)) + (q - bb)
	if s == 0 && e == 0 {
		return float32(s) // an exact zero sum: +0, or -0 + -0
	}
	return rz32(s, e)
}

func rzMul(a, b float32) float32 { return rz32(float64(a)*float64(b), 0) }

// rzDiv is a/b towards zero: the float64 quotient of two float32 values is never a
// float32 value unless the quotient is exactly one (it has more than 2p+2 bits).
func rzDiv(a, b float32) float32 { return rz32(float64(a)/float64(b), 0) }

func (m *hm) pick(id int, rn, rz float32) float32 {
	if id == m.mut {
		return rz
	}
	if m.record && !SameF32(rn, rz) {
		m.away = append(m.away, id)
	}
	return rn
}

func (m *hm) fma(id int, a, b, c float32) float32 {
	if id != m.mut && !m.record {
		return fmath.FMA(a, b, c)
	}
	return m.pick(id, fmath.FMA(a, b, c), rzFMA(a, b, c))
}

func (m *hm) add(id int, a, b float32) float32 {
	if id != m.mut && !m.record {
		return a + b
	}
	return m.pick(id, a+b, rzFMA(a, 1, b))
}

func (m *hm) sub(id int, a, b float32) float32 { return m.add(id, a, -b) }

func (m *hm) mul(id int, a, b float32) float32 {
	if id != m.mut && !m.record {
		return float32(a * b)
	}
	return m.pick(id, float32(a*b), rzMul(a, b))
}

func (m *hm) div(id int, a, b float32) float32 {
	if id != m.mut && !m.record {
		return a / b
	}
	return m.pick(id, a/b, rzDiv(a, b))
}

// Call-site bases: the operations of one inlined copy of a function have ids base+i.
const (
	hmExp       = 0   // exp at top level
	hmTanhExp   = 100 // tanh's exp(2a)
	hmTanh      = 120 // tanh's own and its div1p
	hmSigPosExp = 200 // sigmoid, x >= 0: exp(-x)
	hmSigNegExp = 220 // sigmoid, x < 0: exp(x)
	hmSigPos    = 240 // its div1p
	hmSigNeg    = 260
	hmSpExp     = 300 // softplus: exp(-|x|)
	hmSpLog1p   = 320 // log1p of it
	hmSp        = 360
	hmLog       = 400 // log's log_core
	hmLog1p     = 500 // log1p's own, and its log_core at +20
	hmTrig      = 600 // sin/cos: reduction at +0 (Cody-Waite) / +10 (Payne-Hanek), poly at +20
	hmSc2pi     = 700
)

func (m *hm) pow2i(k int32) float32 { return math.Float32frombits(uint32((k + 127) << 23)) }

func (m *hm) exp(b int, x float32) float32 {
	if !(x == x) {
		return m.add(b+0, x, x)
	}
	if x > 88.8 {
		return float32(math.Inf(1))
	}
	if x < -104 {
		return 0
	}
	const magic = 12582912
	t := m.fma(b+1, x, 1.442695, magic)
	kf := m.sub(b+2, t, magic)
	k := int32(math.Float32bits(t)) - 0x4b400000
	r := m.fma(b+3, kf, -0.6931472, x)
	r = m.fma(b+4, kf, 1.9046542e-09, r)
	p := float32(0.0001984127)
	p = m.fma(b+5, p, r, 0.0013888889)
	p = m.fma(b+6, p, r, 0.008333334)
	p = m.fma(b+7, p, r, 0.041666668)
	p = m.fma(b+8, p, r, 0.16666667)
	p = m.fma(b+9, p, r, 0.5)
	p = m.fma(b+10, p, r, 1)
	p = m.fma(b+11, p, r, 1)
	if k > 127 {
		p = m.mul(b+12, p, 2)
		k--
	} else if k < -126 {
		p = m.mul(b+13, p, m.pow2i(k+64))
		k = -64
	}
	return m.mul(b+14, p, m.pow2i(k))
}

func (m *hm) div1p(b int, n, e float32) float32 {
	d := m.add(b+0, 1, e)
	var err float32
	if e >= 1 {
		err = m.add(b+1, m.sub(b+2, e, d), 1)
	} else {
		err = m.add(b+3, m.sub(b+4, 1, d), e)
	}
	q := m.div(b+5, n, d)
	r := m.sub(b+6, m.fma(b+7, -q, d, n), m.mul(b+8, q, err))
	return m.add(b+9, q, m.div(b+10, r, d))
}

func (m *hm) logCore(b int, x, c float32) float32 {
	k := int32(0)
	if x < 0x1p-126 {
		x = m.mul(b+0, x, 16777216)
		k = -24
	}
	ix := int32(math.Float32bits(x)) + (0x3f800000 - 0x3f3504f3)
	k = k + ix>>23 - 127
	ix = ix&0x007fffff + 0x3f3504f3
	f := m.sub(b+1, math.Float32frombits(uint32(ix)), 1)
	s := m.div(b+2, f, m.add(b+3, 2, f))
	z := m.mul(b+4, s, s)
	R := float32(0.24279079)
	R = m.fma(b+5, R, z, 0.28498787)
	R = m.fma(b+6, R, z, 0.40000972)
	R = m.fma(b+7, R, z, 0.6666666)
	R = m.mul(b+8, z, R)
	hfsq := m.mul(b+10, m.mul(b+9, 0.5, f), f)
	dk := float32(k) // exact: |k| < 2^24
	lo := m.fma(b+11, s, m.add(b+12, hfsq, R), m.fma(b+13, dk, -1.9046542e-09, c))
	return m.fma(b+14, dk, 0.6931472, m.sub(b+15, f, m.sub(b+16, hfsq, lo)))
}

func (m *hm) log(b int, x float32) float32 {
	if !(x > 0) {
		if x == 0 {
			return float32(math.Inf(-1))
		}
		return float32(math.NaN())
	}
	if math.IsInf(float64(x), 1) {
		return x
	}
	return m.logCore(b, x, 0)
}

func (m *hm) log1p(b int, x float32) float32 {
	if !(x > -1) {
		if x == -1 {
			return float32(math.Inf(-1))
		}
		return float32(math.NaN())
	}
	if math.IsInf(float64(x), 1) || x == 0 {
		return x
	}
	u := m.add(b+0, 1, x)
	var c float32
	if u > 2 {
		c = m.sub(b+1, 1, m.sub(b+2, u, x))
	} else {
		c = m.sub(b+3, x, m.sub(b+4, u, 1))
	}
	c = m.div(b+5, c, u)
	return m.logCore(b+20, u, c)
}

func (m *hm) tanh(x float32) float32 {
	const b = hmTanh
	if !(x == x) {
		return m.add(b+0, x, x)
	}
	a := math.Float32frombits(math.Float32bits(x) &^ (1 << 31))
	var y float32
	switch {
	case a < 0.55:
		z := m.mul(b+1, a, a)
		p := float32(-0.0062742396)
		p = m.fma(b+2, p, z, 0.021071678)
		p = m.fma(b+3, p, z, -0.05385231)
		p = m.fma(b+4, p, z, 0.13332586)
		p = m.fma(b+5, p, z, -0.33333316)
		y = m.fma(b+6, m.mul(b+7, a, z), p, a)
	case a < 9.1:
		y = m.sub(b+8, 1, m.div1p(b+10, 2, m.exp(hmTanhExp, m.mul(b+9, 2, a))))
	default:
		y = 1
	}
	return math.Float32frombits(math.Float32bits(y)&^(1<<31) | math.Float32bits(x)&(1<<31))
}

func (m *hm) sigmoid(x float32) float32 {
	if !(x == x) {
		return m.add(hmSigPos+19, x, x)
	}
	if x >= 0 {
		return m.div1p(hmSigPos, 1, m.exp(hmSigPosExp, -x))
	}
	e := m.exp(hmSigNegExp, x)
	return m.div1p(hmSigNeg, e, e)
}

func (m *hm) softplus(x float32) float32 {
	if !(x == x) {
		return m.add(hmSp+0, x, x)
	}
	l := m.log1p(hmSpLog1p, m.exp(hmSpExp, -float32(math.Abs(float64(x)))))
	if x > 0 {
		return m.add(hmSp+1, x, l)
	}
	return l
}

func (m *hm) sincosPoly(b int, r float32) (sr, cr float32) {
	z := m.mul(b+0, r, r)
	ps := float32(2.7557319e-06)
	ps = m.fma(b+1, ps, z, -0.0001984127)
	ps = m.fma(b+2, ps, z, 0.008333334)
	ps = m.fma(b+3, ps, z, -0.16666667)
	sr = m.fma(b+4, m.mul(b+5, r, z), ps, r)
	pc := float32(-2.755732e-07)
	pc = m.fma(b+6, pc, z, 2.4801588e-05)
	pc = m.fma(b+7, pc, z, -0.0013888889)
	pc = m.fma(b+8, pc, z, 0.041666668)
	pc = m.fma(b+9, pc, z, -0.5)
	cr = m.fma(b+10, z, pc, 1)
	return sr, cr
}

var hmTwoOverPi = [8]uint32{0, 0xa2f9836e, 0x4e441529, 0xfc2757d1, 0xf534ddc0, 0xdb629599, 0x3c439041, 0xfe5163ab}

func hmWindow(b int32) uint32 {
	j := b >> 5
	w := uint64(hmTwoOverPi[j])<<32 | uint64(hmTwoOverPi[j+1])
	return uint32(w >> (32 - b&31))
}

func (m *hm) trigReduce(x float32) (sr, cr float32, q int32) {
	const b = hmTrig
	var r float32
	if float32(math.Abs(float64(x))) <= 131072 {
		const magic = 12582912
		t := m.fma(b+0, x, 0.63661975, magic)
		kf := m.sub(b+1, t, magic)
		q = (int32(math.Float32bits(t)) - 0x4b400000) & 3
		rr := m.fma(b+2, kf, -1.5707964, x)
		rr = m.fma(b+3, kf, 4.371139e-08, rr)
		r = m.fma(b+4, kf, 1.7151245e-15, rr)
	} else {
		ix := int32(math.Float32bits(x))
		M := uint64(ix&0x007fffff | 0x00800000)
		E := (ix>>23)&0xff - 150
		bb := E + 30
		w0, w1, w2 := uint64(hmWindow(bb)), uint64(hmWindow(bb+32)), uint64(hmWindow(bb+64))
		p2 := M * w2
		p1 := M*w1 + p2>>32
		p0 := M*w0 + p1>>32
		hi, mid, lo := uint32(p0), uint32(p1), uint32(p2)
		q = int32(hi >> 30)
		f := uint64(hi&0x3fffffff)<<34 | uint64(mid)<<2 | uint64(lo>>30)
		neg := false
		if f >= 0x8000000000000000 {
			q++
			f = 0 - f
			neg = true
		}
		rr := float32(0)
		if f != 0 {
			lz := int32(bits.LeadingZeros64(f))
			mm := f << lz
			fh := m.mul(b+10, float32(uint32(mm>>40)), m.pow2i(-24-lz))
			fl := m.mul(b+11, float32(uint32(mm>>16)&0x00ffffff), m.pow2i(-48-lz))
			rr = m.fma(b+12, fh, 1.5707964, m.fma(b+13, fl, 1.5707964, m.mul(b+14, fh, -4.371139e-08)))
		}
		if neg {
			rr = -rr
		}
		if x < 0 {
			rr = -rr
			q = -q
		}
		r, q = rr, q&3
	}
	sr, cr = m.sincosPoly(b+20, r)
	return sr, cr, q
}

func (m *hm) sin(x float32) float32 {
	a := float32(math.Abs(float64(x)))
	if !(a <= math.MaxFloat32) {
		return float32(math.NaN())
	}
	if a < 0.000244140625 {
		return x
	}
	s, c, q := m.trigReduce(x)
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

func (m *hm) cos(x float32) float32 {
	if !(float32(math.Abs(float64(x))) <= math.MaxFloat32) {
		return float32(math.NaN())
	}
	s, c, q := m.trigReduce(x)
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

func (m *hm) sincos2pi(u float32) (s, c float32) {
	const b = hmSc2pi
	if !(m.sub(b+0, u, u) == 0) {
		nan := float32(math.NaN())
		return nan, nan
	}
	a := float32(math.Abs(float64(u)))
	n := a
	if a < 8388608 {
		n = m.sub(b+2, m.add(b+1, a, 8388608), 8388608)
	}
	v := m.sub(b+3, a, n)
	const magic = 12582912
	t := m.fma(b+4, v, 4, magic)
	qf := m.sub(b+5, t, magic)
	q := (int32(math.Float32bits(t)) - 0x4b400000) & 3
	w := m.fma(b+6, qf, -0.25, v)
	z := m.mul(b+7, w, w)
	ps := float32(42.058693)
	ps = m.fma(b+8, ps, z, -76.70586)
	ps = m.fma(b+9, ps, z, 81.60525)
	ps = m.fma(b+10, ps, z, -41.3417)
	ps = m.fma(b+11, ps, z, -1.7484555e-07)
	sw := m.fma(b+12, w, 6.2831855, m.mul(b+13, w, ps))
	pc := float32(-26.426256)
	pc = m.fma(b+14, pc, z, 60.24464)
	pc = m.fma(b+15, pc, z, -85.45682)
	pc = m.fma(b+16, pc, z, 64.93939)
	pc = m.fma(b+17, pc, z, -19.739208)
	cw := m.fma(b+18, z, pc, 1)
	var ss, cc float32
	switch q {
	case 0:
		ss, cc = sw, cw
	case 1:
		ss, cc = cw, m.sub(b+19, 0, sw)
	case 2:
		ss, cc = m.sub(b+20, 0, sw), m.sub(b+21, 0, cw)
	default:
		ss, cc = m.sub(b+22, 0, cw), sw
	}
	if int32(math.Float32bits(u)) < 0 {
		ss = -ss
	}
	return ss, cc
}
