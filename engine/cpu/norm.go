package cpu

import (
	"fmt"
	"math"

	"github.com/gmvae/gmvae/kernels"
	"github.com/gmvae/gmvae/kernels/fmath"
)

// Twins of kernels/norm.cu: batch normalisation over the rows of a (m, n) row-major
// batch, one set of statistics per column (bn_stats, bn_fwd, bn_bwd, bn_invstd).
//
// The kernels give each column to one thread, which loops over the rows. The twins of
// the per-column kernels (BnStats, BnBwd) interchange the loops instead: they stream
// the rows past a block of normCols running sums, one per column, so that memory is
// read in order. Each column's chain is still the kernel's sequence of operations in
// row order m = 0..m-1 from +0, so the bits are the same. Column blocks may run on
// several goroutines; which one computes a block never changes its result.
//
// Every product is written float32(x*y) (or passed to fmath.FMA) so that Go never
// fuses it into an add (DETERMINISM.md, rule 4); `/` on float32 and
// float32(math.Sqrt(float64(v))) are correctly rounded, as div.rn.f32 and sqrt.rn.f32.

// normCols is the width of the column blocks of BnStats and BnBwd: their running
// sums stay in a few small arrays while the rows stream past.
const normCols = 256

// normGrainWork is the work (rows * columns) per goroutine below which the norm twins
// run on the calling goroutine.
const normGrainWork = 1 << 16

// normColParallel calls f on contiguous column ranges [lo, hi) covering [0, n), each
// at most normCols wide, on several goroutines when m*n is large.
func normColParallel(m, n int, f func(lo, hi int)) {
	blocks := (n + normCols - 1) / normCols
	grain := max(normGrainWork/max(m*normCols, 1), 1)
	ewParallel(blocks, grain, func(b0, b1 int) {
		for b := b0; b < b1; b++ {
			f(b*normCols, min((b+1)*normCols, n))
		}
	})
}

// normCheck panics when a shape is negative or a slice is shorter than its shape; a
// nil slice is accepted where nullable is set (the kernel's null pointer).
func normCheck(name string, m, n int, mats, vecs, nullable [][]float32) {
	bad := m < 0 || n < 0
	for _, s := range mats {
		bad = bad || len(s) < m*n
	}
	for _, s := range vecs {
		bad = bad || len(s) < n
	}
	for _, s := range nullable {
		bad = bad || (s != nil && len(s) < n)
	}
	if bad {
		var lens []int
		for _, g := range [][][]float32{mats, vecs, nullable} {
			for _, s := range g {
				lens = append(lens, len(s))
			}
		}
		panic(fmt.Sprintf("cpu: %s: m=%d n=%d with slice lengths %v", name, m, n, lens))
	}
}

// normInvstd is 1 / sqrt(v + eps) as the kernels compute it (add.rn, sqrt.rn, rcp.rn).
func normInvstd(v, eps float32) float32 {
	return 1 / float32(math.Sqrt(float64(v+eps)))
}

// BnStats computes the batch statistics of every column c of x (m, n) row-major and
// updates the running estimates, in exactly this order (twin of bn_stats):
//
//	s = +0; for i = 0..m-1: s = s + x[i,c];                        mu = s / float32(m)
//	q = +0; for i = 0..m-1: d = x[i,c] - mu; q = FMA(d, d, q);     v = q / float32(m)
//	mean[c] = mu;  invstd[c] = 1 / sqrt(v + eps)
//	runMean[c] = FMA(momentum, mu, (1-momentum)*runMean[c])        unless runMean is nil
//	runVar[c]  = FMA(momentum, uv, (1-momentum)*runVar[c])         unless runVar is nil
//
// with uv = q / float32(m-1) when m > 1 (the unbiased variance) and uv = v when m = 1.
// The batch is normalised with the biased variance v, as in PyTorch. mean, invstd,
// runMean, runVar are (n); runMean and runVar may be nil (skipped). m >= 1 is the
// caller's job: m = 0 gives NaN statistics (0/0). A constant column whose sum is
// exact has variance 0 exactly (invstd = 1/sqrt(eps)). A NaN in a column makes that
// column's statistics NaN; an Inf makes its mean Inf (NaN with both signs) and the
// rest NaN; other columns are unaffected. It panics if a slice is shorter than its
// shape.
func BnStats(x, mean, invstd, runMean, runVar []float32, m, n int, eps, momentum float32) {
	normCheck("BnStats", m, n, [][]float32{x}, [][]float32{mean, invstd}, [][]float32{runMean, runVar})
	fm := float32(m)
	fm1 := float32(m - 1)
	keep := 1 - momentum
	normColParallel(m, n, func(lo, hi int) {
		w := hi - lo
		var sBuf, qBuf [normCols]float32
		s, q := sBuf[:w], qBuf[:w]
		for i := 0; i < m; i++ {
			row := x[i*n+lo : i*n+hi]
			for j, v := range row {
				s[j] = s[j] + v
			}
		}
		mu := s // s becomes mu in place
		for j := range mu {
			mu[j] = s[j] / fm
		}
		for i := 0; i < m; i++ {
			row := x[i*n+lo : i*n+hi]
			for j, v := range row {
				d := v - mu[j]
				q[j] = fmath.FMA(d, d, q[j])
			}
		}
		for j := 0; j < w; j++ {
			c := lo + j
			v := q[j] / fm
			mean[c] = mu[j]
			invstd[c] = normInvstd(v, eps)
			if runMean != nil {
				runMean[c] = fmath.FMA(momentum, mu[j], float32(keep*runMean[c]))
			}
			if runVar != nil {
				uv := v
				if m > 1 {
					uv = q[j] / fm1
				}
				runVar[c] = fmath.FMA(momentum, uv, float32(keep*runVar[c]))
			}
		}
	})
}

