//go:build cgo

// Package cfma gives kernels/fmath's tests C's float32 arithmetic through cgo: glibc's
// fmaf (correctly rounded), and kernels/gm_math.cuh compiled as plain C by the host
// compiler (with contraction off), so that the Go twin can be compared with the C
// source bit for bit without a GPU. cgo cannot appear in _test.go files, hence this
// tiny package; nothing but tests imports it.
package cfma

/*
#cgo CFLAGS: -O2
#cgo LDFLAGS: -lm
// -ffp-contract=off is not on cgo's list of allowed flags; the pragma says the same:
// a*b+c stays a rounded product and a rounded sum, as in the kernels (-fmad=false).
#pragma GCC optimize("fp-contract=off")
#include <math.h>
#define __host__
#define __device__
#define __forceinline__ static inline
// gm_math.h is a symbolic link to kernels/gm_math.cuh: a header in the package
// directory is part of the package for Go's build cache, so editing the kernels' header
// rebuilds this package (one included through -I from elsewhere would not).
#include "gm_math.h"

static void cfma_fmaf(const float* x, const float* y, const float* z, float* out, long n) {
	for (long i = 0; i < n; i++) out[i] = fmaf(x[i], y[i], z[i]);
}

// The same function codes as kernels/mathfn.cu's math_eval.
static void cfma_math(const float* x, float* y, long n, int fn) {
	float s, c;
	for (long i = 0; i < n; i++) {
		const float v = x[i];
		switch (fn) {
		case 0: y[i] = gm_exp(v); break;
		case 1: y[i] = gm_log(v); break;
		case 2: y[i] = gm_log1p(v); break;
		case 3: y[i] = gm_tanh(v); break;
		case 4: y[i] = gm_sigmoid(v); break;
		case 5: y[i] = gm_softplus(v); break;
		case 6: y[i] = gm_sin(v); break;
		case 7: y[i] = gm_cos(v); break;
		case 8: gm_sincos2pi(v, &s, &c); y[i] = s; break;
		case 9: gm_sincos2pi(v, &s, &c); y[i] = c; break;
		default: y[i] = GM_NAN;
		}
	}
}

static void cfma_activate(const float* x, float* y, float* g, long n, int act) {
	for (long i = 0; i < n; i++) {
		y[i] = gm_activate(act, x[i]);
		g[i] = gm_activate_grad(act, x[i], y[i]);
	}
}
*/
import "C"

import "unsafe"

// Available reports whether the C implementations are built in (cgo is enabled).
const Available = true

func ptr(s []float32) *C.float { return (*C.float)(unsafe.Pointer(unsafe.SliceData(s))) }

// Fmaf sets out[i] = fmaf(x[i], y[i], z[i]) with C's fmaf, for i < len(out); x, y and
// z must be at least as long as out.
func Fmaf(x, y, z, out []float32) {
	n := len(out)
	if n == 0 {
		return
	}
	_, _, _ = x[n-1], y[n-1], z[n-1]
	C.cfma_fmaf(ptr(x), ptr(y), ptr(z), ptr(out), C.long(n))
}

// Math sets y[i] = f(x[i]) for i < len(y), where f is the gm_math.cuh function of
// code fn (math_eval's codes: 0 exp, 1 log, 2 log1p, 3 tanh, 4 sigmoid, 5 softplus,
// 6 sin, 7 cos, 8 sin(2*pi*x), 9 cos(2*pi*x)) compiled as C.
func Math(fn int, x, y []float32) {
	n := len(y)
	if n == 0 {
		return
	}
	_ = x[n-1]
	C.cfma_math(ptr(x), ptr(y), C.long(n), C.int(fn))
}

// Activate sets y[i] = gm_activate(act, x[i]) and g[i] = gm_activate_grad(act, x[i],
// y[i]) for i < len(y), compiled as C; x and g must be at least as long as y.
func Activate(act int, x, y, g []float32) {
	n := len(y)
	if n == 0 {
		return
	}
	_, _ = x[n-1], g[n-1]
	C.cfma_activate(ptr(x), ptr(y), ptr(g), C.long(n), C.int(act))
}
