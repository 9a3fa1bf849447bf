// norm.cu: batch normalisation over the rows of a (M, N) row-major batch, one set of
// statistics per column (feature), PyTorch semantics: the batch is normalised with
// the biased variance (divide by M); the running variance is updated with the
// unbiased one (divide by M - 1). Twin: engine/cpu/norm.go (BnStats, BnFwd, BnBwd,
// BnInvstd). Keep the two in step, line for line.
//
//   training  bn_stats (mean, invstd, running statistics) -> bn_fwd -> ... -> bn_bwd
//   eval      bn_invstd(run_var) -> bn_fwd(X, run_mean, invstd, ...)
//
// X is (M, N) row-major: column c is the elements X[m*N + c], m = 0..M-1.
//
// Launch: every kernel loops over its work items with a grid stride (columns for
// bn_stats and bn_bwd, elements for bn_fwd and bn_invstd), so any grid >= 1 and any
// block of a multiple of 32 threads give the same bits (DETERMINISM.md, rule 11).
// Consecutive threads take consecutive columns, so the per-column loops read
// consecutive addresses across a warp.
//
// Reductions: every sum here is a plain sequential loop over rows m = 0..M-1 from +0,
// computed by the one thread that owns the column (no warp or block order).
//
// Arithmetic: compiled with -prec-div=true -prec-sqrt=true, so `/` is div.rn.f32,
// 1.0f / x is rcp.rn.f32 and sqrtf is sqrt.rn.f32, all correctly rounded; every fused
// multiply-add is an explicit fmaf. (float)M is cvt.rn.f32.s64.
//
// M >= 1 is the caller's job (not checked): M = 0 gives 0/0 = NaN statistics.
//
// Bad values: columns never mix. A NaN in column c of X makes that column's mean,
// invstd and running statistics NaN, and its Y, dX and dgamma NaN; +Inf or -Inf makes
// its mean and running mean +-Inf (NaN with both signs) and its variance, invstd,
// running variance, Y, dX and dgamma NaN (Inf - Inf inside the variance); its dbeta
// (the sum of dY) does not read X. A NaN or Inf in dY of column c makes that column's
// dbeta, dgamma and dX NaN or +-Inf. Other columns are untouched. Nothing traps.
#include "gm_math.cuh"
#include "gm_rows.cuh"

#define GM_NORM_COL_LOOP(c, n)                                                      \
    for (long long c = (long long)blockIdx.x * blockDim.x + threadIdx.x; c < (n); \
         c += (long long)gridDim.x * blockDim.x)

// bn_stats: batch statistics of every column c < N of X (M, N), and the running
// estimates, in exactly this order:
//   s = +0;  for m = 0..M-1: s = s + X[m,c]                  mu  = s / (float)M
//   q = +0;  for m = 0..M-1: d = X[m,c] - mu; q = fmaf(d, d, q)   var = q / (float)M
//   mean[c] = mu;  invstd[c] = 1.0f / sqrtf(var + eps)
//   run_mean[c] = fmaf(momentum, mu, (1.0f - momentum) * run_mean[c])   unless null
//   run_var[c]  = fmaf(momentum, uv, (1.0f - momentum) * run_var[c])    unless null,
//                 uv = M > 1 ? q / (float)(M - 1) : var (unbiased; M = 1 gives var)
// mean, invstd, run_mean, run_var are (N); run_mean and run_var may each be null
// (skipped). A constant column whose sum is exact (small integers, say) gives
// var = 0 exactly and invstd = 1/sqrt(eps) (+Inf for eps = 0); in general a
// constant k gives var of order (M u k)^2 (u = 2^-24), from the rounded mean.
// M >= 1 is the caller's job. One work item per column.
extern "C" __global__ void bn_stats(const float* __restrict__ X, float* __restrict__ mean,
                                    float* __restrict__ invstd, float* __restrict__ run_mean,
                                    float* __restrict__ run_var, long long M, long long N,
                                    float eps, float momentum) {
    const float fm = (float)M;
    const float keep = 1.0f - momentum;
    GM_NORM_COL_LOOP(c, N) {
        float s = 0.0f;
        for (long long m = 0; m < M; m++) s = s + X[m * N + c];
        const float mu = s / fm;
        float q = 0.0f;
        for (long long m = 0; m < M; m++) {
            const float d = X[m * N + c] - mu;
            q = fmaf(d, d, q);
        }
        const float var = q / fm;
        mean[c] = mu;
        invstd[c] = 1.0f / sqrtf(var + eps);
        if (run_mean != nullptr) run_mean[c] = fmaf(momentum, mu, keep * run_mean[c]);
        if (run_var != nullptr) {
            const float uv = M > 1 ? q / (float)(M - 1) : var;
            run_var[c] = fmaf(momentum, uv, keep * run_var[c]);
        }
    }
}

