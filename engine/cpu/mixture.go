package cpu

// Twins of kernels/mixture.cu: the batched Gaussian-mixture log-likelihood, the row-wise
// log-sum-exp and softmax, and their gradients. Every formula, rounding and reduction
// order below is the kernel's; see the top of mixture.cu for the shapes and the
// non-finite behaviour.

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/gmvae/gmvae/kernels/fmath"
)

// mixParallel runs f over [0, items) split into contiguous chunks on all cores, when
// items*cost (a rough count of float operations) is worth it. Every item is computed
// by exactly one call in the same way whatever the split, so results never depend on
// the number of goroutines (DETERMINISM.md, rule 11).
func mixParallel(items, cost int, f func(lo, hi int)) {
	minWork := 1 << 15
	if ewAsm {
		minWork <<= 3 // the vector kernels do the work several times faster
	}
	workers := runtime.GOMAXPROCS(0)
	if items <= 0 {
		return
	}
	if workers <= 1 || items < 2 || items*cost < 2*minWork {
		f(0, items)
		return
	}
	parallelChunks(items, min(workers*4, items*cost/minWork), f)
}

// mixMax32 returns max_{i<n} f(i) in the order of mixture.cu's lane partials and
// gm_warp_max32: lane l folds f(l), f(l+32), ... into p from -Inf with
// p = (x > p || x != x) ? x : p; then a butterfly over lane offsets 16, 8, 4, 2, 1 of
// v = (o > v || o != o) ? o : v with o = v[l^off]; lane 0's value is the result. A NaN
// anywhere wins.
func mixMax32(n int, f func(i int) float32) float32 {
	var v [WarpLanes]float32
	for l := range v {
		v[l] = float32(math.Inf(-1))
	}
	for i := 0; i < n; i++ {
		x := f(i)
		if l := i % WarpLanes; x > v[l] || x != x {
			v[l] = x
		}
	}
	for off := WarpLanes / 2; off >= 1; off /= 2 {
		var w [WarpLanes]float32
		for l := 0; l < WarpLanes; l++ {
			o, p := v[l^off], v[l]
			if o > p || o != o {
				w[l] = o
			} else {
				w[l] = p
			}
		}
		v = w
	}
	return v[0]
}

// mixNeed panics unless every non-nil slice of s holds at least n elements: the
// vector kernels index without bounds checks, so the twins check first what the
// scalar loops would have indexed.
func mixNeed(n int, s ...[]float32) {
	for _, x := range s {
		if x != nil && len(x) < n {
			panic(fmt.Sprintf("cpu: slice of %d elements, the shapes need %d", len(x), n))
		}
	}
}

// mixRowLseSoftmax is the twin of gm_row_lse_softmax: for one row x (K = len(x)),
//
//	m = max_k x_k (mixMax32), e_k = (x_k == m) ? 1 : exp(x_k - m),
//	s = Sum32 of e_k, lse = m + log(s), resp_k = e_k / s.
//
// It writes *lse if lse is not nil and resp[k] if resp is not nil.
func mixRowLseSoftmax(x []float32, lse *float32, resp []float32) {
	mixRowLseSoftmaxBuf(x, lse, resp, nil)
}

// mixRowLseSoftmaxBuf is mixRowLseSoftmax with scratch buf (len >= len(x)) for the
// vector exponentials, or nil for the scalar loop.
func mixRowLseSoftmaxBuf(x []float32, lse *float32, resp []float32, buf []float32) {
	K := len(x)
	m := mixMax32(K, func(k int) float32 { return x[k] })
	if ewAsm && buf != nil {
		e := buf[:K]
		for k, v := range x {
			e[k] = v - m
		}
		ewVec(ewOpExp, e, e)
		for k, v := range x {
			if v == m {
				e[k] = 1
			}
		}
		s := sum32Slice(e)
		if lse != nil {
			*lse = m + fmath.Log(s)
		}
		for k := range resp {
			resp[k] = e[k] / s
		}
		return
	}
	ek := func(k int) float32 {
		if x[k] == m {
			return 1
		}
		return fmath.Exp(x[k] - m)
	}
	s := Sum32(K, ek)
	if lse != nil {
		*lse = m + fmath.Log(s)
	}
	if resp != nil {
		for k := 0; k < K; k++ {
			resp[k] = ek(k) / s
		}
	}
}

