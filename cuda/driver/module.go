//go:build cuda

package driver

/*
#include <stdlib.h>
*/
import "C"

import (
	"fmt"
	"strconv"
	"strings"
	"unsafe"

	"github.com/gmvae/gmvae/cuda"
	"gorgonia.org/cu"
)

// jitLogBytes is the size of each JIT log buffer (error and info).
const jitLogBytes = 64 << 10

// Module is a loaded PTX module.
type Module struct {
	d       *Device
	name    string
	mod     cu.Module
	entries map[string][]int // .entry name -> parameter sizes in bytes
	perr    error            // why the PTX's entries could not be read, if so
	infoLog string
	funcs   map[string]*Function
	// unloaded is written and read inside do's calls only.
	unloaded bool
}

// Function is one kernel of a loaded module.
type Function struct {
	mod    *Module
	name   string
	fn     cu.Function
	params []int // sizes in bytes
	attrs  FuncAttributes
}

// FuncAttributes are what the driver reports about a compiled kernel
// (cuFuncGetAttribute).
type FuncAttributes struct {
	Regs         int // registers per thread
	LocalBytes   int // local memory (spills, stack) per thread
	StaticShared int // static shared memory per block
	MaxThreads   int // the most threads per block a launch may have
}

var (
	_ cuda.Module   = (*Module)(nil)
	_ cuda.Function = (*Function)(nil)
)

