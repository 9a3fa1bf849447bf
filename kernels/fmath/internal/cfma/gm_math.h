// gm_math.cuh: the engine's float32 math, the same bits on every GPU and on the CPU.
// Twin: kernels/fmath (math.go, trig.go, activate.go). Keep the two in step, line for line.
//
// Every function here is built only from IEEE-754 add, sub, mul, div.rn, explicit fmaf,
// comparisons and bit manipulation (DETERMINISM.md, rule 1): never expf/logf/__expf/
// fmaxf, whose bits are unpublished or whose signed-zero choice differs. Compiled with
// -fmad=false, so every product not written as fmaf stays a rounded mul.rn, exactly as
// the Go twin's float32(a*b). The accuracy bounds quoted below are asserted by
// kernels/fmath's tests against float64 math over hundreds of millions of inputs (max
// error in float32 ulps of the exact result; the measured maxima are in their logs).
//
// Functions (float -> float unless said): gm_exp, gm_log, gm_log1p, gm_tanh,
// gm_sigmoid, gm_softplus, gm_sin, gm_cos, gm_sincos2pi(u, &s, &c),
// gm_activate(act, x), gm_activate_grad(act, x, y), constant GM_LOG_2PI.
#ifndef GM_MATH_CUH
#define GM_MATH_CUH

#include <float.h>
#include <string.h>

#define GM_MATH_FN __host__ __device__ __forceinline__

// Activation codes of gm_activate / gm_activate_grad (fmath.ActNone .. fmath.ActExp).
#define GM_ACT_NONE 0
#define GM_ACT_RELU 1
#define GM_ACT_TANH 2
#define GM_ACT_SIGMOID 3
#define GM_ACT_SOFTPLUS 4
#define GM_ACT_EXP 5

// log(2*pi) rounded to float (0x3feb3f8e).
#define GM_LOG_2PI 1.837877f

// Bit casts (float <-> int32). Device: the intrinsics; host: memcpy.
GM_MATH_FN int gm_f2i(float x) {
#ifdef __CUDA_ARCH__
    return __float_as_int(x);
#else
    int i;
    memcpy(&i, &x, sizeof i);
    return i;
#endif
}

GM_MATH_FN float gm_i2f(int i) {
#ifdef __CUDA_ARCH__
    return __int_as_float(i);
#else
    float x;
    memcpy(&x, &i, sizeof x);
    return x;
#endif
}

#define GM_INF gm_i2f(0x7f800000)
#define GM_NAN gm_i2f(0x7fffffff)
// 1.5*2^23: adding it to |v| < 2^22 rounds v to the nearest integer (ties to even),
// and the integer is then the low bits of the sum's representation.
#define GM_RINT_MAGIC 12582912.0f
#define GM_RINT_MAGIC_BITS 0x4b400000

// gm_pow2i returns 2^k for -126 <= k <= 127, built from the exponent bits.
GM_MATH_FN float gm_pow2i(int k) { return gm_i2f((k + 127) << 23); }

// gm_copysign returns |a| with the sign bit of b.
GM_MATH_FN float gm_copysign(float a, float b) {
    return gm_i2f((gm_f2i(a) & 0x7fffffff) | (gm_f2i(b) & (int)0x80000000));
}

