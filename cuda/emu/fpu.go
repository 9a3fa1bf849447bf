package emu

import (
	"math"
	"math/big"
)

func nextUp32(x float32) float32   { return math.Nextafter32(x, float32(math.Inf(1))) }
func nextDown32(x float32) float32 { return math.Nextafter32(x, float32(math.Inf(-1))) }

// roundBig rounds an exact value to float32 or float64 with a directed rounding mode
// (rndRN, rndRZ, rndRM, rndRP), subnormals and overflow included.
func roundBig(z *big.Float, rnd uint8, single bool) uint64 {
	sign := z.Sign()
	if single {
		r, acc := z.Float32()
		switch {
		case rnd == rndRZ && (acc == big.Above && sign > 0 || acc == big.Below && sign < 0):
			r = math.Nextafter32(r, 0)
		case rnd == rndRM && acc == big.Above:
			r = nextDown32(r)
		case rnd == rndRP && acc == big.Below:
			r = nextUp32(r)
		}
		return uint64(math.Float32bits(r))
	}
	r, acc := z.Float64()
	switch {
	case rnd == rndRZ && (acc == big.Above && sign > 0 || acc == big.Below && sign < 0):
		r = math.Nextafter(r, 0)
	case rnd == rndRM && acc == big.Above:
		r = math.Nextafter(r, math.Inf(-1))
	case rnd == rndRP && acc == big.Below:
		r = math.Nextafter(r, math.Inf(1))
	}
	return math.Float64bits(r)
}

// directed computes add/sub/mul/fma with .rz, .rm or .rp exactly (slow path).
func directed(in *inst, a, b, c uint64) uint64 {
	single := in.ty == tF32
	var x, y, z float64
	if single {
		x, y, z = float64(f32(a)), float64(f32(b)), float64(f32(c))
	} else {
		x, y, z = f64(a), f64(b), f64(c)
	}
	rnd := uint8(in.imm)
	ops := []float64{x, y}
	if in.mod == fopFma {
		ops = append(ops, z)
	}
	special := false
	for _, v := range ops {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			special = true
		}
	}
	if special { // Inf and NaN results do not depend on the rounding mode
		var r float64
		switch in.mod {
		case fopAdd:
			r = x + y
		case fopSub:
			r = x - y
		case fopMul:
			r = x * y
		case fopFma:
			r = math.FMA(x, y, z)
		}
		if single {
			return uint64(math.Float32bits(float32(r)))
		}
		return math.Float64bits(r)
	}
	// Exact zero results take their sign from IEEE 754 (6.3): a product's sign is the
	// xor of its factors'; a sum of two zeros of the same sign keeps it; any other
	// exact zero sum is +0, or -0 when rounding towards -Inf.
	zeroSum := func(p, q float64) uint64 {
		if p == 0 && q == 0 && math.Signbit(p) == math.Signbit(q) {
			if math.Signbit(p) {
				return negZero(single)
			}
			return 0
		}
		if rnd == rndRM {
			return negZero(single)
		}
		return 0
	}
	const prec = 2400 // exact for every sum and product of float64 values
	bx := new(big.Float).SetPrec(prec).SetFloat64(x)
	by := new(big.Float).SetPrec(prec).SetFloat64(y)
	r := new(big.Float).SetPrec(prec)
	switch in.mod {
	case fopAdd:
		if r.Add(bx, by); r.Sign() == 0 {
			return zeroSum(x, y)
		}
	case fopSub:
		if r.Sub(bx, by); r.Sign() == 0 {
			return zeroSum(x, -y)
		}
	case fopMul:
		if r.Mul(bx, by); r.Sign() == 0 {
			if math.Signbit(x) != math.Signbit(y) {
				return negZero(single)
			}
			return 0
		}
	case fopFma:
		bz := new(big.Float).SetPrec(prec).SetFloat64(z)
		p := new(big.Float).SetPrec(prec).Mul(bx, by)
		if r.Add(p, bz); r.Sign() == 0 {
			pz := 0.0 // the product as a float64 zero of the right sign, if it is zero
			if p.Sign() != 0 {
				pz = 1 // nonzero product cancelled by z
			} else if math.Signbit(x) != math.Signbit(y) {
				pz = math.Copysign(0, -1)
			}
			return zeroSum(pz, z)
		}
	}
	return roundBig(r, rnd, single)
}

func negZero(single bool) uint64 {
	if single {
		return 0x80000000
	}
	return 1 << 63
}

// roundInt rounds v to an integral value with rni/rzi/rmi/rpi.
func roundInt(v float64, rnd uint8) float64 {
	switch rnd {
	case rndRNI:
		return math.RoundToEven(v)
	case rndRZI:
		return math.Trunc(v)
	case rndRMI:
		return math.Floor(v)
	case rndRPI:
		return math.Ceil(v)
	}
	return v
}