// BnFwd normalises x (m, n) row-major with the per-column statistics and applies the
// affine map and the activation, for every element (twin of bn_fwd):
//
//	y[i,c] = fmath.Activate(act, FMA(gamma[c], xh, beta[c])),  xh = (x[i,c] - mean[c]) * invstd[c]
//
// mean, invstd, gamma, beta are (n); act is an kernels.Act code (an unknown code gives
// NaN). y may alias x. It panics if a slice is shorter than its shape.
func BnFwd(x, mean, invstd, gamma, beta, y []float32, m, n int, act kernels.Act) {
	normCheck("BnFwd", m, n, [][]float32{x, y}, [][]float32{mean, invstd, gamma, beta}, nil)
	mean, invstd, gamma, beta = mean[:n], invstd[:n], gamma[:n], beta[:n]
	rowParallel(m, n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			xr, yr := x[i*n:i*n+n], y[i*n:i*n+n]
			for c, v := range xr {
				xh := float32(float32(v-mean[c]) * invstd[c])
				yr[c] = fmath.FMA(gamma[c], xh, beta[c])
			}
			if act != kernels.ActNone {
				activateSlice(act, yr, yr)
			}
		}
	})
}

// BnBwd computes the gradients of y = gamma*xh + beta, xh = (x - mean) * invstd, with
// the batch mean and biased variance (mean and invstd as BnStats wrote them), for
// every column c, in exactly this order (twin of bn_bwd):
//
//	s1 = +0, s2 = +0; for i = 0..m-1: g = dy[i,c]; xh = (x[i,c] - mean[c]) * invstd[c];
//	                                  s1 = s1 + g; s2 = FMA(g, xh, s2)
//	dbeta[c] = dbeta[c] + s1 (accumulate) or s1;  dgamma[c] likewise with s2
//	a = s1 / float32(m); bb = s2 / float32(m); k = gamma[c] * invstd[c]
//	for i = 0..m-1: dx[i,c] = k * FMA(-xh, bb, dy[i,c] - a)
//
// that is dx = gamma*invstd*(dy - mean(dy) - xh*mean(dy*xh)). x, dy, dx are (m, n);
// mean, invstd, gamma, dgamma, dbeta are (n); dgamma and dbeta may be nil (skipped).
// dx is overwritten (accumulate applies to dgamma and dbeta only) and may alias dy.
// dy is the gradient before any activation of the forward. A NaN or Inf in a column
// of x makes that column's dx and dgamma NaN (dbeta, the sum of dy, does not read x);
// one in dy makes that column's dx, dgamma and dbeta NaN or Inf; no other column is
// affected. It panics if a slice is shorter than its shape.
func BnBwd(x, mean, invstd, gamma, dy, dx, dgamma, dbeta []float32, m, n int, accumulate bool) {
	normCheck("BnBwd", m, n, [][]float32{x, dy, dx}, [][]float32{mean, invstd, gamma}, [][]float32{dgamma, dbeta})
	fm := float32(m)
	normColParallel(m, n, func(lo, hi int) {
		w := hi - lo
		var s1Buf, s2Buf, kBuf [normCols]float32
		s1, s2, kc := s1Buf[:w], s2Buf[:w], kBuf[:w]
		mc, ic := mean[lo:hi], invstd[lo:hi]
		for i := 0; i < m; i++ {
			xr, gr := x[i*n+lo:i*n+hi], dy[i*n+lo:i*n+hi]
			for j, g := range gr {
				xh := float32(float32(xr[j]-mc[j]) * ic[j])
				s1[j] = s1[j] + g
				s2[j] = fmath.FMA(g, xh, s2[j])
			}
		}
		for j := 0; j < w; j++ {
			c := lo + j
			if dbeta != nil {
				if accumulate {
					dbeta[c] = dbeta[c] + s1[j]
				} else {
					dbeta[c] = s1[j]
				}
			}
			if dgamma != nil {
				if accumulate {
					dgamma[c] = dgamma[c] + s2[j]
				} else {
					dgamma[c] = s2[j]
				}
			}
			// s1, s2 become a, bb in place.
			s1[j] = s1[j] / fm
			s2[j] = s2[j] / fm
			kc[j] = float32(gamma[c] * ic[j])
		}
		a, bb := s1, s2
		for i := 0; i < m; i++ {
			xr, gr, dr := x[i*n+lo:i*n+hi], dy[i*n+lo:i*n+hi], dx[i*n+lo:i*n+hi]
			for j := range dr {
				xh := float32(float32(xr[j]-mc[j]) * ic[j])
				t := fmath.FMA(-xh, bb[j], gr[j]-a[j])
				dr[j] = float32(kc[j] * t)
			}
		}
	})
}

// BnInvstd computes invstd[i] = 1 / sqrt(v[i] + eps) for i < n, each operation
// correctly rounded (twin of bn_invstd): evaluation mode's inverse standard deviation
// from the running variance. v, invstd are (n); invstd may alias v. It panics if a
// slice is shorter than n.
func BnInvstd(v, invstd []float32, n int, eps float32) {
	normCheck("BnInvstd", 1, n, nil, [][]float32{v, invstd}, nil)
	v, invstd = v[:n], invstd[:n]
	ewParallel(n, ewGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			invstd[i] = normInvstd(v[i], eps)
		}
	})
}
