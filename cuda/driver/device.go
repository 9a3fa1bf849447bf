//go:build cuda

// Package driver is the real CUDA device behind cuda.Device, over the CUDA driver API
// through gorgonia.org/cu (and a few lines of own cgo where gorgonia.org/cu falls
// short: pinned host memory, error names, the JIT logs' buffers, the cuInit shim).
// Every file is behind the `cuda` build tag: importing gorgonia.org/cu links libcuda
// and runs cuInit in its package init.
//
// # Start-up without a GPU
//
// This package imports cuda/preflight, whose init runs before gorgonia.org/cu's and
// checks that a GPU answers. Without one, a program stops there with a clear message
// and exit status 3; a test binary, or a program run with GMVAE_CUDA_OPTIONAL=1,
// goes on, and Open returns the error (errors.Is(err, preflight.ErrUnavailable)).
// gorgonia.org/cu's init cannot exit the process: the cuInit it calls is this
// package's shim (cuinit.c), which records the real result for Open and reports
// success. Tests open devices with cuda/driver/drivertest, which skips without a GPU
// (or fails, with GMVAE_REQUIRE_GPU=1). See package preflight for the details.
//
// # Threads
//
// A Device holds a reference to the device's primary context
// (cuDevicePrimaryCtxRetain) from Open to Close. How its calls reach the driver
// depends on Options.Forward:
//
//   - Forward (the owner-thread design): one goroutine locked to its OS thread owns
//     the context and makes every call that only queues work or manages resources
//     (allocation, asynchronous copies, memset, module loading, launches, streams,
//     events); calls from any goroutine are forwarded to it over a channel, so the
//     context is current on that one thread only. Each forwarded call pays a hand-off
//     to the locked thread: about 11-13 µs measured on a busy 2-core machine
//     (BenchmarkDoRoundTrip), several times the cost of cuLaunchKernel itself.
//   - Direct (the default, Open): the same calls run on the calling goroutine, locked
//     to its thread for the call, with the context made current and unset around it
//     (about 60 ns of overhead, BenchmarkCallerThread), serialised by a mutex.
//
// In both modes the calls that wait for the GPU (Synchronize, Stream.Synchronize,
// Event.Synchronize and the synchronous copies MemcpyHtoD/DtoH/DtoD) run on the
// calling goroutine, outside that mutex: a wait never holds up another goroutine's
// launches and copies (the trainer waiting for a step's loss must not delay the
// loader's copy of the next batch).
//
// # Streams
//
// A nil cuda.Stream is the legacy default stream. Streams from NewStream are
// non-blocking (CU_STREAM_NON_BLOCKING): they do not synchronise with the default
// stream, so order work across streams with events (StreamWaitEvent). The emulator
// runs everything synchronously and cannot catch a missing wait.
//
// # Errors
//
// Every error is a *cuda.Error naming the call and the CUDA error, e.g.
//
//	cuda: cuMemAlloc(1048576 bytes): CUDA_ERROR_OUT_OF_MEMORY
//
// whose Err is a Result (errors.Is(err, ErrOutOfMemory)). A failed PTX load carries
// the JIT compiler's log (JITError). Faults inside a kernel (CUDA_ERROR_ILLEGAL_ADDRESS,
// ...) surface at the next call that waits, and leave the context unusable: every
// later call fails with the same error.
//
// # Kernel arguments
//
// Launch passes every argument in its own 8-byte slot (cuda.Arg): gorgonia.org/cu
// copies 8 bytes behind every parameter pointer, and the driver reads each
// parameter's own size (4 bytes for a .f32) from the start of its slot. Parameters
// larger than 8 bytes cannot be passed; Module.Function refuses such kernels. The
// parameter list comes from the PTX text itself (the .entry declaration).
package driver

