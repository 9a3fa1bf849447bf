// gm_philox.cuh: the engine's counter-based random numbers (DETERMINISM.md, rule 12).
// Twin: engine/cpu/philox.go (Philox4x32, PhiloxBlock, UniformFromWord, BoxMuller).
// Keep the two in step, line for line.
//
// Generator: Philox-4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as
// easy as 1, 2, 3", SC 2011; the Random123 library). A block of 4 uint32 words is a
// pure function of a 4-word counter and a 2-word key, so a kernel and its Go twin draw
// the same numbers without sharing any state. Checked against Random123's published
// known-answer vectors (kat_vectors) in engine/cpu/philox_test.go.
//
// Stream convention (the whole engine's; see StreamID in engine/cpu/philox.go):
//   key     = (seed & 0xffffffff, seed >> 32)                 seed: the run's uint64 seed
//   counter = (block & 0xffffffff, block >> 32,
//              stream & 0xffffffff, stream >> 32)             block = element index / 4
// where stream is a uint64 the host derives from (step, tensor id) with StreamID.
// Element i of a tensor uses word i % 4 of the block i / 4. Every element's random
// number is therefore a function of (seed, stream, i) only: never of the launch shape,
// the tensor's length n, or which thread draws it.
//
// Uniform in (0,1) from one word w: u = (float)((w >> 9) * 2 + 1) * 2^-24, i.e. the
// midpoint (2k+1)/2^24 of one of 2^23 equal cells, k = w >> 9. Every step is exact
// (the integer is < 2^24), u is never 0 or 1: 2^-24 <= u <= 1 - 2^-24.
//
// Normal (Box-Muller) from one block (w0, w1, w2, w3), u_j = uniform(w_j):
//   r01 = sqrtf(-2 * gm_log(u0)),  (s1, c1) = gm_sincos2pi(u1)
//   r23 = sqrtf(-2 * gm_log(u2)),  (s3, c3) = gm_sincos2pi(u3)
//   element 4b+0 gets r01 * c1, 4b+1 gets r01 * s1, 4b+2 gets r23 * c3, 4b+3 gets r23 * s3
// (each one product, rounded once; -2 * log is exact scaling). Since u >= 2^-24, |n| <=
// sqrt(48 ln 2) = 5.768: tails beyond 5.77 sigma (probability 8e-9) are cut.
#ifndef GM_PHILOX_CUH
#define GM_PHILOX_CUH

#include "gm_math.cuh"

#define GM_PHILOX_M0 0xD2511F53u
#define GM_PHILOX_M1 0xCD9E8D57u
#define GM_PHILOX_W0 0x9E3779B9u
#define GM_PHILOX_W1 0xBB67AE85u
#define GM_PHILOX_ROUNDS 10

// 2^-24, exactly.
#define GM_PHILOX_TWO_M24 5.9604644775390625e-08f

struct gm_u32x4 {
    unsigned int x, y, z, w;
};

// gm_mulhi32 returns the high 32 bits of the 64-bit product a*b.
__host__ __device__ __forceinline__ unsigned int gm_mulhi32(unsigned int a, unsigned int b) {
#ifdef __CUDA_ARCH__
    return __umulhi(a, b);
#else
    return (unsigned int)(((unsigned long long)a * (unsigned long long)b) >> 32);
#endif
}

// gm_philox4x32_10 is one Philox-4x32-10 block: 10 rounds, the key bumped by the Weyl
// constants between rounds (Random123's philox4x32_R with R = 10).
__host__ __device__ __forceinline__ gm_u32x4 gm_philox4x32_10(gm_u32x4 c, unsigned int k0,
                                                              unsigned int k1) {
#pragma unroll
    for (int r = 0; r < GM_PHILOX_ROUNDS; r++) {
        if (r > 0) {
            k0 += GM_PHILOX_W0;
            k1 += GM_PHILOX_W1;
        }
        const unsigned int hi0 = gm_mulhi32(GM_PHILOX_M0, c.x);
        const unsigned int lo0 = GM_PHILOX_M0 * c.x;
        const unsigned int hi1 = gm_mulhi32(GM_PHILOX_M1, c.z);
        const unsigned int lo1 = GM_PHILOX_M1 * c.z;
        gm_u32x4 o;
        o.x = hi1 ^ c.y ^ k0;
        o.y = lo1;
        o.z = hi0 ^ c.w ^ k1;
        o.w = lo0;
        c = o;
    }
    return c;
}

// gm_philox_block returns block number `block` of the stream (seed, stream), following
// the stream convention above.
__host__ __device__ __forceinline__ gm_u32x4 gm_philox_block(unsigned long long seed,
                                                             unsigned long long stream,
                                                             unsigned long long block) {
    gm_u32x4 c;
    c.x = (unsigned int)(block & 0xffffffffull);
    c.y = (unsigned int)(block >> 32);
    c.z = (unsigned int)(stream & 0xffffffffull);
    c.w = (unsigned int)(stream >> 32);
    return gm_philox4x32_10(c, (unsigned int)(seed & 0xffffffffull), (unsigned int)(seed >> 32));
}

// gm_uniform01 maps one word to (2k+1)/2^24 with k = w >> 9, exactly (see the top).
__host__ __device__ __forceinline__ float gm_uniform01(unsigned int w) {
    return (float)((w >> 9) * 2u + 1u) * GM_PHILOX_TWO_M24;
}

// gm_box_muller turns the words (wa, wb) into two normals: *n0 = r*c, *n1 = r*s with
// r = sqrtf(-2 * gm_log(uniform(wa))), (s, c) = gm_sincos2pi(uniform(wb)).
__host__ __device__ __forceinline__ void gm_box_muller(unsigned int wa, unsigned int wb,
                                                       float* n0, float* n1) {
    const float ua = gm_uniform01(wa);
    const float ub = gm_uniform01(wb);
    const float r = sqrtf(-2.0f * gm_log(ua));
    float s, c;
    gm_sincos2pi(ub, &s, &c);
    *n0 = r * c;
    *n1 = r * s;
}

// gm_philox_normal4 returns the four normals of one block in element order 4b+0..4b+3:
// (r01*c1, r01*s1, r23*c3, r23*s3).
__host__ __device__ __forceinline__ void gm_philox_normal4(gm_u32x4 w, float out[4]) {
    gm_box_muller(w.x, w.y, &out[0], &out[1]);
    gm_box_muller(w.z, w.w, &out[2], &out[3]);
}

// gm_philox_uniform4 returns the four uniforms of one block in element order.
__host__ __device__ __forceinline__ void gm_philox_uniform4(gm_u32x4 w, float out[4]) {
    out[0] = gm_uniform01(w.x);
    out[1] = gm_uniform01(w.y);
    out[2] = gm_uniform01(w.z);
    out[3] = gm_uniform01(w.w);
}

#endif  // GM_PHILOX_CUH
