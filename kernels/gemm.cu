// gemm.cu: the matrix products of linear layers, and the column sum of the bias
// gradient. Twins: engine/cpu/gemm.go (GemmNN, GemmNT, GemmTN, Colsum).
//
// All matrices are row-major float32. A linear layer keeps W as (in, out):
//   forward   Y(N,out) = X(N,in) . W(in,out) + b      gemm_nn with bias
//   backward  dX(N,in) = dY(N,out) . W^T              gemm_nt
//             dW(in,out) = X^T . dY                   gemm_tn (accumulate = 1 adds)
//             db(out) = column sums of dY             colsum
//
// Reduction orders (DETERMINISM.md, rule 10): every output element of a product is a
// plain sequential fma chain over k = 0..K-1 starting from +0, computed by one thread;
// the tiles below only decide which thread computes which element and when operands
// pass through shared memory, never the order of an element's chain (no split-K).
// colsum is a plain sequential sum over rows m = 0..M-1, one thread per column.
#include "gm_math.cuh"

// The tiled product: a 16 x 16 block computes one 64 x 64 tile of C at a time; thread
// (tx, ty) owns the 4 x 4 elements (ty + 16 i, tx + 16 j), i, j = 0..3, so that a
// half-warp stores 16 consecutive floats of a row. K advances in steps of 16 through
// shared memory.
#define GM_GEMM_TILE 64
#define GM_GEMM_KT 16
#define GM_GEMM_TPB 16

