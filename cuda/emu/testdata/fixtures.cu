// Test kernels for the PTX emulator's self-tests (cuda/emu/emu_test.go). Compiled with
// the project's flags by gen.sh into fixtures.ptx (committed, so the tests need no nvcc):
//   nvcc -ptx -arch=compute_70 -fmad=false -ftz=false -prec-div=true -prec-sqrt=true -lineinfo
// Kernels named fx_bug_* contain deliberate bugs the emulator's checker must catch.

// ---- warp intrinsics --------------------------------------------------------------

// fx_shfl: out[i] = the shuffle of in[i] selected by mode (0 idx, 1 up, 2 down, 3 xor)
// with operand arg and the given width; pred[i] = 1 when the source lane was valid
// (computed separately from the value, as __shfl_*_sync hide the predicate).
extern "C" __global__ void fx_shfl(const unsigned* in, unsigned* out, int mode, int arg, int width) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    unsigned v = in[i], r = 0;
    switch (mode) {
    case 0: r = __shfl_sync(0xffffffffu, v, arg, width); break;
    case 1: r = __shfl_up_sync(0xffffffffu, v, arg, width); break;
    case 2: r = __shfl_down_sync(0xffffffffu, v, arg, width); break;
    case 3: r = __shfl_xor_sync(0xffffffffu, v, arg, width); break;
    }
    out[i] = r;
}

// fx_shfl_partial: the two half-warps shuffle separately with partial membermasks.
extern "C" __global__ void fx_shfl_partial(const unsigned* in, unsigned* out) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    unsigned v = in[i];
    if ((threadIdx.x & 31) < 16) {
        v = __shfl_xor_sync(0x0000ffffu, v, 1);
    } else {
        v = __shfl_down_sync(0xffff0000u, v, 2);
    }
    out[i] = v;
}

// fx_named_barrier: threads 0..63 synchronise on barrier 1 with a thread count of 64;
// the others exit at once.
extern "C" __global__ void fx_named_barrier(float* y) {
    __shared__ float s[64];
    const unsigned t = threadIdx.x;
    if (t >= 64) return;
    s[t] = (float)t;
    asm volatile("bar.sync 1, 64;" ::: "memory");
    y[t] = s[63 - t];
}

// fx_shfl_lane: a per-lane source (idx mode with a register operand).
extern "C" __global__ void fx_shfl_lane(const unsigned* in, const int* src, unsigned* out) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    out[i] = __shfl_sync(0xffffffffu, in[i], src[i]);
}

// fx_vote: all/any/ballot of in[i] != 0, and __syncwarp.
extern "C" __global__ void fx_vote(const unsigned* in, unsigned* out) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    const int p = in[i] != 0;
    unsigned all = __all_sync(0xffffffffu, p);
    __syncwarp();
    unsigned any = __any_sync(0xffffffffu, p);
    unsigned ballot = __ballot_sync(0xffffffffu, p);
    out[3 * i] = all;
    out[3 * i + 1] = any;
    out[3 * i + 2] = ballot;
}

// fx_block_sum: a block tree reduction over shared memory with bar.sync, in the
// order of a sequential pairwise tree: s[t] += s[t + h] for h = blockDim/2 ... 1.
// x has gridDim.x * blockDim.x elements; out[blockIdx.x] is the block's sum.
extern "C" __global__ void fx_block_sum(const float* x, float* out) {
    extern __shared__ float s[];
    const int t = threadIdx.x;
    s[t] = x[blockIdx.x * blockDim.x + t];
    __syncthreads();
    for (int h = blockDim.x / 2; h > 0; h >>= 1) {
        if (t < h) s[t] = s[t] + s[t + h];
        __syncthreads();
    }
    if (t == 0) out[blockIdx.x] = s[0];
}

// fx_block2d: 2-D blocks and grids: out[(y*W + x)] = linear ids (tests the special
// registers), with W = gridDim.x*blockDim.x.
extern "C" __global__ void fx_block2d(unsigned* out) {
    const unsigned x = blockIdx.x * blockDim.x + threadIdx.x;
    const unsigned y = blockIdx.y * blockDim.y + threadIdx.y;
    const unsigned w = gridDim.x * blockDim.x;
    out[y * w + x] = (threadIdx.z << 24) | (blockIdx.y << 16) | (threadIdx.y << 8) | threadIdx.x;
}

// ---- memory forms -----------------------------------------------------------------

// fx_local: a per-thread array indexed dynamically (local memory).
extern "C" __global__ void fx_local(const float* x, const int* idx, float* y) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    float a[16];
    for (int k = 0; k < 16; k++) a[k] = x[i] * (float)k;
    y[i] = a[idx[i] & 15];
}

