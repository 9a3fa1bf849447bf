package emu

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"

	ieee "github.com/gmvae/gmvae/internal/f32"
)

// thread states.
const (
	stReady uint8 = iota
	stWarp        // waiting at a warp-synchronous instruction (shfl/vote/bar.warp.sync)
	stBar         // waiting at bar.sync
	stExit
)

// thread is one emulated CUDA thread.
type thread struct {
	regs  []uint64
	pc    int32
	state uint8
	lin   int    // linear index in the block
	tid   [3]int // threadIdx
	count uint64 // executed instructions
	local []byte
	linit []byte
	cache [4]*allocation // recently used global allocations
	cnext uint8
}

func f32(x uint64) float32     { return math.Float32frombits(uint32(x)) }
func f64(x uint64) float64     { return math.Float64frombits(x) }
func u32f(x float32) uint64    { return uint64(math.Float32bits(x)) }
func f32bits(x float32) uint32 { return math.Float32bits(x) }
func f64bits(x float64) uint64 { return math.Float64bits(x) }

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// run executes t until it exits, reaches a synchronisation point or faults.
func (b *blockRun) run(t *thread) error {
	r := t.regs
	code := b.fn.code
	pc := t.pc
	cnt := t.count
	limit := b.l.limit
	for {
		in := &code[pc]
		pc++
		cnt++
		if in.guard >= 0 && (r[in.guard] != 0) == in.gneg {
			continue
		}
		switch in.op {
		case opNop:
		case opMov:
			r[in.d] = r[in.a]
		case opMov32:
			r[in.d] = uint64(uint32(r[in.a]))
		case opAdd32:
			r[in.d] = uint64(uint32(r[in.a]) + uint32(r[in.b]))
		case opAdd64:
			r[in.d] = r[in.a] + r[in.b]
		case opSub32:
			r[in.d] = uint64(uint32(r[in.a]) - uint32(r[in.b]))
		case opSub64:
			r[in.d] = r[in.a] - r[in.b]
		case opMulLo32:
			r[in.d] = uint64(uint32(r[in.a]) * uint32(r[in.b]))
		case opMulLo64:
			r[in.d] = r[in.a] * r[in.b]
		case opMulWideU32:
			r[in.d] = uint64(uint32(r[in.a])) * uint64(uint32(r[in.b]))
		case opMulWideS32:
			r[in.d] = uint64(int64(int32(r[in.a])) * int64(int32(r[in.b])))
		case opMadLo32:
			r[in.d] = uint64(uint32(r[in.a])*uint32(r[in.b]) + uint32(r[in.c]))
		case opMadLo64:
			r[in.d] = r[in.a]*r[in.b] + r[in.c]
		case opMadWideU32:
			r[in.d] = uint64(uint32(r[in.a]))*uint64(uint32(r[in.b])) + r[in.c]
		case opMadWideS32:
			r[in.d] = uint64(int64(int32(r[in.a]))*int64(int32(r[in.b]))) + r[in.c]
		case opAnd32:
			r[in.d] = uint64(uint32(r[in.a] & r[in.b]))
		case opAnd64:
			r[in.d] = r[in.a] & r[in.b]
		case opOr32:
			r[in.d] = uint64(uint32(r[in.a] | r[in.b]))
		case opOr64:
			r[in.d] = r[in.a] | r[in.b]
		case opXor32:
			r[in.d] = uint64(uint32(r[in.a] ^ r[in.b]))
		case opXor64:
			r[in.d] = r[in.a] ^ r[in.b]
		case opNot32:
			r[in.d] = uint64(^uint32(r[in.a]))
		case opNot64:
			r[in.d] = ^r[in.a]
		case opShl32: // shift amounts >= the width give 0 in PTX and in Go
			r[in.d] = uint64(uint32(r[in.a]) << uint32(r[in.b]))
		case opShl64:
			r[in.d] = r[in.a] << uint32(r[in.b])
		case opShrU32:
			r[in.d] = uint64(uint32(r[in.a]) >> uint32(r[in.b]))
		case opShrU64:
			r[in.d] = r[in.a] >> uint32(r[in.b])
		case opShrS32:
			r[in.d] = uint64(uint32(int32(r[in.a]) >> uint32(r[in.b])))
		case opShrS64:
			r[in.d] = uint64(int64(r[in.a]) >> uint32(r[in.b]))
		case opCvtU64U32:
			r[in.d] = uint64(uint32(r[in.a]))
		case opCvtS64S32:
			r[in.d] = uint64(int64(int32(r[in.a])))
		case opCvtU32U64:
			r[in.d] = uint64(uint32(r[in.a]))
		case opSetpInt:
			setPred(r, in, cmpInt(in.mod, in.ty, r[in.a], r[in.b]))
		case opSetpS32:
			r[in.d] = b2u(cmpS(in.mod, int64(int32(r[in.a])), int64(int32(r[in.b]))))
		case opSetpS64:
			r[in.d] = b2u(cmpS(in.mod, int64(r[in.a]), int64(r[in.b])))
		case opSetpU32:
			r[in.d] = b2u(cmpU(in.mod, uint64(uint32(r[in.a])), uint64(uint32(r[in.b]))))
		case opSetpU64:
			r[in.d] = b2u(cmpU(in.mod, r[in.a], r[in.b]))
		case opSelp:
			if r[in.c] != 0 {
				r[in.d] = r[in.a]
			} else {
				r[in.d] = r[in.b]
			}
		case opIntGen:
			v, err := intGen(in, r[in.a], r[in.b], r[in.c], r[in.e])
			if err != nil {
				t.count = cnt
				return b.fault(t, pc-1, 0, "%v", err)
			}
			r[in.d] = v

		case opPredAnd:
			r[in.d] = r[in.a] & r[in.b]
		case opPredOr:
			r[in.d] = r[in.a] | r[in.b]
		case opPredXor:
			r[in.d] = r[in.a] ^ r[in.b]
		case opPredNot:
			r[in.d] = r[in.a] ^ 1

		case opAddF32:
			r[in.d] = u32f(float32(f32(r[in.a]) + f32(r[in.b])))
		case opSubF32:
			r[in.d] = u32f(float32(f32(r[in.a]) - f32(r[in.b])))
		case opMulF32:
			r[in.d] = u32f(float32(f32(r[in.a]) * f32(r[in.b])))
		case opFmaF32:
			r[in.d] = u32f(ieee.FMA(f32(r[in.a]), f32(r[in.b]), f32(r[in.c])))
		case opDivF32:
			r[in.d] = u32f(float32(f32(r[in.a]) / f32(r[in.b])))
		case opSqrtF32:
			r[in.d] = u32f(float32(math.Sqrt(float64(f32(r[in.a])))))
		case opRcpF32:
			r[in.d] = u32f(float32(1 / f32(r[in.a])))
		case opNegF32:
			r[in.d] = uint64(uint32(r[in.a]) ^ 0x80000000)
		case opAbsF32:
			r[in.d] = uint64(uint32(r[in.a]) &^ 0x80000000)
		case opMinF32:
			r[in.d] = u32f(minF32(f32(r[in.a]), f32(r[in.b])))
		case opMaxF32:
			r[in.d] = u32f(maxF32(f32(r[in.a]), f32(r[in.b])))
		case opSetpF32:
			setPred(r, in, cmpF64(in.mod, float64(f32(r[in.a])), float64(f32(r[in.b]))))
		case opCopysignF32: // d = |b| with the sign of a
			r[in.d] = uint64(uint32(r[in.b])&^0x80000000 | uint32(r[in.a])&0x80000000)
		case opTestpF32:
			r[in.d] = b2u(testp(in.mod, float64(f32(r[in.a])), true))
		case opFDirected:
			r[in.d] = directed(in, r[in.a], r[in.b], r[in.c])

		case opAddF64:
			r[in.d] = f64bits(float64(f64(r[in.a]) + f64(r[in.b])))
		case opSubF64:
			r[in.d] = f64bits(float64(f64(r[in.a]) - f64(r[in.b])))
		case opMulF64:
			r[in.d] = f64bits(float64(f64(r[in.a]) * f64(r[in.b])))
		case opFmaF64:
			r[in.d] = f64bits(math.FMA(f64(r[in.a]), f64(r[in.b]), f64(r[in.c])))
		case opDivF64:
			r[in.d] = f64bits(float64(f64(r[in.a]) / f64(r[in.b])))
		case opSqrtF64:
			r[in.d] = f64bits(math.Sqrt(f64(r[in.a])))
		case opRcpF64:
			r[in.d] = f64bits(float64(1 / f64(r[in.a])))
		case opNegF64:
			r[in.d] = r[in.a] ^ (1 << 63)
		case opAbsF64:
			r[in.d] = r[in.a] &^ (1 << 63)
		case opMinF64:
			r[in.d] = f64bits(minF64(f64(r[in.a]), f64(r[in.b])))
		case opMaxF64:
			r[in.d] = f64bits(maxF64(f64(r[in.a]), f64(r[in.b])))
		case opSetpF64:
			setPred(r, in, cmpF64(in.mod, f64(r[in.a]), f64(r[in.b])))
		case opTestpF64:
			r[in.d] = b2u(testp(in.mod, f64(r[in.a]), false))

		case opCvt:
			r[in.d] = cvt(in.ty, in.ty2, in.mod, in.flags&fSat != 0, r[in.a])

		case opPack:
			var v uint64
			w := uint(in.size)
			mask := uint64(1)<<w - 1
			for i := 0; i < int(in.n); i++ {
				v |= (r[in.v[i]] & mask) << (w * uint(i))
			}
			r[in.d] = v
		case opUnpack:
			x := r[in.a]
			w := uint(in.size)
			mask := uint64(1)<<w - 1
			for i := 0; i < int(in.n); i++ {
				r[in.v[i]] = (x >> (w * uint(i))) & mask
			}

		case opLdParam:
			p := b.l.params[in.imm : in.imm+int64(in.size)]
			r[in.v[0]] = loadLE(p, in.size, in.flags&fSigned != 0)
		case opLdGlobal:
			if err := b.ldGlobal(t, in, r); err != nil {
				t.count = cnt
				return b.fault(t, pc-1, r[in.a]+uint64(in.imm), "%v", err)
			}
		case opStGlobal:
			if err := b.stGlobal(t, in, r); err != nil {
				t.count = cnt
				return b.fault(t, pc-1, r[in.a]+uint64(in.imm), "%v", err)
			}
		case opLdShared:
			if err := b.ldShared(in, r, r[in.a]+uint64(in.imm)); err != nil {
				t.count = cnt
				return b.fault(t, pc-1, r[in.a]+uint64(in.imm), "%v", err)
			}
		case opStShared:
			if err := b.stShared(in, r, r[in.a]+uint64(in.imm)); err != nil {
				t.count = cnt
				return b.fault(t, pc-1, r[in.a]+uint64(in.imm), "%v", err)
			}
		case opLdLocal:
			if err := ldLocal(t, in, r, r[in.a]+uint64(in.imm)); err != nil {
				t.count = cnt
				return b.fault(t, pc-1, r[in.a]+uint64(in.imm), "%v", err)
			}
		case opStLocal:
			if err := stLocal(t, in, r, r[in.a]+uint64(in.imm)); err != nil {
				t.count = cnt
				return b.fault(t, pc-1, r[in.a]+uint64(in.imm), "%v", err)
			}
		case opLdGeneric, opStGeneric:
			addr := r[in.a] + uint64(in.imm)
			var err error
			switch {
			case addr-sharedWindow < windowSize:
				if in.op == opLdGeneric {
					err = b.ldShared(in, r, addr-sharedWindow)
				} else {
					err = b.stShared(in, r, addr-sharedWindow)
				}
			case addr-localWindow < windowSize:
				if in.op == opLdGeneric {
					err = ldLocal(t, in, r, addr-localWindow)
				} else {
					err = stLocal(t, in, r, addr-localWindow)
				}
			default:
				if in.op == opLdGeneric {
					err = b.ldGlobal(t, in, r)
				} else {
					err = b.stGlobal(t, in, r)
				}
			}
			if err != nil {
				t.count = cnt
				return b.fault(t, pc-1, addr, "%v", err)
			}
		case opCvtaShared:
			r[in.d] = r[in.a] + sharedWindow
		case opCvtaToShared:
			r[in.d] = normInt(r[in.a]-sharedWindow, in.ty)
		case opCvtaLocal:
			r[in.d] = r[in.a] + localWindow
		case opCvtaToLocal:
			r[in.d] = normInt(r[in.a]-localWindow, in.ty)
		case opAtom:
			if err := b.atom(t, in, r); err != nil {
				t.count = cnt
				return b.fault(t, pc-1, r[in.a]+uint64(in.imm), "%v", err)
			}

		case opBra:
			pc = int32(in.imm)
			if cnt > limit {
				t.count = cnt
				return b.fault(t, pc, 0, "thread executed more than %d instructions (an endless loop?)", limit)
			}
		case opExit:
			t.state, t.pc, t.count = stExit, pc-1, cnt
			return nil
		case opShfl, opVote, opWarpSync:
			t.state, t.pc, t.count = stWarp, pc-1, cnt
			return nil
		case opBar:
			t.state, t.pc, t.count = stBar, pc-1, cnt
			return nil
		default:
			t.count = cnt
			return b.fault(t, pc-1, 0, "internal error: opcode %d not implemented", in.op)
		}
	}
}

