// mixture.cu: the batched Gaussian-mixture log-likelihood, the row-wise log-sum-exp and
// softmax over mixture components, and their gradients (GMVAE.md, model A's exact
// posterior p(y|z,w) and model B's q(y|x)).
// Twins: engine/cpu/mixture.go (MixtureLoglik, LseSoftmax, LseSoftmaxBwd, MixtureBwdZ,
// MixtureBwdParams). Keep the two in step, line for line.
//
// Shapes (all row-major float32):
//   z      (N, D)                         the points
//   mu, lv (K, D) shared by all n         when param_stride == 0
//          (N, K, D) one set per sample   when param_stride == K*D (any stride >= K*D
//                                         works: component k of sample n starts at
//                                         n*param_stride + k*D)
//   logpi  (K) when pi_stride == 0, (N, K) when pi_stride == K; null means 0 (L is then
//          the bare component log-density log N(z; mu_k, lv_k))
//   L, resp (N, K);  lse (N)
//
// Math, per element (d) and per component (k), with e = gm_exp(-lv):
//   t_d     = fmaf((z-mu)*(z-mu), e, GM_LOG_2PI + lv)       one rounding per op
//   L[n,k]  = fmaf(-0.5f, S, logpi[k]),  S = sum_d t_d        (log pi_k + log N)
//
// Reduction orders (DETERMINISM.md, rule 9):
//   - S: warp order over d (lane l sums t_l, t_{l+32}, ... from +0, gm_warp_sum32);
//   - the row's log-sum-exp and softmax (gm_row_lse_softmax below): warp order over k
//     for the max and for the sum of exponentials;
//   - mixture_bwd_z: sequential over k = 0..K-1 (one fmaf per step, from +0);
//   - mixture_bwd_params, shared parameters: sequential over n = 0..N-1;
//   - lse_softmax_bwd: warp order over k for sum_j gresp_j * resp_j.
//
// Non-finite values: no guards beyond IEEE propagation. A NaN anywhere in a row of L
// makes that row's lse and resp NaN. exp(-lv) overflows to +Inf for lv < about -88.7
// (variance below 3e-39): L is then -Inf, or NaN where z == mu exactly. The engine
// bounds log-variances upstream; these kernels stay exact inside float32's range.
//
// Gradient of log pi: dlogpi = gL itself for (N, K) weights; for shared (K) weights it
// is the column sums of gL, which the gemm family's colsum kernel computes. No kernel
// here writes it.
#include "gm_math.cuh"
#include "gm_reduce.cuh"

// gm_warp_max32 returns, in every lane, lane 0's result of a butterfly over lane
// offsets 16, 8, 4, 2, 1 of v = (o > v || o != o) ? o : v, o = v[lane ^ off]. A NaN in
// any lane wins (NaN propagates). The butterfly may leave +0 in some lanes and -0 in
// others; lane 0's value is broadcast so that every lane uses the same bits.
__device__ __forceinline__ float gm_warp_max32(float v) {
#pragma unroll
    for (int off = 16; off >= 1; off >>= 1) {
        const float o = __shfl_xor_sync(0xffffffffu, v, off);
        v = (o > v || o != o) ? o : v;
    }
    return __shfl_sync(0xffffffffu, v, 0);
}

// gm_row_lse_softmax computes, for one row x[0..K-1] (a whole warp calls it, lane =
// threadIdx.x & 31), the stable log-sum-exp and softmax:
//   m    = max_k x_k       lane partials over k = lane, lane+32, ... from -Inf with
//                          (x > p || x != x) ? x : p, then gm_warp_max32;
//   e_k  = (x_k == m) ? 1 : gm_exp(x_k - m)
//   s    = sum_k e_k       warp order (gm_warp_sum32 of lane partials from +0);
//   lse  = m + gm_log(s)   (written to *lse_out by lane 0 if lse_out is not null)
//   resp_k = e_k / s       (written to resp_out[k] if resp_out is not null)
// The x_k == m test makes ties at an infinite maximum share equally: a row whose
// maximum is +Inf gets lse = +Inf and resp = 1/c on its c entries equal to +Inf, 0
// elsewhere; a row of all -Inf (or any row whose maximum is -Inf) gets lse = -Inf and a
// uniform resp = 1/K, the limit of a softmax of equal logits. Any NaN in the row makes
// lse and every resp_k NaN. K = 0 gives lse = -Inf. resp is always a probability vector
// (sums to 1 within rounding) unless the row holds a NaN.
// x is deliberately not __restrict__: in mixture_loglik it is the row of L that the
// same launch has just written, so it must not be read through the read-only cache.
__device__ __forceinline__ void gm_row_lse_softmax(const float* x, long long K,
                                                   float* lse_out, float* resp_out) {
    const int lane = threadIdx.x & 31;
    float m = -INFINITY;
    for (long long k = lane; k < K; k += 32) {
        const float v = x[k];
        m = (v > m || v != v) ? v : m;
    }
    m = gm_warp_max32(m);
    float s = 0.0f;
    for (long long k = lane; k < K; k += 32) {
        const float v = x[k];
        s = s + ((v == m) ? 1.0f : gm_exp(v - m));
    }
    s = gm_warp_sum32(s);
    if (lse_out != nullptr && lane == 0) *lse_out = m + gm_log(s);
    if (resp_out != nullptr) {
        for (long long k = lane; k < K; k += 32) {
            const float v = x[k];
            const float e = (v == m) ? 1.0f : gm_exp(v - m);
            resp_out[k] = e / s;
        }
    }
}

