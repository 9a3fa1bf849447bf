//go:build cuda

package dist

// The NCCL transport of the device gradient path: libnccl.so.2 and the few CUDA
// driver calls it needs are loaded at run time (dlopen/dlsym), so neither nccl.h nor
// NCCL is needed to build, and a binary without NCCL on the machine still runs (the
// host path). The NCCL declarations below are written from nccl.h (NCCL 2.x), whose
// values have not changed since NCCL 2.0:
//
//	ncclResult_t: ncclSuccess = 0 (errors > 0; ncclInProgress = 7 only for
//	  non-blocking communicators, which are not used here)
//	ncclDataType_t: ncclFloat32 = ncclFloat = 7 (ncclInt8 0, ncclUint8 1, ncclInt32 2,
//	  ncclUint32 3, ncclInt64 4, ncclUint64 5, ncclFloat16 6, ncclFloat64 8)
//	ncclUniqueId: struct { char internal[NCCL_UNIQUE_ID_BYTES = 128]; }, passed by
//	  value to ncclCommInitRank
//	ncclComm_t: a pointer; cudaStream_t: a pointer (a CUstream)
//	signatures: ncclGetUniqueId(ncclUniqueId*), ncclCommInitRank(ncclComm_t*, int
//	  nranks, ncclUniqueId, int rank), ncclCommDestroy(ncclComm_t), ncclGroupStart(),
//	  ncclGroupEnd(), ncclSend(const void*, size_t, ncclDataType_t, int peer,
//	  ncclComm_t, cudaStream_t), ncclRecv(void*, size_t, ncclDataType_t, int peer,
//	  ncclComm_t, cudaStream_t), ncclAllGather(const void* send, void* recv, size_t
//	  sendcount, ncclDataType_t, ncclComm_t, cudaStream_t) (in place when send ==
//	  recv + rank*sendcount), ncclGetErrorString(ncclResult_t), ncclGetVersion(int*)
//	  (code major*10000+minor*100+patch from 2.9, major*1000+minor*100+patch before)
//
// None of this has run on a GPU: no machine available to the project has two GPUs.

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct { char internal[128]; } gm_ncclUniqueId;
typedef void* gm_ncclComm;
typedef void* gm_stream;
typedef void* gm_cuctx;

static struct {
	void* lib;
	int (*getUniqueId)(gm_ncclUniqueId*);
	int (*commInitRank)(gm_ncclComm*, int, gm_ncclUniqueId, int);
	int (*commDestroy)(gm_ncclComm);
	int (*groupStart)(void);
	int (*groupEnd)(void);
	int (*send)(const void*, size_t, int, int, gm_ncclComm, gm_stream);
	int (*recv)(void*, size_t, int, int, gm_ncclComm, gm_stream);
	int (*allGather)(const void*, void*, size_t, int, gm_ncclComm, gm_stream);
	const char* (*getErrorString)(int);
	int (*getVersion)(int*);

	void* cuda;
	int (*cuDeviceGet)(int*, int);
	int (*cuDevicePrimaryCtxRetain)(gm_cuctx*, int);
	int (*cuDevicePrimaryCtxRelease)(int);
	int (*cuCtxGetCurrent)(gm_cuctx*);
	int (*cuCtxSetCurrent)(gm_cuctx);
} gm_nccl;

// gm_nccl_load opens libnccl.so.2 and libcuda.so.1 and resolves the functions. It
// returns NULL, or what failed (copied into err).
static int gm_nccl_load(char* err, size_t errlen) {
	void* h = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
	if (!h) { snprintf(err, errlen, "%s", dlerror()); return 1; }
	void* cu = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!cu) { snprintf(err, errlen, "%s", dlerror()); dlclose(h); return 1; }
