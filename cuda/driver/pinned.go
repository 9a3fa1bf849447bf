//go:build cuda

package driver

/*
#include <cuda.h>

// gorgonia.org/cu has no cuMemAllocHost; these wrappers also resolve cuda.h's _v2
// macros in C.
static CUresult gm_mem_alloc_host(void **p, size_t n) { return cuMemAllocHost(p, n); }
static CUresult gm_mem_free_host(void *p) { return cuMemFreeHost(p); }
*/
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/gmvae/gmvae/cuda"
)

func freeHost(p unsafe.Pointer) error {
	if r := C.gm_mem_free_host(p); r != C.CUDA_SUCCESS {
		return Result(r)
	}
	return nil
}

// AllocPinned allocates n bytes of page-locked host memory (cuMemAllocHost), outside
// Go's heap: copies from and to it with the Async calls are truly asynchronous, and
// faster than from ordinary memory. Release it with FreePinned (Close releases what
// is left); the slice must not be used after that.
func (d *Device) AllocPinned(n int) ([]byte, error) {
	op := fmt.Sprintf("cuMemAllocHost(%d bytes)", n)
	if n <= 0 {
		return nil, cuda.Errorf(op, "invalid size")
	}
	var b []byte
	err := d.do(op, func() error {
		var p unsafe.Pointer
		if r := C.gm_mem_alloc_host(&p, C.size_t(n)); r != C.CUDA_SUCCESS {
			return Result(r)
		}
		d.pinned[uintptr(p)] = pinnedBuf{p: p, n: n}
		b = unsafe.Slice((*byte)(p), n)
		return nil
	})
	return b, err
}

// FreePinned releases a buffer from AllocPinned (b as returned, or any reslice of it
// that starts at its first byte) (cuMemFreeHost).
func (d *Device) FreePinned(b []byte) error {
	p := unsafe.Pointer(unsafe.SliceData(b))
	op := fmt.Sprintf("cuMemFreeHost(%p)", p)
	return d.do(op, func() error {
		buf, ok := d.pinned[uintptr(p)]
		if !ok || p == nil {
			return cuda.Errorf(op, "not a live pinned buffer of this device")
		}
		if err := freeHost(buf.p); err != nil {
			return err
		}
		delete(d.pinned, uintptr(p))
		return nil
	})
}

// PinnedAllocated returns the number and total size of live pinned buffers.
func (d *Device) PinnedAllocated() (n int, bytes int64) {
	d.do("PinnedAllocated", func() error {
		for _, b := range d.pinned {
			n++
			bytes += int64(b.n)
		}
		return nil
	})
	return n, bytes
}

// Device offers page-locked host memory to the engine's batch loader.
var _ cuda.PinnedAllocator = (*Device)(nil)