// setPred writes a setp result: p (and q = !p), combined with the boolean operand.
func setPred(r []uint64, in *inst, p bool) {
	if in.flags&(fBoolOp|fPredDest) == 0 {
		r[in.d] = b2u(p)
		return
	}
	q := !p
	if in.flags&fBoolOp != 0 {
		c := r[in.c] != 0
		if in.flags&fNegC != 0 {
			c = !c
		}
		switch in.ty2 {
		case 0:
			p, q = p && c, q && c
		case 1:
			p, q = p || c, q || c
		case 2:
			p, q = p != c, q != c
		}
	}
	r[in.d] = b2u(p)
	if in.flags&fPredDest != 0 {
		r[in.d2] = b2u(q)
	}
}

// cmpF64 evaluates a float comparison (f32 values are widened exactly).
func cmpF64(c uint8, x, y float64) bool {
	switch c {
	case cmpEq:
		return x == y
	case cmpNe:
		return x != y && x == x && y == y
	case cmpLt:
		return x < y
	case cmpLe:
		return x <= y
	case cmpGt:
		return x > y
	case cmpGe:
		return x >= y
	case cmpEqu:
		return x == y || x != x || y != y
	case cmpNeu:
		return x != y
	case cmpLtu:
		return !(x >= y)
	case cmpLeu:
		return !(x > y)
	case cmpGtu:
		return !(x <= y)
	case cmpGeu:
		return !(x < y)
	case cmpNum:
		return x == x && y == y
	case cmpNan:
		return x != x || y != y
	}
	return false
}

