// Package cluster fits the classical clustering baselines on the engine's kernels:
// k-means (k-means++ seeding, Lloyd iterations, restarts) and a Gaussian mixture with
// diagonal or full covariances fitted by EM (restarts, a variance floor; GMM.BIC to
// choose between them without labels). They are the
// baselines that deep clustering is compared with (GMVAE.md, "Classical baselines on
// the same kernels"), and a VaDE model's prior is initialised from a GMM fitted on the
// latent means (model C). scikit-learn's KMeans and GaussianMixture(covariance_type=
// "diag" or "full") are the reference: the algorithms, defaults and stopping rules below are
// theirs, and bench/cluster compares the results.
//
// Everything runs on any engine.Backend through the typed ops, and the results (centers,
// weights, means, variances, labels, inertia, log-likelihood) are the same bits on the
// CPU backend, the PTX emulator and a GPU: the kernels are bit-exact across backends
// (shared/design/DETERMINISM.md), the host does the rest in a fixed order, and every
// random number comes from kernels/philox.
//
// # Data and chunks
//
// x is (n, d) row-major float32 on the backend. The fits stream it in chunks of
// chunkRows = 4096 rows (fewer in the last chunk), so device scratch memory is a few
// chunk-sized buffers whatever n is. The chunk size is a fixed constant, part of the
// definition of the results: sums over rows are float32 within a chunk (in the kernels'
// order) and float64 across chunks, added on the host in chunk order, so a different
// chunk size would round differently. Within a chunk:
//
//   - column sums (Colsum): sequential over the chunk's rows from +0;
//   - weighted sums respᵀ·X (GemmTN): per output element one fma per row, in row
//     order, from +0;
//   - a row's distances or log-densities (MixtureLoglik): the kernel's warp order over
//     the d features.
//
// Host sums over all n rows (inertia, total potential, log-likelihood) are float64 in
// row order. Host arithmetic on the small (K, d) statistics is float64 with every
// product written as an explicit conversion, float64(a*b), so that no compiler may fuse
// it into an FMA (DETERMINISM.md, rule 4); parameters are rounded to float32 once.
// Logarithms of the parameters use the engine's shared float32 math (kernels/fmath,
// the kernels' own log), not math.Log, whose assembly on amd64 and pure Go elsewhere
// may differ in the last bit.
//
// # Distances
//
// k-means needs squared Euclidean distances. They come from the mixture kernel
// (ops.MixtureLoglik) with shared parameters mu = the centers and every log-variance
// lv = -log(2π) (fmath.Log2Pi, the kernel's own float32 constant): the kernel's
// per-feature term fmaf((x-c)², exp(-lv), log(2π) + lv) then has an exactly zero
// constant, so each term is (x-c)² times e = exp(log 2π) ≈ 6.283185 (fmath.Exp, the
// kernel's exp) rounded once, and L = -e·||x-c||²/2. The squared distance is
// -2L/e. Unlike lv = 0, whose constant log(2π) is added to every term, nothing swamps
// small distances: the relative error is a few float32 ulps per feature whatever the
// scale of the data. The nearest center is the first index of the largest L (ties:
// the lowest index).
//
// # Random numbers
//
// Random numbers are Philox-4x32-10 blocks (kernels/philox) keyed by the config's Seed,
// on stream kernels.StreamID(restart, tag + step), one uniform in (0, 1) per two 32-bit
// words: u = ((w0>>6)·2^26 + (w1>>6) + 1/2) / 2^52, uniform i from words 2(i%2) and
// 2(i%2)+1 of block i/2. Tags: k-means++ step c of restart r (c = 0: the first center)
// uses tag 0x4B000000 + c; the random responsibilities of GMM restart r use tag
// 0x52000000 (uniform i = row·K + k).
package cluster
