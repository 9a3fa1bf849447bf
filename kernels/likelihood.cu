// likelihood.cu: per-row log-likelihoods of the decoder's output distributions and
// their backward. Twin: engine/cpu/likelihood.go (one Go function per kernel, same name
// in CamelCase). Keep the two in step, line for line.
//
// Forward kernels reduce one row per warp in the order of gm_warp_sum32: lane l adds
// the terms of columns l, l+32, ... in increasing order from +0, then the butterfly
// over lane offsets 16, 8, 4, 2, 1. Each term is computed (and rounded) on its own
// first, exactly as written below. Backward kernels are elementwise (grid stride over
// rows * cols elements) and do not reduce. Any grid >= 1 and any block of a multiple of
// 32 threads give the same bits.
//
// "accumulate" flags (long long, 0 or not): when set, the kernel writes
// out[i] = out_old[i] + value, the addition last; when clear it writes value and never
// reads out_old.
//
// Bad values (pinned by engine/cpu/likelihood_test.go; the CPU twin computes the same
// bits; users of other GMVAE code report NaNs from unguarded exp/log of variances):
//   bernoulli: every finite logit is exact in the stable form (no overflow, and for x
//     in [0,1] no cancellation); l = +-Inf gives the exact limits (0 when x sits on
//     the saturated side, -Inf otherwise), never NaN; NaN in x or l gives NaN.
//   gaussian: lv enters only through h = gm_exp(-lv/2) and s = (x-mu)*h, and x == mu
//     gives s = +0 whatever h is (so a point mass at the mean is finite, never
//     0 * Inf = NaN). h is finite and nonzero for -177 < lv < 207 (+Inf below, +0
//     above); s*s overflows to +Inf when |x-mu|/sigma > 1.8e19 (loglik -Inf, as the
//     exact value is below -FLT_MAX). lv = +-90 is therefore fine both ways.
//     lv = +Inf: loglik -Inf; lv = -Inf with x == mu: +Inf; lv = -Inf with x != mu:
//     NaN (Inf - Inf inside the fma); h = +Inf with x != mu: -Inf; NaN anywhere in a
//     row: NaN for that row only. Backward: x == mu gives dmu = g*0 and dlv = -g/2 for
//     any lv; NaN in, NaN out. Bound log-variances with clamp (elementwise.cu) to stay
//     clear of all of this.
#include "gm_math.cuh"
#include "gm_rows.cuh"
#include "gm_reduce.cuh"

// Rows for one warp: warp w of the grid takes rows w, w + nwarps, ... (warp-uniform).
#define GM_WARP_ROW_LOOP(r, rows)                                                     \
    for (long long r = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;     \
         r < (rows); r += ((long long)gridDim.x * blockDim.x) >> 5)

// gm_bernoulli_term: x*l - softplus(l) in the stable form
//   (x - [l > 0]) * l - softplus(-|l|),
// using softplus(l) = max(l, 0) + softplus(-|l|). For x in [0,1] both parts are <= 0,
// so nothing cancels. The product is fused: fmaf(x - [l > 0], l, -softplus(-|l|)),
// skipped when x - [l > 0] == 0 (so l = +-Inf on the matching side gives
// -softplus(-Inf) = -0, not 0 * Inf = NaN).
__device__ __forceinline__ float gm_bernoulli_term(float x, float l) {
    const bool pos = l > 0.0f;
    const float a = pos ? x - 1.0f : x;
    const float sp = gm_softplus(pos ? -l : l);
    return a == 0.0f ? -sp : fmaf(a, l, -sp);
}

// bernoulli_loglik: out[r] = sum_c [x[r,c] * l[r,c] - softplus(l[r,c])], the log of
// the Bernoulli(sigmoid(l)) likelihood of x (x in [0,1]; fractional x is the usual
// cross-entropy). x, logits are (rows, cols) row-major, out is (rows). Warp order over
// the terms gm_bernoulli_term(x, l).
extern "C" __global__ void bernoulli_loglik(const float* __restrict__ x,
                                            const float* __restrict__ logits,
                                            float* __restrict__ out, long long rows,
                                            long long cols) {
    const int lane = threadIdx.x & 31;
    GM_WARP_ROW_LOOP(r, rows) {
        const float* xr = x + r * cols;
        const float* lr = logits + r * cols;
        float acc = 0.0f;
        for (long long c = lane; c < cols; c += 32) acc = acc + gm_bernoulli_term(xr[c], lr[c]);
        acc = gm_warp_sum32(acc);
        if (lane == 0) out[r] = acc;
    }
}