// bn_fwd: Y[i] = gm_activate(act, fmaf(gamma[c], xh, beta[c])) with
// xh = (X[i] - mean[c]) * invstd[c] (a sub.rn, then a mul.rn), c = i % N, for every
// element i < M*N of X, Y (M, N); mean, invstd, gamma, beta are (N). act is a
// GM_ACT_* code as in act_fwd ((int)act; an unknown code gives NaN). Y may alias X.
// One work item per element.
extern "C" __global__ void bn_fwd(const float* X, const float* __restrict__ mean,
                                  const float* __restrict__ invstd,
                                  const float* __restrict__ gamma,
                                  const float* __restrict__ beta, float* Y, long long M,
                                  long long N, long long act) {
    const int a = (int)act;
    const long long n = M * N;
    const long long stride = (long long)gridDim.x * blockDim.x;
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    for (gm_row_cursor rc(i, stride, N); i < n; i += stride, rc.next()) {
        const long long c = rc.c;
        const float xh = (X[i] - mean[c]) * invstd[c];
        Y[i] = gm_activate(a, fmaf(gamma[c], xh, beta[c]));
    }
}

// bn_bwd: the gradient of y = gamma*xh + beta, xh = (x - mean) * invstd, with the batch
// mean and biased variance (mean and invstd from bn_stats), for every column c < N:
//   pass 1: s1 = +0, s2 = +0; for m = 0..M-1:
//             g = dY[m,c]; xh = (X[m,c] - mean[c]) * invstd[c]; s1 = s1 + g; s2 = fmaf(g, xh, s2)
//   dbeta[c] = accumulate ? dbeta[c] + s1 : s1      unless dbeta is null
//   dgamma[c] = accumulate ? dgamma[c] + s2 : s2    unless dgamma is null
//   a = s1 / (float)M;  bb = s2 / (float)M;  k = gamma[c] * invstd[c]
//   pass 2: for m = 0..M-1: xh as above; t = fmaf(-xh, bb, dY[m,c] - a); dX[m,c] = k * t
// i.e. dx = gamma*invstd*(dy - mean(dy) - xh*mean(dy*xh)). X, dY, dX are (M, N); mean,
// invstd, gamma, dgamma, dbeta are (N). dX is overwritten (accumulate applies to
// dgamma and dbeta only); dX may alias dY (pass 2 reads dY[m,c] before writing
// dX[m,c], and pass 1 is over before pass 2 starts). If the forward applied an
// activation, dY is the gradient before it (act_bwd first). One work item per column.
extern "C" __global__ void bn_bwd(const float* __restrict__ X, const float* __restrict__ mean,
                                  const float* __restrict__ invstd,
                                  const float* __restrict__ gamma, const float* dY, float* dX,
                                  float* __restrict__ dgamma, float* __restrict__ dbeta,
                                  long long M, long long N, long long accumulate) {
    const float fm = (float)M;
    GM_NORM_COL_LOOP(c, N) {
        const float mc = mean[c], ic = invstd[c];
        float s1 = 0.0f, s2 = 0.0f;
        for (long long m = 0; m < M; m++) {
            const float g = dY[m * N + c];
            const float xh = (X[m * N + c] - mc) * ic;
            s1 = s1 + g;
            s2 = fmaf(g, xh, s2);
        }
        if (dbeta != nullptr) dbeta[c] = accumulate != 0 ? dbeta[c] + s1 : s1;
        if (dgamma != nullptr) dgamma[c] = accumulate != 0 ? dgamma[c] + s2 : s2;
        const float a = s1 / fm;
        const float bb = s2 / fm;
        const float k = gamma[c] * ic;
        for (long long m = 0; m < M; m++) {
            const float xh = (X[m * N + c] - mc) * ic;
            const float t = fmaf(-xh, bb, dY[m * N + c] - a);
            dX[m * N + c] = k * t;
        }
    }
}

// bn_invstd: invstd[i] = 1.0f / sqrtf(v[i] + eps) for i < n (evaluation mode: the
// inverse standard deviation from the running variance). v, invstd are (n); invstd
// may alias v. One work item per element.
extern "C" __global__ void bn_invstd(const float* v, float* invstd, long long n, float eps) {
    GM_NORM_COL_LOOP(i, n) { invstd[i] = 1.0f / sqrtf(v[i] + eps); }
}
