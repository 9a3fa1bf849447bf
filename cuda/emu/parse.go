package emu

import (
	"fmt"
	"strconv"
	"strings"
)

// This file turns PTX text into a syntax tree: module-scope directives and variables,
// entries with their parameters, register declarations, shared/local variables, labels
// and raw instructions (guard, opcode with its modifiers, operands). decode.go turns
// each raw instruction into the compact form the interpreter executes.

// token is one PTX token with its 1-based line.
type token struct {
	s    string
	line int
	kind byte // 'i' identifier/opcode/register, 'n' number, 's' string, 'p' punctuation
}

// tokenize splits PTX text into tokens, dropping // and /* */ comments.
func tokenize(src string) ([]token, error) {
	var toks []token
	line := 1
	i := 0
	isIdent := func(c byte) bool {
		return c == '_' || c == '$' || c == '%' || c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
	}
	for i < len(src) {
		c := src[i]
		switch {
		case c == '\n':
			line++
			i++
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case c == '/' && i+1 < len(src) && src[i+1] == '/':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			j := strings.Index(src[i+2:], "*/")
			if j < 0 {
				return nil, fmt.Errorf("line %d: unterminated comment", line)
			}
			line += strings.Count(src[i:i+2+j], "\n")
			i += j + 4
		case c == '"':
			j := i + 1
			for j < len(src) && src[j] != '"' && src[j] != '\n' {
				j++
			}
			if j >= len(src) || src[j] != '"' {
				return nil, fmt.Errorf("line %d: unterminated string", line)
			}
			toks = append(toks, token{src[i+1 : j], line, 's'})
			i = j + 1
		case c >= '0' && c <= '9':
			j := i
			for j < len(src) && (isIdent(src[j]) && src[j] != '%' && src[j] != '$') {
				// decimal exponent sign: 1.5e-3
				j++
				if j < len(src) && (src[j] == '-' || src[j] == '+') && (src[j-1] == 'e' || src[j-1] == 'E') &&
					!strings.HasPrefix(src[i:], "0x") && !strings.HasPrefix(src[i:], "0X") &&
					!strings.HasPrefix(src[i:], "0f") && !strings.HasPrefix(src[i:], "0F") &&
					!strings.HasPrefix(src[i:], "0d") && !strings.HasPrefix(src[i:], "0D") {
					j++
				}
			}
			toks = append(toks, token{src[i:j], line, 'n'})
			i = j
		case isIdent(c):
			j := i
			for j < len(src) && isIdent(src[j]) {
				j++
			}
			toks = append(toks, token{src[i:j], line, 'i'})
			i = j
		case strings.IndexByte("{}()[],;:@!+-|<>=", c) >= 0:
			toks = append(toks, token{string(c), line, 'p'})
			i++
		default:
			return nil, fmt.Errorf("line %d: unexpected character %q", line, c)
		}
	}
	return toks, nil
}

// operand kinds of the syntax tree.
const (
	oReg   = iota // %r1, %tid.x
	oImm          // integer literal
	oFImm         // float literal: 0fXXXXXXXX (f32 bits), 0dXXXXXXXXXXXXXXXX (f64 bits) or decimal
	oSym          // identifier: a label, variable or parameter name
	oMem          // [base+off]
	oVec          // {a, b, ...}
	oPair         // a|b (two destinations)
	oBlank        // _ (sink)
)

// operand is one syntactic instruction operand.
type operand struct {
	kind  int
	name  string // register or symbol name
	ival  int64  // oImm value, oMem offset
	fbits uint64 // oFImm bits
	fsize int    // oFImm: 4 (0f), 8 (0d) or 0 (decimal, value in fval)
	fval  float64
	neg   bool      // !%p (negated predicate source)
	base  *operand  // oMem base: oReg, oSym, or nil for an absolute address
	elems []operand // oVec elements, oPair halves
	text  string
}

// rawInst is one instruction as written.
type rawInst struct {
	guard    string // predicate register or ""
	guardNeg bool
	opcode   string // e.g. "ld.global.nc.f32"
	ops      []operand
	line     int
	loc      srcLoc // innermost .loc (may be inside an inlined function)
	root     srcLoc // the call site in the kernel's own code, following inlined_at
	text     string
}

