package emu

import (
	"fmt"
	"math"
	"strings"
)

// symKind says what a name in an operand refers to.
type symKind int

const (
	symParam symKind = iota
	symShared
	symLocal
	symGlobal // a module .global or .const variable: a device address
)

type symbol struct {
	kind symKind
	addr uint64 // param offset, shared/local offset or device address
	size int
}

// decoder turns one entryAST into a Function.
type decoder struct {
	fn     *Function
	e      *entryAST
	regs   map[string]int32
	widths []int // register width in bits per slot (0: special/constant)
	consts map[uint64]int32
	syms   map[string]symbol
	sink   int32
}

// decodeEntry builds the executable form of e. globals maps module-scope .global and
// .const variables to their device addresses.
func decodeEntry(m *Module, e *entryAST, globals map[string]symbol) (*Function, error) {
	fn := &Function{
		name:    e.name,
		module:  m,
		params:  e.params,
		raws:    e.insts,
		reqntid: e.reqntid,
		maxntid: e.maxntid,
		line:    e.line,
	}
	for _, p := range e.params {
		if end := p.offset + p.size; end > fn.paramSize {
			fn.paramSize = end
		}
	}
	d := &decoder{fn: fn, e: e, regs: map[string]int32{}, consts: map[uint64]int32{}, syms: map[string]symbol{}}
	d.widths = make([]int, nSpecial)
	for _, r := range e.regs {
		if _, dup := d.regs[r.name]; dup {
			return nil, fmt.Errorf("PTX line %d: register %s declared twice in %s", e.line, r.name, e.name)
		}
		d.regs[r.name] = int32(len(d.widths))
		w := typeBits(typeCode(strings.TrimPrefix(r.typ, ".")))
		d.widths = append(d.widths, w)
	}
	d.sink = int32(len(d.widths))
	d.widths = append(d.widths, 64)
	fn.nregs = len(d.widths)

	for name, s := range globals {
		d.syms[name] = s
	}
	for _, p := range e.params {
		d.syms[p.name] = symbol{kind: symParam, addr: uint64(p.offset), size: p.size}
	}
	// Shared memory: module-scope variables, then the entry's, each aligned, with a
	// 16-byte guard gap between variables so that an overrun is caught; the dynamic
	// (extern) array last.
	off := 0
	var shared []*variable
	for _, v := range m.ast.vars {
		if v.space == "shared" {
			shared = append(shared, v)
		}
	}
	for _, v := range e.vars {
		if v.space == "shared" {
			shared = append(shared, v)
		}
	}
	var externs []*variable
	for _, v := range shared {
		if v.extern {
			externs = append(externs, v)
			continue
		}
		if v.init != nil {
			return nil, fmt.Errorf("PTX line %d: initialised .shared variable %s is not supported", v.line, v.name)
		}
		off = alignUp(off, v.align)
		d.syms[v.name] = symbol{kind: symShared, addr: uint64(off), size: v.size()}
		fn.sharedVars = append(fn.sharedVars, sharedVar{v.name, off, v.size()})
		off += v.size() + 16
	}
	dynAlign := 16
	for _, v := range externs {
		if v.align > dynAlign {
			dynAlign = v.align
		}
	}
	fn.dynOff = alignUp(off, dynAlign)
	fn.hasDyn = len(externs) > 0
	for _, v := range externs {
		d.syms[v.name] = symbol{kind: symShared, addr: uint64(fn.dynOff)}
	}
	fn.staticShared = off
	// Local memory (per thread).
	loff := 0
	for _, v := range e.vars {
		if v.space != "local" {
			continue
		}
		if v.init != nil {
			return nil, fmt.Errorf("PTX line %d: initialised .local variable %s is not supported", v.line, v.name)
		}
		loff = alignUp(loff, v.align)
		d.syms[v.name] = symbol{kind: symLocal, addr: uint64(loff), size: v.size()}
		loff += v.size()
	}
	fn.localBytes = loff

	fn.code = make([]inst, len(e.insts))
	for i := range e.insts {
		in, err := d.decode(&e.insts[i])
		if err != nil {
			ri := &e.insts[i]
			pos := m.srcPosition(ri)
			if pos != "" {
				pos = " (" + pos + ")"
			}
			return nil, fmt.Errorf("PTX line %d%s: %s: %v", ri.line, pos, ri.text, err)
		}
		in.src = int32(i)
		fn.code[i] = in
	}
	// Falling off the end of the code exits the thread.
	fn.code = append(fn.code, inst{op: opExit, guard: -1, src: -1, d: d.sink, d2: d.sink})
	// The template register file: zero registers, constants in their slots.
	fn.template = make([]uint64, len(d.widths))
	for v, s := range d.consts {
		fn.template[s] = v
	}
	fn.nslots = len(d.widths)
	return fn, nil
}

func alignUp(x, a int) int {
	if a <= 1 {
		return x
	}
	return (x + a - 1) / a * a
}

// konst returns the slot of a constant with bits v.
func (d *decoder) konst(v uint64) int32 {
	if s, ok := d.consts[v]; ok {
		return s
	}
	s := int32(len(d.widths))
	d.widths = append(d.widths, 0)
	d.consts[v] = s
	return s
}

// normInt truncates v to the width of type t (zero-extended).
func normInt(v uint64, t uint8) uint64 {
	switch typeBits(t) {
	case 1:
		if v != 0 {
			return 1
		}
		return 0
	case 8:
		return v & 0xff
	case 16:
		return v & 0xffff
	case 32:
		return v & 0xffffffff
	}
	return v
}

