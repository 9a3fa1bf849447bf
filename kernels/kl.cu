// kl.cu: closed-form KL divergences between diagonal Gaussians given by a mean and a
// log-variance, and their gradients (GMVAE.md, model A's terms 2 and 3).
// Twins: engine/cpu/kl.go (KlMixture, KlMixtureBwd, KlStdNormal, KlStdNormalBwd). Keep
// the two in step, line for line.
//
//   KL( N(m, s) || N(mu, lv) ) = 1/2 sum_d [ lv - s + (exp(s) + (m-mu)^2) exp(-lv) - 1 ]
//   KL( N(m, s) || N(0, I) )   = 1/2 sum_d [ exp(s) + m^2 - 1 - s ]
// (s and lv are log-variances.)
//
// Shapes (row-major float32): m, s (N, D); mu, lv (K, D) shared when param_stride == 0,
// or (N, K, D) per sample when param_stride == K*D (component k of sample n starts at
// n*param_stride + k*D); KL of the mixture (N, K); KL to N(0, I) (N).
//
// Per-element terms, with es = gm_exp(s), e = gm_exp(-lv), diff = m - mu:
//   mixture:    t = fmaf(fmaf(diff, diff, es), e, (lv - s) - 1.0f)
//   std normal: t = fmaf(m, m, (es - 1.0f) - s)
// and KL = 0.5f * sum_d t.
//
// Reduction orders (DETERMINISM.md, rule 9):
//   - the forward sums over d: warp order (gm_warp_sum32 of lane partials from +0);
//   - kl_mixture_bwd, dm and ds: sequential over k = 0..K-1 (one fmaf per step from +0);
//   - kl_mixture_bwd, shared dmu and dlv: sequential over n = 0..N-1.
//
// Non-finite values propagate by IEEE rules, unguarded: exp(s) and exp(-lv) overflow to
// +Inf beyond |log-variance| of about 88.7; the engine bounds log-variances upstream.
#include "gm_math.cuh"
#include "gm_reduce.cuh"

// kl_mixture: KL[n,k] = KL( N(m_n, s_n) || N(mu_k, lv_k) ).
//   m, s are (N, D); mu, lv are (K, D) (param_stride 0) or (N, K, D) (param_stride
//   K*D); KL is (N, K).
// Mapping: one warp per (n, k) (warp order over d), grid stride over all warps.
extern "C" __global__ void kl_mixture(long long N, long long K, long long D,
                                      const float* __restrict__ m,
                                      const float* __restrict__ s,
                                      const float* __restrict__ mu,
                                      const float* __restrict__ lv, long long param_stride,
                                      float* __restrict__ KL) {
    const int lane = threadIdx.x & 31;
    const long long gwarp = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const long long nwarps = ((long long)gridDim.x * blockDim.x) >> 5;
    const long long total = N * K;
    for (long long nk = gwarp; nk < total; nk += nwarps) {
        const long long n = nk / K;
        const long long k = nk - n * K;
        const long long p = n * param_stride + k * D;
        const float* mn = m + n * D;
        const float* sn = s + n * D;
        float acc = 0.0f;
        for (long long d = lane; d < D; d += 32) {
            const float l = lv[p + d];
            const float sv = sn[d];
            const float diff = mn[d] - mu[p + d];
            const float a = fmaf(diff, diff, gm_exp(sv));
            acc = acc + fmaf(a, gm_exp(-l), (l - sv) - 1.0f);
        }
        acc = gm_warp_sum32(acc);
        if (lane == 0) KL[nk] = 0.5f * acc;
    }
}