// LoadModule JIT-compiles and loads PTX text (cuModuleLoadDataEx) for the device at
// hand. On failure the error carries the JIT compiler's log (JITError).
func (d *Device) LoadModule(name, ptx string) (cuda.Module, error) {
	op := "cuModuleLoadDataEx(" + name + ")"
	entries, perr := parseEntries(ptx)
	m := &Module{d: d, name: name, entries: entries, perr: perr, funcs: map[string]*Function{}}
	err := d.do(op, func() error {
		// The logs go to C memory: gorgonia.org/cu hands the buffers' addresses to
		// the driver in a uintptr array, which Go memory must not be behind.
		errBuf := C.calloc(jitLogBytes, 1)
		infoBuf := C.calloc(jitLogBytes, 1)
		defer C.free(errBuf)
		defer C.free(infoBuf)
		// The buffers' last byte stays 0: the logs are always NUL-terminated.
		mod, err := cu.LoadDataEx(ptx,
			&cu.JITErrorLogBuffer{Buffer: unsafe.Slice((*byte)(errBuf), jitLogBytes-1)},
			&cu.JITInfoLogBuffer{Buffer: unsafe.Slice((*byte)(infoBuf), jitLogBytes-1)},
			&cu.JITLogVerbose{Enabled: true},
		)
		errLog := trimLog(C.GoString((*C.char)(errBuf)))
		info := trimLog(C.GoString((*C.char)(infoBuf)))
		if err != nil {
			r, ok := resultOf(err)
			if !ok {
				return err
			}
			return &JITError{Result: r, Log: errLog}
		}
		m.mod, m.infoLog = mod, info
		d.modules[m] = struct{}{}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Name is the module's name (as given to LoadModule).
func (m *Module) Name() string { return m.name }

// InfoLog is the JIT compiler's verbose log for the module (registers, spills per
// kernel).
func (m *Module) InfoLog() string { return m.infoLog }

// Function returns the kernel named name (cuModuleGetFunction). Kernels with a
// parameter larger than 8 bytes are refused: Launch passes 8-byte slots.
func (m *Module) Function(name string) (cuda.Function, error) {
	op := "cuModuleGetFunction(" + m.name + "." + name + ")"
	var f *Function
	err := m.d.do(op, func() error {
		if m.unloaded {
			return cuda.Errorf(op, "the module was unloaded")
		}
		if f = m.funcs[name]; f != nil {
			return nil
		}
		if m.perr != nil {
			return cuda.Errorf(op, "reading the PTX's entries: %v", m.perr)
		}
		params, ok := m.entries[name]
		if !ok {
			return cuda.Errorf(op, "no .entry %s in the PTX", name)
		}
		for i, sz := range params {
			if sz > 8 {
				return cuda.Errorf(op, "parameter %d is %d bytes; kernel arguments travel in 8-byte slots (pass structs by device pointer)", i, sz)
			}
		}
		fn, err := m.mod.Function(name)
		if err != nil {
			return err
		}
		nf := &Function{mod: m, name: name, fn: fn, params: params}
		attrs := []struct {
			dst  *int
			attr cu.FunctionAttribute
		}{
			{&nf.attrs.Regs, cu.NumRegs},
			{&nf.attrs.LocalBytes, cu.LocalSizeBytes},
			{&nf.attrs.StaticShared, cu.SharedSizeBytes},
			{&nf.attrs.MaxThreads, cu.FnMaxThreadsPerBlock},
		}
		for _, a := range attrs {
			v, err := fn.Attribute(a.attr)
			if err != nil {
				return wrap(op+": cuFuncGetAttribute", err)
			}
			*a.dst = v
		}
		m.funcs[name] = nf
		f = nf
		return nil
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Unload releases the module (cuModuleUnload); its functions can no longer launch.
func (m *Module) Unload() error {
	op := "cuModuleUnload(" + m.name + ")"
	return m.d.do(op, func() error {
		if m.unloaded {
			return cuda.Errorf(op, "the module was unloaded already")
		}
		if err := m.mod.Unload(); err != nil {
			return err
		}
		m.unloaded = true
		delete(m.d.modules, m)
		return nil
	})
}

// Name is the kernel's .entry name.
func (f *Function) Name() string { return f.name }

// NumParams is the number of the kernel's parameters.
func (f *Function) NumParams() int { return len(f.params) }

// ParamSizes returns the byte size of each parameter, in order.
func (f *Function) ParamSizes() []int { return append([]int(nil), f.params...) }

// Attributes returns what the driver reports about the compiled kernel.
func (f *Function) Attributes() FuncAttributes { return f.attrs }

// Launch starts fn on a grid of blocks (cuLaunchKernel) on stream s (nil: the
// default stream). The launch is checked first (argument count, grid and block
// limits, shared memory) so that mistakes get a clear message; faults inside the
// kernel surface at the next call that waits.
func (d *Device) Launch(fn cuda.Function, grid, block cuda.Dim3, sharedBytes int, s cuda.Stream, args ...cuda.Arg) error {
	f, ok := fn.(*Function)
	if !ok || f == nil {
		return cuda.Errorf("cuLaunchKernel", "function %T is not from the CUDA driver", fn)
	}
	op := "cuLaunchKernel(" + f.name + ")"
	if f.mod.d != d {
		return cuda.Errorf(op, "the function belongs to another Device")
	}
	grid, block = grid.Norm(), block.Norm()
	p := d.props
	switch {
	case len(args) != len(f.params):
		return cuda.Errorf(op, "%d arguments for %d parameters", len(args), len(f.params))
	case grid.X < 1 || grid.Y < 1 || grid.Z < 1:
		return cuda.Errorf(op, "invalid grid %v", grid)
	case grid.X > p.MaxGrid[0] || grid.Y > p.MaxGrid[1] || grid.Z > p.MaxGrid[2]:
		return cuda.Errorf(op, "grid %v exceeds the device's limits (%d, %d, %d)", grid, p.MaxGrid[0], p.MaxGrid[1], p.MaxGrid[2])
	case block.X < 1 || block.Y < 1 || block.Z < 1:
		return cuda.Errorf(op, "invalid block %v", block)
	case block.X > p.MaxBlock[0] || block.Y > p.MaxBlock[1] || block.Z > p.MaxBlock[2] || block.Count() > p.MaxThreadsPerBlock:
		return cuda.Errorf(op, "block %v exceeds the device's limits (%d threads; %d, %d, %d)", block, p.MaxThreadsPerBlock, p.MaxBlock[0], p.MaxBlock[1], p.MaxBlock[2])
	case block.Count() > f.attrs.MaxThreads:
		return cuda.Errorf(op, "block %v has more threads than the kernel allows (%d: registers %d per thread)", block, f.attrs.MaxThreads, f.attrs.Regs)
	case sharedBytes < 0:
		return cuda.Errorf(op, "negative dynamic shared memory size %d", sharedBytes)
	case f.attrs.StaticShared+sharedBytes > p.SharedPerBlock:
		return cuda.Errorf(op, "%d bytes of static and %d of dynamic shared memory exceed the %d a block may use", f.attrs.StaticShared, sharedBytes, p.SharedPerBlock)
	}
	// One 8-byte slot per argument, in memory that lives until the call returns
	// (the closure keeps it); gorgonia.org/cu copies 8 bytes behind each pointer.
	slots := make([]cuda.Arg, len(args))
	copy(slots, args)
	ptrs := make([]unsafe.Pointer, len(slots))
	for i := range slots {
		ptrs[i] = unsafe.Pointer(&slots[i])
	}
	return d.do(op, func() error {
		if f.mod.unloaded {
			return cuda.Errorf(op, "the function's module was unloaded")
		}
		st, err := d.cuStream(op, s)
		if err != nil {
			return err
		}
		return f.fn.Launch(grid.X, grid.Y, grid.Z, block.X, block.Y, block.Z, sharedBytes, st, ptrs)
	})
}

// parseEntries reads every .entry declaration of a PTX text and returns, for each,
// the byte size of each parameter. It understands what PTX allows in a parameter
// declaration: `.param .u64 a`, `.param .f32 b`, `.param .align 8 .b8 c[16]`,
// `.param .u64 .ptr.global.align 16 d`.
func parseEntries(ptx string) (map[string][]int, error) {
	s := stripComments(ptx)
	out := map[string][]int{}
	for {
		i := indexDirective(s, ".entry")
		if i < 0 {
			return out, nil
		}
		s = strings.TrimLeft(s[i+len(".entry"):], " \t\r\n")
		j := 0
		for j < len(s) && isIdent(s[j]) {
			j++
		}
		if j == 0 {
			return nil, fmt.Errorf(".entry without a name")
		}
		name := s[:j]
		s = strings.TrimLeft(s[j:], " \t\r\n")
		var params []int
		if strings.HasPrefix(s, "(") {
			k := strings.IndexByte(s, ')')
			if k < 0 {
				return nil, fmt.Errorf(".entry %s: unterminated parameter list", name)
			}
			list := strings.TrimSpace(s[1:k])
			s = s[k+1:]
			if list != "" {
				for _, decl := range strings.Split(list, ",") {
					n, err := paramSize(decl)
					if err != nil {
						return nil, fmt.Errorf(".entry %s: %v", name, err)
					}
					params = append(params, n)
				}
			}
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("duplicate .entry %s", name)
		}
		out[name] = params
	}
}

var ptxTypeSize = map[string]int{
	".b8": 1, ".s8": 1, ".u8": 1,
	".b16": 2, ".s16": 2, ".u16": 2, ".f16": 2, ".bf16": 2,
	".b32": 4, ".s32": 4, ".u32": 4, ".f32": 4, ".f16x2": 4, ".bf16x2": 4,
	".b64": 8, ".s64": 8, ".u64": 8, ".f64": 8,
}

func paramSize(decl string) (int, error) {
	f := strings.Fields(decl)
	if len(f) < 3 || f[0] != ".param" {
		return 0, fmt.Errorf("unreadable parameter %q", strings.TrimSpace(decl))
	}
	elem := 0
	for i := 1; i < len(f)-1; i++ {
		t := f[i]
		switch {
		case t == ".align":
			i++ // the alignment value
		case strings.HasPrefix(t, ".ptr"):
			if strings.HasSuffix(t, ".align") {
				i++
			}
		case ptxTypeSize[t] > 0:
			elem = ptxTypeSize[t]
		default:
			return 0, fmt.Errorf("unreadable parameter %q", strings.TrimSpace(decl))
		}
	}
	if elem == 0 {
		return 0, fmt.Errorf("parameter %q has no type", strings.TrimSpace(decl))
	}
	name := f[len(f)-1]
	n := 1
	if k := strings.IndexByte(name, '['); k >= 0 {
		c, err := strconv.Atoi(strings.TrimSuffix(name[k+1:], "]"))
		if err != nil || c < 1 || !strings.HasSuffix(name, "]") {
			return 0, fmt.Errorf("unreadable parameter %q", strings.TrimSpace(decl))
		}
		n = c
	}
	return elem * n, nil
}

func isIdent(c byte) bool {
	return c == '_' || c == '$' || c == '%' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// indexDirective finds directive d as a whole token.
func indexDirective(s, d string) int {
	off := 0
	for {
		i := strings.Index(s[off:], d)
		if i < 0 {
			return -1
		}
		i += off
		end := i + len(d)
		if (i == 0 || !isIdent(s[i-1])) && (end == len(s) || !isIdent(s[end]) && s[end] != '.') {
			return i
		}
		off = end
	}
}

// stripComments removes // and /* */ comments (PTX has no string literals in
// declarations that could contain them).
func stripComments(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "//"):
			j := strings.IndexByte(s[i:], '\n')
			if j < 0 {
				return b.String()
			}
			i += j
		case strings.HasPrefix(s[i:], "/*"):
			j := strings.Index(s[i+2:], "*/")
			if j < 0 {
				return b.String()
			}
			b.WriteByte(' ')
			i += j + 4
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String()
}