// sext sign-extends the low bits of v for type t to 64 bits.
func sext(v uint64, t uint8) int64 {
	switch typeBits(t) {
	case 8:
		return int64(int8(v))
	case 16:
		return int64(int16(v))
	case 32:
		return int64(int32(v))
	}
	return int64(v)
}

// cmpS and cmpU are the signed and unsigned comparisons of setp.
func cmpS(c uint8, x, y int64) bool {
	switch c {
	case cmpEq:
		return x == y
	case cmpNe:
		return x != y
	case cmpLt:
		return x < y
	case cmpLe:
		return x <= y
	case cmpGt:
		return x > y
	}
	return x >= y
}

func cmpU(c uint8, x, y uint64) bool {
	switch c {
	case cmpEq:
		return x == y
	case cmpNe:
		return x != y
	case cmpLo:
		return x < y
	case cmpLs:
		return x <= y
	case cmpHi:
		return x > y
	}
	return x >= y
}

// cmpInt evaluates an integer comparison of type t.
func cmpInt(c uint8, t uint8, a, b uint64) bool {
	if isSigned(t) {
		x, y := sext(a, t), sext(b, t)
		switch c {
		case cmpEq:
			return x == y
		case cmpNe:
			return x != y
		case cmpLt:
			return x < y
		case cmpLe:
			return x <= y
		case cmpGt:
			return x > y
		case cmpGe:
			return x >= y
		}
	}
	x, y := normInt(a, t), normInt(b, t)
	switch c {
	case cmpEq:
		return x == y
	case cmpNe:
		return x != y
	case cmpLt, cmpLo:
		return x < y
	case cmpLe, cmpLs:
		return x <= y
	case cmpGt, cmpHi:
		return x > y
	case cmpGe, cmpHs:
		return x >= y
	}
	return false
}