// src returns the slot of a source operand read as type t.
func (d *decoder) src(o *operand, t uint8) (int32, error) {
	switch o.kind {
	case oReg:
		if o.neg {
			return 0, fmt.Errorf("negated operand %s not allowed here", o.text)
		}
		if s, ok := specialNames[o.name]; ok {
			return int32(s), nil
		}
		s, ok := d.regs[o.name]
		if !ok {
			if strings.HasPrefix(o.name, "%") && strings.Contains(o.name, ".") || o.name == "%clock" || o.name == "%clock64" || o.name == "%globaltimer" {
				return 0, fmt.Errorf("unsupported special register %s", o.name)
			}
			return 0, fmt.Errorf("undeclared register %s", o.name)
		}
		return s, nil
	case oImm:
		if isFloat(t) {
			// An integer literal in a float operation denotes that value.
			if t == tF32 {
				return d.konst(uint64(math.Float32bits(float32(o.ival)))), nil
			}
			return d.konst(math.Float64bits(float64(o.ival))), nil
		}
		return d.konst(normInt(uint64(o.ival), t)), nil
	case oFImm:
		switch t {
		case tF32:
			if o.fsize == 8 {
				return 0, fmt.Errorf("double literal %s in an f32 operation", o.text)
			}
			if o.fsize == 4 {
				return d.konst(o.fbits), nil
			}
			return d.konst(uint64(math.Float32bits(float32(o.fval)))), nil
		case tF64:
			if o.fsize == 4 {
				return d.konst(math.Float64bits(float64(math.Float32frombits(uint32(o.fbits))))), nil
			}
			if o.fsize == 8 {
				return d.konst(o.fbits), nil
			}
			return d.konst(math.Float64bits(o.fval)), nil
		case tU32, tS32:
			if o.fsize == 4 { // bit pattern in a .b32 operation
				return d.konst(o.fbits), nil
			}
		case tU64, tS64:
			if o.fsize == 8 {
				return d.konst(o.fbits), nil
			}
		}
		return 0, fmt.Errorf("float literal %s in a non-float operation", o.text)
	case oSym:
		s, ok := d.syms[o.name]
		if !ok {
			return 0, fmt.Errorf("unknown symbol %s", o.name)
		}
		if s.kind == symParam {
			return 0, fmt.Errorf("taking the address of parameter %s is not supported", o.name)
		}
		return d.konst(normInt(s.addr, t)), nil
	}
	return 0, fmt.Errorf("unsupported operand %s", o.text)
}

// dst returns the slot of a destination operand.
func (d *decoder) dst(o *operand) (int32, error) {
	switch o.kind {
	case oBlank:
		return d.sink, nil
	case oReg:
		if _, ok := specialNames[o.name]; ok {
			return 0, fmt.Errorf("cannot write special register %s", o.name)
		}
		s, ok := d.regs[o.name]
		if !ok {
			return 0, fmt.Errorf("undeclared register %s", o.name)
		}
		return s, nil
	}
	return 0, fmt.Errorf("destination %s is not a register", o.text)
}

// predSrc returns the slot of a predicate source, allowing a negation.
func (d *decoder) predSrc(o *operand) (slot int32, neg bool, err error) {
	if o.kind == oImm {
		return d.konst(normInt(uint64(o.ival), tPred)), false, nil
	}
	oo := *o
	oo.neg = false
	s, err := d.src(&oo, tPred)
	return s, o.neg, err
}

// modifiers of one opcode, classified.
type modset struct {
	base  string
	types []uint8
	rnd   uint8
	space string
	vec   int
	cmp   int
	words []string // everything else, in order
}

var rndNames = map[string]uint8{"rn": rndRN, "rz": rndRZ, "rm": rndRM, "rp": rndRP,
	"rni": rndRNI, "rzi": rndRZI, "rmi": rndRMI, "rpi": rndRPI}

func splitOpcode(opc string) modset {
	parts := strings.Split(opc, ".")
	m := modset{base: parts[0], cmp: -1}
	for _, p := range parts[1:] {
		if t := typeCode(p); t != tNone {
			m.types = append(m.types, t)
			continue
		}
		if r, ok := rndNames[p]; ok && m.rnd == rndNone {
			m.rnd = r
			continue
		}
		switch p {
		case "global", "shared", "local", "param", "const":
			if m.space == "" {
				m.space = p
				continue
			}
		case "v2":
			m.vec = 2
			continue
		case "v4":
			m.vec = 4
			continue
		}
		if c, ok := cmpNames[p]; ok && m.cmp < 0 && (m.base == "setp" || m.base == "set") {
			m.cmp = int(c)
			continue
		}
		m.words = append(m.words, p)
	}
	return m
}

// only returns an error if m has words outside allowed.
func (m *modset) only(allowed ...string) error {
	for _, w := range m.words {
		ok := false
		for _, a := range allowed {
			if w == a {
				ok = true
				break
			}
		}
		if !ok {
			return fmt.Errorf("unsupported modifier .%s", w)
		}
	}
	return nil
}

func (m *modset) has(w string) bool {
	for _, x := range m.words {
		if x == w {
			return true
		}
	}
	return false
}

// oneType returns the single type of m.
func (m *modset) oneType() (uint8, error) {
	if len(m.types) != 1 {
		return 0, fmt.Errorf("expected one type modifier, found %d", len(m.types))
	}
	return m.types[0], nil
}

func nops(ri *rawInst, n int) error {
	if len(ri.ops) != n {
		return fmt.Errorf("expected %d operands, found %d", n, len(ri.ops))
	}
	return nil
}