// srcLoc is a .loc position.
type srcLoc struct{ file, line, col int }

// variable is a .shared/.local/.global/.const variable.
type variable struct {
	name   string
	space  string // "shared", "local", "global", "const"
	align  int
	esize  int    // element size in bytes
	count  int    // number of elements; -1 for an extern unsized array
	extern bool   // .extern .shared name[] (dynamic shared memory)
	init   []byte // initializer bytes (nil: none)
	line   int
}

func (v *variable) size() int {
	if v.count < 0 {
		return 0
	}
	return v.esize * v.count
}

// paramDecl is one kernel parameter.
type paramDecl struct {
	name   string
	typ    string // ".u64", ".f32", ...
	size   int
	align  int
	offset int
}

// regDecl is one declared register.
type regDecl struct {
	name string
	typ  string // ".f32", ".b32", ".pred", ...
}

// entryAST is one parsed .entry.
type entryAST struct {
	name    string
	line    int
	params  []paramDecl
	regs    []regDecl
	vars    []*variable // .shared and .local declared in the body
	insts   []rawInst
	labels  map[string]int // label -> index of the next instruction
	reqntid [3]int
	maxntid [3]int
}

// moduleAST is one parsed PTX module.
type moduleAST struct {
	version     string
	target      string
	addressSize int
	files       map[int]string
	vars        []*variable // module scope
	entries     []*entryAST
}

type parser struct {
	toks []token
	pos  int
	mod  *moduleAST
	loc  srcLoc
	root srcLoc
	// inl maps a .loc position inside inlined code to its inlined_at call site.
	inl map[srcLoc]srcLoc
}

func (p *parser) errf(line int, format string, a ...any) error {
	return fmt.Errorf("PTX line %d: %s", line, fmt.Sprintf(format, a...))
}

func (p *parser) peek() *token {
	if p.pos < len(p.toks) {
		return &p.toks[p.pos]
	}
	return nil
}

func (p *parser) next() *token {
	t := p.peek()
	if t != nil {
		p.pos++
	}
	return t
}

func (p *parser) lastLine() int {
	if p.pos > 0 && p.pos <= len(p.toks) {
		return p.toks[p.pos-1].line
	}
	if len(p.toks) > 0 {
		return p.toks[len(p.toks)-1].line
	}
	return 0
}

func (p *parser) expect(s string) error {
	t := p.next()
	if t == nil {
		return p.errf(p.lastLine(), "expected %q, found end of file", s)
	}
	if t.s != s {
		return p.errf(t.line, "expected %q, found %q", s, t.s)
	}
	return nil
}

// restOfLine returns the tokens of the current token's line from the current position.
func (p *parser) restOfLine(line int) []token {
	start := p.pos
	for p.pos < len(p.toks) && p.toks[p.pos].line == line {
		p.pos++
	}
	return p.toks[start:p.pos]
}

// parseModule parses a whole PTX module.
func parseModule(src string) (*moduleAST, error) {
	toks, err := tokenize(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, mod: &moduleAST{files: map[int]string{}}}
	for p.peek() != nil {
		if err := p.topLevel(); err != nil {
			return nil, err
		}
	}
	return p.mod, nil
}

func (p *parser) topLevel() error {
	t := p.next()
	switch t.s {
	case ".version":
		v := p.restOfLine(t.line)
		if len(v) != 1 {
			return p.errf(t.line, "bad .version")
		}
		p.mod.version = v[0].s
		return nil
	case ".target":
		var parts []string
		for _, x := range p.restOfLine(t.line) {
			if x.s != "," {
				parts = append(parts, x.s)
			}
		}
		p.mod.target = strings.Join(parts, ",")
		return nil
	case ".address_size":
		v := p.restOfLine(t.line)
		if len(v) != 1 || v[0].s != "64" {
			return p.errf(t.line, ".address_size must be 64")
		}
		p.mod.addressSize = 64
		return nil
	case ".file":
		v := p.restOfLine(t.line)
		if len(v) < 2 {
			return p.errf(t.line, "bad .file")
		}
		n, err := strconv.Atoi(v[0].s)
		if err != nil {
			return p.errf(t.line, "bad .file number %q", v[0].s)
		}
		p.mod.files[n] = v[1].s
		return nil
	case ".section":
		// DWARF sections: skip the balanced braces.
		for p.peek() != nil && p.peek().s != "{" {
			p.next()
		}
		return p.skipBraces()
	case ".visible", ".weak", ".entry", ".extern", ".global", ".const", ".shared", ".align", ".func":
		p.pos--
		return p.declaration()
	}
	return p.errf(t.line, "unsupported top-level directive or token %q", t.s)
}