// minF32 is PTX min.f32: a NaN operand yields the other operand; -0 < +0.
func minF32(a, b float32) float32 {
	switch {
	case a != a:
		return b
	case b != b:
		return a
	case a < b:
		return a
	case b < a:
		return b
	case math.Signbit(float64(a)):
		return a
	}
	return b
}

// maxF32 is PTX max.f32: a NaN operand yields the other operand; +0 > -0.
func maxF32(a, b float32) float32 {
	switch {
	case a != a:
		return b
	case b != b:
		return a
	case a > b:
		return a
	case b > a:
		return b
	case !math.Signbit(float64(a)):
		return a
	}
	return b
}

func minF64(a, b float64) float64 {
	switch {
	case a != a:
		return b
	case b != b:
		return a
	case a < b:
		return a
	case b < a:
		return b
	case math.Signbit(a):
		return a
	}
	return b
}

func maxF64(a, b float64) float64 {
	switch {
	case a != a:
		return b
	case b != b:
		return a
	case a > b:
		return a
	case b > a:
		return b
	case !math.Signbit(a):
		return a
	}
	return b
}

// testp evaluates testp.{finite,infinite,number,notanumber,normal,subnormal}.
func testp(mode uint8, x float64, single bool) bool {
	minNormal := 0x1p-1022
	if single {
		minNormal = 0x1p-126
	}
	ax := math.Abs(x)
	switch mode {
	case 0:
		return !math.IsInf(x, 0) && x == x
	case 1:
		return math.IsInf(x, 0)
	case 2:
		return x == x
	case 3:
		return x != x
	case 4:
		return ax >= minNormal && !math.IsInf(x, 0)
	case 5:
		return ax < minNormal && ax != 0
	}
	return false
}