func (d *decoder) decode(ri *rawInst) (inst, error) {
	in := inst{guard: -1, d: d.sink, d2: d.sink}
	if ri.guard != "" {
		s, ok := d.regs[ri.guard]
		if !ok {
			return in, fmt.Errorf("undeclared guard predicate %s", ri.guard)
		}
		in.guard = s
		in.gneg = ri.guardNeg
	}
	m := splitOpcode(ri.opcode)
	if m.has("approx") {
		return in, fmt.Errorf("approximate instructions (.approx, the MUFU unit) are not emulated: their bits are not published (the contract forbids them)")
	}
	var err error
	switch m.base {
	case "mov":
		err = d.decMov(ri, &m, &in)
	case "add", "sub", "mul", "mad", "fma", "div", "rem", "min", "max", "neg", "abs",
		"and", "or", "xor", "not", "cnot", "shl", "shr", "popc", "clz", "brev", "bfe", "bfi",
		"prmt", "shf", "lop3", "copysign", "sqrt", "rcp", "testp":
		err = d.decArith(ri, &m, &in)
	case "setp":
		err = d.decSetp(ri, &m, &in)
	case "selp":
		err = d.decSelp(ri, &m, &in)
	case "cvt":
		err = d.decCvt(ri, &m, &in)
	case "cvta":
		err = d.decCvta(ri, &m, &in)
	case "ld", "ldu":
		err = d.decLd(ri, &m, &in)
	case "st":
		err = d.decSt(ri, &m, &in)
	case "atom", "red":
		err = d.decAtom(ri, &m, &in)
	case "bra":
		err = d.decBra(ri, &m, &in)
	case "ret", "exit":
		if err = m.only(); err == nil {
			err = nops(ri, 0)
		}
		in.op = opExit
	case "shfl":
		err = d.decShfl(ri, &m, &in)
	case "vote":
		err = d.decVote(ri, &m, &in)
	case "bar", "barrier":
		err = d.decBar(ri, &m, &in)
	case "membar":
		if err = m.only("cta", "gl", "sys"); err == nil {
			err = nops(ri, 0)
		}
		in.op = opNop
	case "fence":
		if err = m.only("sc", "acq_rel", "cta", "gpu", "sys"); err == nil {
			err = nops(ri, 0)
		}
		in.op = opNop
	default:
		err = fmt.Errorf("unsupported instruction %s", m.base)
	}
	return in, err
}

func (d *decoder) decMov(ri *rawInst, m *modset, in *inst) error {
	if err := m.only(); err != nil {
		return err
	}
	t, err := m.oneType()
	if err != nil {
		return err
	}
	if err := nops(ri, 2); err != nil {
		return err
	}
	dst, src := &ri.ops[0], &ri.ops[1]
	switch {
	case dst.kind == oVec: // unpack
		n := len(dst.elems)
		if n != 2 && n != 4 || typeBits(t) < 32 {
			return fmt.Errorf("unsupported unpacking mov")
		}
		in.op, in.n, in.size = opUnpack, uint8(n), uint8(typeBits(t)/n)
		for i := range dst.elems {
			s, err := d.dst(&dst.elems[i])
			if err != nil {
				return err
			}
			in.v[i] = s
		}
		in.a, err = d.src(src, t)
		return err
	case src.kind == oVec: // pack
		n := len(src.elems)
		if n != 2 && n != 4 || typeBits(t) < 32 {
			return fmt.Errorf("unsupported packing mov")
		}
		in.op, in.n, in.size = opPack, uint8(n), uint8(typeBits(t)/n)
		for i := range src.elems {
			s, err := d.src(&src.elems[i], tU64)
			if err != nil {
				return err
			}
			in.v[i] = s
		}
		in.d, err = d.dst(dst)
		return err
	}
	in.op = opMov
	if in.d, err = d.dst(dst); err != nil {
		return err
	}
	if t == tPred {
		in.a, _, err = d.predSrc(src)
		return err
	}
	in.a, err = d.src(src, t)
	return err
}

// float op table for the f32/f64 fast paths.
var f32ops = map[string]opcode{"add": opAddF32, "sub": opSubF32, "mul": opMulF32, "fma": opFmaF32,
	"mad": opFmaF32, "div": opDivF32, "sqrt": opSqrtF32, "rcp": opRcpF32, "neg": opNegF32,
	"abs": opAbsF32, "min": opMinF32, "max": opMaxF32, "copysign": opCopysignF32, "testp": opTestpF32}
var f64ops = map[string]opcode{"add": opAddF64, "sub": opSubF64, "mul": opMulF64, "fma": opFmaF64,
	"mad": opFmaF64, "div": opDivF64, "sqrt": opSqrtF64, "rcp": opRcpF64, "neg": opNegF64,
	"abs": opAbsF64, "min": opMinF64, "max": opMaxF64, "testp": opTestpF64}

var fopArity = map[string]int{"add": 2, "sub": 2, "mul": 2, "fma": 3, "mad": 3, "div": 2, "sqrt": 1,
	"rcp": 1, "neg": 1, "abs": 1, "min": 2, "max": 2, "copysign": 2, "testp": 1}

const (
	fopAdd uint8 = iota
	fopSub
	fopMul
	fopFma
)

func (d *decoder) decArith(ri *rawInst, m *modset, in *inst) error {
	t, err := m.oneType()
	if err != nil {
		return err
	}
	if isFloat(t) {
		return d.decFloat(ri, m, in, t)
	}
	return d.decInt(ri, m, in, t)
}