// gm_exp returns e^x. Max error 1 ulp (measured: see fmath.TestExp), subnormal results
// included. exp(NaN) = NaN, exp(+Inf) = +Inf, exp(-Inf) = +0, overflow (x > 88.7228)
// gives +Inf, x < -103.98 gives +0.
//
// x = k*ln2 + r with k = rint(x/ln2) and |r| <= ln2/2 (Cody-Waite: ln2 = L1 + L2 with
// L1 = float(ln2); x - k*L1 is exact in the fma), e^r by a degree-7 Taylor polynomial
// (Horner, fmaf), then e^x = e^r * 2^k through the exponent bits, in two exact
// steps and one final rounding when 2^k is not a normal float.
GM_MATH_FN float gm_exp(float x) {
    if (!(x == x)) return x + x;
    if (x > 88.8f) return GM_INF;
    if (x < -104.0f) return 0.0f;
    const float t = fmaf(x, 1.442695f, GM_RINT_MAGIC);
    const float kf = t - GM_RINT_MAGIC;
    int k = gm_f2i(t) - GM_RINT_MAGIC_BITS;  // in [-150, 128]
    float r = fmaf(kf, -0.6931472f, x);      // exact
    r = fmaf(kf, 1.9046542e-09f, r);
    float p = 0.0001984127f;
    p = fmaf(p, r, 0.0013888889f);
    p = fmaf(p, r, 0.008333334f);
    p = fmaf(p, r, 0.041666668f);
    p = fmaf(p, r, 0.16666667f);
    p = fmaf(p, r, 0.5f);
    p = fmaf(p, r, 1.0f);
    p = fmaf(p, r, 1.0f);
    if (k > 127) {  // k == 128: e^x = (p*2) * 2^127, overflowing in the last product
        p = p * 2.0f;
        k = k - 1;
    } else if (k < -126) {  // subnormal result: p*2^(k+64) is exact, *2^-64 rounds once
        p = p * gm_pow2i(k + 64);
        k = -64;
    }
    return p * gm_pow2i(k);
}

// gm_div1p returns n/(1+e) for finite e >= 0, with the rounding errors of 1+e and of
// the division corrected: d = 1+e and its exact error err (Fast2Sum), q = n/d, the
// residual n - q*(d+err) (n - q*d is exact in the fma), and q + residual/d.
GM_MATH_FN float gm_div1p(float n, float e) {
    const float d = 1.0f + e;
    const float err = e >= 1.0f ? (e - d) + 1.0f : (1.0f - d) + e;
    const float q = n / d;
    const float r = fmaf(-q, d, n) - q * err;
    return q + r / d;
}

// gm_log_core returns log(x) + c for finite x > 0 (normal or subnormal) and a small
// correction c (0 for log; log1p's rounding correction). x = 2^k * m with m in
// [sqrt(1/2), sqrt(2)), f = m - 1 (exact), s = f/(2+f), and
// log(1+f) = f - f^2/2 + s*(f^2/2 + R(s^2)) (the FreeBSD logf scheme; R's
// coefficients Lg1..Lg4 from FreeBSD, |error of R| < 2^-34.24), k*ln2 added last in
// one fma.
GM_MATH_FN float gm_log_core(float x, float c) {
    int k = 0;
    if (x < FLT_MIN) {  // subnormal: scale by 2^24 (exact)
        x = x * 16777216.0f;
        k = -24;
    }
    int ix = gm_f2i(x) + (0x3f800000 - 0x3f3504f3);
    k = k + (ix >> 23) - 127;
    ix = (ix & 0x007fffff) + 0x3f3504f3;
    const float f = gm_i2f(ix) - 1.0f;
    const float s = f / (2.0f + f);
    const float z = s * s;
    float R = 0.24279079f;
    R = fmaf(R, z, 0.28498787f);
    R = fmaf(R, z, 0.40000972f);
    R = fmaf(R, z, 0.6666666f);
    R = z * R;
    const float hfsq = 0.5f * f * f;
    const float dk = (float)k;
    const float lo = fmaf(s, hfsq + R, fmaf(dk, -1.9046542e-09f, c));
    return fmaf(dk, 0.6931472f, f - (hfsq - lo));
}

// gm_log returns the natural logarithm of x; max error 1 ulp. log(+-0) = -Inf, log(x<0) = NaN,
// log(+Inf) = +Inf, log(NaN) = NaN.
GM_MATH_FN float gm_log(float x) {
    if (!(x > 0.0f)) {
        if (x == 0.0f) return -GM_INF;
        return GM_NAN;  // x < 0 or NaN
    }
    if (x == GM_INF) return x;
    return gm_log_core(x, 0.0f);
}

