//go:build cgo

package preflight

/*
#cgo linux LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

// Set to 1 once this package's init has run its check; the driver's cuInit shim
// (cuda/driver/cuinit.c) reads it to prove the init order.
int gmvae_preflight_done = 0;

// CUresult is an int-sized enum; cuda.h is deliberately not included, so that this
// package builds on machines without the CUDA headers.
typedef int (*gm_pf_init_t)(unsigned int);
typedef int (*gm_pf_count_t)(int*);
typedef int (*gm_pf_str_t)(int, const char**);

typedef struct {
	int step;          // 0 ok, 1 dlopen, 2 dlsym, 3 cuInit, 4 cuDeviceGetCount
	int code;          // CUresult of the failed call
	int count;         // devices found
	const char *name;  // cuGetErrorName, static storage in libcuda
	const char *desc;  // cuGetErrorString
	char detail[512];  // dlerror text / missing symbol
} gm_pf_result;

static void gm_pf_copy(char *dst, const char *src) {
	size_t i = 0;
	if (src) for (; src[i] && i < 511; i++) dst[i] = src[i];
	dst[i] = 0;
}

static void gm_pf_check(gm_pf_result *r) {
	r->step = 0; r->code = 0; r->count = 0; r->name = 0; r->desc = 0; r->detail[0] = 0;
	void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);
	if (!h) { r->step = 1; gm_pf_copy(r->detail, dlerror()); return; }
	gm_pf_init_t init = (gm_pf_init_t)dlsym(h, "cuInit");
	gm_pf_count_t count = (gm_pf_count_t)dlsym(h, "cuDeviceGetCount");
	gm_pf_str_t name = (gm_pf_str_t)dlsym(h, "cuGetErrorName");
	gm_pf_str_t desc = (gm_pf_str_t)dlsym(h, "cuGetErrorString");
	if (!init || !count) {
		r->step = 2;
		gm_pf_copy(r->detail, !init ? "cuInit" : "cuDeviceGetCount");
		return;
	}
	int rc = init(0);
	if (rc == 0) {
		rc = count(&r->count);
		if (rc != 0) r->step = 4;
	} else {
		r->step = 3;
	}
	r->code = rc;
	if (rc != 0) {
		if (name) name(rc, &r->name);
		if (desc) desc(rc, &r->desc);
	}
	// The handle stays open: the library is needed for the life of the process.
}
*/
import "C"

import "fmt"

func check() error {
	var r C.gm_pf_result
	C.gm_pf_check(&r)
	e := &Error{Code: int(r.code)}
	if r.name != nil {
		e.Name = C.GoString(r.name)
	} else if r.code != 0 {
		e.Name = fmt.Sprintf("CUresult %d", int(r.code))
	}
	if r.desc != nil {
		e.Detail = C.GoString(r.desc)
	}
	switch r.step {
	case 0:
		if r.count > 0 {
			return nil
		}
		e.Call, e.Detail = "cuDeviceGetCount", "the driver reports no CUDA device"
	case 1:
		e.Call, e.Detail = "dlopen(libcuda.so.1)", C.GoString(&r.detail[0])
	case 2:
		e.Call, e.Detail = "dlsym("+C.GoString(&r.detail[0])+")", "symbol missing from libcuda.so.1"
	case 3:
		e.Call = "cuInit(0)"
	default:
		e.Call = "cuDeviceGetCount"
	}
	return e
}

func markDone() { C.gmvae_preflight_done = 1 }
