// elementwise.cu: activations and the small elementwise and per-row ops of a training
// step. Twin: engine/cpu/elementwise.go (one Go function per kernel, same name in
// CamelCase). Keep the two in step, line for line.
//
// Every kernel loops with a grid stride over its work items (elements, or rows for the
// row reductions), so any grid >= 1 and any block of a multiple of 32 threads give the
// same bits (DETERMINISM.md, rule 11).
//
// Reduction orders: row_dot and xlogx_rows reduce one row per warp in the order of
// gm_warp_sum32: lane l adds columns l, l+32, ... in increasing order from +0 (each
// term rounded first: a product is one mul.rn, never fused into the sum), then the
// butterfly over lane offsets 16, 8, 4, 2, 1. No other kernel here reduces.
//
// Aliasing: the pure elementwise kernels (ew_*, clamp, act_fwd, row_scale) read
// element i and then write element i only, so an output may alias any input of the
// same shape (in-place updates); their pointers are therefore not __restrict__.
//
// "accumulate" flags (long long, 0 or not): when set, the kernel writes
// out[i] = out_old[i] + value, the addition being the last operation; when clear it
// writes value and never reads out_old (so out may be uninitialised).
#include "gm_math.cuh"
#include "gm_rows.cuh"
#include "gm_reduce.cuh"

#define GM_GRID_STRIDE_LOOP(i, n)                                                  \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
         i += (long long)gridDim.x * blockDim.x)

// Rows for one warp: warp w of the grid takes rows w, w + nwarps, ... All lanes of a
// warp share w, so the loop is warp-uniform and gm_warp_sum32's full mask is valid.
#define GM_WARP_ROW_LOOP(r, rows)                                                     \
    for (long long r = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;     \
         r < (rows); r += ((long long)gridDim.x * blockDim.x) >> 5)

// ---------------------------------------------------------------------------------
// Activations.

// act_fwd: y[i] = gm_activate(act, x[i]). x, y are (n); act is a GM_ACT_* code
// (truncated to int; an unknown code gives NaN, as gm_activate does). y may alias x.
extern "C" __global__ void act_fwd(const float* x, float* y, long long n, long long act) {
    const int a = (int)act;
    GM_GRID_STRIDE_LOOP(i, n) { y[i] = gm_activate(a, x[i]); }
}

// act_bwd: dx[i] (+)= dy[i] * gm_activate_grad(act, x[i], y[i]), the backward of
// act_fwd. x (the activation's input), y (its output), dy, dx are (n).
// y may be null: it is then recomputed as gm_activate(act, x[i]), with the same bits
// act_fwd wrote. x must never be null: ReLU and softplus differentiate through x (tanh,
// sigmoid and exp through y only, but one rule for all codes keeps callers simple).
// dx may alias dy.
extern "C" __global__ void act_bwd(const float* x, const float* y, const float* dy,
                                   float* dx, long long n, long long act,
                                   long long accumulate) {
    const int a = (int)act;
    GM_GRID_STRIDE_LOOP(i, n) {
        const float xi = x[i];
        const float yi = y != nullptr ? y[i] : gm_activate(a, xi);
        const float v = dy[i] * gm_activate_grad(a, xi, yi);
        dx[i] = accumulate ? dx[i] + v : v;
    }
}

// ---------------------------------------------------------------------------------
// Elementwise arithmetic. All arrays are (n); outputs may alias inputs.

// ew_fill: y[i] = value.
extern "C" __global__ void ew_fill(float* y, long long n, float value) {
    GM_GRID_STRIDE_LOOP(i, n) { y[i] = value; }
}

// ew_add: y[i] = a[i] + b[i] (one add.rn).
extern "C" __global__ void ew_add(const float* a, const float* b, float* y, long long n) {
    GM_GRID_STRIDE_LOOP(i, n) { y[i] = a[i] + b[i]; }
}

// ew_axpby: y[i] = alpha * x[i] + beta * y[i], as fmaf(alpha, x[i], beta * y[i]):
// beta * y rounded, alpha * x fused into the sum. beta == 0 (either sign) follows the
// BLAS convention: y is not read and y[i] = alpha * x[i] (one mul.rn), so a NaN, Inf
// or uninitialised y never leaks into the result.
extern "C" __global__ void ew_axpby(const float* x, float* y, long long n, float alpha,
                                    float beta) {
    if (beta == 0.0f) {
        GM_GRID_STRIDE_LOOP(i, n) { y[i] = alpha * x[i]; }
    } else {
        GM_GRID_STRIDE_LOOP(i, n) { y[i] = fmaf(alpha, x[i], beta * y[i]); }
    }
}

// ew_mul: y[i] = a[i] * b[i] (one mul.rn).
extern "C" __global__ void ew_mul(const float* a, const float* b, float* y, long long n) {
    GM_GRID_STRIDE_LOOP(i, n) { y[i] = a[i] * b[i]; }
}

// ew_scale: y[i] = alpha * x[i] (one mul.rn).
extern "C" __global__ void ew_scale(const float* x, float* y, long long n, float alpha) {
    GM_GRID_STRIDE_LOOP(i, n) { y[i] = alpha * x[i]; }
}