func (d *decoder) decFloat(ri *rawInst, m *modset, in *inst, t uint8) error {
	b := m.base
	if t == tF16 {
		return fmt.Errorf("f16 arithmetic is not supported")
	}
	if m.has("ftz") {
		return fmt.Errorf(".ftz flushes subnormals; not emulated (the contract forbids it)")
	}
	if m.has("approx") || m.has("full") {
		return fmt.Errorf("approximate float operations are not emulated (the contract forbids them)")
	}
	if m.has("sat") {
		return fmt.Errorf(".sat on float arithmetic is not supported")
	}
	arity, ok := fopArity[b]
	if !ok {
		return fmt.Errorf("%s has no float form", b)
	}
	var table = f32ops
	if t == tF64 {
		table = f64ops
	}
	op, ok := table[b]
	if !ok {
		return fmt.Errorf("%s.%s is not supported", b, typeName(t))
	}
	switch b {
	case "add", "sub", "mul", "fma", "mad":
		if m.rnd == rndNone {
			return fmt.Errorf("%s without a rounding modifier may be contracted by ptxas; not emulated (write .rn)", b)
		}
		if err := m.only(); err != nil {
			return err
		}
		switch m.rnd {
		case rndRN:
		case rndRZ, rndRM, rndRP:
			in.op, in.ty = opFDirected, t
			in.imm = int64(m.rnd)
			in.mod = map[string]uint8{"add": fopAdd, "sub": fopSub, "mul": fopMul, "fma": fopFma, "mad": fopFma}[b]
			op = opFDirected
		default:
			return fmt.Errorf("unsupported rounding modifier for %s", b)
		}
	case "div", "sqrt", "rcp":
		if m.rnd != rndRN {
			return fmt.Errorf("%s is emulated only with .rn", b)
		}
		if err := m.only(); err != nil {
			return err
		}
	case "testp":
		if m.rnd != rndNone || len(m.words) != 1 {
			return fmt.Errorf("testp needs one test")
		}
		tests := map[string]uint8{"finite": 0, "infinite": 1, "number": 2, "notanumber": 3, "normal": 4, "subnormal": 5}
		tv, ok := tests[m.words[0]]
		if !ok {
			return fmt.Errorf("unsupported testp.%s", m.words[0])
		}
		in.mod = tv
	default:
		if m.rnd != rndNone {
			return fmt.Errorf("unexpected rounding modifier on %s", b)
		}
		if err := m.only(); err != nil {
			return err
		}
	}
	if err := nops(ri, arity+1); err != nil {
		return err
	}
	in.op = op
	in.ty = t
	var err error
	if in.d, err = d.dst(&ri.ops[0]); err != nil {
		return err
	}
	srcs := []*int32{&in.a, &in.b, &in.c}
	for i := 0; i < arity; i++ {
		if *srcs[i], err = d.src(&ri.ops[i+1], t); err != nil {
			return err
		}
	}
	return nil
}

func typeName(t uint8) string {
	for _, n := range []string{"u8", "s8", "u16", "s16", "u32", "s32", "u64", "s64", "f16", "f32", "f64", "pred"} {
		if typeCode(n) == t {
			return n
		}
	}
	return "?"
}

var intGenOps = map[string]uint8{"add": iAdd, "sub": iSub, "div": iDiv, "rem": iRem, "and": iAnd,
	"or": iOr, "xor": iXor, "not": iNot, "cnot": iCnot, "shl": iShl, "shr": iShr, "neg": iNeg,
	"abs": iAbs, "min": iMin, "max": iMax, "popc": iPopc, "clz": iClz, "brev": iBrev, "bfe": iBfe,
	"bfi": iBfi, "prmt": iPrmt, "lop3": iLop3}

var intArity = map[uint8]int{iAdd: 2, iSub: 2, iMulLo: 2, iMulHi: 2, iMulWide: 2, iMadLo: 3, iMadHi: 3,
	iMadWide: 3, iDiv: 2, iRem: 2, iAnd: 2, iOr: 2, iXor: 2, iNot: 1, iCnot: 1, iShl: 2, iShr: 2,
	iNeg: 1, iAbs: 1, iMin: 2, iMax: 2, iPopc: 1, iClz: 1, iBrev: 1, iBfe: 3, iBfi: 4, iPrmt: 3,
	iShfL: 3, iShfR: 3, iLop3: 4, iAddSat: 2, iSubSat: 2}