// mixTerm is the twin of gm_mix_term: fmaf((z-mu)*(z-mu), exp(-lv), log(2*pi) + lv),
// minus twice one dimension's contribution to log N(z; mu, lv), with e = exp(-lv)
// given (precomputed once per parameter when the parameters are shared: the same
// bits, fewer exps).
func mixTerm(z, mu, lv, e float32) float32 {
	diff := z - mu
	q := float32(diff * diff)
	return fmath.FMA(q, e, fmath.Log2Pi+lv)
}

// mixScratch recycles the twins' temporary tables, so that a training step on the
// CPU allocates nothing in steady state.
var mixScratch sync.Pool

// mixExpTable returns a scratch table of exp(sign*x[i]) (sign = +1 or -1), computed
// on all cores; release it with mixScratch.Put.
func mixExpTable(x []float32, sign float32) *[]float32 {
	p, _ := mixScratch.Get().(*[]float32)
	if p == nil || cap(*p) < len(x) {
		b := make([]float32, len(x))
		p = &b
	}
	t := (*p)[:len(x)]
	*p = t
	mixParallel(len(x), 24, func(lo, hi int) {
		if ewAsm {
			for i := lo; i < hi; i++ {
				t[i] = sign * x[i]
			}
			ewVec(ewOpExp, t[lo:hi], t[lo:hi])
			return
		}
		for i := lo; i < hi; i++ {
			t[i] = fmath.Exp(sign * x[i])
		}
	})
	return p
}

// MixtureLoglik computes, for n < N and k < K,
//
//	L[n,k] = logpi[n,k] + log N(z_n; mu_k, lv_k)
//	       = fmaf(-1/2, sum_d fmaf((z-mu)^2, exp(-lv), log(2*pi) + lv), logpi)
//
// (sum over d in the warp order, Sum32), and, when lse or resp is not nil, the row's
// stable log-sum-exp lse[n] = log sum_k exp L[n,k] and softmax resp[n,k] (see
// LseSoftmax for the order and for rows with infinities or NaN).
//
// Shapes: z (N, D); mu, lv (K, D) when paramStride == 0, else per sample with component
// k of sample n at n*paramStride + k*D (paramStride = K*D for (N, K, D)); logpi (K) when
// piStride == 0, (N, K) when piStride == K, or nil for zero weights (L is then the bare
// component log-density); L (N, K), required; lse (N) and resp (N, K) may be nil.
// Twin of the kernel mixture_loglik.
func MixtureLoglik(N, K, D int, z, mu, lv []float32, paramStride int, logpi []float32, piStride int,
	L, lse, resp []float32) {
	var eShared []float32
	if paramStride == 0 && N > 1 {
		t := mixExpTable(lv[:K*D], -1)
		defer mixScratch.Put(t)
		eShared = *t
	}
	mixParallel(N, K*D*8, func(lo, hi int) {
		var buf []float32 // the terms of one (n, k), then the exponentials of a row
		if ewAsm {
			buf = gemmGetBuf(max(D, K))
			defer gemmPutBuf(buf)
		}
		d8 := D &^ 7
		for n := lo; n < hi; n++ {
			zn := z[n*D : n*D+D]
			for k := 0; k < K; k++ {
				p := n*paramStride + k*D
				mk, lk := mu[p:p+D], lv[p:p+D]
				var acc float32
				if buf != nil {
					// The terms by mixTerms8 (the last D%8 by mixTerm), then Sum32.
					t := buf[:D]
					if eShared != nil {
						ek := eShared[p : p+D]
						if d8 > 0 {
							mixTerms8(&zn[0], &mk[0], &lk[0], &ek[0], &t[0], d8)
						}
						for d := d8; d < D; d++ {
							t[d] = mixTerm(zn[d], mk[d], lk[d], ek[d])
						}
					} else {
						if d8 > 0 {
							mixTermsExp8(&zn[0], &mk[0], &lk[0], &t[0], d8)
						}
						for d := d8; d < D; d++ {
							t[d] = mixTerm(zn[d], mk[d], lk[d], fmath.Exp(-lk[d]))
						}
					}
					acc = sum32Slice(t)
				} else if eShared != nil {
					ek := eShared[p : p+D]
					acc = Sum32(D, func(d int) float32 { return mixTerm(zn[d], mk[d], lk[d], ek[d]) })
				} else {
					acc = Sum32(D, func(d int) float32 { return mixTerm(zn[d], mk[d], lk[d], fmath.Exp(-lk[d])) })
				}
				var lp float32
				if logpi != nil {
					lp = logpi[n*piStride+k]
				}
				L[n*K+k] = fmath.FMA(-0.5, acc, lp)
			}
			if lse != nil || resp != nil {
				var lseN *float32
				if lse != nil {
					lseN = &lse[n]
				}
				var respN []float32
				if resp != nil {
					respN = resp[n*K : n*K+K]
				}
				mixRowLseSoftmaxBuf(L[n*K:n*K+K], lseN, respN, buf)
			}
		}
	})
}