// row_scale: y[r,c] = x[r,c] * s[r] (one mul.rn). x, y are (rows, cols) row-major,
// s is (rows); y may alias x. The backward of a per-row weighted sum: for
// out[r] = sum_c a[r,c] * b[r,c] (row_dot) and upstream g = dL/dout,
// dL/da = row_scale(b, g).
extern "C" __global__ void row_scale(const float* x, const float* s, float* y,
                                     long long rows, long long cols) {
    GM_ROW_ELEM_LOOP(i, rc, rows, cols) { y[i] = x[i] * s[rc.r]; }
}

// row_dot: out[r] = sum_c a[r,c] * b[r,c]. a, b are (rows, cols) row-major, out is
// (rows). Warp order (one warp per row): each product rounded (mul.rn), then summed by
// gm_warp_sum32. cols = 0 gives +0. Used for the conditional-prior term
// sum_k p_k * KL_k.
extern "C" __global__ void row_dot(const float* __restrict__ a, const float* __restrict__ b,
                                   float* __restrict__ out, long long rows, long long cols) {
    const int lane = threadIdx.x & 31;
    GM_WARP_ROW_LOOP(r, rows) {
        const float* ar = a + r * cols;
        const float* br = b + r * cols;
        float acc = 0.0f;
        for (long long c = lane; c < cols; c += 32) acc = acc + ar[c] * br[c];
        acc = gm_warp_sum32(acc);
        if (lane == 0) out[r] = acc;
    }
}

// gm_xlogx: p * log(p) with 0 * log(0) = 0 (p = +0 or -0 gives +0). p < 0 gives NaN
// (log of a negative), NaN gives NaN, +Inf gives +Inf.
__device__ __forceinline__ float gm_xlogx(float p) {
    return p == 0.0f ? 0.0f : p * gm_log(p);
}

// xlogx_rows: out[r] = sum_c p[r,c] * log(p[r,c]), with 0 log 0 = 0: the negative
// entropy of each row of probabilities (the y-prior term sum_k p_k log p_k). p is
// (rows, cols) row-major, out is (rows). Warp order (one warp per row): each term
// p * gm_log(p) rounded (mul.rn), then summed by gm_warp_sum32.
extern "C" __global__ void xlogx_rows(const float* __restrict__ p, float* __restrict__ out,
                                      long long rows, long long cols) {
    const int lane = threadIdx.x & 31;
    GM_WARP_ROW_LOOP(r, rows) {
        const float* pr = p + r * cols;
        float acc = 0.0f;
        for (long long c = lane; c < cols; c += 32) acc = acc + gm_xlogx(pr[c]);
        acc = gm_warp_sum32(acc);
        if (lane == 0) out[r] = acc;
    }
}

// GM_XLOGX_PMIN is 2^-149, the smallest positive float (a subnormal).
#define GM_XLOGX_PMIN 1.40129846e-45f

// xlogx_rows_bwd: dp[r,c] (+)= g[r] * (log(p[r,c]) + 1), the backward of xlogx_rows.
// p, dp are (rows, cols) row-major, g is (rows).
// p = 0 (either sign) is differentiated as p = 2^-149, the smallest positive float:
// the gradient there is g * (gm_log(2^-149) + 1), about -102.28 * g, finite. The exact
// derivative at 0 is -Inf, but p comes from a softmax whose backward multiplies dp by
// p = 0: with a finite value it gets the exact 0 of the analytic gradient of
// sum_k p_k log p_k with respect to the logits, with -Inf it would get 0 * -Inf = NaN
// for the whole row. p < 0 or NaN gives NaN.
extern "C" __global__ void xlogx_rows_bwd(const float* __restrict__ p,
                                          const float* __restrict__ g,
                                          float* __restrict__ dp, long long rows,
                                          long long cols, long long accumulate) {
    GM_ROW_ELEM_LOOP(i, rc, rows, cols) {
        const float pi = p[i];
        const float q = pi == 0.0f ? GM_XLOGX_PMIN : pi;
        const float v = g[rc.r] * (gm_log(q) + 1.0f);
        dp[i] = accumulate ? dp[i] + v : v;
    }
}

// ---------------------------------------------------------------------------------
// Clamp (bounded log-variances).

// clamp: y[i] = lo if x[i] < lo, hi if x[i] > hi, else x[i]. NaN passes through
// (both comparisons are false); -0 and +0 pass unchanged. Requires lo <= hi (not
// checked: with lo > hi, x < lo gives lo first). x, y are (n); y may alias x.
extern "C" __global__ void clamp(const float* x, float* y, long long n, float lo, float hi) {
    GM_GRID_STRIDE_LOOP(i, n) {
        const float xi = x[i];
        y[i] = xi < lo ? lo : (xi > hi ? hi : xi);
    }
}

// clamp_bwd: dx[i] (+)= (x[i] < lo || x[i] > hi) ? +0 : dy[i], the backward of clamp
// (x is clamp's input). The gradient passes where clamp passed x through: on
// lo <= x <= hi, boundaries included, and at NaN x (clamp's identity branch). x, dy,
// dx are (n); dx may alias dy.
extern "C" __global__ void clamp_bwd(const float* x, const float* dy, float* dx, long long n,
                                     float lo, float hi, long long accumulate) {
    GM_GRID_STRIDE_LOOP(i, n) {
        const float xi = x[i];
        const float v = (xi < lo || xi > hi) ? 0.0f : dy[i];
        dx[i] = accumulate ? dx[i] + v : v;
    }
}