#define GM_SYM(lib, field, name) \
	*(void**)(&gm_nccl.field) = dlsym(lib, name); \
	if (!gm_nccl.field) { snprintf(err, errlen, "dlsym %s: %s", name, dlerror()); dlclose(h); dlclose(cu); return 1; }
	GM_SYM(h, getUniqueId, "ncclGetUniqueId")
	GM_SYM(h, commInitRank, "ncclCommInitRank")
	GM_SYM(h, commDestroy, "ncclCommDestroy")
	GM_SYM(h, groupStart, "ncclGroupStart")
	GM_SYM(h, groupEnd, "ncclGroupEnd")
	GM_SYM(h, send, "ncclSend")
	GM_SYM(h, recv, "ncclRecv")
	GM_SYM(h, allGather, "ncclAllGather")
	GM_SYM(h, getErrorString, "ncclGetErrorString")
	GM_SYM(h, getVersion, "ncclGetVersion")
	GM_SYM(cu, cuDeviceGet, "cuDeviceGet")
	GM_SYM(cu, cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain")
	GM_SYM(cu, cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2")
	GM_SYM(cu, cuCtxGetCurrent, "cuCtxGetCurrent")
	GM_SYM(cu, cuCtxSetCurrent, "cuCtxSetCurrent")
#undef GM_SYM
	gm_nccl.lib = h;
	gm_nccl.cuda = cu;
	return 0;
}

static const char* gm_nccl_error_string(int rc) { return gm_nccl.getErrorString(rc); }
static int gm_nccl_version(int* v) { return gm_nccl.getVersion(v); }
static int gm_nccl_get_unique_id(gm_ncclUniqueId* id) { return gm_nccl.getUniqueId(id); }
static int gm_nccl_comm_init_rank(gm_ncclComm* c, int n, gm_ncclUniqueId* id, int r) {
	return gm_nccl.commInitRank(c, n, *id, r);
}
static int gm_nccl_comm_destroy(gm_ncclComm c) { return gm_nccl.commDestroy(c); }

// ncclFloat32 in ncclDataType_t.
enum { GM_NCCL_FLOAT32 = 7 };

// The stream of every NCCL call: the legacy default stream, on which the GPU backend
// launches its kernels and copies (a nil cuda.Stream, 0 in cuLaunchKernel), named by
// its explicit handle CU_STREAM_LEGACY = cudaStreamLegacy = 0x1, so that it means the
// legacy stream even if libnccl was built with per-thread default streams.
#define GM_STREAM ((gm_stream)0x1)

// gm_nccl_alltoall is one group (on this thread, as NCCL's group state is per
// thread): for every peer k != me with n[k] > 0 floats, ncclSend(send[k]) and
// ncclRecv(recv[k]).
static int gm_nccl_alltoall(const uint64_t* send, const uint64_t* recv, const uint64_t* n,
		int p, int me, gm_ncclComm c) {
	gm_stream s = GM_STREAM;
	int rc = gm_nccl.groupStart();
	if (rc) return rc;
	for (int k = 0; k < p; k++) {
		if (k == me || n[k] == 0) continue;
		rc = gm_nccl.send((const void*)(uintptr_t)send[k], (size_t)n[k], GM_NCCL_FLOAT32, k, c, s);
		if (rc) { gm_nccl.groupEnd(); return rc; }
		rc = gm_nccl.recv((void*)(uintptr_t)recv[k], (size_t)n[k], GM_NCCL_FLOAT32, k, c, s);
		if (rc) { gm_nccl.groupEnd(); return rc; }
	}
	return gm_nccl.groupEnd();
}

static int gm_nccl_allgather(uint64_t send, uint64_t recv, uint64_t n, gm_ncclComm c) {
	return gm_nccl.allGather((const void*)(uintptr_t)send, (void*)(uintptr_t)recv, (size_t)n, GM_NCCL_FLOAT32, c, GM_STREAM);
}

static int gm_cu_primary_retain(int ordinal, gm_cuctx* ctx) {
	int dev;
	int rc = gm_nccl.cuDeviceGet(&dev, ordinal);
	if (rc) return rc;
	return gm_nccl.cuDevicePrimaryCtxRetain(ctx, dev);
}
static int gm_cu_primary_release(int ordinal) {
	int dev;
	int rc = gm_nccl.cuDeviceGet(&dev, ordinal);
	if (rc) return rc;
	return gm_nccl.cuDevicePrimaryCtxRelease(dev);
}
static int gm_cu_ctx_get(gm_cuctx* ctx) { return gm_nccl.cuCtxGetCurrent(ctx); }
static int gm_cu_ctx_set(gm_cuctx ctx) { return gm_nccl.cuCtxSetCurrent(ctx); }
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"github.com/gmvae/gmvae/cuda"
	"github.com/gmvae/gmvae/engine"
)

