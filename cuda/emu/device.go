// Package emu is a PTX emulator implementing cuda.Device: it parses the PTX that nvcc
// emits for the engine's kernels and executes it on the CPU with exact IEEE float32
// semantics, so that CI (which has no GPU) runs the shipped kernels and compares their
// bits with the CPU twins (shared/design/ARCHITECTURE.md, "The PTX emulator").
//
// What it does:
//   - Loads a module by parsing and decoding every entry into a compact instruction
//     form; an instruction, modifier or directive it does not implement exactly is a
//     load-time error naming the instruction and its PTX line (it never guesses).
//   - Runs every thread of a block as a state machine, one at a time up to its next
//     synchronisation point, with rendezvous for shfl.sync/vote.sync/bar.warp.sync
//     (per warp) and bar.sync (per block); blocks run in parallel on all cores.
//   - Checks memory like compute-sanitizer: out-of-bounds and misaligned global,
//     shared and local accesses, accesses through freed pointers, and reads of
//     memory never written (tracked per byte), each reported as a *KernelError with
//     kernel, block, thread, PTX line, CUDA source line and address. A barrier or
//     shuffle that cannot complete ends the launch with an error, never a hang.
//   - Counts executed thread-instructions (Stats).
//
// Work is executed synchronously: every call, Launch and the Async copies included,
// has finished when it returns, so streams and events are trivially ordered.
package emu

import (
	"errors"
	"sync"
	"time"

	"github.com/gmvae/gmvae/cuda"
)

// Options configure a Device.
type Options struct {
	// TotalMem is the emulated device memory in bytes (default 4 GiB).
	TotalMem int64
	// MaxThreadInstructions bounds the instructions one thread may execute in one
	// launch, so that an endless loop ends with an error (default 1<<28).
	MaxThreadInstructions uint64
	// Workers is the number of blocks run in parallel (default GOMAXPROCS).
	Workers int
}

// Stats counts the emulator's work.
type Stats struct {
	Launches           int64
	ThreadInstructions uint64        // executed thread-instructions, all launches
	LaunchTime         time.Duration // wall time spent in launches
	LastInstructions   uint64        // thread-instructions of the last launch
	LastTime           time.Duration // wall time of the last launch
}

// Device is the emulated GPU.
type Device struct {
	// mu guards the allocation table and the module list: Alloc, Free, LoadModule,
	// Unload and Close take it exclusively; launches and copies share it (they touch
	// only the bytes of existing allocations).
	mu      sync.RWMutex
	statsMu sync.Mutex
	opts    Options
	mem     *memory
	modules []*Module
	stats   Stats
	closed  bool
}

var _ cuda.Device = (*Device)(nil)

// New returns an emulated device.
func New(opts Options) *Device {
	if opts.TotalMem <= 0 {
		opts.TotalMem = 4 << 30
	}
	if opts.MaxThreadInstructions == 0 {
		opts.MaxThreadInstructions = 1 << 28
	}
	return &Device{opts: opts, mem: newMemory(opts.TotalMem)}
}

// Name returns "PTX emulator".
func (d *Device) Name() string { return "PTX emulator (cuda/emu)" }

// TotalMem returns the emulated memory size.
func (d *Device) TotalMem() int64 { return d.opts.TotalMem }

// MemInfo returns the free and total emulated memory.
func (d *Device) MemInfo() (free, total int64, err error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return 0, 0, errClosed("MemInfo")
	}
	return d.mem.total - d.mem.live, d.mem.total, nil
}

// Stats returns the work counters.
func (d *Device) Stats() Stats {
	d.statsMu.Lock()
	defer d.statsMu.Unlock()
	return d.stats
}

func errClosed(op string) error { return cuda.Errorf(op, "device is closed") }

// Alloc allocates bytes of device memory; its contents count as uninitialised until
// written.
func (d *Device) Alloc(bytes int64) (cuda.DevicePtr, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return 0, errClosed("Alloc")
	}
	if bytes <= 0 {
		return 0, cuda.Errorf("Alloc", "invalid size %d", bytes)
	}
	a, err := d.mem.alloc(uint64(bytes), "")
	if err != nil {
		return 0, &cuda.Error{Op: "Alloc", Err: err}
	}
	return cuda.DevicePtr(a.base), nil
}