// gm_log1p returns log(1+x), max error 1 ulp, near 0 too: u = 1+x is rounded, and the
// rounding error (computed exactly) divided by u is added as a first-order correction.
// log1p(+-0) = +-0, log1p(-1) = -Inf, log1p(x<-1) = NaN, log1p(+Inf) = +Inf.
GM_MATH_FN float gm_log1p(float x) {
    if (!(x > -1.0f)) {
        if (x == -1.0f) return -GM_INF;
        return GM_NAN;  // x < -1 or NaN
    }
    if (x == GM_INF || x == 0.0f) return x;
    const float u = 1.0f + x;
    float c = (u > 2.0f) ? 1.0f - (u - x) : x - (u - 1.0f);  // exact: (1+x) - u
    c = c / u;
    return gm_log_core(u, c);
}

// gm_tanh returns tanh(x), max error 1.5 ulp, odd: for |x| < 0.55 x + x^3*P(x^2) (P a
// degree-4 minimax fit, relative error 2^-29.8), for 0.55 <= |x| < 9.1
// 1 - 2/(1+e^(2|x|)) (gm_div1p), beyond +-1 (tanh(9.1) rounds to 1), with x's sign.
// tanh(+-0) = +-0, tanh(+-Inf) = +-1, tanh(NaN) = NaN.
GM_MATH_FN float gm_tanh(float x) {
    if (!(x == x)) return x + x;
    const float a = gm_copysign(x, 1.0f);
    float y;
    if (a < 0.55f) {
        const float z = a * a;
        float p = -0.0062742396f;
        p = fmaf(p, z, 0.021071678f);
        p = fmaf(p, z, -0.05385231f);
        p = fmaf(p, z, 0.13332586f);
        p = fmaf(p, z, -0.33333316f);
        y = fmaf(a * z, p, a);
    } else if (a < 9.1f) {
        y = 1.0f - gm_div1p(2.0f, gm_exp(2.0f * a));
    } else {
        y = 1.0f;
    }
    return gm_copysign(y, x);
}

// gm_sigmoid returns 1/(1+e^-x) without overflow, max error 2 ulp: 1/(1+e^-x) for
// x >= 0, e^x/(1+e^x) for x < 0 (both by gm_div1p). sigmoid(+Inf) = 1,
// sigmoid(-Inf) = 0, sigmoid(NaN) = NaN.
GM_MATH_FN float gm_sigmoid(float x) {
    if (!(x == x)) return x + x;
    if (x >= 0.0f) return gm_div1p(1.0f, gm_exp(-x));
    const float e = gm_exp(x);
    return gm_div1p(e, e);
}

// gm_softplus returns log(1+e^x) = max(x,0) + log1p(e^-|x|), max error 2 ulp (never
// overflows; equals x once the log1p term is below half an ulp of x).
// softplus(+Inf) = +Inf, softplus(-Inf) = +0, softplus(NaN) = NaN.
GM_MATH_FN float gm_softplus(float x) {
    if (!(x == x)) return x + x;
    const float l = gm_log1p(gm_exp(gm_copysign(x, -1.0f)));
    return x > 0.0f ? x + l : l;  // not max(x,0) + l: nvcc would emit max.f32
}

// gm_sincos_poly evaluates sin(r) and cos(r) for |r| <= pi/4 (Taylor to r^9 and
// r^10, Horner in z = r*r).
GM_MATH_FN void gm_sincos_poly(float r, float* sr, float* cr) {
    const float z = r * r;
    float ps = 2.7557319e-06f;
    ps = fmaf(ps, z, -0.0001984127f);
    ps = fmaf(ps, z, 0.008333334f);
    ps = fmaf(ps, z, -0.16666667f);
    *sr = fmaf(r * z, ps, r);
    float pc = -2.755732e-07f;
    pc = fmaf(pc, z, 2.4801588e-05f);
    pc = fmaf(pc, z, -0.0013888889f);
    pc = fmaf(pc, z, 0.041666668f);
    pc = fmaf(pc, z, -0.5f);
    *cr = fmaf(z, pc, 1.0f);
}