// intValue returns the integer in x as type t: (negative, magnitude).
func intValue(t uint8, x uint64) (neg bool, mag uint64) {
	if isSigned(t) {
		s := sext(x, t)
		if s < 0 {
			return true, uint64(-s)
		}
		return false, uint64(s)
	}
	return false, normInt(x, t)
}

// cvt implements every cvt form the decoder accepts.
func cvt(dt, st, rnd uint8, sat bool, x uint64) uint64 {
	switch {
	case isFloat(st) && isFloat(dt):
		var v float64
		if st == tF32 {
			v = float64(f32(x))
		} else {
			v = f64(x)
		}
		if rnd >= rndRNI {
			v = roundInt(v, rnd)
		}
		if sat { // clamp to [+0, 1]; NaN and -0 give +0
			switch {
			case v != v, v <= 0:
				v = 0
			case v > 1:
				v = 1
			}
		}
		if dt == tF64 {
			return math.Float64bits(v)
		}
		if st == tF32 {
			return uint64(math.Float32bits(float32(v)))
		}
		return uint64(math.Float32bits(f64ToF32(v, rnd)))

	case isFloat(dt): // integer -> float
		neg, mag := intValue(st, x)
		single := dt == tF32
		var r float64
		if single {
			var f float32
			if neg {
				f = -float32(mag)
				if mag == 1<<63 {
					f = float32(int64(math.MinInt64))
				}
			} else {
				f = float32(mag)
			}
			r = float64(f)
		} else {
			if neg {
				r = -float64(mag)
			} else {
				r = float64(mag)
			}
		}
		if rnd != rndRN {
			exact := new(big.Float).SetUint64(mag)
			if neg {
				exact.Neg(exact)
			}
			exact.SetPrec(64)
			cmp := new(big.Float).SetFloat64(r).Cmp(exact) // r vs exact
			if cmp != 0 {
				up := func() {
					if single {
						r = float64(nextUp32(float32(r)))
					} else {
						r = math.Nextafter(r, math.Inf(1))
					}
				}
				down := func() {
					if single {
						r = float64(nextDown32(float32(r)))
					} else {
						r = math.Nextafter(r, math.Inf(-1))
					}
				}
				switch rnd {
				case rndRZ:
					if cmp > 0 && !neg {
						down()
					} else if cmp < 0 && neg {
						up()
					}
				case rndRM:
					if cmp > 0 {
						down()
					}
				case rndRP:
					if cmp < 0 {
						up()
					}
				}
			}
		}
		if sat {
			r = math.Max(0, math.Min(1, r))
		}
		if single {
			return uint64(math.Float32bits(float32(r)))
		}
		return math.Float64bits(r)

	case isFloat(st): // float -> integer: round, then saturate; NaN -> 0
		var v float64
		if st == tF32 {
			v = float64(f32(x))
		} else {
			v = f64(x)
		}
		if v != v {
			return 0
		}
		v = roundInt(v, rnd)
		w := typeBits(dt)
		if isSigned(dt) {
			lim := math.Ldexp(1, w-1) // 2^(w-1)
			switch {
			case v >= lim:
				return normInt(uint64(1)<<(w-1)-1, dt)
			case v <= -lim:
				return normInt(uint64(1)<<(w-1), dt)
			}
			return normInt(uint64(int64(v)), dt)
		}
		lim := math.Ldexp(1, w)
		switch {
		case v <= 0:
			return 0
		case v >= lim:
			return normInt(^uint64(0), dt)
		}
		return uint64(v)

	default: // integer -> integer
		if !sat {
			if isSigned(st) {
				return normInt(uint64(sext(x, st)), dt)
			}
			return normInt(normInt(x, st), dt)
		}
		neg, mag := intValue(st, x)
		w := typeBits(dt)
		if isSigned(dt) {
			max := uint64(1)<<(w-1) - 1
			if neg {
				if mag > max+1 {
					return normInt(uint64(1)<<(w-1), dt)
				}
				return normInt(-mag, dt)
			}
			if mag > max {
				return max
			}
			return mag
		}
		if neg {
			return 0
		}
		max := ^uint64(0) >> (64 - w)
		if mag > max {
			return max
		}
		return mag
	}
}

// f64ToF32 narrows v with rounding mode rnd (rndRN, rndRZ, rndRM, rndRP; integer
// roundings have already been applied and narrow exactly).
func f64ToF32(v float64, rnd uint8) float32 {
	r := float32(v) // round to nearest even
	if v != v || float64(r) == v {
		return r
	}
	switch rnd {
	case rndRZ:
		if math.Abs(float64(r)) > math.Abs(v) {
			r = math.Nextafter32(r, 0)
		}
	case rndRM:
		if float64(r) > v {
			r = nextDown32(r)
		}
	case rndRP:
		if float64(r) < v {
			r = nextUp32(r)
		}
	}
	return r
}