// gm_gemm_tile computes C = epilogue(op(A) . op(B)) for one launch, where
//   op(A)[m,k] = TA ? A[k*M + m] : A[m*K + k]     (A is (K,M) or (M,K))
//   op(B)[k,n] = TB ? B[n*K + k] : B[k*N + n]     (B is (N,K) or (K,N))
// and, per output element (m, n), in exactly this order:
//   acc = +0
//   for k = 0..K-1: acc = fmaf(op(A)[m,k], op(B)[k,n], acc)
//   if (bias)       acc = acc + bias[n]
//   if (accumulate) acc = C[m*N + n] + acc       (C's old value)
//   C[m*N + n] = gm_activate(act, acc)
// Shared-memory tiles hold zeros where m >= M or n >= N (those elements are never
// stored); columns k >= K are never read: the last k-tile runs only K - k0 steps, so
// no fma with padding touches a chain (fmaf(0, 0, -0) would turn -0 into +0).
template <bool TA, bool TB>
__device__ __forceinline__ void gm_gemm_tile(const float* __restrict__ A,
                                             const float* __restrict__ B,
                                             const float* __restrict__ bias, float* C,
                                             long long M, long long N, long long K,
                                             long long act, long long accumulate) {
    // As[kk][mm] = op(A)[m0+mm, k0+kk], Bs[kk][nn] = op(B)[k0+kk, n0+nn]. One float of
    // padding per row keeps the transposing stores (TA = 0, TB = 1) at 2-way bank
    // conflicts at most; the inner loop reads are broadcasts or consecutive.
    __shared__ float As[GM_GEMM_KT][GM_GEMM_TILE + 1];
    __shared__ float Bs[GM_GEMM_KT][GM_GEMM_TILE + 1];
    __shared__ float Cs[GM_GEMM_TILE][GM_GEMM_TILE + 1];  // the finished tile, for the epilogue
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int tid = ty * GM_GEMM_TPB + tx;
    // An unknown activation code gives NaN on both sides; keep out-of-int codes unknown.
    const int iact = (act < 0 || act > 255) ? -1 : (int)act;
    const long long tilesN = (N + GM_GEMM_TILE - 1) / GM_GEMM_TILE;
    const long long tiles = ((M + GM_GEMM_TILE - 1) / GM_GEMM_TILE) * tilesN;
    for (long long t = blockIdx.x; t < tiles; t += gridDim.x) {
        const long long m0 = (t / tilesN) * GM_GEMM_TILE;
        const long long n0 = (t % tilesN) * GM_GEMM_TILE;
        float acc[4][4];
#pragma unroll
        for (int i = 0; i < 4; i++)
#pragma unroll
            for (int j = 0; j < 4; j++) acc[i][j] = 0.0f;
        for (long long k0 = 0; k0 < K; k0 += GM_GEMM_KT) {
            // Each of the 256 threads loads 4 of the 1024 floats of each tile, reading
            // consecutive addresses across consecutive threads.
#pragma unroll
            for (int r = 0; r < 4; r++) {
                const int e = tid + 256 * r;
                int mm, kk;
                if (TA) { mm = e % GM_GEMM_TILE; kk = e / GM_GEMM_TILE; }
                else    { mm = e / GM_GEMM_KT;   kk = e % GM_GEMM_KT; }
                const long long m = m0 + mm, k = k0 + kk;
                float v = 0.0f;
                if (m < M && k < K) v = TA ? A[k * M + m] : A[m * K + k];
                As[kk][mm] = v;
            }
#pragma unroll
            for (int r = 0; r < 4; r++) {
                const int e = tid + 256 * r;
                int nn, kk;
                if (TB) { nn = e / GM_GEMM_KT;   kk = e % GM_GEMM_KT; }
                else    { nn = e % GM_GEMM_TILE; kk = e / GM_GEMM_TILE; }
                const long long n = n0 + nn, k = k0 + kk;
                float v = 0.0f;
                if (n < N && k < K) v = TB ? B[n * K + k] : B[k * N + n];
                Bs[kk][nn] = v;
            }
            __syncthreads();
            if (K - k0 >= GM_GEMM_KT) {
#pragma unroll
                for (int kk = 0; kk < GM_GEMM_KT; kk++) {
                    float a[4], b[4];
#pragma unroll
                    for (int i = 0; i < 4; i++) a[i] = As[kk][ty + GM_GEMM_TPB * i];
#pragma unroll
                    for (int j = 0; j < 4; j++) b[j] = Bs[kk][tx + GM_GEMM_TPB * j];
#pragma unroll
                    for (int i = 0; i < 4; i++)
#pragma unroll
                        for (int j = 0; j < 4; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
                }
            } else {
                const int kmax = (int)(K - k0);
                for (int kk = 0; kk < kmax; kk++) {
                    float a[4], b[4];
#pragma unroll
                    for (int i = 0; i < 4; i++) a[i] = As[kk][ty + GM_GEMM_TPB * i];
#pragma unroll
                    for (int j = 0; j < 4; j++) b[j] = Bs[kk][tx + GM_GEMM_TPB * j];
#pragma unroll
                    for (int i = 0; i < 4; i++)
#pragma unroll
                        for (int j = 0; j < 4; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
                }
            }
            __syncthreads();
        }
        // The epilogue runs once per element from a shared copy of the tile, in a loop
        // that is not unrolled, so gm_activate is inlined once rather than 16 times.
        // Thread tid finishes column tid % 64, rows tid / 64 + 4r (r = 0..15).
#pragma unroll
        for (int i = 0; i < 4; i++)
#pragma unroll
            for (int j = 0; j < 4; j++) Cs[ty + GM_GEMM_TPB * i][tx + GM_GEMM_TPB * j] = acc[i][j];
        __syncthreads();
        const int nn = tid % GM_GEMM_TILE;
        const long long n = n0 + nn;
        if (n < N) {
#pragma unroll 1
            for (int mm = tid / GM_GEMM_TILE; mm < GM_GEMM_TILE; mm += 256 / GM_GEMM_TILE) {
                const long long m = m0 + mm;
                if (m >= M) break;
                float v = Cs[mm][nn];
                if (bias != 0) v = v + bias[n];
                if (accumulate != 0) v = C[m * N + n] + v;
                C[m * N + n] = gm_activate(iact, v);
            }
        }
        __syncthreads();
    }
}

// gemm_nn: C(M,N) = epilogue(A(M,K) . B(K,N)); the order of gm_gemm_tile.
// A is (M,K), B is (K,N), bias is (N) or null, C is (M,N), all row-major.
// act: activation code of gm_activate (0 = none); accumulate != 0 adds C's old value.
// Block: exactly 16 x 16; any grid (grid-stride over the 64 x 64 tiles of C).
extern "C" __global__ void gemm_nn(const float* __restrict__ A, const float* __restrict__ B,
                                   const float* __restrict__ bias, float* C, long long M,
                                   long long N, long long K, long long act,
                                   long long accumulate) {
    gm_gemm_tile<false, false>(A, B, bias, C, M, N, K, act, accumulate);
}

// gemm_nt: C(M,N) = epilogue(A(M,K) . B(N,K)^T); the order of gm_gemm_tile.
// A is (M,K), B is (N,K), bias is (N) or null, C is (M,N), all row-major.
// Block: exactly 16 x 16; any grid.
extern "C" __global__ void gemm_nt(const float* __restrict__ A, const float* __restrict__ B,
                                   const float* __restrict__ bias, float* C, long long M,
                                   long long N, long long K, long long act,
                                   long long accumulate) {
    gm_gemm_tile<false, true>(A, B, bias, C, M, N, K, act, accumulate);
}

// gemm_tn: C(M,N) = epilogue(A(K,M)^T . B(K,N)); the order of gm_gemm_tile.
// A is (K,M), B is (K,N), bias is (N) or null, C is (M,N), all row-major.
// Block: exactly 16 x 16; any grid.
extern "C" __global__ void gemm_tn(const float* __restrict__ A, const float* __restrict__ B,
                                   const float* __restrict__ bias, float* C, long long M,
                                   long long N, long long K, long long act,
                                   long long accumulate) {
    gm_gemm_tile<true, false>(A, B, bias, C, M, N, K, act, accumulate);
}

// colsum: out[n] = (accumulate ? out[n] + s : s) with s = X[0,n] + X[1,n] + ... +
// X[M-1,n] summed sequentially from +0 in row order (s = s + X[m,n]); the old value is
// added after the sum. X is (M,N) row-major, out is (N). One grid-stride work item per
// column (consecutive threads read consecutive addresses); any block, any grid.
extern "C" __global__ void colsum(const float* __restrict__ X, float* out, long long M,
                                  long long N, long long accumulate) {
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long n = (long long)blockIdx.x * blockDim.x + threadIdx.x; n < N; n += stride) {
        float s = 0.0f;
        for (long long m = 0; m < M; m++) s = s + X[m * N + n];
        if (accumulate != 0) s = out[n] + s;
        out[n] = s;
    }
}
