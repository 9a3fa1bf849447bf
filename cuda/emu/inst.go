package emu

// The compact instruction form the interpreter executes. Every source operand is a
// slot index into the thread's register file: declared registers, special registers
// (%tid.x ...) and immediates (constants) all live there, so operand fetch is one
// indexed load whatever the operand's kind.

type opcode uint16

const (
	opNop opcode = iota

	// moves
	opMov   // d = a (bit copy; values are kept normalised to the op's width)
	opMov32 // d = uint32(a)
	opPack  // mov.b64 d, {v0, v1} / mov.b32 d, {v0, v1}: pack n pieces of w bits
	opUnpack

	// 32/64-bit integer fast paths
	opAdd32
	opAdd64
	opSub32
	opSub64
	opMulLo32
	opMulLo64
	opMulWideU32
	opMulWideS32
	opMadLo32
	opMadLo64
	opMadWideU32
	opMadWideS32
	opAnd32
	opAnd64
	opOr32
	opOr64
	opXor32
	opXor64
	opNot32
	opNot64
	opShl32
	opShl64
	opShrU32
	opShrU64
	opShrS32
	opShrS64
	opCvtU64U32 // zero extension
	opCvtS64S32 // sign extension
	opCvtU32U64 // truncation
	opSetpInt   // integer compare: ty, mod = cmp
	opSetpS32   // fast paths of opSetpInt without a boolean operation
	opSetpU32
	opSetpS64
	opSetpU64
	opSelp   // d = c ? a : b
	opIntGen // generic integer op: mod = iop, ty = type

	// predicates
	opPredAnd
	opPredOr
	opPredXor
	opPredNot

	// f32
	opAddF32
	opSubF32
	opMulF32
	opFmaF32
	opDivF32
	opSqrtF32
	opRcpF32
	opNegF32
	opAbsF32
	opMinF32
	opMaxF32
	opSetpF32
	opCopysignF32
	opTestpF32
	opFDirected // f32/f64 add/sub/mul/fma with .rz/.rm/.rp (slow, exact): ty, mod = fop, rnd in imm

	// f64
	opAddF64
	opSubF64
	opMulF64
	opFmaF64
	opDivF64
	opSqrtF64
	opRcpF64
	opNegF64
	opAbsF64
	opMinF64
	opMaxF64
	opSetpF64
	opTestpF64

	opCvt // generic conversion: ty = dst, ty2 = src, mod = rounding, flags = sat

	// memory
	opLdParam
	opLdGlobal
	opStGlobal
	opLdShared
	opStShared
	opLdLocal
	opStLocal
	opLdGeneric
	opStGeneric
	opCvtaToShared // generic -> shared window offset
	opCvtaShared   // shared offset -> generic
	opCvtaToLocal
	opCvtaLocal
	opAtom // atomics (global/shared/generic): mod = atomic op, ty, flags = space

	// control
	opBra
	opExit

	// warp and block synchronisation (the thread yields to the scheduler)
	opShfl
	opVote
	opWarpSync
	opBar
)

// types (the ty/ty2 fields).
const (
	tNone uint8 = iota
	tU8
	tS8
	tU16
	tS16
	tU32
	tS32
	tU64
	tS64
	tF16
	tF32
	tF64
	tPred
)

func typeCode(s string) uint8 {
	switch s {
	case "u8", "b8":
		return tU8
	case "s8":
		return tS8
	case "u16", "b16":
		return tU16
	case "s16":
		return tS16
	case "u32", "b32":
		return tU32
	case "s32":
		return tS32
	case "u64", "b64":
		return tU64
	case "s64":
		return tS64
	case "f16":
		return tF16
	case "f32":
		return tF32
	case "f64":
		return tF64
	case "pred":
		return tPred
	}
	return tNone
}

func typeBits(t uint8) int {
	switch t {
	case tU8, tS8:
		return 8
	case tU16, tS16, tF16:
		return 16
	case tU32, tS32, tF32:
		return 32
	case tU64, tS64, tF64:
		return 64
	case tPred:
		return 1
	}
	return 0
}

func isSigned(t uint8) bool { return t == tS8 || t == tS16 || t == tS32 || t == tS64 }
func isFloat(t uint8) bool  { return t == tF16 || t == tF32 || t == tF64 }
func isInt(t uint8) bool    { return t >= tU8 && t <= tS64 }

// comparison codes (setp).
const (
	cmpEq uint8 = iota
	cmpNe
	cmpLt
	cmpLe
	cmpGt
	cmpGe
	cmpLo // unsigned <
	cmpLs
	cmpHi
	cmpHs
	cmpEqu // unordered float comparisons: true if either is NaN
	cmpNeu
	cmpLtu
	cmpLeu
	cmpGtu
	cmpGeu
	cmpNum
	cmpNan
)

