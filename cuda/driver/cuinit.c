//go:build cuda

// The cuInit shim. gorgonia.org/cu calls cuInit(0) in its package init and exits
// the process when that fails. This definition of cuInit, in the executable itself,
// takes precedence at link time over libcuda's for every reference from the
// program's own objects (gorgonia.org/cu's included; the dynamic library's
// definition is used only for symbols no object defines). It calls the real cuInit
// (the next definition in the search order, libcuda.so.1's), records the result and
// the init order. The first call (gorgonia.org/cu's init: preflight calls libcuda's
// cuInit directly, through dlsym) always reports success, so gorgonia.org/cu's init
// never exits: driver.Open reports the real result instead. Later calls return the
// real result (Go's external link exports the shim dynamically, so a library
// linked to libcuda that calls cuInit may bind to it).
//
// Libraries that look cuInit up in libcuda with dlsym (cudart, NCCL) get the real
// one.

#define _GNU_SOURCE
#include <dlfcn.h>
#include <cuda.h>

// Defined by cuda/preflight (set to 1 when its init has run its check). Weak, so
// that this object also links on its own (cgo's import-discovery link).
extern int gmvae_preflight_done __attribute__((weak));

int gmvae_cuinit_calls = 0;
// The first call's real result (0: CUDA_SUCCESS).
int gmvae_cuinit_result = 0;
// 1: preflight's init had run when cuInit was first called; 0: it had not; -1: no
// call yet.
int gmvae_cuinit_preflight_first = -1;

CUresult CUDAAPI cuInit(unsigned int flags) {
	typedef CUresult (CUDAAPI *init_fn)(unsigned int);
	static init_fn real = 0;
	if (gmvae_cuinit_preflight_first < 0) {
		gmvae_cuinit_preflight_first = (&gmvae_preflight_done != 0 && gmvae_preflight_done) ? 1 : 0;
	}
	gmvae_cuinit_calls++;
	if (!real) {
		real = (init_fn)dlsym(RTLD_NEXT, "cuInit");
	}
	CUresult r = real ? real(flags) : CUDA_ERROR_SHARED_OBJECT_SYMBOL_NOT_FOUND;
	if (gmvae_cuinit_calls > 1) {
		return r;
	}
	gmvae_cuinit_result = (int)r;
	return CUDA_SUCCESS;
}