// fx_generic: a pointer that may point to shared or global memory (generic ld/st).
extern "C" __global__ void fx_generic(float* g, int useShared) {
    __shared__ float s[64];
    const int t = threadIdx.x;
    float* p = useShared ? s : g;
    p[t] = (float)t * 2.0f;
    __syncthreads();
    g[t] = p[(t + 1) & 63] + 1.0f;
}

// fx_vec: float4 global loads/stores and float2 shared accesses.
extern "C" __global__ void fx_vec(const float4* x, float4* y) {
    __shared__ float2 s[64];
    const int t = threadIdx.x;
    float4 v = x[t];
    s[t] = make_float2(v.x + v.y, v.z + v.w);
    __syncthreads();
    float2 u = s[63 - t];
    y[t] = make_float4(u.x, u.y, v.x, v.w);
}

// fx_atomic: integer atomics (each thread adds its index; max; cas).
extern "C" __global__ void fx_atomic(unsigned* acc, int* mx, unsigned* old) {
    const unsigned t = blockIdx.x * blockDim.x + threadIdx.x;
    atomicAdd(acc, t);
    atomicMax(mx, (int)(t * 7 % 13) - 6);
    old[t] = atomicCAS(acc + 1, 0u, t + 1) == 0 ? 1u : 0u;
}

// ---- arithmetic ---------------------------------------------------------------------

// fx_fops: float operations with explicit rounding modes; 13 outputs per input pair.
extern "C" __global__ void fx_fops(const float* a, const float* b, const float* c, float* out, long long n) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        const float x = a[i], y = b[i], z = c[i];
        float* o = out + 16 * i;
        o[0] = __fadd_rn(x, y);
        o[1] = __fadd_rz(x, y);
        o[2] = __fadd_rd(x, y);
        o[3] = __fadd_ru(x, y);
        o[4] = __fmul_rn(x, y);
        o[5] = __fmul_rz(x, y);
        o[6] = __fmaf_rn(x, y, z);
        o[7] = __fmaf_rz(x, y, z);
        o[8] = __fmaf_rd(x, y, z);
        o[9] = __fmaf_ru(x, y, z);
        o[10] = __fdiv_rn(x, y);
        o[11] = __fsqrt_rn(x);
        o[12] = __frcp_rn(y);
        o[13] = fminf(x, y);
        o[14] = fmaxf(x, y);
        o[15] = __fsub_rn(x, y) + copysignf(1.0f, y);
    }
}

// fx_cvt: conversions with every rounding mode; 16 outputs per input.
extern "C" __global__ void fx_cvt(const float* a, const double* d, const long long* l, unsigned* out, long long n) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        const float x = a[i];
        const double y = d[i];
        const long long v = l[i];
        unsigned* o = out + 20 * i;
        o[0] = (unsigned)__float2int_rn(x);
        o[1] = (unsigned)__float2int_rz(x);
        o[2] = (unsigned)__float2int_rd(x);
        o[3] = (unsigned)__float2int_ru(x);
        o[4] = __float2uint_rn(x);
        unsigned long long ll = (unsigned long long)__float2ll_rz(x);
        o[5] = (unsigned)ll;
        o[6] = (unsigned)(ll >> 32);
        o[7] = __float_as_uint(__int2float_rz((int)v));
        o[8] = __float_as_uint(__ll2float_rd(v));
        o[9] = __float_as_uint(__ull2float_ru((unsigned long long)v));
        o[10] = __float_as_uint(__ll2float_rn(v));
        o[11] = __float_as_uint(__double2float_rn(y));
        o[12] = __float_as_uint(__double2float_rz(y));
        o[13] = __float_as_uint(__double2float_rd(y));
        o[14] = __float_as_uint(__double2float_ru(y));
        o[15] = __float_as_uint(floorf(x));
        o[16] = __float_as_uint(ceilf(x));
        o[17] = __float_as_uint(truncf(x));
        o[18] = __float_as_uint(rintf(x));
        o[19] = __float_as_uint(__saturatef(x));
    }
}