var cmpNames = map[string]uint8{
	"eq": cmpEq, "ne": cmpNe, "lt": cmpLt, "le": cmpLe, "gt": cmpGt, "ge": cmpGe,
	"lo": cmpLo, "ls": cmpLs, "hi": cmpHi, "hs": cmpHs,
	"equ": cmpEqu, "neu": cmpNeu, "ltu": cmpLtu, "leu": cmpLeu, "gtu": cmpGtu, "geu": cmpGeu,
	"num": cmpNum, "nan": cmpNan,
}

// generic integer operations (opIntGen mod).
const (
	iAdd uint8 = iota
	iSub
	iMulLo
	iMulHi
	iMulWide
	iMadLo
	iMadHi
	iMadWide
	iDiv
	iRem
	iAnd
	iOr
	iXor
	iNot
	iCnot
	iShl
	iShr
	iNeg
	iAbs
	iMin
	iMax
	iPopc
	iClz
	iBrev
	iBfe
	iBfi
	iPrmt
	iShfL // funnel shift left (wrap or clamp in flags)
	iShfR
	iLop3
	iAddSat
	iSubSat
	iSetpBool // unused
)

// rounding modes.
const (
	rndNone uint8 = iota
	rndRN
	rndRZ
	rndRM
	rndRP
	rndRNI
	rndRZI
	rndRMI
	rndRPI
)

// shfl modes.
const (
	shflUp uint8 = iota
	shflDown
	shflBfly
	shflIdx
)

// vote modes.
const (
	voteAll uint8 = iota
	voteAny
	voteUni
	voteBallot
)

// atomic ops.
const (
	atomAdd uint8 = iota
	atomMin
	atomMax
	atomExch
	atomCas
	atomAnd
	atomOr
	atomXor
	atomInc
	atomDec
)

// memory spaces for opAtom flags.
const (
	spGlobal uint8 = iota
	spShared
	spGeneric
)

// inst is one decoded instruction.
type inst struct {
	op    opcode
	mod   uint8 // sub-operation: comparison, rounding, shfl mode, integer op ...
	ty    uint8 // operation type (destination type for cvt)
	ty2   uint8 // source type (cvt), bool op (setp)
	flags uint8 // op-specific flags (sat, predicate destination present, ...)
	n     uint8 // vector width of ld/st, access size in bytes in size
	size  uint8 // access size of one element in bytes (ld/st)
	gneg  bool  // the guard is negated
	guard int32 // guard predicate slot, -1 when unguarded
	d, d2 int32 // destination slots (-1: none)
	a, b  int32 // source slots
	c, e  int32
	v     [4]int32 // ld/st vector registers (dests for ld, sources for st)
	imm   int64    // address offset, branch target, param offset ...
	src   int32    // index of the raw instruction (for messages)
}

// flag bits.
const (
	fSat      = 1 << 0 // .sat
	fPredDest = 1 << 1 // the instruction also writes the predicate d2
	fSigned   = 1 << 2 // ld sign-extends
	fNoBase   = 1 << 3 // memory operand has no base register (absolute address in imm)
	fBoolOp   = 1 << 4 // setp with a boolean combination (ty2 = op, c = predicate, e: negated)
	fNegC     = 1 << 5 // the setp boolean source is negated
	fClamp    = 1 << 6 // shf .clamp
	fCount    = 1 << 7 // bar with a thread count in b
)

// special register slots, at the start of every register file.
const (
	sTidX = iota
	sTidY
	sTidZ
	sNtidX
	sNtidY
	sNtidZ
	sCtaidX
	sCtaidY
	sCtaidZ
	sNctaidX
	sNctaidY
	sNctaidZ
	sLaneid
	sWarpid
	sNwarpid
	sWarpSize // WARP_SZ
	nSpecial
)

var specialNames = map[string]int{
	"%tid.x": sTidX, "%tid.y": sTidY, "%tid.z": sTidZ,
	"%ntid.x": sNtidX, "%ntid.y": sNtidY, "%ntid.z": sNtidZ,
	"%ctaid.x": sCtaidX, "%ctaid.y": sCtaidY, "%ctaid.z": sCtaidZ,
	"%nctaid.x": sNctaidX, "%nctaid.y": sNctaidY, "%nctaid.z": sNctaidZ,
	"%laneid": sLaneid, "%warpid": sWarpid, "%nwarpid": sNwarpid,
	"WARP_SZ": sWarpSize,
}
