package cpu

// Twins of kernels/kl.cu: closed-form KL divergences between diagonal Gaussians (mean
// and log-variance) and their gradients. Every formula, rounding and reduction order
// below is the kernel's; see the top of kl.cu.

import "github.com/gmvae/gmvae/kernels/fmath"

// klTerm is one dimension's term of kl_mixture (twice its contribution to the KL):
// fmaf(fmaf(diff, diff, exp(s)), exp(-lv), (lv - s) - 1) with diff = m - mu, given
// es = exp(s) and e = exp(-lv) (tabulated by the callers: the same bits, fewer exps).
func klTerm(m, s, mu, lv, es, e float32) float32 {
	diff := m - mu
	a := fmath.FMA(diff, diff, es)
	return fmath.FMA(a, e, (lv-s)-1)
}

// klTables returns scratch tables of exp(s) (N*D) and, for shared parameters,
// exp(-lv) (K*D; nil per sample), and a function that releases them.
func klTables(N, K, D int, s, lv []float32, paramStride int) (es, e []float32, release func()) {
	te := mixExpTable(s[:N*D], 1)
	es = *te
	if paramStride != 0 {
		return es, nil, func() { mixScratch.Put(te) }
	}
	tl := mixExpTable(lv[:K*D], -1)
	return es, *tl, func() { mixScratch.Put(te); mixScratch.Put(tl) }
}

// KlMixture computes, for n < N and k < K,
//
//	KL[n,k] = KL( N(m_n, s_n) || N(mu_k, lv_k) )
//	        = 1/2 sum_d [ lv - s + (exp(s) + (m-mu)^2) exp(-lv) - 1 ]
//
// (s, lv log-variances) as 0.5 * Sum32 over d of
// fmaf(fmaf(m-mu, m-mu, exp(s)), exp(-lv), (lv - s) - 1).
// Shapes: m, s (N, D); mu, lv (K, D) when paramStride == 0, else component k of sample
// n at n*paramStride + k*D (paramStride = K*D for (N, K, D)); KL (N, K).
// Twin of the kernel kl_mixture.
func KlMixture(N, K, D int, m, s, mu, lv []float32, paramStride int, KL []float32) {
	es, eShared, release := klTables(N, K, D, s, lv, paramStride)
	defer release()
	mixParallel(N, K*D*10, func(lo, hi int) {
		var t []float32 // the terms of one (n, k), for the vector kernels
		if ewAsm {
			t = gemmGetBuf(D)
			defer gemmPutBuf(t)
		}
		d8 := D &^ 7
		for n := lo; n < hi; n++ {
			mn, sn, esn := m[n*D:n*D+D], s[n*D:n*D+D], es[n*D:n*D+D]
			for k := 0; k < K; k++ {
				p := n*paramStride + k*D
				mk, lk := mu[p:p+D], lv[p:p+D]
				var acc float32
				if t != nil {
					// The terms by klTerms8 (the last D%8 by klTerm), then Sum32.
					if eShared != nil {
						ek := eShared[p : p+D]
						if d8 > 0 {
							klTerms8(&mn[0], &sn[0], &mk[0], &lk[0], &esn[0], &ek[0], &t[0], d8)
						}
						for d := d8; d < D; d++ {
							t[d] = klTerm(mn[d], sn[d], mk[d], lk[d], esn[d], ek[d])
						}
					} else {
						if d8 > 0 {
							klTermsExp8(&mn[0], &sn[0], &mk[0], &lk[0], &esn[0], &t[0], d8)
						}
						for d := d8; d < D; d++ {
							t[d] = klTerm(mn[d], sn[d], mk[d], lk[d], esn[d], fmath.Exp(-lk[d]))
						}
					}
					acc = sum32Slice(t[:D])
				} else if eShared != nil {
					ek := eShared[p : p+D]
					acc = Sum32(D, func(d int) float32 { return klTerm(mn[d], sn[d], mk[d], lk[d], esn[d], ek[d]) })
				} else {
					acc = Sum32(D, func(d int) float32 {
						return klTerm(mn[d], sn[d], mk[d], lk[d], esn[d], fmath.Exp(-lk[d]))
					})
				}
				KL[n*K+k] = float32(0.5 * acc)
			}
		}
	})
}