func (d *decoder) decInt(ri *rawInst, m *modset, in *inst, t uint8) error {
	b := m.base
	if m.rnd != rndNone {
		return fmt.Errorf("rounding modifier on integer %s", b)
	}
	if t == tPred {
		if err := m.only(); err != nil {
			return err
		}
		ops := map[string]opcode{"and": opPredAnd, "or": opPredOr, "xor": opPredXor, "not": opPredNot}
		op, ok := ops[b]
		if !ok {
			return fmt.Errorf("%s.pred is not supported", b)
		}
		n := 3
		if b == "not" {
			n = 2
		}
		if err := nops(ri, n); err != nil {
			return err
		}
		in.op = op
		var err error
		if in.d, err = d.dst(&ri.ops[0]); err != nil {
			return err
		}
		var neg bool
		if in.a, neg, err = d.predSrc(&ri.ops[1]); err != nil || neg {
			if neg {
				return fmt.Errorf("negated predicate source")
			}
			return err
		}
		if n == 3 {
			if in.b, neg, err = d.predSrc(&ri.ops[2]); err != nil || neg {
				if neg {
					return fmt.Errorf("negated predicate source")
				}
				return err
			}
		}
		return nil
	}
	var iop uint8
	srcT := t // type of the sources (the destination of .wide is twice as wide)
	switch b {
	case "mul", "mad":
		if len(m.words) != 1 {
			return fmt.Errorf("%s needs one of .lo .hi .wide", b)
		}
		switch m.words[0] {
		case "lo":
			iop = iMulLo
		case "hi":
			iop = iMulHi
		case "wide":
			iop = iMulWide
		default:
			return fmt.Errorf("unsupported modifier .%s", m.words[0])
		}
		if b == "mad" {
			iop += iMadLo - iMulLo
		}
		if (iop == iMulWide || iop == iMadWide) && typeBits(t) == 64 {
			return fmt.Errorf("%s.wide needs a 16- or 32-bit type", b)
		}
	case "shf":
		if len(m.words) != 2 || t != tU32 {
			return fmt.Errorf("shf needs .l/.r, .wrap/.clamp and .b32")
		}
		switch m.words[0] {
		case "l":
			iop = iShfL
		case "r":
			iop = iShfR
		default:
			return fmt.Errorf("unsupported shf.%s", m.words[0])
		}
		switch m.words[1] {
		case "wrap":
		case "clamp":
			in.flags |= fClamp
		default:
			return fmt.Errorf("unsupported shf.%s", m.words[1])
		}
	case "add", "sub":
		op, ok := intGenOps[b]
		if !ok {
			return fmt.Errorf("unsupported %s", b)
		}
		iop = op
		if m.has("sat") {
			if t != tS32 {
				return fmt.Errorf("%s.sat needs .s32", b)
			}
			iop = iAddSat + (iop - iAdd)
			m.words = nil
		}
		if err := m.only(); err != nil {
			return err
		}
	case "prmt":
		if err := m.only(); err != nil {
			return fmt.Errorf("prmt is emulated only in its default mode")
		}
		iop = iPrmt
	default:
		op, ok := intGenOps[b]
		if !ok {
			return fmt.Errorf("%s has no integer form", b)
		}
		iop = op
		if err := m.only(); err != nil {
			return err
		}
	}
	arity := intArity[iop]
	if err := nops(ri, arity+1); err != nil {
		return err
	}
	var err error
	if in.d, err = d.dst(&ri.ops[0]); err != nil {
		return err
	}
	srcs := []*int32{&in.a, &in.b, &in.c, &in.e}
	for i := 0; i < arity; i++ {
		st := srcT
		// shift amounts, bfe/bfi positions and lengths, lop3 lut are .u32 operands
		switch {
		case (iop == iShl || iop == iShr) && i == 1,
			iop == iBfe && i >= 1, iop == iBfi && i >= 2, iop == iLop3 && i == 3:
			st = tU32
		case (iop == iMadWide) && i == 2:
			st = wideType(t)
		}
		if *srcs[i], err = d.src(&ri.ops[i+1], st); err != nil {
			return err
		}
	}
	in.ty, in.mod = t, iop
	// fast paths
	w := typeBits(t)
	in.op = opIntGen
	switch {
	case iop == iAdd && w == 32:
		in.op = opAdd32
	case iop == iAdd && w == 64:
		in.op = opAdd64
	case iop == iSub && w == 32:
		in.op = opSub32
	case iop == iSub && w == 64:
		in.op = opSub64
	case iop == iMulLo && w == 32:
		in.op = opMulLo32
	case iop == iMulLo && w == 64:
		in.op = opMulLo64
	case iop == iMulWide && t == tU32:
		in.op = opMulWideU32
	case iop == iMulWide && t == tS32:
		in.op = opMulWideS32
	case iop == iMadLo && w == 32:
		in.op = opMadLo32
	case iop == iMadLo && w == 64:
		in.op = opMadLo64
	case iop == iMadWide && t == tU32:
		in.op = opMadWideU32
	case iop == iMadWide && t == tS32:
		in.op = opMadWideS32
	case iop == iAnd && w == 32:
		in.op = opAnd32
	case iop == iAnd && w == 64:
		in.op = opAnd64
	case iop == iOr && w == 32:
		in.op = opOr32
	case iop == iOr && w == 64:
		in.op = opOr64
	case iop == iXor && w == 32:
		in.op = opXor32
	case iop == iXor && w == 64:
		in.op = opXor64
	case iop == iNot && w == 32:
		in.op = opNot32
	case iop == iNot && w == 64:
		in.op = opNot64
	case iop == iShl && w == 32:
		in.op = opShl32
	case iop == iShl && w == 64:
		in.op = opShl64
	case iop == iShr && t == tU32:
		in.op = opShrU32
	case iop == iShr && t == tU64:
		in.op = opShrU64
	case iop == iShr && t == tS32:
		in.op = opShrS32
	case iop == iShr && t == tS64:
		in.op = opShrS64
	}
	return nil
}

// wideType returns the type twice as wide as t.
func wideType(t uint8) uint8 {
	switch t {
	case tU16:
		return tU32
	case tS16:
		return tS32
	case tU32:
		return tU64
	case tS32:
		return tS64
	}
	return t
}

func (d *decoder) decSetp(ri *rawInst, m *modset, in *inst) error {
	t, err := m.oneType()
	if err != nil {
		return err
	}
	if m.cmp < 0 {
		return fmt.Errorf("setp needs a comparison")
	}
	cmp := uint8(m.cmp)
	if m.has("ftz") {
		return fmt.Errorf(".ftz flushes subnormals; not emulated")
	}
	var boolop string
	for _, w := range m.words {
		switch w {
		case "and", "or", "xor":
			if boolop != "" {
				return fmt.Errorf("two boolean operations")
			}
			boolop = w
		default:
			return fmt.Errorf("unsupported modifier .%s", w)
		}
	}
	switch {
	case isFloat(t):
		if t == tF16 {
			return fmt.Errorf("f16 comparisons are not supported")
		}
		if cmp >= cmpLo && cmp <= cmpHs {
			return fmt.Errorf("unsigned comparison on a float type")
		}
		in.op = opSetpF32
		if t == tF64 {
			in.op = opSetpF64
		}
	case isInt(t):
		if cmp >= cmpEqu {
			return fmt.Errorf("unordered comparison on an integer type")
		}
		// lt/le/gt/ge on an unsigned type are the unsigned comparisons
		if !isSigned(t) {
			switch cmp {
			case cmpLt:
				cmp = cmpLo
			case cmpLe:
				cmp = cmpLs
			case cmpGt:
				cmp = cmpHi
			case cmpGe:
				cmp = cmpHs
			}
		}
		in.op = opSetpInt
		if m.words == nil || len(m.words) == 0 {
			switch t {
			case tS32:
				in.op = opSetpS32
			case tU32:
				in.op = opSetpU32
			case tS64:
				in.op = opSetpS64
			case tU64:
				in.op = opSetpU64
			}
		}
	default:
		return fmt.Errorf("unsupported setp type")
	}
	n := 3
	if boolop != "" {
		n = 4
	}
	if err := nops(ri, n); err != nil {
		return err
	}
	in.ty, in.mod = t, cmp
	if ri.ops[0].kind == oPair {
		if in.d, err = d.dst(&ri.ops[0].elems[0]); err != nil {
			return err
		}
		if in.d2, err = d.dst(&ri.ops[0].elems[1]); err != nil {
			return err
		}
		in.flags |= fPredDest
	} else if in.d, err = d.dst(&ri.ops[0]); err != nil {
		return err
	}
	if in.a, err = d.src(&ri.ops[1], t); err != nil {
		return err
	}
	if in.b, err = d.src(&ri.ops[2], t); err != nil {
		return err
	}
	if boolop != "" {
		in.flags |= fBoolOp
		in.ty2 = map[string]uint8{"and": 0, "or": 1, "xor": 2}[boolop]
		var neg bool
		if in.c, neg, err = d.predSrc(&ri.ops[3]); err != nil {
			return err
		}
		if neg {
			in.flags |= fNegC
		}
	}
	return nil
}

