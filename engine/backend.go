// Package engine is the device-independent training engine: buffers on a backend, the
// op set (every op is one kernel of kernels/, run either as a launch on a cuda.Device
// or as its CPU twin from engine/cpu), the caching device-memory pool, and the
// backends themselves.
//
// Both backends run an op by the kernel's name with the kernel's own argument list, so
// they cannot drift apart: the CPU backend calls the twin, the GPU backend packs the
// same arguments into 8-byte slots from the kernel table and launches the PTX.
package engine

import (
	"fmt"

	"github.com/gmvae/gmvae/cuda"
	"github.com/gmvae/gmvae/kernels"
)

// Buf is a float32 buffer that lives on one backend: host memory on the CPU backend,
// device memory on a GPU backend. A Buf made by Slice shares its parent's storage.
type Buf struct {
	n     int
	host  []float32      // CPU backend
	ptr   cuda.DevicePtr // GPU backend: the first element
	owner Backend
	root  bool // allocated by New (not a Slice): may be released
}

// Len returns the number of float32 elements.
func (b *Buf) Len() int { return b.n }

// DevicePtr returns the device address of b's first element on a GPU backend (0 on the
// CPU backend). Code that hands buffers to other device libraries (NCCL) needs it.
func (b *Buf) DevicePtr() cuda.DevicePtr { return b.ptr }

// Slice returns the elements [off, off+n) of b as a Buf sharing b's storage.
func (b *Buf) Slice(off, n int) *Buf {
	if off < 0 || n < 0 || off+n > b.n {
		panic(fmt.Sprintf("engine: Slice(%d, %d) of a buffer of %d elements", off, n, b.n))
	}
	s := &Buf{n: n, owner: b.owner}
	if b.host != nil {
		s.host = b.host[off : off+n : off+n]
	} else {
		s.ptr = b.ptr.Offset(int64(off) * 4)
	}
	return s
}

// Backend runs the engine's ops on one device.
type Backend interface {
	// Name says which device runs the ops, e.g. "cpu (2 threads)" or "emu: PTX emulator".
	Name() string
	// New returns a buffer of n float32 elements with unspecified contents; tag says
	// what it is for (memory reports name it).
	New(n int, tag string) (*Buf, error)
	// Release gives a buffer made by New back to the backend.
	Release(b *Buf) error
	// Upload copies host data into dst (len(src) == dst.Len()).
	Upload(dst *Buf, src []float32) error
	// Download copies src into host memory (len(dst) == src.Len()).
	Download(dst []float32, src *Buf) error
	// Launch runs kernel k with threads threads and its arguments in PTX order, typed
	// as package ops passes them (kernels.ParamKind's Go types): *Buf (nil for a null
	// pointer), int, uint64, float32, bool, kernels.Act. threads sizes the grid only
	// (kernels.Kernel.Threads): results never depend on it. Callers are package ops and
	// the kernel tests; everything else calls ops.
	Launch(k *kernels.Kernel, threads int, args ...any) error
	// Sync waits until every launched op has finished and returns the first error of
	// an asynchronous failure, if any.
	Sync() error
}

// checkLen reports a host/backend length mismatch of a copy.
func checkLen(op string, host, buf int) error {
	if host != buf {
		return fmt.Errorf("engine: %s: host slice of %d elements, buffer of %d", op, host, buf)
	}
	return nil
}