// kl_mixture_bwd: the gradient of KL = kl_mixture(...) given gKL (N, K). With g =
// gKL[n,k], es = gm_exp(s), e = gm_exp(-lv), diff = m - mu:
//   dKL/dm  =  diff*e                      am = fmaf(g, diff*e, am)
//   dKL/ds  =  1/2 (es*e - 1)              as = fmaf(g, fmaf(es, e, -1.0f), as)
//   dKL/dmu = -diff*e
//   dKL/dlv =  1/2 (1 - (es + diff^2) e)   r = fmaf(-fmaf(diff, diff, es), e, 1.0f)
// Outputs (each nullable):
//   dm, ds (N, D): sums over k = 0..K-1 in order; dm (+)= am, ds (+)= 0.5f * as,
//     with "+=" when acc_q != 0;
//   dmu, dlv, per sample (param_stride != 0, laid out like mu): dmu (+)= -(g*(diff*e)),
//     dlv (+)= 0.5f * (g*r);
//   dmu, dlv, shared (param_stride == 0, (K, D)): over n = 0..N-1 in order,
//     am = fmaf(g, diff*e, am), ar = fmaf(g, r, ar); dmu (+)= -am, dlv (+)= 0.5f * ar,
//   with "+=" when acc_p != 0.
// Mapping: a grid-stride loop over (n, d) for dm, ds, then one over (k, d) (shared) or
// (n, k, d) (per sample) for dmu, dlv; one thread per output element.
extern "C" __global__ void kl_mixture_bwd(long long N, long long K, long long D,
                                          const float* __restrict__ m,
                                          const float* __restrict__ s,
                                          const float* __restrict__ mu,
                                          const float* __restrict__ lv,
                                          long long param_stride,
                                          const float* __restrict__ gKL,
                                          float* __restrict__ dm, float* __restrict__ ds,
                                          long long acc_q, float* __restrict__ dmu,
                                          float* __restrict__ dlv, long long acc_p) {
    const long long stride = (long long)gridDim.x * blockDim.x;
    const long long first = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (dm != nullptr || ds != nullptr) {
        const long long total = N * D;
        for (long long i = first; i < total; i += stride) {
            const long long n = i / D;
            const long long d = i - n * D;
            const float mv = m[i];
            const float es = gm_exp(s[i]);
            float am = 0.0f;
            float as = 0.0f;
            for (long long k = 0; k < K; k++) {
                const long long p = n * param_stride + k * D + d;
                const float e = gm_exp(-lv[p]);
                const float g = gKL[n * K + k];
                am = fmaf(g, (mv - mu[p]) * e, am);
                as = fmaf(g, fmaf(es, e, -1.0f), as);
            }
            if (dm != nullptr) dm[i] = acc_q != 0 ? dm[i] + am : am;
            if (ds != nullptr) {
                const float v = 0.5f * as;
                ds[i] = acc_q != 0 ? ds[i] + v : v;
            }
        }
    }
    if (dmu == nullptr && dlv == nullptr) return;
    if (param_stride != 0) {
        const long long total = N * K * D;
        for (long long i = first; i < total; i += stride) {
            const long long nk = i / D;
            const long long d = i - nk * D;
            const long long n = nk / K;
            const long long k = nk - n * K;
            const long long p = n * param_stride + k * D + d;
            const float diff = m[n * D + d] - mu[p];
            const float e = gm_exp(-lv[p]);
            const float g = gKL[nk];
            if (dmu != nullptr) {
                const float v = -(g * (diff * e));
                dmu[p] = acc_p != 0 ? dmu[p] + v : v;
            }
            if (dlv != nullptr) {
                const float r = fmaf(-fmaf(diff, diff, gm_exp(s[n * D + d])), e, 1.0f);
                const float v = 0.5f * (g * r);
                dlv[p] = acc_p != 0 ? dlv[p] + v : v;
            }
        }
        return;
    }
    const long long total = K * D;
    for (long long i = first; i < total; i += stride) {
        const long long k = i / D;
        const long long d = i - k * D;
        const float muv = mu[i];
        const float e = gm_exp(-lv[i]);
        float am = 0.0f;
        float ar = 0.0f;
        for (long long n = 0; n < N; n++) {
            const float diff = m[n * D + d] - muv;
            const float g = gKL[n * K + k];
            am = fmaf(g, diff * e, am);
            ar = fmaf(g, fmaf(-fmaf(diff, diff, gm_exp(s[n * D + d])), e, 1.0f), ar);
        }
        if (dmu != nullptr) dmu[i] = acc_p != 0 ? dmu[i] - am : -am;
        if (dlv != nullptr) {
            const float v = 0.5f * ar;
            dlv[i] = acc_p != 0 ? dlv[i] + v : v;
        }
    }
}

// kl_std_normal: KL[n] = KL( N(m_n, s_n) || N(0, I) ) = 0.5f * sum_d t_d,
//   t_d = fmaf(m, m, (gm_exp(s) - 1.0f) - s), warp order over d.
//   m, s are (N, D); KL is (N).
// Mapping: one warp per row, grid stride over all warps.
extern "C" __global__ void kl_std_normal(long long N, long long D,
                                         const float* __restrict__ m,
                                         const float* __restrict__ s,
                                         float* __restrict__ KL) {
    const int lane = threadIdx.x & 31;
    const long long gwarp = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const long long nwarps = ((long long)gridDim.x * blockDim.x) >> 5;
    for (long long n = gwarp; n < N; n += nwarps) {
        float acc = 0.0f;
        for (long long d = lane; d < D; d += 32) {
            const float mv = m[n * D + d];
            const float sv = s[n * D + d];
            acc = acc + fmaf(mv, mv, (gm_exp(sv) - 1.0f) - sv);
        }
        acc = gm_warp_sum32(acc);
        if (lane == 0) KL[n] = 0.5f * acc;
    }
}

// kl_std_normal_bwd: the gradient of KL = kl_std_normal(m, s) given g (N):
//   dm[n,d] (+)= g[n] * m[n,d]
//   ds[n,d] (+)= g[n] * (0.5f * (gm_exp(s[n,d]) - 1.0f))
// with "+=" when accumulate != 0. m, s, dm, ds are (N, D); dm and ds are nullable.
// Mapping: one thread per (n, d), grid stride.
extern "C" __global__ void kl_std_normal_bwd(long long N, long long D,
                                             const float* __restrict__ m,
                                             const float* __restrict__ s,
                                             const float* __restrict__ g,
                                             float* __restrict__ dm, float* __restrict__ ds,
                                             long long accumulate) {
    const long long total = N * D;
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += stride) {
        const float gv = g[i / D];
        if (dm != nullptr) {
            const float v = gv * m[i];
            dm[i] = accumulate != 0 ? dm[i] + v : v;
        }
        if (ds != nullptr) {
            const float v = gv * (0.5f * (gm_exp(s[i]) - 1.0f));
            ds[i] = accumulate != 0 ? ds[i] + v : v;
        }
    }
}