// gm_mix_term is t_d = fmaf((z-mu)*(z-mu), exp(-lv), GM_LOG_2PI + lv): minus twice one
// dimension's contribution to log N(z; mu, lv).
__device__ __forceinline__ float gm_mix_term(float z, float mu, float lv) {
    const float diff = z - mu;
    const float q = diff * diff;
    return fmaf(q, gm_exp(-lv), GM_LOG_2PI + lv);
}

// mixture_loglik: L[n,k] = logpi[n,k] + log N(z_n; mu_k, lv_k) and, in the same launch,
// optionally lse[n] = log sum_k exp L[n,k] and resp[n,k] = softmax_k L[n,k].
//   z is (N, D); mu, lv are (K, D) (param_stride 0) or (N, K, D) (param_stride K*D);
//   logpi is (K) (pi_stride 0) or (N, K) (pi_stride K), or null (= 0);
//   L is (N, K) (required); lse (N) and resp (N, K) are nullable.
// Mapping: one block per row n (grid stride over rows), warp w of the block computes
// L[n,k] for k = w, w + warps, ... (warp order over d); after __syncthreads warp 0
// reads the row's L back and does gm_row_lse_softmax. Any block of whole warps.
// L, lse and resp must not alias each other or the inputs.
extern "C" __global__ void mixture_loglik(long long N, long long K, long long D,
                                          const float* __restrict__ z,
                                          const float* __restrict__ mu,
                                          const float* __restrict__ lv,
                                          long long param_stride,
                                          const float* __restrict__ logpi,
                                          long long pi_stride, float* __restrict__ L,
                                          float* __restrict__ lse, float* __restrict__ resp) {
    const int lane = threadIdx.x & 31;
    const long long warp = threadIdx.x >> 5;
    const long long warps = blockDim.x >> 5;
    const bool row_ops = lse != nullptr || resp != nullptr;
    for (long long n = blockIdx.x; n < N; n += gridDim.x) {
        const float* zn = z + n * D;
        for (long long k = warp; k < K; k += warps) {
            const long long p = n * param_stride + k * D;
            float acc = 0.0f;
            for (long long d = lane; d < D; d += 32) {
                acc = acc + gm_mix_term(zn[d], mu[p + d], lv[p + d]);
            }
            acc = gm_warp_sum32(acc);
            if (lane == 0) {
                const float lp = logpi != nullptr ? logpi[n * pi_stride + k] : 0.0f;
                L[n * K + k] = fmaf(-0.5f, acc, lp);
            }
        }
        if (row_ops) {
            __syncthreads();  // the row's L is in global memory, visible to the block
            if (warp == 0) {
                gm_row_lse_softmax(L + n * K, K, lse != nullptr ? lse + n : nullptr,
                                   resp != nullptr ? resp + n * K : nullptr);
            }
        }
    }
}

// lse_softmax: lse[n] = log sum_k exp x[n,k] and resp[n,k] = softmax_k x[n,k], in the
// order and with the non-finite behaviour of gm_row_lse_softmax.
//   x is (N, K); lse is (N), nullable; resp is (N, K), nullable (must not alias x).
// Mapping: one warp per row, grid stride over all warps of the launch.
extern "C" __global__ void lse_softmax(long long N, long long K, const float* __restrict__ x,
                                       float* __restrict__ lse, float* __restrict__ resp) {
    const long long gwarp = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const long long nwarps = ((long long)gridDim.x * blockDim.x) >> 5;
    for (long long n = gwarp; n < N; n += nwarps) {
        gm_row_lse_softmax(x + n * K, K, lse != nullptr ? lse + n : nullptr,
                           resp != nullptr ? resp + n * K : nullptr);
    }
}

// lse_softmax_bwd: the gradient of (lse, resp) = lse_softmax(x) with respect to x:
//   dot     = sum_j gresp[n,j] * resp[n,j]          warp order over j (products rounded)
//   g       = resp[n,k] * (gresp[n,k] - dot)        (0 if gresp is null)
//   g       = fmaf(glse[n], resp[n,k], g)           (skipped if glse is null)
//   gx[n,k] = accumulate ? gx[n,k] + g : g
//   resp, gresp, gx are (N, K); glse is (N). glse and gresp are nullable.
// Mapping: one warp per row, grid stride over all warps of the launch.
extern "C" __global__ void lse_softmax_bwd(long long N, long long K,
                                           const float* __restrict__ resp,
                                           const float* __restrict__ glse,
                                           const float* __restrict__ gresp,
                                           float* __restrict__ gx, long long accumulate) {
    const int lane = threadIdx.x & 31;
    const long long gwarp = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const long long nwarps = ((long long)gridDim.x * blockDim.x) >> 5;
    for (long long n = gwarp; n < N; n += nwarps) {
        const float* r = resp + n * K;
        float dot = 0.0f;
        if (gresp != nullptr) {
            const float* gr = gresp + n * K;
            for (long long k = lane; k < K; k += 32) dot = dot + gr[k] * r[k];
            dot = gm_warp_sum32(dot);
        }
        const float gl = glse != nullptr ? glse[n] : 0.0f;
        for (long long k = lane; k < K; k += 32) {
            float g = 0.0f;
            if (gresp != nullptr) g = r[k] * (gresp[n * K + k] - dot);
            if (glse != nullptr) g = fmaf(gl, r[k], g);
            float* o = gx + n * K + k;
            *o = accumulate != 0 ? *o + g : g;
        }
    }
}

