// augment.cu: data augmentation of grey images by a small random rotation and shift per
// image (as DEC-DA's augmentation of MNIST), drawn from the counter-based generator of
// gm_philox.cuh so that a run stays bit-reproducible. Twin: engine/cpu/augment.go
// (AugmentAffine).
//
// augment_affine: x and y are n images of h x w pixels, row-major, (n, h*w). Image r
// takes block r of Philox stream (seed, stream):
//   u0, u1, u2 = gm_uniform01(words 0, 1, 2)
//   turns = (2*u0 - 1) * max_turns        (2*u0 - 1 is exact; one rounding after)
//   tx    = (2*u1 - 1) * max_shift        (pixels, along the columns)
//   ty    = (2*u2 - 1) * max_shift        (pixels, along the rows)
//   (s, c) = gm_sincos2pi(turns)
// Output pixel (i, j) of image r reads the input at
//   dx = (j - cx) - tx,  dy = (i - cy) - ty,   cx = (w-1)/2, cy = (h-1)/2 (exact)
//   sx = fmaf(c, dx, s*dy) + cx,   sy = fmaf(c, dy, -(s*dx)) + cy
// (the image turned by `turns` about its centre, then shifted by (tx, ty)), and
// interpolates bilinearly between the four pixels around (sx, sy), those outside the
// image being 0:
//   x0 = floor(sx), y0 = floor(sy), fx = sx - x0, fy = sy - y0   (exact)
//   top = fmaf(fx, p(y0, x0+1), (1 - fx) * p(y0, x0))
//   bot = fmaf(fx, p(y0+1, x0+1), (1 - fx) * p(y0+1, x0))
//   y   = fmaf(fy, bot, (1 - fy) * top)
// Coordinates are compared with the image's bounds as floats before any conversion to
// an integer (DETERMINISM.md, rule 7). Elementwise over the n*h*w output pixels, grid
// stride; every pixel recomputes its image's parameters (10 Philox rounds), so nothing
// depends on the launch shape. y must not alias x.
#include "gm_math.cuh"
#include "gm_philox.cuh"

// gm_aug_pixel returns pixel (yi, xi) of an h x w image, 0 outside it; yi and xi are
// integral floats.
__device__ __forceinline__ float gm_aug_pixel(const float* __restrict__ img, float yi, float xi,
                                              long long h, long long w) {
    if (!(yi >= 0.0f && yi < (float)h && xi >= 0.0f && xi < (float)w)) return 0.0f;
    return img[(long long)yi * w + (long long)xi];
}

extern "C" __global__ void augment_affine(const float* __restrict__ x, float* __restrict__ y,
                                          long long n, long long h, long long w, float max_shift,
                                          float max_turns, unsigned long long seed,
                                          unsigned long long stream) {
    const long long hw = h * w;
    const long long total = n * hw;
    const long long stride = (long long)gridDim.x * blockDim.x;
    const float cx = (float)(w - 1) * 0.5f;
    const float cy = (float)(h - 1) * 0.5f;
    for (long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += stride) {
        const long long r = e / hw;
        const long long p = e - r * hw;
        const long long i = p / w;
        const long long j = p - i * w;
        const gm_u32x4 b = gm_philox_block(seed, stream, (unsigned long long)r);
        const float u0 = gm_uniform01(b.x);
        const float u1 = gm_uniform01(b.y);
        const float u2 = gm_uniform01(b.z);
        const float turns = (2.0f * u0 - 1.0f) * max_turns;
        const float tx = (2.0f * u1 - 1.0f) * max_shift;
        const float ty = (2.0f * u2 - 1.0f) * max_shift;
        float s, c;
        gm_sincos2pi(turns, &s, &c);
        const float dx = ((float)j - cx) - tx;
        const float dy = ((float)i - cy) - ty;
        const float sx = fmaf(c, dx, s * dy) + cx;
        const float sy = fmaf(c, dy, -(s * dx)) + cy;
        const float x0 = floorf(sx);
        const float y0 = floorf(sy);
        const float fx = sx - x0;
        const float fy = sy - y0;
        const float* img = x + r * hw;
        const float p00 = gm_aug_pixel(img, y0, x0, h, w);
        const float p01 = gm_aug_pixel(img, y0, x0 + 1.0f, h, w);
        const float p10 = gm_aug_pixel(img, y0 + 1.0f, x0, h, w);
        const float p11 = gm_aug_pixel(img, y0 + 1.0f, x0 + 1.0f, h, w);
        const float top = fmaf(fx, p01, (1.0f - fx) * p00);
        const float bot = fmaf(fx, p11, (1.0f - fx) * p10);
        y[e] = fmaf(fy, bot, (1.0f - fy) * top);
    }
}