// ncclUniqueIDBytes is NCCL_UNIQUE_ID_BYTES.
const ncclUniqueIDBytes = 128

var ncclLib struct {
	once    sync.Once
	err     error
	version string
}

// loadNCCL opens libnccl.so.2 (and libcuda.so.1) once per process.
func loadNCCL() error {
	ncclLib.once.Do(func() {
		var buf [512]C.char
		if C.gm_nccl_load(&buf[0], C.size_t(len(buf))) != 0 {
			ncclLib.err = fmt.Errorf("cannot load NCCL (is libnccl.so.2 installed and on the library path?): %s", C.GoString(&buf[0]))
			return
		}
		var v C.int
		if C.gm_nccl_version(&v) == 0 {
			code := int(v)
			if code >= 10000 { // NCCL >= 2.9: major*10000 + minor*100 + patch
				ncclLib.version = fmt.Sprintf("%d.%d.%d", code/10000, code%10000/100, code%100)
			} else {
				ncclLib.version = fmt.Sprintf("%d.%d.%d", code/1000, code%1000/100, code%100)
			}
		}
	})
	return ncclLib.err
}

// ncclError describes an NCCL result code.
func ncclError(op string, rc C.int) error {
	if rc == 0 {
		return nil
	}
	return fmt.Errorf("%s: %s (ncclResult_t %d)", op, C.GoString(C.gm_nccl_error_string(rc)), int(rc))
}

// cuError describes a CUDA driver result code.
func cuError(op string, rc C.int) error {
	if rc == 0 {
		return nil
	}
	return fmt.Errorf("%s: CUresult %d", op, int(rc))
}

// probeNCCL checks, on this rank alone, that the NCCL path can work: libnccl loads
// and the backend runs on a CUDA driver device.
func probeNCCL(g *engine.GPU) error {
	if err := loadNCCL(); err != nil {
		return err
	}
	if _, ok := g.Device().(cuda.DriverDevice); !ok {
		return fmt.Errorf("the backend's device %q is not a CUDA driver device", g.Name())
	}
	return nil
}

// ncclTransport is a DeviceTransport over an NCCL communicator on the backend's GPU.
// Its operations are queued on the backend's stream, the legacy default stream (the
// GPU backend launches every kernel and makes every copy there; see GM_STREAM), so
// they are ordered with the launches before and after them without any
// synchronization. Should the backend ever launch on a stream of its own, this must
// pass that stream (engine.GPU would need to expose its CUstream).
type ncclTransport struct {
	rank, size int
	ordinal    int
	ctx        C.gm_cuctx // the device's primary context (the backend's)
	comm       C.gm_ncclComm
	send, recv []C.uint64_t
	n          []C.uint64_t
}

// openNCCL makes the communicator: rank 0's ncclGetUniqueId, broadcast with c.Bcast
// (as 16 int64s and a status word), then ncclCommInitRank on every rank, with the
// primary context of the backend's device current (NCCL's CUDA runtime then uses that
// device, whatever cudaSetDevice said).
func openNCCL(c Comm, g *engine.GPU) (DeviceTransport, error) {
	if err := probeNCCL(g); err != nil {
		return nil, err
	}
	dev := g.Device().(cuda.DriverDevice)
	t := &ncclTransport{rank: c.Rank(), size: c.Size(), ordinal: dev.Ordinal()}
	if err := cuError("cuDevicePrimaryCtxRetain", C.gm_cu_primary_retain(C.int(t.ordinal), &t.ctx)); err != nil {
		return nil, err
	}
	var id C.gm_ncclUniqueId
	words := make([]int64, ncclUniqueIDBytes/8+1)
	idBytes := unsafe.Slice((*byte)(unsafe.Pointer(&id)), ncclUniqueIDBytes)
	if c.Rank() == 0 {
		rc := t.onDevice(func() C.int { return C.gm_nccl_get_unique_id(&id) })
		words[len(words)-1] = int64(rc)
		copy(asBytes(words[:len(words)-1]), idBytes)
	}
	if err := c.Bcast(words, 0); err != nil {
		t.release()
		return nil, err
	}
	if err := t.check("ncclGetUniqueId on rank 0", C.int(words[len(words)-1])); err != nil {
		t.release()
		return nil, err
	}
	copy(idBytes, asBytes(words[:len(words)-1]))
	rc := t.onDevice(func() C.int {
		return C.gm_nccl_comm_init_rank(&t.comm, C.int(t.size), &id, C.int(t.rank))
	})
	if err := t.check(fmt.Sprintf("ncclCommInitRank(rank %d of %d, GPU %d)", t.rank, t.size, t.ordinal), rc); err != nil {
		t.release()
		return nil, err
	}
	t.send = make([]C.uint64_t, t.size)
	t.recv = make([]C.uint64_t, t.size)
	t.n = make([]C.uint64_t, t.size)
	return t, nil
}

