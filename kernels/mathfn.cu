// mathfn.cu: the shared math of gm_math.cuh as a kernel, so that the PTX emulator (and a
// GPU) can compare the shipped math bit for bit with kernels/fmath on large sweeps.
// Twin: engine/cpu/mathfn.go (MathEval). No reductions.
#include "gm_math.cuh"

// Function codes of math_eval (cpu.MathFn* in engine/cpu/mathfn.go). Any other code
// writes NaN.
#define GM_FN_EXP 0
#define GM_FN_LOG 1
#define GM_FN_LOG1P 2
#define GM_FN_TANH 3
#define GM_FN_SIGMOID 4
#define GM_FN_SOFTPLUS 5
#define GM_FN_SIN 6
#define GM_FN_COS 7
#define GM_FN_SIN2PI 8
#define GM_FN_COS2PI 9

__device__ __forceinline__ float gm_math_eval1(long long fn, float v) {
    float s, c;
    switch (fn) {
        case GM_FN_EXP: return gm_exp(v);
        case GM_FN_LOG: return gm_log(v);
        case GM_FN_LOG1P: return gm_log1p(v);
        case GM_FN_TANH: return gm_tanh(v);
        case GM_FN_SIGMOID: return gm_sigmoid(v);
        case GM_FN_SOFTPLUS: return gm_softplus(v);
        case GM_FN_SIN: return gm_sin(v);
        case GM_FN_COS: return gm_cos(v);
        case GM_FN_SIN2PI: gm_sincos2pi(v, &s, &c); return s;
        case GM_FN_COS2PI: gm_sincos2pi(v, &s, &c); return c;
    }
    return GM_NAN;
}

// math_eval: y[i] = f_fn(x[i]) for i < n; x and y are (n), y may not alias x.
// fn: 0 exp, 1 log, 2 log1p, 3 tanh, 4 sigmoid, 5 softplus, 6 sin, 7 cos,
// 8 sin(2*pi*x), 9 cos(2*pi*x); any other code writes NaN. Grid-stride loop: any grid.
extern "C" __global__ void math_eval(const float* __restrict__ x, float* __restrict__ y,
                                     long long n, long long fn) {
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        y[i] = gm_math_eval1(fn, x[i]);
    }
}