// bernoulli_loglik_bwd: dlogits[r,c] (+)= g[r] * (x[r,c] - sigmoid(l[r,c])), the
// backward of bernoulli_loglik (g = dL/dout, (rows)). x, logits, dlogits are
// (rows, cols). x - sigmoid(l) is evaluated as (x - 1) + sigmoid(-l) for l > 0 and
// x - sigmoid(l) otherwise (sigmoid of a non-positive argument only), so the small
// gradients of confident correct predictions are kept (x = 1, l = 30 gives
// sigmoid(-30), not 1 - 1 = 0). l = +-Inf gives x - 1 or x; NaN gives NaN.
extern "C" __global__ void bernoulli_loglik_bwd(const float* __restrict__ x,
                                                const float* __restrict__ logits,
                                                const float* __restrict__ g,
                                                float* __restrict__ dlogits, long long rows,
                                                long long cols, long long accumulate) {
    GM_ROW_ELEM_LOOP(i, rc, rows, cols) {
        const float l = logits[i];
        const float xi = x[i];
        const bool pos = l > 0.0f;
        const float sg = gm_sigmoid(pos ? -l : l);
        const float d = pos ? (xi - 1.0f) + sg : xi - sg;
        const float v = g[rc.r] * d;
        dlogits[i] = accumulate ? dlogits[i] + v : v;
    }
}

// gm_gauss_scaled: s = (x - mu) * exp(-lv/2), the standardised residual; s = +0 when
// x == mu (whatever h is, so h = +Inf cannot make 0 * Inf = NaN). h is returned too.
__device__ __forceinline__ float gm_gauss_scaled(float x, float mu, float lv, float* h) {
    const float d = x - mu;
    *h = gm_exp(-0.5f * lv);
    return d == 0.0f ? 0.0f : d * *h;
}

// gaussian_loglik: out[r] = -1/2 * sum_c [log(2 pi) + lv + (x - mu)^2 * exp(-lv)], the
// diagonal Gaussian log-density N(x; mu, exp(lv)) of each row. x, mu, lv, out: x, mu,
// lv are (rows, cols) row-major, out is (rows). Term: s = gm_gauss_scaled(x, mu, lv),
// t = fmaf(s, s, GM_LOG_2PI + lv); warp order over t; out = -0.5f * sum (exact
// scaling).
extern "C" __global__ void gaussian_loglik(const float* __restrict__ x,
                                           const float* __restrict__ mu,
                                           const float* __restrict__ lv,
                                           float* __restrict__ out, long long rows,
                                           long long cols) {
    const int lane = threadIdx.x & 31;
    GM_WARP_ROW_LOOP(r, rows) {
        const long long o = r * cols;
        float acc = 0.0f;
        for (long long c = lane; c < cols; c += 32) {
            const float lvc = lv[o + c];
            float h;
            const float s = gm_gauss_scaled(x[o + c], mu[o + c], lvc, &h);
            acc = acc + fmaf(s, s, GM_LOG_2PI + lvc);
        }
        acc = gm_warp_sum32(acc);
        if (lane == 0) out[r] = -0.5f * acc;
    }
}

// gaussian_loglik_bwd: the backward of gaussian_loglik with upstream g = dL/dout
// (rows): with s, h = gm_gauss_scaled(x, mu, lv),
//   dmu[r,c] (+)= g[r] * (s == 0 ? +0 : s * h)          (= g (x - mu) exp(-lv))
//   dlv[r,c] (+)= g[r] * (0.5f * fmaf(s, s, -1.0f))     (= g ((x-mu)^2 exp(-lv) - 1)/2)
// x, mu, lv, dmu, dlv are (rows, cols). Either of dmu, dlv may be null (not computed).
// The gradient with respect to x is -dmu (the caller negates). x == mu gives dmu = g*0
// and dlv = -g/2 for any lv (h = +Inf included).
extern "C" __global__ void gaussian_loglik_bwd(const float* __restrict__ x,
                                               const float* __restrict__ mu,
                                               const float* __restrict__ lv,
                                               const float* __restrict__ g,
                                               float* __restrict__ dmu,
                                               float* __restrict__ dlv, long long rows,
                                               long long cols, long long accumulate) {
    GM_ROW_ELEM_LOOP(i, rc, rows, cols) {
        float h;
        const float s = gm_gauss_scaled(x[i], mu[i], lv[i], &h);
        const float gr = g[rc.r];
        if (dmu != nullptr) {
            const float v = gr * (s == 0.0f ? 0.0f : s * h);
            dmu[i] = accumulate ? dmu[i] + v : v;
        }
        if (dlv != nullptr) {
            const float v = gr * (0.5f * fmaf(s, s, -1.0f));
            dlv[i] = accumulate ? dlv[i] + v : v;
        }
    }
}