/*
#cgo linux LDFLAGS: -L/usr/local/cuda/lib64/stubs -ldl
#cgo linux CFLAGS: -I/usr/local/cuda/include
#include <cuda.h>

extern int gmvae_cuinit_calls;
extern int gmvae_cuinit_result;
extern int gmvae_cuinit_preflight_first;
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"github.com/gmvae/gmvae/cuda"
	"github.com/gmvae/gmvae/cuda/preflight"
	"gorgonia.org/cu"
)

// Properties describes a device (cuDeviceGetAttribute and friends). Fields the driver
// does not report are 0.
type Properties struct {
	Ordinal       int
	Name          string // e.g. "NVIDIA H100 80GB HBM3"
	UUID          string
	Major, Minor  int   // compute capability
	TotalMem      int64 // bytes
	SMs           int   // multiprocessors
	WarpSize      int
	DriverVersion int // CUDA version the driver supports, e.g. 13000

	MaxThreadsPerBlock int
	MaxBlock           [3]int
	MaxGrid            [3]int
	// SharedPerBlock is the shared memory a block may use without opting in (48 KiB);
	// SharedPerBlockOptin the most with cuFuncSetAttribute (not used here).
	SharedPerBlock, SharedPerBlockOptin int
	L2Bytes                             int
	ClockKHz, MemClockKHz               int // nominal (deprecated attributes on recent drivers)
	MemBusBits                          int
}

// PeakBandwidth is the nominal memory bandwidth in bytes/s (double data rate over the
// bus), or 0 when the driver does not report the memory clock; measure the real
// ceiling with a large device-to-device copy.
func (p Properties) PeakBandwidth() float64 {
	return 2 * float64(p.MemClockKHz) * 1e3 * float64(p.MemBusBits) / 8
}

// Device is one GPU: a reference to its primary context (see the package doc,
// "Threads"). It implements cuda.Device and may be used from several goroutines.
type Device struct {
	props Properties
	dev   cu.Device
	ctx   cu.CUContext

	// mu is held for reading for the whole of every call and exclusively by Close.
	mu     sync.RWMutex
	closed bool
	// Forward mode: the context's goroutine takes jobs from work and closes exited
	// when it ends. Direct mode: work is nil and state serialises the calls.
	work   chan func()
	exited chan struct{}
	state  sync.Mutex

	// Touched only inside do's calls (on the context's goroutine in Forward mode,
	// under state in Direct mode).
	allocs  map[cuda.DevicePtr]int64
	pinned  map[uintptr]pinnedBuf
	modules map[*Module]struct{}
	streams map[*Stream]struct{}
	events  map[*Event]struct{}
}

type pinnedBuf struct {
	p unsafe.Pointer
	n int
}

var _ cuda.Device = (*Device)(nil)

// cuInitTrace reports what the cuInit shim saw: how often cu's init called it, the
// real result, and whether preflight's init had run before the first call.
func cuInitTrace() (calls int, result Result, preflightFirst int) {
	return int(C.gmvae_cuinit_calls), Result(C.gmvae_cuinit_result), int(C.gmvae_cuinit_preflight_first)
}

// Count returns the number of CUDA devices (0 with an error when none is usable).
func Count() (int, error) {
	if err := preflight.Err(); err != nil {
		return 0, &cuda.Error{Op: "Count", Err: err}
	}
	n, err := cu.NumDevices()
	return n, wrap("cuDeviceGetCount", err)
}

// Options configure Open.
type Options struct {
	// Forward makes one goroutine, locked to its OS thread, run every call that
	// queues work (see the package doc, "Threads"); the default runs them on the
	// caller's goroutine.
	Forward bool
}

// Open opens device ordinal with the default Options.
func Open(ordinal int) (*Device, error) { return OpenWith(ordinal, Options{}) }

// OpenWith opens device ordinal: it retains the device's primary context, which
// Close releases. Without a usable GPU the error matches preflight.ErrUnavailable.
func OpenWith(ordinal int, o Options) (*Device, error) {
	op := fmt.Sprintf("Open(%d)", ordinal)
	if err := preflight.Err(); err != nil {
		return nil, &cuda.Error{Op: op, Err: err}
	}
	if _, r, _ := cuInitTrace(); r != 0 {
		return nil, &cuda.Error{Op: op + ": cuInit(0)", Err: r}
	}
	n, err := cu.NumDevices()
	if err != nil {
		return nil, wrap(op+": cuDeviceGetCount", err)
	}
	if ordinal < 0 || ordinal >= n {
		return nil, cuda.Errorf(op, "no such device (%d devices)", n)
	}
	d := &Device{
		allocs:  map[cuda.DevicePtr]int64{},
		pinned:  map[uintptr]pinnedBuf{},
		modules: map[*Module]struct{}{},
		streams: map[*Stream]struct{}{},
		events:  map[*Event]struct{}{},
	}
	if !o.Forward {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := d.setup(ordinal); err != nil {
			return nil, err
		}
		cu.SetCurrentContext(cu.CUContext{})
		return d, nil
	}
	d.work, d.exited = make(chan func()), make(chan struct{})
	ready := make(chan error)
	go d.run(ordinal, ready)
	if err := <-ready; err != nil {
		<-d.exited
		return nil, err
	}
	return d, nil
}

// run is the context's goroutine (Forward mode). It never unlocks its thread: when
// it returns, the thread ends with it.
func (d *Device) run(ordinal int, ready chan<- error) {
	runtime.LockOSThread()
	defer close(d.exited)
	if err := d.setup(ordinal); err != nil {
		ready <- err
		return
	}
	ready <- nil
	for f := range d.work {
		f()
	}
}

func (d *Device) setup(ordinal int) error {
	op := fmt.Sprintf("Open(%d)", ordinal)
	dev, err := cu.GetDevice(ordinal)
	if err != nil {
		return wrap(op+": cuDeviceGet", err)
	}
	ctx, err := dev.RetainPrimaryCtx()
	if err != nil {
		return wrap(op+": cuDevicePrimaryCtxRetain", err)
	}
	if err := cu.SetCurrentContext(ctx); err != nil {
		dev.ReleasePrimaryCtx()
		return wrap(op+": cuCtxSetCurrent", err)
	}
	d.dev, d.ctx = dev, ctx
	if err := d.readProps(ordinal); err != nil {
		cu.SetCurrentContext(cu.CUContext{})
		dev.ReleasePrimaryCtx()
		return wrap(op, err)
	}
	return nil
}

func (d *Device) readProps(ordinal int) error {
	p := Properties{Ordinal: ordinal, DriverVersion: cu.Version()}
	var err error
	if p.Name, err = d.dev.Name(); err != nil {
		return wrap("cuDeviceGetName", err)
	}
	if p.TotalMem, err = d.dev.TotalMem(); err != nil {
		return wrap("cuDeviceTotalMem", err)
	}
	if u, err := d.dev.UUID(); err == nil {
		p.UUID = u.String()
	}
	need := []struct {
		dst  *int
		attr cu.DeviceAttribute
		name string
	}{
		{&p.Major, cu.ComputeCapabilityMajor, "COMPUTE_CAPABILITY_MAJOR"},
		{&p.Minor, cu.ComputeCapabilityMinor, "COMPUTE_CAPABILITY_MINOR"},
		{&p.SMs, cu.MultiprocessorCount, "MULTIPROCESSOR_COUNT"},
		{&p.WarpSize, cu.WarpSize, "WARP_SIZE"},
		{&p.MaxThreadsPerBlock, cu.MaxThreadsPerBlock, "MAX_THREADS_PER_BLOCK"},
		{&p.MaxBlock[0], cu.MaxBlockDimX, "MAX_BLOCK_DIM_X"},
		{&p.MaxBlock[1], cu.MaxBlockDimY, "MAX_BLOCK_DIM_Y"},
		{&p.MaxBlock[2], cu.MaxBlockDimZ, "MAX_BLOCK_DIM_Z"},
		{&p.MaxGrid[0], cu.MaxGridDimX, "MAX_GRID_DIM_X"},
		{&p.MaxGrid[1], cu.MaxGridDimY, "MAX_GRID_DIM_Y"},
		{&p.MaxGrid[2], cu.MaxGridDimZ, "MAX_GRID_DIM_Z"},
		{&p.SharedPerBlock, cu.MaxSharedMemoryPerBlock, "MAX_SHARED_MEMORY_PER_BLOCK"},
	}
	for _, a := range need {
		v, err := d.dev.Attribute(a.attr)
		if err != nil {
			return wrap("cuDeviceGetAttribute(CU_DEVICE_ATTRIBUTE_"+a.name+")", err)
		}
		*a.dst = v
	}
	// Informational: 0 when the driver does not report them.
	optional := []struct {
		dst  *int
		attr cu.DeviceAttribute
	}{
		{&p.SharedPerBlockOptin, cu.DeviceAttribute(C.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)},
		{&p.L2Bytes, cu.L2CacheSize},
		{&p.ClockKHz, cu.ClockRate},
		{&p.MemClockKHz, cu.MemoryClockRate},
		{&p.MemBusBits, cu.GlobalMemoryBusWidth},
	}
	for _, a := range optional {
		if v, err := d.dev.Attribute(a.attr); err == nil {
			*a.dst = v
		}
	}
	d.props = p
	return nil
}

// do runs f, a call that queues work or touches the Device's books, and returns
// its error wrapped for op: on the context's goroutine (Forward) or on the caller's
// thread under state (Direct).
func (d *Device) do(op string, f func() error) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return cuda.Errorf(op, "device is closed")
	}
	if d.work == nil {
		d.state.Lock()
		defer d.state.Unlock()
		return wrap(op, d.onThread(f))
	}
	done := donePool.Get().(chan error)
	d.work <- func() { done <- f() }
	err := <-done
	donePool.Put(done)
	return wrap(op, err)
}

var donePool = sync.Pool{New: func() any { return make(chan error, 1) }}

// wait runs f, a call that may wait for the GPU, on the calling goroutine (in both
// modes, outside state).
func (d *Device) wait(op string, f func() error) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return cuda.Errorf(op, "device is closed")
	}
	return wrap(op, d.onThread(f))
}

// onThread runs f on the calling goroutine, locked to its thread, with the context
// current there for the call only (no context is left current on a thread that Go
// reuses).
func (d *Device) onThread(f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cu.SetCurrentContext(d.ctx); err != nil {
		return wrap("cuCtxSetCurrent", err)
	}
	err := f()
	cu.SetCurrentContext(cu.CUContext{})
	return err
}

// Props returns the device's properties.
func (d *Device) Props() Properties { return d.props }

// Ordinal implements cuda.DriverDevice: the device's index among the GPUs this process
// sees.
func (d *Device) Ordinal() int { return d.props.Ordinal }

// Name is the device's name.
func (d *Device) Name() string { return d.props.Name }

// TotalMem is the device memory in bytes.
func (d *Device) TotalMem() int64 { return d.props.TotalMem }

// MemInfo returns the free and total device memory in bytes (cuMemGetInfo).
func (d *Device) MemInfo() (free, total int64, err error) {
	err = d.do("cuMemGetInfo", func() error {
		var err error
		free, total, err = cu.MemInfo()
		return err
	})
	return free, total, err
}

// Alloc allocates bytes of device memory (cuMemAlloc; 256-byte aligned at least).
func (d *Device) Alloc(bytes int64) (cuda.DevicePtr, error) {
	op := fmt.Sprintf("cuMemAlloc(%d bytes)", bytes)
	if bytes <= 0 {
		return 0, cuda.Errorf(op, "invalid size")
	}
	var p cuda.DevicePtr
	err := d.do(op, func() error {
		dp, err := cu.MemAlloc(bytes)
		if err != nil {
			return err
		}
		p = cuda.DevicePtr(dp)
		d.allocs[p] = bytes
		return nil
	})
	return p, err
}

// Free releases an allocation made by Alloc on this Device (cuMemFree).
func (d *Device) Free(p cuda.DevicePtr) error {
	op := fmt.Sprintf("cuMemFree(%#x)", uint64(p))
	return d.do(op, func() error {
		if _, ok := d.allocs[p]; !ok {
			return cuda.Errorf(op, "not a live allocation of this device")
		}
		if err := cu.MemFree(cu.DevicePtr(p)); err != nil {
			return err
		}
		delete(d.allocs, p)
		return nil
	})
}

// Allocated returns the number and total size of this Device's live allocations
// (for leak checks).
func (d *Device) Allocated() (n int, bytes int64) {
	d.do("Allocated", func() error {
		for _, b := range d.allocs {
			n++
			bytes += b
		}
		return nil
	})
	return n, bytes
}

func hostPtr(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }

// MemcpyHtoD copies len(src) bytes from host memory to dst (cuMemcpyHtoD).
func (d *Device) MemcpyHtoD(dst cuda.DevicePtr, src []byte) error {
	if len(src) == 0 {
		return nil
	}
	return d.wait(fmt.Sprintf("cuMemcpyHtoD(%#x, %d bytes)", uint64(dst), len(src)), func() error {
		return cu.MemcpyHtoD(cu.DevicePtr(dst), hostPtr(src), int64(len(src)))
	})
}

// MemcpyDtoH copies len(dst) bytes from src to host memory (cuMemcpyDtoH).
func (d *Device) MemcpyDtoH(dst []byte, src cuda.DevicePtr) error {
	if len(dst) == 0 {
		return nil
	}
	return d.wait(fmt.Sprintf("cuMemcpyDtoH(%#x, %d bytes)", uint64(src), len(dst)), func() error {
		return cu.MemcpyDtoH(hostPtr(dst), cu.DevicePtr(src), int64(len(dst)))
	})
}

// MemcpyDtoD copies bytes between device buffers (cuMemcpyDtoD).
func (d *Device) MemcpyDtoD(dst, src cuda.DevicePtr, bytes int64) error {
	op := fmt.Sprintf("cuMemcpyDtoD(%#x <- %#x, %d bytes)", uint64(dst), uint64(src), bytes)
	if bytes < 0 {
		return cuda.Errorf(op, "negative size")
	}
	if bytes == 0 {
		return nil
	}
	return d.wait(op, func() error {
		return cu.MemcpyDtoD(cu.DevicePtr(dst), cu.DevicePtr(src), bytes)
	})
}

// MemsetD32 sets n 32-bit words at dst to v (cuMemsetD32).
func (d *Device) MemsetD32(dst cuda.DevicePtr, v uint32, n int64) error {
	op := fmt.Sprintf("cuMemsetD32(%#x, %#x, %d words)", uint64(dst), v, n)
	if n < 0 {
		return cuda.Errorf(op, "negative count")
	}
	if n == 0 {
		return nil
	}
	return d.do(op, func() error { return cu.MemsetD32(cu.DevicePtr(dst), v, n) })
}

// MemcpyHtoDAsync copies len(src) bytes to dst, ordered on stream s. From pinned
// memory (AllocPinned) the copy is truly asynchronous and src must stay untouched
// until the stream has passed it; from ordinary Go memory the driver stages it and
// src is free again on return.
func (d *Device) MemcpyHtoDAsync(dst cuda.DevicePtr, src []byte, s cuda.Stream) error {
	if len(src) == 0 {
		return nil
	}
	op := fmt.Sprintf("cuMemcpyHtoDAsync(%#x, %d bytes)", uint64(dst), len(src))
	return d.do(op, func() error {
		st, err := d.cuStream(op, s)
		if err != nil {
			return err
		}
		return cu.MemcpyHtoDAsync(cu.DevicePtr(dst), hostPtr(src), int64(len(src)), st)
	})
}

// MemcpyDtoHAsync copies len(dst) bytes from src, ordered on stream s. Into pinned
// memory the copy is asynchronous (read dst after the stream has passed it); into
// ordinary Go memory the driver completes it before returning.
func (d *Device) MemcpyDtoHAsync(dst []byte, src cuda.DevicePtr, s cuda.Stream) error {
	if len(dst) == 0 {
		return nil
	}
	op := fmt.Sprintf("cuMemcpyDtoHAsync(%#x, %d bytes)", uint64(src), len(dst))
	return d.do(op, func() error {
		st, err := d.cuStream(op, s)
		if err != nil {
			return err
		}
		return cu.MemcpyDtoHAsync(hostPtr(dst), cu.DevicePtr(src), int64(len(dst)), st)
	})
}

// MemcpyDtoDAsync copies bytes between device buffers, ordered on stream s.
func (d *Device) MemcpyDtoDAsync(dst, src cuda.DevicePtr, bytes int64, s cuda.Stream) error {
	op := fmt.Sprintf("cuMemcpyDtoDAsync(%#x <- %#x, %d bytes)", uint64(dst), uint64(src), bytes)
	if bytes < 0 {
		return cuda.Errorf(op, "negative size")
	}
	if bytes == 0 {
		return nil
	}
	return d.do(op, func() error {
		st, err := d.cuStream(op, s)
		if err != nil {
			return err
		}
		return cu.MemcpyDtoDAsync(cu.DevicePtr(dst), cu.DevicePtr(src), bytes, st)
	})
}

// Synchronize waits until all work on the device is done (cuCtxSynchronize).
func (d *Device) Synchronize() error {
	return d.wait("cuCtxSynchronize", cu.Synchronize)
}

// Close waits for the device's work, releases what this Device still holds (its
// modules, streams, events, allocations and pinned buffers) and its reference to
// the primary context, and ends its goroutine. Calls after Close fail.
func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return cuda.Errorf("Close", "device is closed")
	}
	d.closed = true
	if d.work == nil {
		return d.onThread(d.release)
	}
	done := make(chan error, 1)
	d.work <- func() { done <- d.release() }
	err := <-done
	close(d.work)
	<-d.exited
	return err
}

// release runs with the context current; it returns the first error.
func (d *Device) release() error {
	var first error
	keep := func(op string, err error) {
		if err != nil && first == nil {
			first = wrap("Close: "+op, err)
		}
	}
	keep("cuCtxSynchronize", cu.Synchronize())
	for m := range d.modules {
		keep("cuModuleUnload("+m.name+")", m.mod.Unload())
	}
	for s := range d.streams {
		keep("cuStreamDestroy", s.s.Destroy())
		s.destroyed.Store(true)
	}
	for e := range d.events {
		keep("cuEventDestroy", cu.DestroyEvent(&e.e))
		e.destroyed.Store(true)
	}
	for p := range d.allocs {
		keep(fmt.Sprintf("cuMemFree(%#x)", uint64(p)), cu.MemFree(cu.DevicePtr(p)))
	}
	for _, b := range d.pinned {
		keep("cuMemFreeHost", freeHost(b.p))
	}
	clear(d.modules)
	clear(d.streams)
	clear(d.events)
	clear(d.allocs)
	clear(d.pinned)
	cu.SetCurrentContext(cu.CUContext{})
	keep("cuDevicePrimaryCtxRelease", d.dev.ReleasePrimaryCtx())
	return first
}
