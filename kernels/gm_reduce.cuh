// gm_reduce.cuh: the engine's fixed float reduction orders on the GPU.
// Twin: engine/cpu/reduce.go (Sum32, Sum256). Keep the two in step, line for line.
//
// A kernel reduces only through these functions, so that every sum has the same bits
// on the CPU and on any GPU, for any grid (DETERMINISM.md, rules 9 and 11).
#ifndef GM_REDUCE_CUH
#define GM_REDUCE_CUH

#define GM_WARP 32
#define GM_BLOCK_SUM_THREADS 256

// gm_warp_sum32 combines one partial per lane by a butterfly over lane offsets
// 16, 8, 4, 2, 1 (v = v + v[lane ^ off]); every lane returns the same value. All 32
// lanes of the warp must call it (full mask).
//
// The partial of lane l is, by convention, the sum of elements l, l+32, l+64, ... in
// increasing order starting from 0.0f (see gm_lane_partial callers).
__device__ __forceinline__ float gm_warp_sum32(float v) {
#pragma unroll
    for (int off = 16; off >= 1; off >>= 1) {
        v = __fadd_rn(v, __shfl_xor_sync(0xffffffffu, v, off));
    }
    return v;
}

// gm_block_sum256 returns, in every thread of a block of exactly 256 threads, the sum
// of one partial per thread: each warp combines its partials by gm_warp_sum32, then
// warp 0 combines the 8 warp sums (lanes 0..7, +0 in lanes 8..31) by the same
// butterfly. sh must point to at least 9 floats of shared memory. All 256 threads must
// call it. The partial of thread t is the sum of elements t, t+256, ... in increasing
// order starting from 0.0f.
__device__ __forceinline__ float gm_block_sum256(float v, float* sh) {
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    v = gm_warp_sum32(v);
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    if (warp == 0) {
        float r = lane < 8 ? sh[lane] : 0.0f;
        r = gm_warp_sum32(r);
        if (lane == 0) sh[8] = r;
    }
    __syncthreads();
    const float r = sh[8];
    __syncthreads();  // sh may be reused by the caller after this
    return r;
}

#endif  // GM_REDUCE_CUH