// LseSoftmax computes, for every row n of x (N, K), the stable log-sum-exp and softmax
//
//	m = max_k x[n,k]        (lane partials and butterfly of the warp order; NaN wins)
//	e_k = (x[n,k] == m) ? 1 : exp(x[n,k] - m)
//	s = sum_k e_k           (Sum32)
//	lse[n] = m + log(s),    resp[n,k] = e_k / s.
//
// Rows: a NaN anywhere gives lse = NaN and resp = NaN; a maximum of +Inf gives lse =
// +Inf and resp = 1/c on the c entries equal to +Inf, 0 elsewhere; a maximum of -Inf
// (all entries -Inf) gives lse = -Inf and a uniform resp = 1/K. lse (N) and resp (N, K)
// may be nil. Twin of the kernel lse_softmax.
func LseSoftmax(N, K int, x, lse, resp []float32) {
	mixParallel(N, K*16, func(lo, hi int) {
		var buf []float32
		if ewAsm {
			buf = gemmGetBuf(K)
			defer gemmPutBuf(buf)
		}
		for n := lo; n < hi; n++ {
			var l *float32
			if lse != nil {
				l = &lse[n]
			}
			var r []float32
			if resp != nil {
				r = resp[n*K : n*K+K]
			}
			mixRowLseSoftmaxBuf(x[n*K:n*K+K], l, r, buf)
		}
	})
}

// LseSoftmaxBwd computes the gradient of (lse, resp) = LseSoftmax(x) with respect to x:
//
//	dot = sum_j gresp[n,j]*resp[n,j]         (Sum32 of rounded products)
//	g = resp[n,k] * (gresp[n,k] - dot)       (0 when gresp is nil)
//	g = fmaf(glse[n], resp[n,k], g)          (skipped when glse is nil)
//	gx[n,k] = g, or gx[n,k] + g when accumulate.
//
// resp, gresp, gx are (N, K); glse is (N); glse and gresp may be nil. Twin of the
// kernel lse_softmax_bwd.
func LseSoftmaxBwd(N, K int, resp, glse, gresp, gx []float32, accumulate bool) {
	mixParallel(N, K*8, func(lo, hi int) {
		for n := lo; n < hi; n++ {
			r := resp[n*K : n*K+K]
			var dot float32
			var gr []float32
			if gresp != nil {
				gr = gresp[n*K : n*K+K]
				dot = Sum32(K, func(k int) float32 { return float32(gr[k] * r[k]) })
			}
			var gl float32
			if glse != nil {
				gl = glse[n]
			}
			for k := 0; k < K; k++ {
				var g float32
				if gresp != nil {
					g = float32(r[k] * (gr[k] - dot))
				}
				if glse != nil {
					g = fmath.FMA(gl, r[k], g)
				}
				if accumulate {
					gx[n*K+k] += g
				} else {
					gx[n*K+k] = g
				}
			}
		}
	})
}

// MixtureBwdZ computes the gradient of L = MixtureLoglik(...) with respect to z:
//
//	dz[n,d] = -sum_k gL[n,k] * (z[n,d] - mu_k[d]) * exp(-lv_k[d])
//
// as acc = fmaf(gL[n,k], (z-mu)*exp(-lv), acc) over k = 0..K-1 in order from +0, then
// dz = -acc, or dz - acc when accumulate. z, dz (N, D); mu, lv as in MixtureLoglik
// (paramStride 0 or K*D); gL (N, K). Twin of the kernel mixture_bwd_z.
func MixtureBwdZ(N, K, D int, z, mu, lv []float32, paramStride int, gL, dz []float32, accumulate bool) {
	var eShared []float32
	if paramStride == 0 && N > 1 {
		t := mixExpTable(lv[:K*D], -1)
		defer mixScratch.Put(t)
		eShared = *t
	}
	d8 := 0
	if ewAsm && K > 0 && N > 0 {
		d8 = D &^ 7
		mixNeed(N*D, z, dz)
		mixNeed((N-1)*paramStride+K*D, mu, lv)
		mixNeed(N*K, gL)
	}
	accFlag := 0
	if accumulate {
		accFlag = 1
	}
	mixParallel(N, K*D*6, func(lo, hi int) {
		for n := lo; n < hi; n++ {
			if d8 > 0 {
				// The chains of d < d8 by the vector kernel, the rest below.
				if eShared != nil {
					mixBwdZ8(&z[n*D], &mu[n*paramStride], &eShared[n*paramStride], &gL[n*K], &dz[n*D], d8, K, D*4, accFlag)
				} else {
					mixBwdZExp8(&z[n*D], &mu[n*paramStride], &lv[n*paramStride], &gL[n*K], &dz[n*D], d8, K, D*4, accFlag)
				}
			}
			for d := d8; d < D; d++ {
				i := n*D + d
				zv := z[i]
				var acc float32
				for k := 0; k < K; k++ {
					p := n*paramStride + k*D + d
					var e float32
					if eShared != nil {
						e = eShared[p]
					} else {
						e = fmath.Exp(-lv[p])
					}
					u := float32((zv - mu[p]) * e)
					acc = fmath.FMA(gL[n*K+k], u, acc)
				}
				if accumulate {
					dz[i] -= acc
				} else {
					dz[i] = -acc
				}
			}
		}
	})
}