// KlMixtureBwd computes the gradient of KL = KlMixture(...) given gKL (N, K). With
// g = gKL[n,k], es = exp(s), e = exp(-lv), diff = m - mu:
//
//	dKL/dm  =  diff*e                       am = fmaf(g, diff*e, am)
//	dKL/ds  =  1/2 (es*e - 1)               as = fmaf(g, fmaf(es, e, -1), as)
//	dKL/dmu = -diff*e
//	dKL/dlv =  1/2 (1 - (es + diff^2) e)    r = fmaf(-fmaf(diff, diff, es), e, 1)
//
// Outputs, each may be nil:
//   - dm, ds (N, D): over k = 0..K-1 in order from +0; dm = am, ds = 0.5*as, added to
//     the old values when accQ;
//   - dmu, dlv per sample (paramStride != 0, laid out like mu): dmu = -(g*(diff*e)),
//     dlv = 0.5*(g*r);
//   - dmu, dlv shared (paramStride == 0, (K, D)): over n = 0..N-1 in order from +0,
//     am = fmaf(g, diff*e, am), ar = fmaf(g, r, ar); dmu = -am, dlv = 0.5*ar;
//     both added to the old values when accP.
//
// Twin of the kernel kl_mixture_bwd.
func KlMixtureBwd(N, K, D int, m, s, mu, lv []float32, paramStride int, gKL []float32,
	dm, ds []float32, accQ bool, dmu, dlv []float32, accP bool) {
	qOut, pOut := dm != nil || ds != nil, dmu != nil || dlv != nil
	if !qOut && !pOut {
		return
	}
	es, eShared, release := klTables(N, K, D, s, lv, paramStride)
	defer release()
	expNegLv := func(p int) float32 {
		if eShared != nil {
			return eShared[p]
		}
		return fmath.Exp(-lv[p])
	}
	d8 := 0
	if ewAsm && N > 0 && K > 0 {
		d8 = D &^ 7
		mixNeed(N*D, m, es, dm, ds)
		mixNeed((N-1)*paramStride+K*D, mu, lv, dmu, dlv)
		mixNeed(N*K, gKL)
	}
	if qOut {
		flags := 0
		if dm != nil {
			flags |= 1
		}
		if ds != nil {
			flags |= 2
		}
		if accQ {
			flags |= 4
		}
		mixParallel(N, K*D*8, func(lo, hi int) {
			for n := lo; n < hi; n++ {
				if d8 > 0 {
					// d < d8 by the vector kernel (a nil output's pointer is never
					// touched), the rest below.
					var pm, ps *float32
					if dm != nil {
						pm = &dm[n*D]
					}
					if ds != nil {
						ps = &ds[n*D]
					}
					if eShared != nil {
						klBwdQ8(&m[n*D], &es[n*D], &mu[n*paramStride], &eShared[n*paramStride], &gKL[n*K], pm, ps, d8, K, D*4, flags)
					} else {
						klBwdQExp8(&m[n*D], &es[n*D], &mu[n*paramStride], &lv[n*paramStride], &gKL[n*K], pm, ps, d8, K, D*4, flags)
					}
				}
				for d := d8; d < D; d++ {
					i := n*D + d
					mv := m[i]
					esv := es[i]
					var am, as float32
					for k := 0; k < K; k++ {
						p := n*paramStride + k*D + d
						e := expNegLv(p)
						g := gKL[n*K+k]
						am = fmath.FMA(g, float32((mv-mu[p])*e), am)
						as = fmath.FMA(g, fmath.FMA(esv, e, -1), as)
					}
					if dm != nil {
						klStore(dm, i, am, accQ)
					}
					if ds != nil {
						klStore(ds, i, float32(0.5*as), accQ)
					}
				}
			}
		})
	}
	if !pOut {
		return
	}
	if paramStride != 0 {
		flags := 0
		if dmu != nil {
			flags |= 1
		}
		if dlv != nil {
			flags |= 2
		}
		if accP {
			flags |= 4
		}
		mixParallel(N, K*D*8, func(lo, hi int) {
			for n := lo; n < hi; n++ {
				for k := 0; k < K; k++ {
					g := gKL[n*K+k]
					if d8 > 0 {
						p := n*paramStride + k*D
						var pm, pl *float32
						if dmu != nil {
							pm = &dmu[p]
						}
						if dlv != nil {
							pl = &dlv[p]
						}
						klBwdPPS8(&m[n*D], &es[n*D], &mu[p], &lv[p], pm, pl, d8, g, flags)
					}
					for d := d8; d < D; d++ {
						p := n*paramStride + k*D + d
						diff := m[n*D+d] - mu[p]
						e := fmath.Exp(-lv[p])
						if dmu != nil {
							klStore(dmu, p, -float32(g*float32(diff*e)), accP)
						}
						if dlv != nil {
							r := fmath.FMA(-fmath.FMA(diff, diff, es[n*D+d]), e, 1)
							klStore(dlv, p, float32(0.5*float32(g*r)), accP)
						}
					}
				}
			}
		})
		return
	}
	mixParallel(K*D, N*10, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			k, d := i/D, i%D
			muv := mu[i]
			e := eShared[i]
			var am, ar float32
			for n := 0; n < N; n++ {
				diff := m[n*D+d] - muv
				g := gKL[n*K+k]
				am = fmath.FMA(g, float32(diff*e), am)
				ar = fmath.FMA(g, fmath.FMA(-fmath.FMA(diff, diff, es[n*D+d]), e, 1), ar)
			}
			if dmu != nil {
				if accP {
					dmu[i] -= am
				} else {
					dmu[i] = -am
				}
			}
			if dlv != nil {
				klStore(dlv, i, float32(0.5*ar), accP)
			}
		}
	})
}