func (d *decoder) decSelp(ri *rawInst, m *modset, in *inst) error {
	if err := m.only(); err != nil {
		return err
	}
	t, err := m.oneType()
	if err != nil {
		return err
	}
	if err := nops(ri, 4); err != nil {
		return err
	}
	in.op, in.ty = opSelp, t
	if in.d, err = d.dst(&ri.ops[0]); err != nil {
		return err
	}
	if in.a, err = d.src(&ri.ops[1], t); err != nil {
		return err
	}
	if in.b, err = d.src(&ri.ops[2], t); err != nil {
		return err
	}
	var neg bool
	if in.c, neg, err = d.predSrc(&ri.ops[3]); err != nil {
		return err
	}
	if neg {
		in.a, in.b = in.b, in.a
	}
	return nil
}

func (d *decoder) decCvt(ri *rawInst, m *modset, in *inst) error {
	if len(m.types) != 2 {
		return fmt.Errorf("cvt needs a destination and a source type")
	}
	dt, st := m.types[0], m.types[1]
	if dt == tF16 || st == tF16 || dt == tPred || st == tPred {
		return fmt.Errorf("cvt.%s.%s is not supported", typeName(dt), typeName(st))
	}
	if m.has("ftz") {
		return fmt.Errorf(".ftz flushes subnormals; not emulated")
	}
	sat := false
	for _, w := range m.words {
		if w != "sat" {
			return fmt.Errorf("unsupported modifier .%s", w)
		}
		sat = true
	}
	r := m.rnd
	switch {
	case isFloat(dt) && isFloat(st):
		switch {
		case dt == st:
			// rounding to an integral value (rni/rzi/rmi/rpi) or a plain copy (sat)
			if r != rndNone && r < rndRNI {
				return fmt.Errorf("cvt between equal float types takes an integer rounding")
			}
		case dt == tF32 && st == tF64:
			if r == rndNone || r >= rndRNI {
				return fmt.Errorf("cvt.f32.f64 needs .rn/.rz/.rm/.rp")
			}
		default: // f32 -> f64 is exact
			if r != rndNone {
				return fmt.Errorf("cvt.f64.f32 takes no rounding modifier")
			}
		}
	case isFloat(dt): // int -> float
		if r == rndNone || r >= rndRNI {
			return fmt.Errorf("integer-to-float cvt needs .rn/.rz/.rm/.rp")
		}
	case isFloat(st): // float -> int
		if r < rndRNI {
			return fmt.Errorf("float-to-integer cvt needs .rni/.rzi/.rmi/.rpi")
		}
	default: // int -> int
		if r != rndNone {
			return fmt.Errorf("integer cvt takes no rounding modifier")
		}
	}
	if err := nops(ri, 2); err != nil {
		return err
	}
	var err error
	if in.d, err = d.dst(&ri.ops[0]); err != nil {
		return err
	}
	if in.a, err = d.src(&ri.ops[1], st); err != nil {
		return err
	}
	in.ty, in.ty2, in.mod = dt, st, r
	if sat {
		in.flags |= fSat
	}
	in.op = opCvt
	if !sat {
		switch {
		case dt == tU64 && st == tU32:
			in.op = opCvtU64U32
		case (dt == tS64 || dt == tU64) && st == tS32:
			in.op = opCvtS64S32
		case (dt == tU32 || dt == tS32) && (st == tU64 || st == tS64):
			in.op = opCvtU32U64
		case dt == tS64 && st == tU32:
			in.op = opCvtU64U32
		}
	}
	return nil
}

func (d *decoder) decCvta(ri *rawInst, m *modset, in *inst) error {
	to := false
	for _, w := range m.words {
		if w != "to" {
			return fmt.Errorf("unsupported modifier .%s", w)
		}
		to = true
	}
	t, err := m.oneType()
	if err != nil {
		return err
	}
	if t != tU64 && t != tU32 {
		return fmt.Errorf("cvta needs .u32 or .u64")
	}
	if err := nops(ri, 2); err != nil {
		return err
	}
	if in.d, err = d.dst(&ri.ops[0]); err != nil {
		return err
	}
	if in.a, err = d.src(&ri.ops[1], t); err != nil {
		return err
	}
	in.ty = t
	switch m.space {
	case "global", "const":
		in.op = opMov
	case "shared":
		in.op = opCvtaShared
		if to {
			in.op = opCvtaToShared
		}
	case "local":
		in.op = opCvtaLocal
		if to {
			in.op = opCvtaToLocal
		}
	default:
		return fmt.Errorf("cvta needs a state space")
	}
	return nil
}