// Arguments up to GM_TRIG_CW_MAX are reduced by Cody-Waite (gm_trig_reduce_cw), larger
// ones by Payne-Hanek (gm_trig_reduce_ph).
#define GM_TRIG_CW_MAX 131072.0f

// gm_trig_reduce_cw: x = k*pi/2 + r with k = rint(x*2/pi), pi/2 = P1 + P2 + P3
// (Cody-Waite, one fma per step, the first exact for |k| < 4.8e6); returns k mod 4.
GM_MATH_FN int gm_trig_reduce_cw(float x, float* r) {
    const float t = fmaf(x, 0.63661975f, GM_RINT_MAGIC);
    const float kf = t - GM_RINT_MAGIC;
    const int k = gm_f2i(t) - GM_RINT_MAGIC_BITS;
    float rr = fmaf(kf, -1.5707964f, x);
    rr = fmaf(kf, 4.371139e-08f, rr);
    *r = fmaf(kf, 1.7151245e-15f, rr);
    return k & 3;
}

// gm_2opi_word returns word j (0..7) of 2/pi in 32-bit fixed point, after one zero
// word: word j holds the bits of weight 2^(31-32j) .. 2^(-32j) of 2/pi.
GM_MATH_FN unsigned gm_2opi_word(int j) {
    return j == 0 ? 0u
         : j == 1 ? 0xa2f9836eu
         : j == 2 ? 0x4e441529u
         : j == 3 ? 0xfc2757d1u
         : j == 4 ? 0xf534ddc0u
         : j == 5 ? 0xdb629599u
         : j == 6 ? 0x3c439041u
                  : 0xfe5163abu;
}

// gm_2opi_window returns 32 bits of the stream of gm_2opi_word, starting at bit b.
GM_MATH_FN unsigned gm_2opi_window(int b) {
    const int j = b >> 5;
    const unsigned long long w =
        ((unsigned long long)gm_2opi_word(j) << 32) | (unsigned long long)gm_2opi_word(j + 1);
    return (unsigned)(w >> (32 - (b & 31)));
}

// gm_clz64 counts the leading zero bits of v != 0.
GM_MATH_FN int gm_clz64(unsigned long long v) {
#ifdef __CUDA_ARCH__
    return __clzll((long long)v);
#else
    return __builtin_clzll(v);
#endif
}