// Free releases an allocation.
func (d *Device) Free(p cuda.DevicePtr) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errClosed("Free")
	}
	if err := d.mem.free(uint64(p)); err != nil {
		return &cuda.Error{Op: "Free", Err: err}
	}
	return nil
}

// Allocated returns the number of live allocations made by Alloc and their bytes
// (for leak checks).
func (d *Device) Allocated() (n int, bytes int64) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, a := range d.mem.allocs {
		if !a.freed && a.name == "" {
			n++
			bytes += int64(a.size)
		}
	}
	return
}

func (d *Device) span(op string, p cuda.DevicePtr, n int64) (*allocation, uint64, error) {
	if d.closed {
		return nil, 0, errClosed(op)
	}
	if n < 0 {
		return nil, 0, cuda.Errorf(op, "negative size %d", n)
	}
	a, err := d.mem.checkRange("invalid device range", uint64(p), uint64(n))
	if err != nil {
		return nil, 0, &cuda.Error{Op: op, Err: err}
	}
	if a == nil {
		return nil, 0, nil
	}
	return a, uint64(p) - a.base, nil
}

// MemcpyHtoD copies host bytes to the device and marks them initialised.
func (d *Device) MemcpyHtoD(dst cuda.DevicePtr, src []byte) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	a, off, err := d.span("MemcpyHtoD", dst, int64(len(src)))
	if err != nil || a == nil {
		return err
	}
	if a.ro {
		return cuda.Errorf("MemcpyHtoD", "destination is the .const variable %s", a.name)
	}
	copy(a.data[off:], src)
	setAll(a.init[off:], len(src))
	return nil
}

// MemcpyDtoH copies device bytes to the host. Copying bytes that were never written
// is an error (the checker's uninitialised-read rule applies to copies too).
func (d *Device) MemcpyDtoH(dst []byte, src cuda.DevicePtr) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	a, off, err := d.span("MemcpyDtoH", src, int64(len(dst)))
	if err != nil || a == nil {
		return err
	}
	if i := firstUnset(a.init[off : off+uint64(len(dst))]); i >= 0 {
		return cuda.Errorf("MemcpyDtoH", "byte %d of the source (address %#x) was never written", i, uint64(src)+uint64(i))
	}
	copy(dst, a.data[off:])
	return nil
}

func firstUnset(init []byte) int {
	for i, x := range init {
		if x != 1 {
			return i
		}
	}
	return -1
}

// MemcpyDtoD copies between device buffers; initialisation travels with the bytes.
func (d *Device) MemcpyDtoD(dst, src cuda.DevicePtr, bytes int64) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	sa, soff, err := d.span("MemcpyDtoD", src, bytes)
	if err != nil {
		return err
	}
	da, doff, err := d.span("MemcpyDtoD", dst, bytes)
	if err != nil || sa == nil {
		return err
	}
	if da.ro {
		return cuda.Errorf("MemcpyDtoD", "destination is the .const variable %s", da.name)
	}
	copy(da.data[doff:doff+uint64(bytes)], sa.data[soff:soff+uint64(bytes)])
	copy(da.init[doff:doff+uint64(bytes)], sa.init[soff:soff+uint64(bytes)])
	return nil
}

// MemsetD32 sets n 32-bit words.
func (d *Device) MemsetD32(dst cuda.DevicePtr, v uint32, n int64) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if uint64(dst)%4 != 0 {
		return cuda.Errorf("MemsetD32", "misaligned destination %#x", uint64(dst))
	}
	a, off, err := d.span("MemsetD32", dst, 4*n)
	if err != nil || a == nil {
		return err
	}
	for i := int64(0); i < n; i++ {
		storeLE(a.data[off+uint64(4*i):], 4, uint64(v))
	}
	setAll(a.init[off:], int(4*n))
	return nil
}

// The Async copies run synchronously (the emulator has finished every call when it
// returns), after checking that the stream is one of this device's.
func (d *Device) MemcpyHtoDAsync(dst cuda.DevicePtr, src []byte, s cuda.Stream) error {
	if err := checkStream("MemcpyHtoDAsync", s); err != nil {
		return err
	}
	return d.MemcpyHtoD(dst, src)
}

func (d *Device) MemcpyDtoHAsync(dst []byte, src cuda.DevicePtr, s cuda.Stream) error {
	if err := checkStream("MemcpyDtoHAsync", s); err != nil {
		return err
	}
	return d.MemcpyDtoH(dst, src)
}