// memOperand decodes [base+off] for space sp, filling in.a / in.imm / fNoBase.
func (d *decoder) memOperand(o *operand, sp string, in *inst) error {
	if o.kind != oMem {
		return fmt.Errorf("expected a memory operand, found %s", o.text)
	}
	in.imm = o.ival
	in.a = d.konst(0) // absolute addresses add the constant 0
	if o.base == nil {
		in.flags |= fNoBase
		return nil
	}
	if o.base.kind == oReg {
		s, err := d.src(o.base, tU64)
		if err != nil {
			return err
		}
		in.a = s
		if sp == "param" {
			return fmt.Errorf("register-based parameter access is not supported")
		}
		return nil
	}
	s, ok := d.syms[o.base.name]
	if !ok {
		return fmt.Errorf("unknown symbol %s", o.base.name)
	}
	want := map[string]symKind{"param": symParam, "shared": symShared, "local": symLocal, "global": symGlobal, "const": symGlobal}
	if k, ok := want[sp]; ok && k != s.kind {
		return fmt.Errorf("symbol %s is not in the .%s space", o.base.name, sp)
	}
	if sp == "" && s.kind != symGlobal {
		return fmt.Errorf("generic access to the non-generic address of %s", o.base.name)
	}
	in.flags |= fNoBase
	in.imm += int64(s.addr)
	return nil
}

var cacheOps = []string{"ca", "cg", "cs", "lu", "cv", "wb", "wt", "nc", "volatile", "weak", "relaxed", "cta", "gpu", "sys", "L1::no_allocate"}

func (d *decoder) memMods(m *modset) (t uint8, n int, err error) {
	if err := m.only(cacheOps...); err != nil {
		return 0, 0, err
	}
	if t, err = m.oneType(); err != nil {
		return
	}
	if t == tPred || t == tF16 {
		return 0, 0, fmt.Errorf("unsupported memory type .%s", typeName(t))
	}
	n = 1
	if m.vec > 0 {
		n = m.vec
	}
	return
}

func (d *decoder) decLd(ri *rawInst, m *modset, in *inst) error {
	t, n, err := d.memMods(m)
	if err != nil {
		return err
	}
	if err := nops(ri, 2); err != nil {
		return err
	}
	in.n, in.size = uint8(n), uint8(typeBits(t)/8)
	if isSigned(t) && typeBits(t) < 64 {
		in.flags |= fSigned
	}
	in.ty = t
	dst := &ri.ops[0]
	if n == 1 {
		if dst.kind == oVec {
			return fmt.Errorf("vector destination for a scalar load")
		}
		if in.v[0], err = d.dst(dst); err != nil {
			return err
		}
	} else {
		if dst.kind != oVec || len(dst.elems) != n {
			return fmt.Errorf("expected a %d-element vector destination", n)
		}
		for i := range dst.elems {
			if in.v[i], err = d.dst(&dst.elems[i]); err != nil {
				return err
			}
		}
	}
	sp := m.space
	if err := d.memOperand(&ri.ops[1], sp, in); err != nil {
		return err
	}
	switch sp {
	case "param":
		in.op = opLdParam
		if n != 1 {
			return fmt.Errorf("vector parameter loads are not supported")
		}
		if in.imm < 0 || int(in.imm)+int(in.size) > d.fn.paramSize {
			return fmt.Errorf("parameter access [%d, %d) outside the %d-byte parameter list", in.imm, in.imm+int64(in.size), d.fn.paramSize)
		}
	case "global", "const":
		in.op = opLdGlobal
	case "shared":
		in.op = opLdShared
	case "local":
		in.op = opLdLocal
	case "":
		in.op = opLdGeneric
	}
	return nil
}

func (d *decoder) decSt(ri *rawInst, m *modset, in *inst) error {
	t, n, err := d.memMods(m)
	if err != nil {
		return err
	}
	if err := nops(ri, 2); err != nil {
		return err
	}
	in.n, in.size, in.ty = uint8(n), uint8(typeBits(t)/8), t
	src := &ri.ops[1]
	if n == 1 {
		if in.v[0], err = d.src(src, t); err != nil {
			return err
		}
	} else {
		if src.kind != oVec || len(src.elems) != n {
			return fmt.Errorf("expected a %d-element vector source", n)
		}
		for i := range src.elems {
			if in.v[i], err = d.src(&src.elems[i], t); err != nil {
				return err
			}
		}
	}
	sp := m.space
	if err := d.memOperand(&ri.ops[0], sp, in); err != nil {
		return err
	}
	switch sp {
	case "global":
		in.op = opStGlobal
	case "shared":
		in.op = opStShared
	case "local":
		in.op = opStLocal
	case "":
		in.op = opStGeneric
	default:
		return fmt.Errorf("cannot store to .%s", sp)
	}
	return nil
}