// intGen is the generic (slow) integer ALU.
func intGen(in *inst, a, b, c, e uint64) (uint64, error) {
	t := in.ty
	w := uint(typeBits(t))
	signed := isSigned(t)
	norm := func(v uint64) uint64 { return normInt(v, t) }
	sa, sb := sext(a, t), sext(b, t)
	ua, ub := normInt(a, t), normInt(b, t)
	switch in.mod {
	case iAdd:
		return norm(a + b), nil
	case iSub:
		return norm(a - b), nil
	case iMulLo:
		return norm(a * b), nil
	case iMadLo:
		return norm(a*b + c), nil
	case iMulHi, iMadHi:
		var hi uint64
		if w == 64 {
			h, _ := bits.Mul64(a, b)
			if signed {
				if int64(a) < 0 {
					h -= b
				}
				if int64(b) < 0 {
					h -= a
				}
			}
			hi = h
		} else if signed {
			hi = uint64((sa * sb) >> w)
		} else {
			hi = (ua * ub) >> w
		}
		if in.mod == iMadHi {
			hi += c
		}
		return norm(hi), nil
	case iMulWide, iMadWide:
		var p uint64
		if signed {
			p = uint64(sa * sb)
		} else {
			p = ua * ub
		}
		if in.mod == iMadWide {
			p += c
		}
		return normInt(p, wideType(t)), nil
	case iDiv, iRem:
		if ub == 0 {
			return 0, fmt.Errorf("integer division by zero")
		}
		if signed {
			var q int64
			if in.mod == iDiv {
				if sb == -1 {
					q = -sa // wraps for the most negative value, as on the GPU
				} else {
					q = sa / sb
				}
			} else if sb == -1 {
				q = 0
			} else {
				q = sa % sb
			}
			return norm(uint64(q)), nil
		}
		if in.mod == iDiv {
			return ua / ub, nil
		}
		return ua % ub, nil
	case iAnd:
		return norm(a & b), nil
	case iOr:
		return norm(a | b), nil
	case iXor:
		return norm(a ^ b), nil
	case iNot:
		return norm(^a), nil
	case iCnot:
		return b2u(ua == 0), nil
	case iShl:
		n := uint32(b)
		if uint(n) >= w {
			return 0, nil
		}
		return norm(a << n), nil
	case iShr:
		n := uint32(b)
		if signed {
			if uint(n) >= w {
				n = uint32(w - 1)
			}
			return norm(uint64(sa >> n)), nil
		}
		if uint(n) >= w {
			return 0, nil
		}
		return ua >> n, nil
	case iNeg:
		return norm(-a), nil
	case iAbs:
		if sa < 0 {
			return norm(uint64(-sa)), nil
		}
		return ua, nil
	case iMin, iMax:
		less := ua < ub
		if signed {
			less = sa < sb
		}
		if (in.mod == iMin) == less {
			return ua, nil
		}
		return ub, nil
	case iAddSat, iSubSat:
		x, y := int64(int32(a)), int64(int32(b))
		var s int64
		if in.mod == iAddSat {
			s = x + y
		} else {
			s = x - y
		}
		if s > math.MaxInt32 {
			s = math.MaxInt32
		}
		if s < math.MinInt32 {
			s = math.MinInt32
		}
		return norm(uint64(s)), nil
	case iPopc:
		return uint64(bits.OnesCount64(ua)), nil
	case iClz:
		return uint64(bits.LeadingZeros64(ua) - (64 - int(w))), nil
	case iBrev:
		return bits.Reverse64(ua) >> (64 - w), nil
	case iBfe:
		pos, ln := uint(b&0xff), uint(c&0xff)
		msb := w - 1
		var sbit uint64
		if signed && ln > 0 {
			p := pos + ln - 1
			if p > msb {
				p = msb
			}
			sbit = (ua >> p) & 1
		}
		var d uint64
		for i := uint(0); i <= msb; i++ {
			var bit uint64
			if i < ln && pos+i <= msb {
				bit = (ua >> (pos + i)) & 1
			} else {
				bit = sbit
			}
			d |= bit << i
		}
		return d, nil
	case iBfi: // bfi d, f(a), b, pos(c), len(e)
		pos, ln := uint(c&0xff), uint(e&0xff)
		d := ub
		for i := uint(0); i < ln && pos+i <= w-1; i++ {
			bit := (ua >> i) & 1
			d = d&^(1<<(pos+i)) | bit<<(pos+i)
		}
		return d, nil
	case iPrmt:
		x := uint64(uint32(a)) | uint64(uint32(b))<<32
		var d uint64
		for i := uint(0); i < 4; i++ {
			sel := (c >> (4 * i)) & 0xf
			byt := (x >> (8 * (sel & 7))) & 0xff
			if sel&8 != 0 {
				if byt&0x80 != 0 {
					byt = 0xff
				} else {
					byt = 0
				}
			}
			d |= byt << (8 * i)
		}
		return d, nil
	case iShfL, iShfR:
		n := uint32(c)
		if in.flags&fClamp != 0 {
			if n > 32 {
				n = 32
			}
		} else {
			n &= 31
		}
		x := uint64(uint32(b))<<32 | uint64(uint32(a))
		if in.mod == iShfL {
			return uint64(uint32((x << n) >> 32)), nil
		}
		return uint64(uint32(x >> n)), nil
	case iLop3:
		lut := uint32(e)
		var d uint64
		for k := uint(0); k < 8; k++ {
			if lut&(1<<k) == 0 {
				continue
			}
			x, y, z := a, b, c
			if k&4 == 0 {
				x = ^a
			}
			if k&2 == 0 {
				y = ^b
			}
			if k&1 == 0 {
				z = ^c
			}
			d |= x & y & z
		}
		return norm(d), nil
	}
	return 0, fmt.Errorf("internal error: integer op %d", in.mod)
}