// mixture_bwd_z: the gradient of L = mixture_loglik(...) with respect to z,
//   dz[n,d] (+)= -sum_k gL[n,k] * (z[n,d] - mu_k[d]) * exp(-lv_k[d])
// computed as acc = fmaf(gL[n,k], (z-mu) * gm_exp(-lv), acc) sequentially over
// k = 0..K-1 from +0, then dz = accumulate ? dz - acc : -acc.
//   z, dz are (N, D); mu, lv as in mixture_loglik (param_stride 0 or K*D); gL is (N, K).
// Mapping: one thread per (n, d), grid stride.
extern "C" __global__ void mixture_bwd_z(long long N, long long K, long long D,
                                         const float* __restrict__ z,
                                         const float* __restrict__ mu,
                                         const float* __restrict__ lv,
                                         long long param_stride,
                                         const float* __restrict__ gL,
                                         float* __restrict__ dz, long long accumulate) {
    const long long total = N * D;
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += stride) {
        const long long n = i / D;
        const long long d = i - n * D;
        const float zv = z[i];
        float acc = 0.0f;
        for (long long k = 0; k < K; k++) {
            const long long p = n * param_stride + k * D + d;
            const float u = (zv - mu[p]) * gm_exp(-lv[p]);
            acc = fmaf(gL[n * K + k], u, acc);
        }
        dz[i] = accumulate != 0 ? dz[i] - acc : -acc;
    }
}

// mixture_bwd_params: the gradient of L = mixture_loglik(...) with respect to mu and lv.
// With diff = z - mu, e = gm_exp(-lv), g = gL[n,k]:
//   a = diff * e                       (dL/dmu)
//   h = -0.5f * fmaf(-(diff*diff), e, 1.0f)    (dL/dlv = -1/2 (1 - diff^2 e))
// Per-sample parameters (param_stride != 0, mu, lv, dmu, dlv at n*param_stride + k*D + d):
//   dmu (+)= g * a,  dlv (+)= g * h      one thread per (n, k, d)
// Shared parameters (param_stride == 0, (K, D)): sequential over n = 0..N-1 from +0,
//   am = fmaf(g, a, am), ah = fmaf(g, h, ah);  dmu (+)= am, dlv (+)= ah
//   one thread per (k, d).
// dmu and dlv are nullable. (dlogpi: see the top of this file.)
extern "C" __global__ void mixture_bwd_params(long long N, long long K, long long D,
                                              const float* __restrict__ z,
                                              const float* __restrict__ mu,
                                              const float* __restrict__ lv,
                                              long long param_stride,
                                              const float* __restrict__ gL,
                                              float* __restrict__ dmu,
                                              float* __restrict__ dlv,
                                              long long accumulate) {
    const long long stride = (long long)gridDim.x * blockDim.x;
    const long long first = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (param_stride != 0) {
        const long long total = N * K * D;
        for (long long i = first; i < total; i += stride) {
            const long long nk = i / D;
            const long long d = i - nk * D;
            const long long n = nk / K;
            const long long k = nk - n * K;
            const long long p = n * param_stride + k * D + d;
            const float diff = z[n * D + d] - mu[p];
            const float e = gm_exp(-lv[p]);
            const float g = gL[nk];
            if (dmu != nullptr) {
                const float v = g * (diff * e);
                dmu[p] = accumulate != 0 ? dmu[p] + v : v;
            }
            if (dlv != nullptr) {
                const float v = g * (-0.5f * fmaf(-(diff * diff), e, 1.0f));
                dlv[p] = accumulate != 0 ? dlv[p] + v : v;
            }
        }
        return;
    }
    const long long total = K * D;
    for (long long i = first; i < total; i += stride) {
        const long long k = i / D;
        const long long d = i - k * D;
        const float m = mu[i];
        const float e = gm_exp(-lv[i]);
        float am = 0.0f;
        float ah = 0.0f;
        for (long long n = 0; n < N; n++) {
            const float diff = z[n * D + d] - m;
            const float g = gL[n * K + k];
            am = fmaf(g, diff * e, am);
            ah = fmaf(g, -0.5f * fmaf(-(diff * diff), e, 1.0f), ah);
        }
        if (dmu != nullptr) dmu[i] = accumulate != 0 ? dmu[i] + am : am;
        if (dlv != nullptr) dlv[i] = accumulate != 0 ? dlv[i] + ah : ah;
    }
}
