// reduce.cu: whole-tensor and per-row sums (batch means of the loss terms, the
// squared gradient norm for clipping). Twin: engine/cpu/reducek.go (one Go function per
// kernel, same name in CamelCase). Keep the two in step, line for line.
//
// Orders:
//   sum_all, sum_squares: block order of gm_block_sum256, computed by block 0 alone:
//     thread t (0..255) adds elements t, t+256, ... in increasing order from +0, then
//     gm_block_sum256 combines the 256 partials. Blocks other than 0 return at once,
//     so the result never depends on the grid. Launch with exactly 256 threads per
//     block (kernels table: Block{X: 256, Y: 1}); a grid of 1 block is enough.
//   sum_rows: one row per warp in the order of gm_warp_sum32 (lane l adds columns
//     l, l+32, ... from +0, then the butterfly 16, 8, 4, 2, 1); any grid, any block of
//     a multiple of 32 threads.
// A scale is applied after the sum, as one mul.rn (scale = 1/N gives a batch mean;
// scale = 1 returns the sum's bits unchanged).
#include "gm_reduce.cuh"

// sum_all: out[0] = scale * sum_i x[i]. x is (n), out is (1). n = 0 gives scale * +0.
extern "C" __global__ void sum_all(const float* __restrict__ x, float* __restrict__ out,
                                   long long n, float scale) {
    __shared__ float sh[GM_BLOCK_SUM_THREADS / GM_WARP + 1];
    if (blockIdx.x != 0) return;  // whole blocks leave: gm_block_sum256's barriers stay uniform
    float acc = 0.0f;
    for (long long i = threadIdx.x; i < n; i += GM_BLOCK_SUM_THREADS) acc = acc + x[i];
    acc = gm_block_sum256(acc, sh);
    if (threadIdx.x == 0) out[0] = scale * acc;
}

// sum_squares: out[0] = sum_i x[i]^2 (the squared L2 norm, for gradient-norm
// clipping). x is (n), out is (1). Each square is rounded on its own (x * x, one
// mul.rn; not fused into the sum) and the squares are summed in the order of sum_all.
// |x| > ~1.8e19 overflows its square to +Inf; NaN gives NaN.
extern "C" __global__ void sum_squares(const float* __restrict__ x, float* __restrict__ out,
                                       long long n) {
    __shared__ float sh[GM_BLOCK_SUM_THREADS / GM_WARP + 1];
    if (blockIdx.x != 0) return;
    float acc = 0.0f;
    for (long long i = threadIdx.x; i < n; i += GM_BLOCK_SUM_THREADS) {
        const float v = x[i];
        acc = acc + v * v;
    }
    acc = gm_block_sum256(acc, sh);
    if (threadIdx.x == 0) out[0] = acc;
}

// sum_rows: out[r] = scale * sum_c x[r,c]. x is (rows, cols) row-major, out is (rows).
// Warp order, one warp per row; cols = 0 gives scale * +0.
extern "C" __global__ void sum_rows(const float* __restrict__ x, float* __restrict__ out,
                                    long long rows, long long cols, float scale) {
    const int lane = threadIdx.x & 31;
    for (long long r = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5; r < rows;
         r += ((long long)gridDim.x * blockDim.x) >> 5) {
        const float* xr = x + r * cols;
        float acc = 0.0f;
        for (long long c = lane; c < cols; c += 32) acc = acc + xr[c];
        acc = gm_warp_sum32(acc);
        if (lane == 0) out[r] = scale * acc;
    }
}