// gm_trig_reduce_ph: x = k*pi/2 + r for finite |x| >= 2^17 (Payne-Hanek, in integers):
// |x| = M*2^E with M the 24-bit integer mantissa, and |x|*2/pi mod 4 = (M*W mod 2^96)
// * 2^-94, where W is the 96-bit window of 2/pi starting at the bit of weight 2^(1-E)
// (the bits before it contribute multiples of 4). The integer part (rounded to nearest)
// is k mod 4; the fraction f, |f| <= 1/2, keeps 64 bits, split exactly into two
// floats fh + fl, and r = (fh + fl)*(P1 + P2) with fmas. Returns k mod 4.
GM_MATH_FN int gm_trig_reduce_ph(float x, float* r) {
    const int ix = gm_f2i(x);
    const unsigned long long M = (unsigned long long)((ix & 0x007fffff) | 0x00800000);
    const int E = ((ix >> 23) & 0xff) - 150;  // >= -7 here
    const int b = E + 30;                     // stream bit of weight 2^(1-E)
    const unsigned long long w0 = gm_2opi_window(b);
    const unsigned long long w1 = gm_2opi_window(b + 32);
    const unsigned long long w2 = gm_2opi_window(b + 64);
    const unsigned long long p2 = M * w2;
    const unsigned long long p1 = M * w1 + (p2 >> 32);
    const unsigned long long p0 = M * w0 + (p1 >> 32);
    const unsigned hi = (unsigned)p0, mid = (unsigned)p1, lo = (unsigned)p2;
    int q = (int)(hi >> 30);
    unsigned long long f = ((unsigned long long)(hi & 0x3fffffffu) << 34) |
                           ((unsigned long long)mid << 2) | (unsigned long long)(lo >> 30);
    int neg = 0;
    if (f >= 0x8000000000000000ull) {  // fraction >= 1/2: round k up, f - 1 < 0
        q = q + 1;
        f = 0ull - f;
        neg = 1;
    }
    float rr = 0.0f;
    if (f != 0ull) {
        const int lz = gm_clz64(f);  // >= 1
        const unsigned long long m = f << lz;
        const float fh = (float)(unsigned)(m >> 40) * gm_pow2i(-24 - lz);
        const float fl = (float)((unsigned)(m >> 16) & 0x00ffffffu) * gm_pow2i(-48 - lz);
        rr = fmaf(fh, 1.5707964f, fmaf(fl, 1.5707964f, fh * -4.371139e-08f));
    }
    if (neg) rr = -rr;
    if (x < 0.0f) {
        rr = -rr;
        q = -q;
    }
    *r = rr;
    return q & 3;
}

// gm_trig_reduce reduces finite x to x = k*pi/2 + r, |r| <= ~pi/4, sets sin(r) and
// cos(r) and returns k mod 4.
GM_MATH_FN int gm_trig_reduce(float x, float* sr, float* cr) {
    float r;
    const int q = gm_copysign(x, 1.0f) <= GM_TRIG_CW_MAX ? gm_trig_reduce_cw(x, &r)
                                                          : gm_trig_reduce_ph(x, &r);
    gm_sincos_poly(r, sr, cr);
    return q;
}

// gm_sin returns sin(x) for any finite x, max error 2 ulp. sin(x) = x for
// |x| < 2^-12 (so sin(+-0) = +-0), sin(+-Inf) = sin(NaN) = NaN.
GM_MATH_FN float gm_sin(float x) {
    const float a = gm_copysign(x, 1.0f);
    if (!(a <= FLT_MAX)) return GM_NAN;
    if (a < 0.000244140625f) return x;  // 2^-12: sin(x) rounds to x (keeps -0)
    float s, c;
    const int q = gm_trig_reduce(x, &s, &c);
    if (q == 0) return s;
    if (q == 1) return c;
    if (q == 2) return -s;
    return -c;
}

// gm_cos returns cos(x) for any finite x, max error 2 ulp. cos(+-Inf) = cos(NaN)
// = NaN.
GM_MATH_FN float gm_cos(float x) {
    if (!(gm_copysign(x, 1.0f) <= FLT_MAX)) return GM_NAN;
    float s, c;
    const int q = gm_trig_reduce(x, &s, &c);
    if (q == 0) return c;
    if (q == 1) return -s;
    if (q == 2) return -c;
    return s;
}