func (d *decoder) decAtom(ri *rawInst, m *modset, in *inst) error {
	t, err := m.oneType()
	if err != nil {
		return err
	}
	if isFloat(t) {
		return fmt.Errorf("float atomics make sums depend on scheduling (the contract forbids them)")
	}
	if typeBits(t) != 32 && typeBits(t) != 64 {
		return fmt.Errorf("atomics need a 32- or 64-bit type")
	}
	var aop uint8 = 255
	names := map[string]uint8{"add": atomAdd, "min": atomMin, "max": atomMax, "exch": atomExch, "cas": atomCas,
		"and": atomAnd, "or": atomOr, "xor": atomXor, "inc": atomInc, "dec": atomDec}
	for _, w := range m.words {
		if v, ok := names[w]; ok && aop == 255 {
			aop = v
			continue
		}
		switch w {
		case "relaxed", "gpu", "sys", "cta":
			continue
		}
		return fmt.Errorf("unsupported modifier .%s", w)
	}
	if aop == 255 {
		return fmt.Errorf("atomic needs an operation")
	}
	red := m.base == "red"
	n := 3
	if aop == atomCas {
		n = 4
	}
	if red {
		n--
	}
	if err := nops(ri, n); err != nil {
		return err
	}
	ops := ri.ops
	if !red {
		if in.d, err = d.dst(&ops[0]); err != nil {
			return err
		}
		ops = ops[1:]
	}
	switch m.space {
	case "global":
		in.flags = spGlobal
	case "shared":
		in.flags = spShared
	case "":
		in.flags = spGeneric
	default:
		return fmt.Errorf("atomics on .%s are not supported", m.space)
	}
	if err := d.memOperand(&ops[0], m.space, in); err != nil {
		return err
	}
	if in.flags&fNoBase != 0 {
		return fmt.Errorf("atomics need a register address")
	}
	if in.b, err = d.src(&ops[1], t); err != nil {
		return err
	}
	if aop == atomCas {
		if in.c, err = d.src(&ops[2], t); err != nil {
			return err
		}
	}
	in.op, in.mod, in.ty = opAtom, aop, t
	in.size = uint8(typeBits(t) / 8)
	return nil
}

func (d *decoder) decBra(ri *rawInst, m *modset, in *inst) error {
	if err := m.only("uni"); err != nil {
		return err
	}
	if err := nops(ri, 1); err != nil {
		return err
	}
	o := &ri.ops[0]
	if o.kind != oSym {
		return fmt.Errorf("branch target must be a label")
	}
	tgt, ok := d.e.labels[o.name]
	if !ok {
		return fmt.Errorf("unknown label %s", o.name)
	}
	in.op, in.imm = opBra, int64(tgt)
	return nil
}

func (d *decoder) decShfl(ri *rawInst, m *modset, in *inst) error {
	if !m.has("sync") {
		return fmt.Errorf("shfl without .sync is not supported on sm_70 and newer")
	}
	t, err := m.oneType()
	if err != nil {
		return err
	}
	if t != tU32 {
		return fmt.Errorf("shfl needs .b32")
	}
	var mode uint8 = 255
	for _, w := range m.words {
		switch w {
		case "sync":
		case "up":
			mode = shflUp
		case "down":
			mode = shflDown
		case "bfly":
			mode = shflBfly
		case "idx":
			mode = shflIdx
		default:
			return fmt.Errorf("unsupported modifier .%s", w)
		}
	}
	if mode == 255 {
		return fmt.Errorf("shfl needs a mode")
	}
	if err := nops(ri, 5); err != nil {
		return err
	}
	dst := &ri.ops[0]
	if dst.kind == oPair {
		if in.d2, err = d.dst(&dst.elems[1]); err != nil {
			return err
		}
		in.flags |= fPredDest
		dst = &dst.elems[0]
	}
	if in.d, err = d.dst(dst); err != nil {
		return err
	}
	if in.a, err = d.src(&ri.ops[1], tU32); err != nil {
		return err
	}
	if in.b, err = d.src(&ri.ops[2], tU32); err != nil {
		return err
	}
	if in.c, err = d.src(&ri.ops[3], tU32); err != nil {
		return err
	}
	if in.e, err = d.src(&ri.ops[4], tU32); err != nil {
		return err
	}
	in.op, in.mod = opShfl, mode
	return nil
}

func (d *decoder) decVote(ri *rawInst, m *modset, in *inst) error {
	if !m.has("sync") {
		return fmt.Errorf("vote without .sync is not supported on sm_70 and newer")
	}
	var mode uint8 = 255
	for _, w := range m.words {
		switch w {
		case "sync":
		case "all":
			mode = voteAll
		case "any":
			mode = voteAny
		case "uni":
			mode = voteUni
		case "ballot":
			mode = voteBallot
		default:
			return fmt.Errorf("unsupported modifier .%s", w)
		}
	}
	t, err := m.oneType()
	if err != nil {
		return err
	}
	if mode == 255 || (mode == voteBallot) != (t == tU32) || (mode != voteBallot && t != tPred) {
		return fmt.Errorf("unsupported vote form")
	}
	if err := nops(ri, 3); err != nil {
		return err
	}
	if in.d, err = d.dst(&ri.ops[0]); err != nil {
		return err
	}
	var neg bool
	if in.a, neg, err = d.predSrc(&ri.ops[1]); err != nil {
		return err
	}
	if neg {
		in.flags |= fNegC
	}
	if in.e, err = d.src(&ri.ops[2], tU32); err != nil {
		return err
	}
	in.op, in.mod = opVote, mode
	return nil
}

func (d *decoder) decBar(ri *rawInst, m *modset, in *inst) error {
	if m.has("warp") {
		if err := m.only("warp", "sync"); err != nil {
			return err
		}
		if err := nops(ri, 1); err != nil {
			return err
		}
		var err error
		in.e, err = d.src(&ri.ops[0], tU32)
		in.op = opWarpSync
		return err
	}
	if err := m.only("sync", "aligned"); err != nil {
		return fmt.Errorf("%v (only bar.sync / barrier.sync are emulated)", err)
	}
	if m.base == "bar" && !m.has("sync") || m.base == "barrier" && !m.has("sync") {
		return fmt.Errorf("only bar.sync / barrier.sync are emulated")
	}
	if len(ri.ops) < 1 || len(ri.ops) > 2 {
		return fmt.Errorf("bar.sync takes a barrier and an optional thread count")
	}
	var err error
	if in.a, err = d.src(&ri.ops[0], tU32); err != nil {
		return err
	}
	if len(ri.ops) == 2 {
		in.flags |= fCount
		if in.b, err = d.src(&ri.ops[1], tU32); err != nil {
			return err
		}
	}
	in.op = opBar
	return nil
}