// mixGradMu and mixGradLv are the per-element factors of MixtureBwdParams:
// dL/dmu = (z-mu)*exp(-lv) and dL/dlv = -1/2 * fmaf(-(z-mu)^2, exp(-lv), 1).
func mixGradMu(diff, e float32) float32 { return float32(diff * e) }
func mixGradLv(diff, e float32) float32 {
	return float32(-0.5 * fmath.FMA(-float32(diff*diff), e, 1))
}

// MixtureBwdParams computes the gradient of L = MixtureLoglik(...) with respect to mu
// and lv. With diff = z - mu, e = exp(-lv), g = gL[n,k], a = diff*e and
// h = -1/2 * fmaf(-(diff*diff), e, 1):
//
//   - per-sample parameters (paramStride != 0; dmu, dlv laid out like mu):
//     dmu = g*a, dlv = g*h (added to the old values when accumulate);
//   - shared parameters (paramStride == 0; dmu, dlv (K, D)): over n = 0..N-1 in order
//     from +0, am = fmaf(g, a, am), ah = fmaf(g, h, ah); dmu = am, dlv = ah (or added).
//
// dmu and dlv may be nil. The gradient of log pi is gL itself ((N, K) weights) or its
// column sums ((K) weights). Twin of the kernel mixture_bwd_params.
func MixtureBwdParams(N, K, D int, z, mu, lv []float32, paramStride int, gL, dmu, dlv []float32,
	accumulate bool) {
	store := func(dst []float32, i int, v float32) {
		if accumulate {
			dst[i] += v
		} else {
			dst[i] = v
		}
	}
	if paramStride != 0 {
		d8 := 0
		if ewAsm && N > 0 && K > 0 {
			d8 = D &^ 7
			mixNeed(N*D, z)
			mixNeed((N-1)*paramStride+K*D, mu, lv, dmu, dlv)
		}
		flags := 0
		if dmu != nil {
			flags |= 1
		}
		if dlv != nil {
			flags |= 2
		}
		if accumulate {
			flags |= 4
		}
		mixParallel(N, K*D*8, func(lo, hi int) {
			for n := lo; n < hi; n++ {
				for k := 0; k < K; k++ {
					g := gL[n*K+k]
					if d8 > 0 && flags&3 != 0 {
						// d < d8 by the vector kernel (a nil output's pointer is never
						// touched), the rest below.
						p := n*paramStride + k*D
						var pm, pl *float32
						if dmu != nil {
							pm = &dmu[p]
						}
						if dlv != nil {
							pl = &dlv[p]
						}
						mixBwdPS8(&z[n*D], &mu[p], &lv[p], pm, pl, d8, g, flags)
					}
					for d := d8; d < D; d++ {
						p := n*paramStride + k*D + d
						diff := z[n*D+d] - mu[p]
						e := fmath.Exp(-lv[p])
						if dmu != nil {
							store(dmu, p, float32(g*mixGradMu(diff, e)))
						}
						if dlv != nil {
							store(dlv, p, float32(g*mixGradLv(diff, e)))
						}
					}
				}
			}
		})
		return
	}
	mixParallel(K*D, N*8, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			k, d := i/D, i%D
			m := mu[i]
			e := fmath.Exp(-lv[i])
			var am, ah float32
			for n := 0; n < N; n++ {
				diff := z[n*D+d] - m
				g := gL[n*K+k]
				am = fmath.FMA(g, mixGradMu(diff, e), am)
				ah = fmath.FMA(g, mixGradLv(diff, e), ah)
			}
			if dmu != nil {
				store(dmu, i, am)
			}
			if dlv != nil {
				store(dlv, i, ah)
			}
		}
	})
}
