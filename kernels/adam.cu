// adam.cu: the optimizer step, Adam with decoupled weight decay (AdamW; Kingma & Ba
// 2015, Loshchilov & Hutter 2019), in place on one parameter tensor and its two moment
// buffers. Twin: engine/cpu/adam.go (AdamStep). Elementwise: one grid-stride work item
// per element, no reductions.
// (no gm_math.cuh: only add, mul, div, sqrt and fma)

// adam_step: for every i, with c1 = 1.0f - beta1 and c2 = 1.0f - beta2 (each one
// subtraction, exact for beta in [0.5, 1] by Sterbenz's lemma), in exactly this order:
//   m1   = fmaf(beta1, m[i], c1 * g[i])
//   v1   = fmaf(beta2, v[i], (c2 * g[i]) * g[i])
//   mhat = m1 / bc1
//   vhat = v1 / bc2
//   u    = mhat / (sqrtf(vhat) + eps)
//   u    = fmaf(weight_decay, p[i], u)        only if weight_decay != 0 (0 = off, exactly)
//   p[i] = fmaf(-lr, u, p[i]);  m[i] = m1;  v[i] = v1
// i.e. p <- p - lr * (mhat / (sqrt(vhat) + eps) + wd * p), which is PyTorch's AdamW
// update p <- p * (1 - lr*wd) - lr * mhat / (sqrt(vhat) + eps) up to rounding.
// bc1 = 1 - beta1^t and bc2 = 1 - beta2^t (t = 1, 2, ... the step number) are computed
// by the host in float64 and rounded once (engine/cpu AdamBiasCorrections).
// A NaN (or Inf) in g propagates: m, v and p of that element become NaN and stay NaN;
// catching a non-finite loss or gradient before the step is the caller's job.
// p, g, m, v are (n) (any layout); g is read only.
extern "C" __global__ void adam_step(float* __restrict__ p, const float* __restrict__ g,
                                     float* __restrict__ m, float* __restrict__ v, long long n,
                                     float lr, float beta1, float beta2, float eps,
                                     float weight_decay, float bc1, float bc2) {
    const float c1 = 1.0f - beta1;
    const float c2 = 1.0f - beta2;
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const float gi = g[i];
        const float pi = p[i];
        const float m1 = fmaf(beta1, m[i], c1 * gi);
        const float v1 = fmaf(beta2, v[i], (c2 * gi) * gi);
        const float mhat = m1 / bc1;
        const float vhat = v1 / bc2;
        float u = mhat / (sqrtf(vhat) + eps);
        if (weight_decay != 0.0f) u = fmaf(weight_decay, pi, u);
        p[i] = fmaf(-lr, u, pi);
        m[i] = m1;
        v[i] = v1;
    }
}