func (d *Device) MemcpyDtoDAsync(dst, src cuda.DevicePtr, bytes int64, s cuda.Stream) error {
	if err := checkStream("MemcpyDtoDAsync", s); err != nil {
		return err
	}
	return d.MemcpyDtoD(dst, src, bytes)
}

// LoadModule parses and decodes a PTX module. Any construct the emulator does not
// implement exactly is an error naming the PTX line.
func (d *Device) LoadModule(name, ptx string) (cuda.Module, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, errClosed("LoadModule")
	}
	op := "LoadModule " + name
	ast, err := parseModule(ptx)
	if err != nil {
		return nil, &cuda.Error{Op: op, Err: err}
	}
	if ast.addressSize != 64 {
		return nil, cuda.Errorf(op, "missing .address_size 64")
	}
	m := &Module{dev: d, name: name, ast: ast, funcs: map[string]*Function{}}
	globals := map[string]symbol{}
	for _, v := range ast.vars {
		if v.space != "global" && v.space != "const" {
			continue
		}
		if v.extern {
			return nil, cuda.Errorf(op, "PTX line %d: external variable %s", v.line, v.name)
		}
		size := uint64(v.size())
		a, err := d.mem.alloc(max(size, 1), v.name)
		if err != nil {
			return nil, &cuda.Error{Op: op, Err: err}
		}
		a.size = size
		if v.init != nil {
			copy(a.data, v.init)
		}
		// Module variables are zero-initialised when they have no initialiser, so
		// every byte counts as written.
		setAll(a.init, int(size))
		a.ro = v.space == "const"
		m.globals = append(m.globals, a)
		globals[v.name] = symbol{kind: symGlobal, addr: a.base, size: int(size)}
	}
	for _, e := range ast.entries {
		if _, dup := m.funcs[e.name]; dup {
			return nil, cuda.Errorf(op, "PTX line %d: duplicate entry %s", e.line, e.name)
		}
		f, err := decodeEntry(m, e, globals)
		if err != nil {
			return nil, cuda.Errorf(op, "entry %s: %v", e.name, err)
		}
		m.funcs[e.name] = f
	}
	d.modules = append(d.modules, m)
	return m, nil
}

// Launch runs fn to completion on the grid. A fault in any thread ends the launch
// with a *KernelError (wrapped in a *cuda.Error); the fault reported is the one of
// the lowest-numbered failing block.
func (d *Device) Launch(fn cuda.Function, grid, block cuda.Dim3, sharedBytes int, s cuda.Stream, args ...cuda.Arg) error {
	f, ok := fn.(*Function)
	if !ok || f == nil {
		return cuda.Errorf("Launch", "function %v is not from the emulator", fn)
	}
	op := "Launch " + f.name
	if err := checkStream(op, s); err != nil {
		return err
	}
	grid, block = grid.Norm(), block.Norm()
	switch {
	case grid.X < 1 || grid.Y < 1 || grid.Z < 1:
		return cuda.Errorf(op, "invalid grid %v", grid)
	case grid.X > 1<<31-1 || grid.Y > 65535 || grid.Z > 65535:
		return cuda.Errorf(op, "grid %v exceeds the limits (2^31-1, 65535, 65535)", grid)
	case block.X < 1 || block.Y < 1 || block.Z < 1:
		return cuda.Errorf(op, "invalid block %v", block)
	case block.X > 1024 || block.Y > 1024 || block.Z > 64 || block.Count() > 1024:
		return cuda.Errorf(op, "block %v exceeds the limits (1024 threads; x, y <= 1024, z <= 64)", block)
	case sharedBytes < 0:
		return cuda.Errorf(op, "negative dynamic shared memory size %d", sharedBytes)
	case len(args) != len(f.params):
		return cuda.Errorf(op, "%d arguments for %d parameters", len(args), len(f.params))
	}
	if f.reqntid != [3]int{} && f.reqntid != [3]int{block.X, block.Y, block.Z} {
		return cuda.Errorf(op, "block %v differs from the kernel's .reqntid %v", block, f.reqntid)
	}
	if f.maxntid != [3]int{} && block.Count() > f.maxntid[0]*f.maxntid[1]*f.maxntid[2] {
		return cuda.Errorf(op, "block %v exceeds the kernel's .maxntid %v", block, f.maxntid)
	}
	sharedSize := f.staticShared
	if f.hasDyn {
		sharedSize = f.dynOff + sharedBytes
	}
	if f.staticShared+sharedBytes > 48<<10 {
		return cuda.Errorf(op, "%d bytes of static and %d of dynamic shared memory exceed 48 KiB", f.staticShared, sharedBytes)
	}
	params := make([]byte, f.paramSize)
	for i, p := range f.params {
		storeLE(params[p.offset:], uint8(p.size), uint64(args[i]))
	}

	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return errClosed(op)
	}
	if f.module.funcs[f.name] != f || !d.owns(f.module) {
		return cuda.Errorf(op, "the function's module was unloaded or belongs to another device")
	}
	l := &launchState{
		dev: d, fn: f, mem: d.mem, params: params, grid: grid, block: block,
		dynShared: sharedBytes, sharedSize: sharedSize, limit: d.opts.MaxThreadInstructions,
	}
	start := time.Now()
	err := l.runGrid()
	el := time.Since(start)
	n := l.insts.Load()
	d.statsMu.Lock()
	d.stats.Launches++
	d.stats.ThreadInstructions += n
	d.stats.LaunchTime += el
	d.stats.LastInstructions, d.stats.LastTime = n, el
	d.statsMu.Unlock()
	if err != nil {
		return &cuda.Error{Op: op, Err: err}
	}
	return nil
}

