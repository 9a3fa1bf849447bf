// Package cuda is the engine's device layer: the interface through which the engine
// allocates device memory, copies data, loads PTX modules and launches kernels.
//
// It mirrors the CUDA driver API closely (cuMemAlloc, cuMemcpyHtoD, cuModuleLoadData,
// cuModuleGetFunction, cuLaunchKernel, streams and events), so that its two
// implementations are thin:
//   - the real driver over gorgonia.org/cu, in files built only with the `cuda` tag
//     (importing gorgonia.org/cu runs cuInit in its package init and exits the process
//     when there is no GPU, so nothing untagged may import it);
//   - the PTX emulator in cuda/emu, always built, which CI uses to run the shipped PTX
//     on the CPU (shared/design/ARCHITECTURE.md, "The PTX emulator").
//
// Kernel arguments travel as 8-byte slots (Arg): gorgonia.org/cu's Launch copies 8
// bytes behind every parameter pointer, so every scalar parameter is a 64-bit integer
// or a float32 bit-cast into the low 4 bytes of a slot; see Ptr, I64, U64 and F32.
package cuda

import (
	"fmt"
	"math"
	"unsafe"
)

// DevicePtr is a device memory address (CUdeviceptr). 0 is the null pointer.
type DevicePtr uint64

// Offset returns p advanced by bytes (pointer arithmetic within one allocation).
func (p DevicePtr) Offset(bytes int64) DevicePtr { return DevicePtr(int64(p) + bytes) }

// Dim3 is a grid or block shape. A zero Y or Z counts as 1, so Dim3{X: 128} is a
// one-dimensional shape; X must be at least 1.
type Dim3 struct{ X, Y, Z int }

// Norm returns d with zero Y and Z replaced by 1.
func (d Dim3) Norm() Dim3 {
	if d.Y == 0 {
		d.Y = 1
	}
	if d.Z == 0 {
		d.Z = 1
	}
	return d
}

// Count returns X*Y*Z (with zero Y and Z counted as 1).
func (d Dim3) Count() int {
	n := d.Norm()
	return n.X * n.Y * n.Z
}

func (d Dim3) String() string {
	n := d.Norm()
	return fmt.Sprintf("(%d,%d,%d)", n.X, n.Y, n.Z)
}

// Arg is one kernel argument in its 8-byte slot. A .u64 parameter (pointer, count,
// seed) takes all 8 bytes; a .f32 parameter takes the low 4 bytes (little-endian), so
// the driver, which copies each parameter's own size from the slot, reads the float.
type Arg uint64

// Ptr packs a device pointer argument.
func Ptr(p DevicePtr) Arg { return Arg(p) }

// I64 packs a signed 64-bit integer argument (a long long count or index).
func I64(v int64) Arg { return Arg(uint64(v)) }

// U64 packs an unsigned 64-bit argument (a seed or stream id).
func U64(v uint64) Arg { return Arg(v) }

// F32 packs a float argument: its IEEE bits in the low 4 bytes, zeros above.
func F32(v float32) Arg { return Arg(math.Float32bits(v)) }