// gm_sincos2pi sets *s = sin(2*pi*u) and *c = cos(2*pi*u) for any finite u (Box-Muller's
// angle), max error 1.5 ulp: v = u - rint(u) is exact, so is w = v - q/4 with q = rint(4v), and
// sin/cos(2*pi*w), |w| <= 1/8, come from polynomials in w (2*pi split in two for the
// leading term). Exact zeros are +0 in the cosine and carry u's sign in the sine
// (sin(2*pi*n) = +-0 for integer n); non-finite u gives NaN in both.
GM_MATH_FN void gm_sincos2pi(float u, float* s, float* c) {
    if (!(u - u == 0.0f)) {
        *s = GM_NAN;
        *c = GM_NAN;
        return;
    }
    const float a = gm_copysign(u, 1.0f);
    const float n = a < 8388608.0f ? (a + 8388608.0f) - 8388608.0f : a;  // rint(a)
    const float v = a - n;                                                 // exact
    const float t = fmaf(v, 4.0f, GM_RINT_MAGIC);
    const float qf = t - GM_RINT_MAGIC;
    const int q = (gm_f2i(t) - GM_RINT_MAGIC_BITS) & 3;
    const float w = fmaf(qf, -0.25f, v);  // exact, |w| <= 1/8
    const float z = w * w;
    float ps = 42.058693f;
    ps = fmaf(ps, z, -76.70586f);
    ps = fmaf(ps, z, 81.60525f);
    ps = fmaf(ps, z, -41.3417f);
    ps = fmaf(ps, z, -1.7484555e-07f);  // low part of 2*pi
    const float sw = fmaf(w, 6.2831855f, w * ps);
    float pc = -26.426256f;
    pc = fmaf(pc, z, 60.24464f);
    pc = fmaf(pc, z, -85.45682f);
    pc = fmaf(pc, z, 64.93939f);
    pc = fmaf(pc, z, -19.739208f);
    const float cw = fmaf(z, pc, 1.0f);
    // Negations are written 0 - v so that an exact zero comes out +0 (sin(2*pi*0.5) = +0);
    // the sine then takes u's sign (odd, including u = -0).
    float ss, cc;
    if (q == 0) {
        ss = sw;
        cc = cw;
    } else if (q == 1) {
        ss = cw;
        cc = 0.0f - sw;
    } else if (q == 2) {
        ss = 0.0f - sw;
        cc = 0.0f - cw;
    } else {
        ss = 0.0f - cw;
        cc = sw;
    }
    *s = gm_f2i(u) < 0 ? -ss : ss;
    *c = cc;
}

// gm_activate applies activation act to x:
//   GM_ACT_NONE     x
//   GM_ACT_RELU     x > 0 ? x : +0; NaN propagates (relu(NaN) = NaN), relu(-0) = +0
//   GM_ACT_TANH     gm_tanh(x)
//   GM_ACT_SIGMOID  gm_sigmoid(x)
//   GM_ACT_SOFTPLUS gm_softplus(x)
//   GM_ACT_EXP      gm_exp(x)
// An unknown code gives NaN.
GM_MATH_FN float gm_activate(int act, float x) {
    switch (act) {
        case GM_ACT_NONE: return x;
        case GM_ACT_RELU: return (x > 0.0f || !(x == x)) ? x : 0.0f;
        case GM_ACT_TANH: return gm_tanh(x);
        case GM_ACT_SIGMOID: return gm_sigmoid(x);
        case GM_ACT_SOFTPLUS: return gm_softplus(x);
        case GM_ACT_EXP: return gm_exp(x);
    }
    return GM_NAN;
}

// gm_activate_grad returns dy/dx of gm_activate(act, .) at input x with output y:
//   GM_ACT_NONE     1
//   GM_ACT_RELU     x > 0 ? 1 : 0 (0 at x = 0 and for NaN x)
//   GM_ACT_TANH     1 - y*y, as fmaf(-y, y, 1)
//   GM_ACT_SIGMOID  y*(1-y)
//   GM_ACT_SOFTPLUS gm_sigmoid(x)
//   GM_ACT_EXP      y
// An unknown code gives NaN.
GM_MATH_FN float gm_activate_grad(int act, float x, float y) {
    switch (act) {
        case GM_ACT_NONE: return 1.0f;
        case GM_ACT_RELU: return x > 0.0f ? 1.0f : 0.0f;
        case GM_ACT_TANH: return fmaf(-y, y, 1.0f);
        case GM_ACT_SIGMOID: return y * (1.0f - y);
        case GM_ACT_SOFTPLUS: return gm_sigmoid(x);
        case GM_ACT_EXP: return y;
    }
    return GM_NAN;
}

#endif  // GM_MATH_CUH