// loadLE reads size bytes little-endian, sign-extending to 64 bits if signed.
func loadLE(p []byte, size uint8, signed bool) uint64 {
	switch size {
	case 1:
		if signed {
			return uint64(int64(int8(p[0])))
		}
		return uint64(p[0])
	case 2:
		v := binary.LittleEndian.Uint16(p)
		if signed {
			return uint64(int64(int16(v)))
		}
		return uint64(v)
	case 4:
		v := binary.LittleEndian.Uint32(p)
		if signed {
			return uint64(int64(int32(v)))
		}
		return uint64(v)
	}
	return binary.LittleEndian.Uint64(p)
}

func storeLE(p []byte, size uint8, v uint64) {
	switch size {
	case 1:
		p[0] = byte(v)
	case 2:
		binary.LittleEndian.PutUint16(p, uint16(v))
	case 4:
		binary.LittleEndian.PutUint32(p, uint32(v))
	default:
		binary.LittleEndian.PutUint64(p, v)
	}
}

// allSet reports whether init[0:n] are all 1.
func allSet(init []byte, n int) bool {
	switch n {
	case 4:
		return binary.LittleEndian.Uint32(init) == 0x01010101
	case 8:
		return binary.LittleEndian.Uint64(init) == 0x0101010101010101
	}
	for _, x := range init[:n] {
		if x != 1 {
			return false
		}
	}
	return true
}

func setAll(init []byte, n int) {
	switch n {
	case 4:
		binary.LittleEndian.PutUint32(init, 0x01010101)
	case 8:
		binary.LittleEndian.PutUint64(init, 0x0101010101010101)
	default:
		for i := range init[:n] {
			init[i] = 1
		}
	}
}

// global returns the live allocation holding [addr, addr+n) for a read or a write.
func (b *blockRun) global(t *thread, addr, n uint64, write bool) (*allocation, error) {
	for _, a := range &t.cache {
		if a != nil && addr-a.base < a.size && a.size-(addr-a.base) >= n && !(write && a.ro) {
			return a, nil
		}
	}
	return b.globalSlow(t, addr, n, write)
}

func (b *blockRun) globalSlow(t *thread, addr, n uint64, write bool) (*allocation, error) {
	what := "read"
	if write {
		what = "write"
	}
	if addr < 4096 {
		return nil, fmt.Errorf("global %s of %d bytes through a null pointer (address %#x)", what, n, addr)
	}
	a := b.l.mem.find(addr)
	if a == nil || a.freed || addr+n-a.base > a.size {
		_, err := b.l.mem.checkRange("out-of-bounds global "+what, addr, n)
		return nil, err
	}
	if write && a.ro {
		return nil, fmt.Errorf("global write to .const variable %s", a.name)
	}
	t.cache[t.cnext&3] = a
	t.cnext++
	return a, nil
}