func (d *Device) owns(m *Module) bool {
	for _, x := range d.modules {
		if x == m {
			return true
		}
	}
	return false
}

// stream and event: work is synchronous, so they only check their use.
type stream struct{ destroyed bool }

func (s *stream) Synchronize() error {
	if s.destroyed {
		return cuda.Errorf("Stream.Synchronize", "stream was destroyed")
	}
	return nil
}

func (s *stream) Destroy() error {
	if s.destroyed {
		return cuda.Errorf("Stream.Destroy", "stream was already destroyed")
	}
	s.destroyed = true
	return nil
}

func checkStream(op string, s cuda.Stream) error {
	if s == nil {
		return nil
	}
	st, ok := s.(*stream)
	if !ok {
		return cuda.Errorf(op, "stream %T is not from the emulator", s)
	}
	if st.destroyed {
		return cuda.Errorf(op, "stream was destroyed")
	}
	return nil
}

type event struct {
	recorded  bool
	destroyed bool
}

func (e *event) Record(s cuda.Stream) error {
	if e.destroyed {
		return cuda.Errorf("Event.Record", "event was destroyed")
	}
	if err := checkStream("Event.Record", s); err != nil {
		return err
	}
	e.recorded = true
	return nil
}

func (e *event) Synchronize() error {
	if e.destroyed {
		return cuda.Errorf("Event.Synchronize", "event was destroyed")
	}
	return nil
}

func (e *event) Destroy() error {
	if e.destroyed {
		return cuda.Errorf("Event.Destroy", "event was already destroyed")
	}
	e.destroyed = true
	return nil
}

// NewStream returns a stream.
func (d *Device) NewStream() (cuda.Stream, error) {
	if d.isClosed() {
		return nil, errClosed("NewStream")
	}
	return &stream{}, nil
}

// NewEvent returns an event.
func (d *Device) NewEvent() (cuda.Event, error) {
	if d.isClosed() {
		return nil, errClosed("NewEvent")
	}
	return &event{}, nil
}

// StreamWaitEvent checks its arguments (work is already complete).
func (d *Device) StreamWaitEvent(s cuda.Stream, e cuda.Event) error {
	if err := checkStream("StreamWaitEvent", s); err != nil {
		return err
	}
	ev, ok := e.(*event)
	if !ok || ev == nil {
		return cuda.Errorf("StreamWaitEvent", "event %T is not from the emulator", e)
	}
	if ev.destroyed {
		return cuda.Errorf("StreamWaitEvent", "event was destroyed")
	}
	return nil
}

// Synchronize returns at once: all work is complete.
func (d *Device) Synchronize() error {
	if d.isClosed() {
		return errClosed("Synchronize")
	}
	return nil
}

func (d *Device) isClosed() bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.closed
}

// Close releases everything; later calls fail.
func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errClosed("Close")
	}
	d.closed = true
	d.modules = nil
	d.mem = newMemory(d.opts.TotalMem)
	return nil
}

// AsKernelError returns the *KernelError inside err, if any.
func AsKernelError(err error) (*KernelError, bool) {
	var ke *KernelError
	ok := errors.As(err, &ke)
	return ke, ok
}