// fx_int: integer operations; 16 outputs per input pair.
extern "C" __global__ void fx_int(const unsigned* a, const unsigned* b, unsigned* out, long long n) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        const unsigned x = a[i], y = b[i];
        unsigned* o = out + 16 * i;
        o[0] = __umulhi(x, y);
        o[1] = (unsigned)__mulhi((int)x, (int)y);
        o[2] = (unsigned)(__umul64hi(((unsigned long long)x << 32) | y, ((unsigned long long)y << 32) | x) >> 7);
        o[3] = __popc(x);
        o[4] = __clz(x);
        o[5] = __brev(x);
        o[6] = __byte_perm(x, y, y & 0xffff);
        o[7] = __funnelshift_l(x, y, y);
        o[8] = __funnelshift_r(x, y, y);
        o[9] = y != 0 ? x / y : 0;
        o[10] = y != 0 ? x % y : 0;
        o[11] = (int)y != 0 && !((int)x == (-2147483647 - 1) && (int)y == -1) ? (unsigned)((int)x / (int)y) : 0;
        o[12] = x << (y & 63);
        o[13] = (unsigned)((int)x >> (y & 31));
        o[14] = (unsigned)min((int)x, (int)y) ^ max(x, y);
        unsigned bfe;
        asm("bfe.s32 %0, %1, %2, %3;" : "=r"(bfe) : "r"(x), "r"(y & 31), "r"((y >> 5) & 31));
        o[15] = bfe;
    }
}

// ---- planted bugs the checker must catch --------------------------------------------

// fx_bug_oob: reads one element past the end of x (n elements).
extern "C" __global__ void fx_bug_oob(const float* x, float* y, long long n) {
    for (long long i = threadIdx.x; i < n; i += blockDim.x) y[i] = x[i + 1];
}

// fx_bug_misaligned: reads a float at byte offset 1.
extern "C" __global__ void fx_bug_misaligned(const float* x, float* y) {
    y[threadIdx.x] = *(const float*)((const char*)x + 1 + 4 * threadIdx.x);
}

// fx_copy: y[i] = x[i] (used with buffers never written, and with freed ones).
extern "C" __global__ void fx_copy(const float* x, float* y, long long n) {
    for (long long i = threadIdx.x; i < n; i += blockDim.x) y[i] = x[i];
}

// fx_bug_shared_oob: lane 31 reads s[32] of a 32-element shared array.
extern "C" __global__ void fx_bug_shared_oob(float* y, int k) {
    __shared__ float s[32];
    s[threadIdx.x] = (float)threadIdx.x;
    __syncthreads();
    y[threadIdx.x] = s[threadIdx.x + k];
}

// fx_bug_shared_uninit: reads a shared element no thread wrote.
extern "C" __global__ void fx_bug_shared_uninit(float* y) {
    __shared__ float s[64];
    if (threadIdx.x < 16) s[threadIdx.x] = 1.0f;
    __syncthreads();
    y[threadIdx.x] = s[threadIdx.x];
}

// fx_bug_divergent_barrier: only half of the block reaches __syncthreads.
extern "C" __global__ void fx_bug_divergent_barrier(float* y) {
    if (threadIdx.x < 16) {
        y[threadIdx.x] = 1.0f;
        __syncthreads();
    }
}

// fx_bug_exit_barrier: threads >= 40 return before a barrier the others wait at.
extern "C" __global__ void fx_bug_exit_barrier(float* y) {
    if (threadIdx.x >= 40) return;
    y[threadIdx.x] = 1.0f;
    __syncthreads();
    y[threadIdx.x] += 1.0f;
}

// fx_bug_shfl_exited: lane 3 exits before a full-mask shuffle.
extern "C" __global__ void fx_bug_shfl_exited(float* y) {
    if (threadIdx.x == 3) return;
    y[threadIdx.x] = __shfl_xor_sync(0xffffffffu, (float)threadIdx.x, 1);
}

// fx_bug_endless: loops until y[0] == 12345, which never happens.
extern "C" __global__ void fx_bug_endless(volatile unsigned* y) {
    unsigned k = 0;
    while (y[0] != 12345u) {
        y[1] = k++;
    }
}

// ---- benchmark ------------------------------------------------------------------------

// fx_rowdot: one warp per row of x (n, d): lane-strided fma partials, a butterfly over
// the warp, a small polynomial and a division (the shape of the engine's kernels).
extern "C" __global__ void fx_rowdot(const float* __restrict__ x, const float* __restrict__ w, float* out, long long n, long long d) {
    const int lane = threadIdx.x & 31;
    const long long warp = (blockIdx.x * (long long)blockDim.x + threadIdx.x) >> 5;
    const long long nw = ((long long)gridDim.x * blockDim.x) >> 5;
    for (long long r = warp; r < n; r += nw) {
        float acc = 0.0f;
        for (long long j = lane; j < d; j += 32) acc = fmaf(x[r * d + j], w[j], acc);
        for (int off = 16; off >= 1; off >>= 1) acc = __fadd_rn(acc, __shfl_xor_sync(0xffffffffu, acc, off));
        const float q = fmaf(fmaf(fmaf(acc, 0.1f, 0.2f), acc, 0.3f), acc, 1.0f);
        if (lane == 0) out[r] = q / __fadd_rn(1.0f, __fmul_rn(acc, acc));
    }
}