func (b *blockRun) ldGlobal(t *thread, in *inst, r []uint64) error {
	addr := r[in.a] + uint64(in.imm)
	es := uint64(in.size)
	n := es * uint64(in.n)
	if addr&(n-1) != 0 {
		return fmt.Errorf("misaligned global read of %d bytes at %#x (needs %d-byte alignment)", n, addr, n)
	}
	a, err := b.global(t, addr, n, false)
	if err != nil {
		return err
	}
	off := addr - a.base
	if !allSet(a.init[off:], int(n)) {
		return fmt.Errorf("read of uninitialised global memory: %d bytes at %#x (offset %d of the %s) were never written", n, addr, off, a.describe())
	}
	signed := in.flags&fSigned != 0
	for i := 0; i < int(in.n); i++ {
		r[in.v[i]] = loadLE(a.data[off+uint64(i)*es:], in.size, signed)
	}
	return nil
}

func (b *blockRun) stGlobal(t *thread, in *inst, r []uint64) error {
	addr := r[in.a] + uint64(in.imm)
	es := uint64(in.size)
	n := es * uint64(in.n)
	if addr&(n-1) != 0 {
		return fmt.Errorf("misaligned global write of %d bytes at %#x (needs %d-byte alignment)", n, addr, n)
	}
	a, err := b.global(t, addr, n, true)
	if err != nil {
		return err
	}
	off := addr - a.base
	for i := 0; i < int(in.n); i++ {
		storeLE(a.data[off+uint64(i)*es:], in.size, r[in.v[i]])
	}
	setAll(a.init[off:], int(n))
	return nil
}

// Shared memory shadow: 0 = no variable there, 1 = variable, never written in this
// block, 2 = written.
func (b *blockRun) sharedCheck(addr, n uint64, write bool) error {
	what := "read"
	if write {
		what = "write"
	}
	if addr&(n-1) != 0 {
		return fmt.Errorf("misaligned shared %s of %d bytes at shared address %#x", what, n, addr)
	}
	if addr >= uint64(len(b.sinit)) || uint64(len(b.sinit))-addr < n {
		return fmt.Errorf("out-of-bounds shared %s of %d bytes at shared address %#x: %s", what, n, addr, b.sharedWhere(addr))
	}
	for i := uint64(0); i < n; i++ {
		switch b.sinit[addr+i] {
		case 0:
			return fmt.Errorf("out-of-bounds shared %s of %d bytes at shared address %#x: %s", what, n, addr, b.sharedWhere(addr+i))
		case 1:
			if !write {
				return fmt.Errorf("read of uninitialised shared memory: %d bytes at shared address %#x (%s) were never written by this block", n, addr, b.sharedWhere(addr+i))
			}
		}
	}
	return nil
}

// sharedWhere describes a shared address relative to the block's variables.
func (b *blockRun) sharedWhere(addr uint64) string {
	vars := b.fn.sharedVars
	if b.fn.hasDyn {
		vars = append(vars[:len(vars):len(vars)], sharedVar{"dynamic shared memory (extern)", b.fn.dynOff, b.l.dynShared})
	}
	var best string
	for _, v := range vars {
		end := uint64(v.off + v.size)
		switch {
		case addr >= uint64(v.off) && addr < end:
			return fmt.Sprintf("offset %d of %s (%d bytes)", addr-uint64(v.off), v.name, v.size)
		case addr >= end && addr < end+64:
			best = fmt.Sprintf("%d bytes past the end of %s (%d bytes)", addr-end, v.name, v.size)
		}
	}
	if best != "" {
		return best
	}
	return fmt.Sprintf("outside every shared variable (the block has %d bytes)", b.l.sharedSize)
}

func (b *blockRun) ldShared(in *inst, r []uint64, addr uint64) error {
	es := uint64(in.size)
	n := es * uint64(in.n)
	if addr+n <= uint64(len(b.sinit)) && addr&(n-1) == 0 && n == 4 &&
		binary.LittleEndian.Uint32(b.sinit[addr:]) == 0x02020202 {
		r[in.v[0]] = loadLE(b.shared[addr:], in.size, in.flags&fSigned != 0)
		return nil
	}
	if err := b.sharedCheck(addr, n, false); err != nil {
		return err
	}
	signed := in.flags&fSigned != 0
	for i := 0; i < int(in.n); i++ {
		r[in.v[i]] = loadLE(b.shared[addr+uint64(i)*es:], in.size, signed)
	}
	return nil
}

