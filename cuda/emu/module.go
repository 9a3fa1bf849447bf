package emu

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gmvae/gmvae/cuda"
)

// Module is a loaded PTX module.
type Module struct {
	dev     *Device
	name    string
	ast     *moduleAST
	funcs   map[string]*Function
	globals []*allocation
}

// Function is one decoded kernel.
type Function struct {
	name         string
	module       *Module
	line         int
	params       []paramDecl
	paramSize    int
	raws         []rawInst
	code         []inst
	nregs        int // declared + special + sink slots (constants follow)
	nslots       int
	template     []uint64
	sharedVars   []sharedVar
	staticShared int // bytes of static shared memory (with guard gaps)
	dynOff       int // offset of the dynamic shared array
	hasDyn       bool
	localBytes   int
	reqntid      [3]int
	maxntid      [3]int
}

type sharedVar struct {
	name string
	off  int
	size int
}

// Name returns the kernel's .entry name.
func (f *Function) Name() string { return f.name }

// NumParams returns the number of the kernel's parameters.
func (f *Function) NumParams() int { return len(f.params) }

// ParamTypes returns the PTX types of the kernel's parameters, e.g. ".u64", ".f32".
func (f *Function) ParamTypes() []string {
	out := make([]string, len(f.params))
	for i, p := range f.params {
		out[i] = p.typ
	}
	return out
}

// Function returns the kernel named name.
func (m *Module) Function(name string) (cuda.Function, error) {
	f, ok := m.funcs[name]
	if !ok {
		return nil, cuda.Errorf("Module.Function", "module %s has no entry %q", m.name, name)
	}
	return f, nil
}

// Entries returns the names of the module's kernels, sorted.
func (m *Module) Entries() []string {
	var out []string
	for n := range m.funcs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Unload releases the module's variables.
func (m *Module) Unload() error {
	m.dev.mu.Lock()
	defer m.dev.mu.Unlock()
	for _, a := range m.globals {
		if !a.freed {
			a.freed = true
			a.data, a.init = nil, nil
			m.dev.mem.live -= int64(a.size)
		}
	}
	m.globals = nil
	m.funcs = map[string]*Function{}
	return nil
}

// srcPosition formats an instruction's source position: the kernel's line, and the
// inlined function's line when they differ, e.g.
// "fixtures.cu:210:20, inlined from sm_30_intrinsics.hpp:449:43".
func (m *Module) srcPosition(ri *rawInst) string {
	s := strings.TrimSuffix(strings.TrimPrefix(m.srcPos(ri.root), " ("), ")")
	if ri.loc != ri.root && ri.loc.line != 0 {
		s += ", inlined from " + strings.TrimSuffix(strings.TrimPrefix(m.srcPos(ri.loc), " ("), ")")
	}
	return s
}

// srcPos formats a .loc position as " (file.cu:line:col)", or "" when unknown.
func (m *Module) srcPos(l srcLoc) string {
	if l.line == 0 {
		return ""
	}
	f := m.ast.files[l.file]
	if f == "" {
		f = fmt.Sprintf("file%d", l.file)
	}
	return fmt.Sprintf(" (%s:%d:%d)", filepath.Base(f), l.line, l.col)
}

// KernelError is a fault in a running kernel, reported like compute-sanitizer does:
// the kernel, the block and thread, the PTX line (and CUDA source line), the faulting
// address when there is one, and what went wrong.
type KernelError struct {
	Kernel  string
	Module  string
	Block   [3]int
	Thread  [3]int
	PTXLine int    // 1-based line in the module's PTX, 0 if none
	Source  string // "file.cu:line:col" from .loc, "" if unknown
	Inst    string // the instruction's text
	Addr    uint64 // faulting address (0 if none)
	Msg     string
}

func (e *KernelError) Error() string {
	s := fmt.Sprintf("kernel %s, block (%d,%d,%d), thread (%d,%d,%d): %s", e.Kernel,
		e.Block[0], e.Block[1], e.Block[2], e.Thread[0], e.Thread[1], e.Thread[2], e.Msg)
	if e.PTXLine > 0 {
		s += fmt.Sprintf("; at %s.ptx line %d", e.Module, e.PTXLine)
		if e.Source != "" {
			s += " (" + e.Source + ")"
		}
		s += ": " + e.Inst
	}
	return s
}