func (p *parser) skipBraces() error {
	if err := p.expect("{"); err != nil {
		return err
	}
	depth := 1
	for depth > 0 {
		t := p.next()
		if t == nil {
			return p.errf(p.lastLine(), "unbalanced braces")
		}
		switch t.s {
		case "{":
			depth++
		case "}":
			depth--
		}
	}
	return nil
}

// declaration parses a module-scope entry or variable, starting at its linkage.
func (p *parser) declaration() error {
	start := p.peek()
	var mods []string
	for {
		t := p.peek()
		if t == nil {
			return p.errf(start.line, "unexpected end of file in declaration")
		}
		if t.s == ".visible" || t.s == ".weak" || t.s == ".extern" {
			mods = append(mods, t.s)
			p.next()
			continue
		}
		break
	}
	t := p.peek()
	switch t.s {
	case ".entry":
		p.next()
		return p.entry()
	case ".func":
		return p.errf(t.line, "device functions (.func) are not supported by the emulator: make them __forceinline__")
	case ".global", ".const", ".shared":
		v, err := p.varDecl(strings.TrimPrefix(t.s, "."), contains(mods, ".extern"))
		if err != nil {
			return err
		}
		p.mod.vars = append(p.mod.vars, v)
		return nil
	}
	return p.errf(t.line, "unsupported declaration %q", t.s)
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// typeSize returns the byte size of a PTX fundamental type (".f32" -> 4).
func typeSize(t string) int {
	switch t {
	case ".b8", ".u8", ".s8":
		return 1
	case ".b16", ".u16", ".s16", ".f16":
		return 2
	case ".b32", ".u32", ".s32", ".f32":
		return 4
	case ".b64", ".u64", ".s64", ".f64":
		return 8
	}
	return 0
}

// varDecl parses "[.space] [.align N] .type name[N] [= {...}];" with the space token
// current.
func (p *parser) varDecl(space string, extern bool) (*variable, error) {
	st := p.next() // the space token
	v := &variable{space: space, extern: extern, line: st.line, count: 1}
	for {
		t := p.next()
		if t == nil {
			return nil, p.errf(st.line, "unexpected end of file in variable declaration")
		}
		if t.s == ".align" {
			n := p.next()
			a, err := strconv.Atoi(n.s)
			if err != nil {
				return nil, p.errf(n.line, "bad .align %q", n.s)
			}
			v.align = a
			continue
		}
		if sz := typeSize(t.s); sz > 0 {
			v.esize = sz
			continue
		}
		if t.s == ".v2" || t.s == ".v4" {
			return nil, p.errf(t.line, "vector variables are not supported")
		}
		if t.kind != 'i' || strings.HasPrefix(t.s, ".") {
			return nil, p.errf(t.line, "unsupported variable declaration token %q", t.s)
		}
		v.name = t.s
		break
	}
	if v.esize == 0 {
		return nil, p.errf(st.line, "variable %s has no type", v.name)
	}
	if v.align == 0 {
		v.align = v.esize
	}
	if p.peek() != nil && p.peek().s == "[" {
		p.next()
		if p.peek().s == "]" {
			v.count = -1
		} else {
			n := p.next()
			c, err := strconv.Atoi(n.s)
			if err != nil {
				return nil, p.errf(n.line, "bad array size %q", n.s)
			}
			v.count = c
		}
		if err := p.expect("]"); err != nil {
			return nil, err
		}
	}
	if p.peek() != nil && p.peek().s == "=" {
		p.next()
		vals, err := p.initializer(v)
		if err != nil {
			return nil, err
		}
		v.init = vals
	}
	if err := p.expect(";"); err != nil {
		return nil, err
	}
	if v.count < 0 && !(v.space == "shared" && v.extern) {
		return nil, p.errf(st.line, "unsized array %s is only supported as .extern .shared", v.name)
	}
	return v, nil
}

// initializer parses "{v, v, ...}" or a single value into little-endian bytes.
func (p *parser) initializer(v *variable) ([]byte, error) {
	var vals []operand
	if p.peek().s == "{" {
		p.next()
		for {
			op, err := p.operand()
			if err != nil {
				return nil, err
			}
			vals = append(vals, op)
			t := p.next()
			if t.s == "}" {
				break
			}
			if t.s != "," {
				return nil, p.errf(t.line, "expected , or } in initializer, found %q", t.s)
			}
		}
	} else {
		op, err := p.operand()
		if err != nil {
			return nil, err
		}
		vals = append(vals, op)
	}
	out := make([]byte, v.size())
	if len(vals) > v.count {
		return nil, p.errf(v.line, "too many initializers for %s", v.name)
	}
	for i, op := range vals {
		var bits uint64
		switch op.kind {
		case oImm:
			bits = uint64(op.ival)
		case oFImm:
			switch {
			case op.fsize != 0:
				bits = op.fbits
			case v.esize == 4:
				bits = uint64(f32bits(float32(op.fval)))
			default:
				bits = f64bits(op.fval)
			}
		default:
			return nil, p.errf(v.line, "unsupported initializer %q for %s", op.text, v.name)
		}
		for b := 0; b < v.esize; b++ {
			out[i*v.esize+b] = byte(bits >> (8 * b))
		}
	}
	return out, nil
}

// entry parses ".entry name(params) [perf directives] { body }" after ".entry".
func (p *parser) entry() error {
	nt := p.next()
	if nt == nil || nt.kind != 'i' {
		return p.errf(p.lastLine(), "expected entry name")
	}
	e := &entryAST{name: nt.s, line: nt.line, labels: map[string]int{}}
	if p.peek() != nil && p.peek().s == "(" {
		p.next()
		off := 0
		for p.peek() != nil && p.peek().s != ")" {
			pt := p.next()
			if pt.s != ".param" {
				return p.errf(pt.line, "expected .param in parameter list of %s, found %q", e.name, pt.s)
			}
			pd := paramDecl{}
			for {
				t := p.next()
				if t == nil {
					return p.errf(pt.line, "unexpected end of file")
				}
				if t.s == ".align" {
					a, err := strconv.Atoi(p.next().s)
					if err != nil {
						return p.errf(t.line, "bad .align")
					}
					pd.align = a
					continue
				}
				if sz := typeSize(t.s); sz > 0 {
					pd.typ, pd.size = t.s, sz
					continue
				}
				if t.s == ".ptr" || t.s == ".global" || t.s == ".const" || t.s == ".shared" || t.s == ".local" {
					continue // pointer attributes
				}
				if t.kind != 'i' || strings.HasPrefix(t.s, ".") {
					return p.errf(t.line, "unsupported parameter token %q", t.s)
				}
				pd.name = t.s
				break
			}
			if pd.size == 0 {
				return p.errf(pt.line, "parameter %s has no type", pd.name)
			}
			if p.peek().s == "[" { // byte array parameter (a struct by value)
				return p.errf(pt.line, "array (struct by value) parameters are not supported: pass structs as device pointers")
			}
			if pd.align == 0 {
				pd.align = pd.size
			}
			off = (off + pd.align - 1) / pd.align * pd.align
			pd.offset = off
			off += pd.size
			e.params = append(e.params, pd)
			if p.peek().s == "," {
				p.next()
			}
		}
		if err := p.expect(")"); err != nil {
			return err
		}
	}
	// Performance directives before the body.
	for p.peek() != nil && p.peek().s != "{" {
		t := p.next()
		switch t.s {
		case ".maxntid", ".reqntid":
			var dims []int
			for _, x := range p.restOfLine(t.line) {
				if x.s == "," {
					continue
				}
				n, err := strconv.Atoi(x.s)
				if err != nil {
					return p.errf(t.line, "bad %s", t.s)
				}
				dims = append(dims, n)
			}
			d := [3]int{1, 1, 1}
			copy(d[:], dims)
			if t.s == ".maxntid" {
				e.maxntid = d
			} else {
				e.reqntid = d
			}
		case ".minnctapersm", ".maxnreg", ".maxnctapersm", ".noreturn", ".pragma":
			p.restOfLine(t.line)
		default:
			return p.errf(t.line, "unsupported entry directive %q", t.s)
		}
	}
	if err := p.expect("{"); err != nil {
		return err
	}
	if err := p.body(e); err != nil {
		return err
	}
	p.mod.entries = append(p.mod.entries, e)
	return nil
}

// body parses statements up to the closing brace of an entry.
func (p *parser) body(e *entryAST) error {
	depth := 1
	for {
		t := p.next()
		if t == nil {
			return p.errf(p.lastLine(), "unexpected end of file in body of %s", e.name)
		}
		switch {
		case t.s == "{":
			depth++
			continue
		case t.s == "}":
			depth--
			if depth == 0 {
				return nil
			}
			continue
		case t.s == ".loc":
			v := p.restOfLine(t.line)
			if len(v) < 3 {
				return p.errf(t.line, "bad .loc")
			}
			f, err1 := strconv.Atoi(v[0].s)
			l, err2 := strconv.Atoi(v[1].s)
			c, err3 := strconv.Atoi(v[2].s)
			if err1 != nil || err2 != nil || err3 != nil {
				return p.errf(t.line, "bad .loc")
			}
			p.loc = srcLoc{f, l, c}
			for i := 3; i+3 < len(v); i++ {
				if v[i].s == "inlined_at" {
					f2, e1 := strconv.Atoi(v[i+1].s)
					l2, e2 := strconv.Atoi(v[i+2].s)
					c2, e3 := strconv.Atoi(v[i+3].s)
					if e1 == nil && e2 == nil && e3 == nil {
						if p.inl == nil {
							p.inl = map[srcLoc]srcLoc{}
						}
						p.inl[p.loc] = srcLoc{f2, l2, c2}
					}
				}
			}
			p.root = p.loc
			for i := 0; i < 64; i++ {
				parent, ok := p.inl[p.root]
				if !ok {
					break
				}
				p.root = parent
			}
			continue
		case t.s == ".pragma":
			for p.peek() != nil && p.peek().s != ";" {
				p.next()
			}
			p.next()
			continue
		case t.s == ".reg":
			if err := p.regDecl(e, t.line); err != nil {
				return err
			}
			continue
		case t.s == ".shared" || t.s == ".local":
			p.pos--
			v, err := p.varDecl(strings.TrimPrefix(t.s, "."), false)
			if err != nil {
				return err
			}
			e.vars = append(e.vars, v)
			continue
		case t.s == ".extern":
			nt := p.peek()
			if nt == nil || nt.s != ".shared" {
				return p.errf(t.line, "unsupported .extern in function body")
			}
			v, err := p.varDecl("shared", true)
			if err != nil {
				return err
			}
			e.vars = append(e.vars, v)
			continue
		case t.kind == 'i' && p.peek() != nil && p.peek().s == ":" && !strings.HasPrefix(t.s, "%"):
			p.next()
			if _, dup := e.labels[t.s]; dup {
				return p.errf(t.line, "duplicate label %s", t.s)
			}
			e.labels[t.s] = len(e.insts)
			continue
		case strings.HasPrefix(t.s, ".") && t.kind == 'i':
			return p.errf(t.line, "unsupported directive %q in function body", t.s)
		}
		p.pos--
		ri, err := p.instruction()
		if err != nil {
			return err
		}
		ri.loc, ri.root = p.loc, p.root
		e.insts = append(e.insts, ri)
	}
}

// regDecl parses ".reg .type %r<N>;" or ".reg .type %a, %b;" after ".reg".
func (p *parser) regDecl(e *entryAST, line int) error {
	tt := p.next()
	typ := tt.s
	if typ == ".v2" || typ == ".v4" {
		return p.errf(line, "vector registers are not supported")
	}
	if typ != ".pred" && typeSize(typ) == 0 {
		return p.errf(line, "unsupported register type %q", typ)
	}
	for {
		nt := p.next()
		if nt == nil || nt.kind != 'i' {
			return p.errf(line, "expected register name")
		}
		if p.peek().s == "<" {
			p.next()
			n, err := strconv.Atoi(p.next().s)
			if err != nil {
				return p.errf(line, "bad register count")
			}
			if err := p.expect(">"); err != nil {
				return err
			}
			for i := 0; i < n; i++ {
				e.regs = append(e.regs, regDecl{nt.s + strconv.Itoa(i), typ})
			}
		} else {
			e.regs = append(e.regs, regDecl{nt.s, typ})
		}
		t := p.next()
		if t.s == ";" {
			return nil
		}
		if t.s != "," {
			return p.errf(line, "expected , or ; in .reg, found %q", t.s)
		}
	}
}

// instruction parses "[@[!]%p] opcode operands;".
func (p *parser) instruction() (rawInst, error) {
	first := p.peek()
	ri := rawInst{line: first.line}
	startPos := p.pos
	if first.s == "@" {
		p.next()
		if p.peek().s == "!" {
			p.next()
			ri.guardNeg = true
		}
		g := p.next()
		if g == nil || !strings.HasPrefix(g.s, "%") {
			return ri, p.errf(first.line, "bad guard predicate")
		}
		ri.guard = g.s
	}
	op := p.next()
	if op == nil || op.kind != 'i' {
		return ri, p.errf(first.line, "expected an instruction")
	}
	ri.opcode = op.s
	for p.peek() != nil && p.peek().s != ";" {
		o, err := p.operand()
		if err != nil {
			return ri, err
		}
		if p.peek() != nil && p.peek().s == "|" { // d|p
			p.next()
			o2, err := p.operand()
			if err != nil {
				return ri, err
			}
			o = operand{kind: oPair, elems: []operand{o, o2}, text: o.text + "|" + o2.text}
		}
		ri.ops = append(ri.ops, o)
		if p.peek() != nil && p.peek().s == "," {
			p.next()
		}
	}
	if err := p.expect(";"); err != nil {
		return ri, err
	}
	var sb strings.Builder
	for i := startPos; i < p.pos; i++ {
		s := p.toks[i].s
		if i > startPos && s != "," && s != ";" && s != "]" && s != "}" && s != "|" && s != "+" &&
			p.toks[i-1].s != "[" && p.toks[i-1].s != "{" && p.toks[i-1].s != "@" && p.toks[i-1].s != "!" && p.toks[i-1].s != "|" && p.toks[i-1].s != "+" && p.toks[i-1].s != "-" {
			sb.WriteByte(' ')
		}
		sb.WriteString(s)
	}
	ri.text = sb.String()
	return ri, nil
}

// operand parses one operand.
func (p *parser) operand() (operand, error) {
	t := p.next()
	if t == nil {
		return operand{}, p.errf(p.lastLine(), "expected operand")
	}
	switch {
	case t.s == "[":
		o := operand{kind: oMem}
		var parts []string
		for p.peek() != nil && p.peek().s != "]" {
			parts = append(parts, p.next().s)
		}
		if err := p.expect("]"); err != nil {
			return o, err
		}
		o.text = "[" + strings.Join(parts, "") + "]"
		// base? (+|-)? number?
		i := 0
		if i < len(parts) && (strings.HasPrefix(parts[i], "%") || isSymbol(parts[i])) {
			kind := oSym
			if strings.HasPrefix(parts[i], "%") {
				kind = oReg
			}
			o.base = &operand{kind: kind, name: parts[i], text: parts[i]}
			i++
		}
		sign := int64(1)
		for i < len(parts) && (parts[i] == "+" || parts[i] == "-") {
			if parts[i] == "-" {
				sign = -sign
			}
			i++
		}
		if i < len(parts) {
			v, err := parseInt(parts[i])
			if err != nil {
				return o, p.errf(t.line, "bad address %s", o.text)
			}
			o.ival = sign * v
			i++
		}
		if i != len(parts) {
			return o, p.errf(t.line, "unsupported address expression %s", o.text)
		}
		return o, nil
	case t.s == "{":
		o := operand{kind: oVec}
		var texts []string
		for {
			e, err := p.operand()
			if err != nil {
				return o, err
			}
			o.elems = append(o.elems, e)
			texts = append(texts, e.text)
			n := p.next()
			if n.s == "}" {
				break
			}
			if n.s != "," {
				return o, p.errf(n.line, "expected , or } in vector operand")
			}
		}
		o.text = "{" + strings.Join(texts, ",") + "}"
		return o, nil
	case t.s == "!":
		o, err := p.operand()
		o.neg = true
		o.text = "!" + o.text
		return o, err
	case t.s == "-":
		o, err := p.operand()
		if err != nil {
			return o, err
		}
		switch o.kind {
		case oImm:
			o.ival = -o.ival
		case oFImm:
			if o.fsize != 0 {
				return o, p.errf(t.line, "negated hex float literal")
			}
			o.fval = -o.fval
		default:
			return o, p.errf(t.line, "unsupported negated operand %s", o.text)
		}
		o.text = "-" + o.text
		return o, nil
	case t.kind == 'n':
		return parseNumber(t.s, t.line)
	case t.s == "_":
		return operand{kind: oBlank, text: "_"}, nil
	case strings.HasPrefix(t.s, "%"):
		return operand{kind: oReg, name: t.s, text: t.s}, nil
	case t.kind == 'i':
		return operand{kind: oSym, name: t.s, text: t.s}, nil
	}
	return operand{}, p.errf(t.line, "unexpected token %q in operand", t.s)
}

func isSymbol(s string) bool {
	if s == "" {
		return false
	}
	c := s[0]
	return c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func parseInt(s string) (int64, error) {
	u := strings.TrimSuffix(s, "U")
	if strings.HasPrefix(u, "0x") || strings.HasPrefix(u, "0X") {
		v, err := strconv.ParseUint(u[2:], 16, 64)
		return int64(v), err
	}
	if len(u) > 1 && u[0] == '0' && !strings.ContainsAny(u, ".eE") {
		if strings.HasPrefix(u, "0b") || strings.HasPrefix(u, "0B") {
			v, err := strconv.ParseUint(u[2:], 2, 64)
			return int64(v), err
		}
		v, err := strconv.ParseUint(u[1:], 8, 64)
		return int64(v), err
	}
	v, err := strconv.ParseUint(u, 10, 64)
	return int64(v), err
}

func parseNumber(s string, line int) (operand, error) {
	o := operand{text: s}
	if len(s) > 2 && s[0] == '0' && (s[1] == 'f' || s[1] == 'F') {
		v, err := strconv.ParseUint(s[2:], 16, 32)
		if err != nil || len(s) != 10 {
			return o, fmt.Errorf("PTX line %d: bad float literal %q", line, s)
		}
		o.kind, o.fbits, o.fsize = oFImm, v, 4
		return o, nil
	}
	if len(s) > 2 && s[0] == '0' && (s[1] == 'd' || s[1] == 'D') {
		v, err := strconv.ParseUint(s[2:], 16, 64)
		if err != nil || len(s) != 18 {
			return o, fmt.Errorf("PTX line %d: bad double literal %q", line, s)
		}
		o.kind, o.fbits, o.fsize = oFImm, v, 8
		return o, nil
	}
	if strings.ContainsAny(s, ".") || (!strings.HasPrefix(s, "0x") && strings.ContainsAny(s, "eE")) {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return o, fmt.Errorf("PTX line %d: bad number %q", line, s)
		}
		o.kind, o.fval = oFImm, v
		return o, nil
	}
	v, err := parseInt(s)
	if err != nil {
		return o, fmt.Errorf("PTX line %d: bad integer %q", line, s)
	}
	o.kind, o.ival = oImm, v
	return o, nil
}