func (b *blockRun) stShared(in *inst, r []uint64, addr uint64) error {
	es := uint64(in.size)
	n := es * uint64(in.n)
	if err := b.sharedCheck(addr, n, true); err != nil {
		return err
	}
	for i := 0; i < int(in.n); i++ {
		storeLE(b.shared[addr+uint64(i)*es:], in.size, r[in.v[i]])
	}
	for i := uint64(0); i < n; i++ {
		b.sinit[addr+i] = 2
	}
	return nil
}

func localCheck(t *thread, addr, n uint64, write bool) error {
	what := "read"
	if write {
		what = "write"
	}
	if addr&(n-1) != 0 {
		return fmt.Errorf("misaligned local %s of %d bytes at local address %#x", what, n, addr)
	}
	if addr >= uint64(len(t.local)) || uint64(len(t.local))-addr < n {
		return fmt.Errorf("out-of-bounds local %s of %d bytes at local address %#x (the thread has %d bytes of local memory)", what, n, addr, len(t.local))
	}
	if !write && !allSet(t.linit[addr:], int(n)) {
		return fmt.Errorf("read of uninitialised local memory: %d bytes at local address %#x", n, addr)
	}
	return nil
}

func ldLocal(t *thread, in *inst, r []uint64, addr uint64) error {
	es := uint64(in.size)
	n := es * uint64(in.n)
	if err := localCheck(t, addr, n, false); err != nil {
		return err
	}
	signed := in.flags&fSigned != 0
	for i := 0; i < int(in.n); i++ {
		r[in.v[i]] = loadLE(t.local[addr+uint64(i)*es:], in.size, signed)
	}
	return nil
}

func stLocal(t *thread, in *inst, r []uint64, addr uint64) error {
	es := uint64(in.size)
	n := es * uint64(in.n)
	if err := localCheck(t, addr, n, true); err != nil {
		return err
	}
	for i := 0; i < int(in.n); i++ {
		storeLE(t.local[addr+uint64(i)*es:], in.size, r[in.v[i]])
	}
	setAll(t.linit[addr:], int(n))
	return nil
}

// atom performs an integer atomic read-modify-write (serialised across blocks).
func (b *blockRun) atom(t *thread, in *inst, r []uint64) error {
	addr := r[in.a] + uint64(in.imm)
	n := uint64(in.size)
	space := in.flags &^ (fNoBase)
	if space == spGeneric {
		switch {
		case addr-sharedWindow < windowSize:
			space, addr = spShared, addr-sharedWindow
		case addr-localWindow < windowSize:
			return fmt.Errorf("atomic on local memory")
		default:
			space = spGlobal
		}
	}
	var p []byte
	b.l.atomMu.Lock()
	defer b.l.atomMu.Unlock()
	if space == spShared {
		if err := b.sharedCheck(addr, n, false); err != nil {
			return err
		}
		p = b.shared[addr : addr+n]
	} else {
		if addr&(n-1) != 0 {
			return fmt.Errorf("misaligned atomic of %d bytes at %#x", n, addr)
		}
		a, err := b.global(t, addr, n, true)
		if err != nil {
			return err
		}
		off := addr - a.base
		if !allSet(a.init[off:], int(n)) {
			return fmt.Errorf("atomic on uninitialised global memory at %#x", addr)
		}
		p = a.data[off : off+n]
	}
	old := loadLE(p, in.size, false)
	v := r[in.b]
	var nv uint64
	ty := in.ty
	switch in.mod {
	case atomAdd:
		nv = old + v
	case atomExch:
		nv = v
	case atomCas:
		nv = old
		if normInt(old, ty) == normInt(v, ty) {
			nv = r[in.c]
		}
	case atomAnd:
		nv = old & v
	case atomOr:
		nv = old | v
	case atomXor:
		nv = old ^ v
	case atomMin, atomMax:
		less := normInt(v, ty) < normInt(old, ty)
		if isSigned(ty) {
			less = sext(v, ty) < sext(old, ty)
		}
		nv = old
		if less == (in.mod == atomMin) && normInt(v, ty) != normInt(old, ty) {
			nv = v
		}
	case atomInc:
		if normInt(old, ty) >= normInt(v, ty) {
			nv = 0
		} else {
			nv = old + 1
		}
	case atomDec:
		if normInt(old, ty) == 0 || normInt(old, ty) > normInt(v, ty) {
			nv = v
		} else {
			nv = old - 1
		}
	}
	storeLE(p, in.size, nv)
	r[in.d] = normInt(old, ty)
	return nil
}
