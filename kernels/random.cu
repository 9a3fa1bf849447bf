// random.cu: random tensors from the counter-based generator of gm_philox.cuh
// (Philox-4x32-10): uniforms, normals, the reparameterisation sample z = m + exp(lv/2)*eps
// and its backward, dynamic binarisation of pixel intensities, Gumbel noise.
// Twins: engine/cpu/random.go (RandUniform, RandNormal, Reparam, ReparamBwd, Binarize,
// Gumbel).
//
// Every generating kernel loops with a grid stride over Philox blocks b = 0..ceil(n/4)-1
// (one block per thread per iteration) and writes elements 4b..4b+3 that are < n; element
// i's number depends only on (seed, stream, i) (gm_philox.cuh), never on n, the grid or
// the block shape. No reductions. Outputs must not alias inputs.
#include "gm_math.cuh"
#include "gm_philox.cuh"

// gm_philox_nblocks returns ceil(n/4) for n > 0, else 0 (no overflow near LLONG_MAX).
__device__ __forceinline__ long long gm_philox_nblocks(long long n) {
    return n > 0 ? (n - 1) / 4 + 1 : 0;
}

// rand_uniform: out[i] = uniform(word i%4 of block i/4), in (0,1), exactly
// (2k+1)/2^24. out is (n).
extern "C" __global__ void rand_uniform(float* __restrict__ out, long long n,
                                        unsigned long long seed, unsigned long long stream) {
    const long long nb = gm_philox_nblocks(n);
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long b = (long long)blockIdx.x * blockDim.x + threadIdx.x; b < nb; b += stride) {
        float v[4];
        gm_philox_uniform4(gm_philox_block(seed, stream, (unsigned long long)b), v);
        const long long i0 = 4 * b;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            if (i0 + j < n) out[i0 + j] = v[j];
        }
    }
}

// rand_normal: out[i] = standard normal number i of (seed, stream), Box-Muller as in
// gm_philox.cuh (4b+0: r01*cos, 4b+1: r01*sin, 4b+2: r23*cos, 4b+3: r23*sin).
// out is (n).
extern "C" __global__ void rand_normal(float* __restrict__ out, long long n,
                                       unsigned long long seed, unsigned long long stream) {
    const long long nb = gm_philox_nblocks(n);
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long b = (long long)blockIdx.x * blockDim.x + threadIdx.x; b < nb; b += stride) {
        float v[4];
        gm_philox_normal4(gm_philox_block(seed, stream, (unsigned long long)b), v);
        const long long i0 = 4 * b;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            if (i0 + j < n) out[i0 + j] = v[j];
        }
    }
}

// reparam: the reparameterisation sample of a diagonal Gaussian with mean m and
// log-variance lv:
//   eps[i] = normal i of (seed, stream)              (as rand_normal)
//   s      = gm_exp(0.5f * lv[i])                    (the standard deviation)
//   z[i]   = fmaf(s, eps[i], m[i])                   (one rounding)
// eps is stored for reparam_bwd. m, lv, eps, z are (n) (any layout: elementwise, e.g.
// (N, D) row-major with n = N*D). NaN/Inf in m or lv propagate through the arithmetic.
extern "C" __global__ void reparam(const float* __restrict__ m, const float* __restrict__ lv,
                                   float* __restrict__ eps, float* __restrict__ z, long long n,
                                   unsigned long long seed, unsigned long long stream) {
    const long long nb = gm_philox_nblocks(n);
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long b = (long long)blockIdx.x * blockDim.x + threadIdx.x; b < nb; b += stride) {
        float e[4];
        gm_philox_normal4(gm_philox_block(seed, stream, (unsigned long long)b), e);
        const long long i0 = 4 * b;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const long long i = i0 + j;
            if (i < n) {
                const float s = gm_exp(0.5f * lv[i]);
                eps[i] = e[j];
                z[i] = fmaf(s, e[j], m[i]);
            }
        }
    }
}

// reparam_bwd: the gradient of z = m + exp(lv/2) * eps (reparam) given dz:
//   dm  = dz[i]
//   g   = (dz[i] * eps[i]) * (0.5f * gm_exp(0.5f * lv[i]))    (two products, in this order)
//   dlv = g
// with accumulate != 0: dm[i] = dm[i] + dz[i], dlv[i] = dlv[i] + g; otherwise they are
// overwritten. dm or dlv may be null (that gradient is not wanted). lv, eps, dz, dm,
// dlv are (n); one grid-stride work item per element.
extern "C" __global__ void reparam_bwd(const float* __restrict__ lv, const float* __restrict__ eps,
                                       const float* __restrict__ dz, float* __restrict__ dm,
                                       float* __restrict__ dlv, long long n, long long accumulate) {
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const float d = dz[i];
        if (dm != nullptr) {
            dm[i] = accumulate != 0 ? dm[i] + d : d;
        }
        if (dlv != nullptr) {
            const float hs = 0.5f * gm_exp(0.5f * lv[i]);
            const float g = (d * eps[i]) * hs;
            dlv[i] = accumulate != 0 ? dlv[i] + g : g;
        }
    }
}

// binarize: dynamic binarisation, x[i] = (u_i < p[i]) ? 1 : 0 with u_i = uniform i of
// (seed, stream) (as rand_uniform): a Bernoulli(p[i]) draw. p <= 0 gives 0, p >= 1
// gives 1, NaN p gives 0 (the comparison is false). p, x are (n).
extern "C" __global__ void binarize(const float* __restrict__ p, float* __restrict__ x,
                                    long long n, unsigned long long seed,
                                    unsigned long long stream) {
    const long long nb = gm_philox_nblocks(n);
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long b = (long long)blockIdx.x * blockDim.x + threadIdx.x; b < nb; b += stride) {
        float u[4];
        gm_philox_uniform4(gm_philox_block(seed, stream, (unsigned long long)b), u);
        const long long i0 = 4 * b;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const long long i = i0 + j;
            if (i < n) x[i] = u[j] < p[i] ? 1.0f : 0.0f;
        }
    }
}

// gumbel: standard Gumbel noise, out[i] = -gm_log(-gm_log(u_i)) with u_i = uniform i of
// (seed, stream) (as rand_uniform). Since 2^-24 <= u <= 1 - 2^-24 the values lie in
// [-2.81, 16.64], never infinite. out is (n).
extern "C" __global__ void gumbel(float* __restrict__ out, long long n, unsigned long long seed,
                                  unsigned long long stream) {
    const long long nb = gm_philox_nblocks(n);
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long b = (long long)blockIdx.x * blockDim.x + threadIdx.x; b < nb; b += stride) {
        float u[4];
        gm_philox_uniform4(gm_philox_block(seed, stream, (unsigned long long)b), u);
        const long long i0 = 4 * b;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            if (i0 + j < n) out[i0 + j] = -gm_log(-gm_log(u[j]));
        }
    }
}