// onDevice runs f on this goroutine's OS thread with the device's primary context
// current, then restores the thread's previous context.
func (t *ncclTransport) onDevice(f func() C.int) C.int {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var prev C.gm_cuctx
	C.gm_cu_ctx_get(&prev)
	if rc := C.gm_cu_ctx_set(t.ctx); rc != 0 {
		return -1000 - rc // reported as a CUDA failure below
	}
	rc := f()
	C.gm_cu_ctx_set(prev)
	return rc
}

// check turns an onDevice result into an error.
func (t *ncclTransport) check(op string, rc C.int) error {
	if rc <= -1000 {
		return cuError(op+": cuCtxSetCurrent", -1000-rc)
	}
	return ncclError(op, rc)
}

func (t *ncclTransport) Rank() int { return t.rank }
func (t *ncclTransport) Size() int { return t.size }
func (t *ncclTransport) Name() string {
	return fmt.Sprintf("nccl %s, GPU %d", ncclLib.version, t.ordinal)
}

func (t *ncclTransport) AllToAll(send, recv []*engine.Buf) error {
	if len(send) != t.size || len(recv) != t.size {
		return fmt.Errorf("all-to-all with %d sends and %d receives in a world of %d", len(send), len(recv), t.size)
	}
	for k := range send {
		t.send[k], t.recv[k], t.n[k] = 0, 0, 0
		if k == t.rank {
			continue
		}
		if send[k].Len() != recv[k].Len() {
			return fmt.Errorf("all-to-all: %d floats to rank %d, %d from it (the chunks must have equal lengths)", send[k].Len(), k, recv[k].Len())
		}
		if send[k].Len() > 0 {
			t.send[k] = C.uint64_t(send[k].DevicePtr())
			t.recv[k] = C.uint64_t(recv[k].DevicePtr())
			t.n[k] = C.uint64_t(send[k].Len())
		}
	}
	rc := t.onDevice(func() C.int {
		return C.gm_nccl_alltoall(&t.send[0], &t.recv[0], &t.n[0], C.int(t.size), C.int(t.rank), t.comm)
	})
	return t.check("ncclSend/ncclRecv group", rc)
}

func (t *ncclTransport) AllGather(send, recv *engine.Buf) error {
	if recv.Len() != t.size*send.Len() {
		return fmt.Errorf("all-gather of %d floats per rank into %d (world of %d)", send.Len(), recv.Len(), t.size)
	}
	if send.Len() == 0 {
		return nil
	}
	s, r, n := C.uint64_t(send.DevicePtr()), C.uint64_t(recv.DevicePtr()), C.uint64_t(send.Len())
	rc := t.onDevice(func() C.int { return C.gm_nccl_allgather(s, r, n, t.comm) })
	return t.check("ncclAllGather", rc)
}

// release gives back the primary context reference.
func (t *ncclTransport) release() error {
	if t.ctx == nil {
		return nil
	}
	t.ctx = nil
	return cuError("cuDevicePrimaryCtxRelease", C.gm_cu_primary_release(C.int(t.ordinal)))
}

func (t *ncclTransport) Close() error {
	var err error
	if t.comm != nil {
		err = t.check("ncclCommDestroy", t.onDevice(func() C.int { return C.gm_nccl_comm_destroy(t.comm) }))
		t.comm = nil
	}
	if rerr := t.release(); rerr != nil && err == nil {
		err = rerr
	}
	return err
}