// Device is one GPU (or the emulator standing in for one). Copies without a stream
// are synchronous; the Async variants are ordered on their stream (nil: the default
// stream). Every method returns an error that names the call.
//
// A Device may be used from several goroutines.
type Device interface {
	// Name is the device's name, e.g. "NVIDIA H100 80GB HBM3" or "PTX emulator".
	Name() string
	// TotalMem is the device memory in bytes.
	TotalMem() int64
	// MemInfo returns the free and total device memory in bytes (cuMemGetInfo).
	MemInfo() (free, total int64, err error)

	// Alloc allocates bytes of device memory (cuMemAlloc), aligned to at least 256
	// bytes. Its contents are undefined until written.
	Alloc(bytes int64) (DevicePtr, error)
	// Free releases an allocation made by Alloc (cuMemFree).
	Free(p DevicePtr) error

	// MemcpyHtoD copies len(src) bytes from host memory to dst.
	MemcpyHtoD(dst DevicePtr, src []byte) error
	// MemcpyDtoH copies len(dst) bytes from src to host memory.
	MemcpyDtoH(dst []byte, src DevicePtr) error
	// MemcpyDtoD copies bytes between device buffers.
	MemcpyDtoD(dst, src DevicePtr, bytes int64) error
	// MemsetD32 sets n 32-bit words at dst to v (cuMemsetD32).
	MemsetD32(dst DevicePtr, v uint32, n int64) error
	// MemcpyHtoDAsync, MemcpyDtoHAsync and MemcpyDtoDAsync are the same copies
	// ordered on stream s. The host buffer must stay untouched until the stream
	// has passed the copy.
	MemcpyHtoDAsync(dst DevicePtr, src []byte, s Stream) error
	MemcpyDtoHAsync(dst []byte, src DevicePtr, s Stream) error
	MemcpyDtoDAsync(dst, src DevicePtr, bytes int64, s Stream) error

	// LoadModule loads a PTX module's text (cuModuleLoadData); name is used in
	// messages (the .cu file's stem).
	LoadModule(name, ptx string) (Module, error)

	// Launch starts fn on a grid of blocks (cuLaunchKernel) with sharedBytes of
	// dynamic shared memory, on stream s (nil: the default stream). args holds one
	// slot per kernel parameter, in order.
	Launch(fn Function, grid, block Dim3, sharedBytes int, s Stream, args ...Arg) error

	// NewStream creates a stream (cuStreamCreate, non-blocking).
	NewStream() (Stream, error)
	// NewEvent creates an event (cuEventCreate).
	NewEvent() (Event, error)
	// StreamWaitEvent makes later work on s wait for e's last recorded point
	// (cuStreamWaitEvent).
	StreamWaitEvent(s Stream, e Event) error

	// Synchronize waits until all work on the device is done (cuCtxSynchronize).
	Synchronize() error
	// Close releases the device (its context, modules and memory).
	Close() error
}

// DriverDevice is implemented by a device of the CUDA driver (cuda/driver), not by the
// emulator: libraries outside the engine that open the same GPU themselves (NCCL)
// need its ordinal, the index cuDeviceGet takes.
type DriverDevice interface {
	Device
	Ordinal() int
}

// Module is a loaded PTX module.
type Module interface {
	// Function returns the kernel named name (a .entry of the module).
	Function(name string) (Function, error)
	// Unload releases the module (cuModuleUnload).
	Unload() error
}

// Function is one kernel of a loaded module.
type Function interface {
	// Name is the kernel's .entry name.
	Name() string
	// NumParams is the number of the kernel's parameters.
	NumParams() int
}

// Stream is an ordered queue of device work.
type Stream interface {
	// Synchronize waits until all work queued on the stream is done.
	Synchronize() error
	// Destroy releases the stream.
	Destroy() error
}

// Event marks a point in a stream.
type Event interface {
	// Record marks the current end of stream s (nil: the default stream).
	Record(s Stream) error
	// Synchronize waits until the recorded point has been passed.
	Synchronize() error
	// Destroy releases the event.
	Destroy() error
}

// Error is a failed device call: Op names the call (e.g. "Launch gemm_nn",
// "MemcpyDtoH"), Err says why.
type Error struct {
	Op  string
	Err error
}

func (e *Error) Error() string { return "cuda: " + e.Op + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error for call op.
func Errorf(op, format string, a ...any) error {
	return &Error{Op: op, Err: fmt.Errorf(format, a...)}
}

// Bytes views a slice of fixed-size numbers (float32, uint32, int64, ...) as its
// bytes, without copying, for MemcpyHtoD/DtoH.
func Bytes[T ~float32 | ~float64 | ~uint32 | ~int32 | ~uint64 | ~int64 | ~uint16 | ~int16 | ~uint8 | ~int8](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	var z T
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*int(unsafe.Sizeof(z)))
}

// PinnedAllocator is implemented by devices that can allocate page-locked host memory
// (cuMemAllocHost), from which asynchronous copies overlap with computation. Code that
// stages uploads checks for it and falls back to ordinary memory.
type PinnedAllocator interface {
	// AllocPinned returns n bytes of page-locked host memory.
	AllocPinned(n int) ([]byte, error)
	// FreePinned releases memory returned by AllocPinned.
	FreePinned(b []byte) error
}