// klStore writes v to dst[i], or adds it (dst[i] + v) when acc.
func klStore(dst []float32, i int, v float32, acc bool) {
	if acc {
		dst[i] += v
	} else {
		dst[i] = v
	}
}

// KlStdNormal computes, for every row n of m, s (N, D),
//
//	KL[n] = KL( N(m_n, s_n) || N(0, I) ) = 1/2 sum_d [ exp(s) + m^2 - 1 - s ]
//
// as 0.5 * Sum32 over d of fmaf(m, m, (exp(s) - 1) - s). KL is (N).
// Twin of the kernel kl_std_normal.
func KlStdNormal(N, D int, m, s, KL []float32) {
	mixParallel(N, D*10, func(lo, hi int) {
		for n := lo; n < hi; n++ {
			mn, sn := m[n*D:n*D+D], s[n*D:n*D+D]
			acc := Sum32(D, func(d int) float32 {
				return fmath.FMA(mn[d], mn[d], (fmath.Exp(sn[d])-1)-sn[d])
			})
			KL[n] = float32(0.5 * acc)
		}
	})
}

// KlStdNormalBwd computes the gradient of KL = KlStdNormal(m, s) given g (N):
//
//	dm[n,d] = g[n] * m[n,d],   ds[n,d] = g[n] * (0.5 * (exp(s[n,d]) - 1))
//
// each added to the old value when accumulate. m, s, dm, ds are (N, D); dm and ds may
// be nil. Twin of the kernel kl_std_normal_bwd.
func KlStdNormalBwd(N, D int, m, s, g, dm, ds []float32, accumulate bool) {
	mixParallel(N*D, 8, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			gv := g[i/D]
			if dm != nil {
				klStore(dm, i, float32(gv*m[i]), accumulate)
			}
			if ds != nil {
				klStore(ds, i, float32(gv*float32(0.5*(fmath.Exp(s[i])-1))), accumulate)
			}
		}
	})
}
