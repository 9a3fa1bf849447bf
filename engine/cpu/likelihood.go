package cpu

import "github.com/gmvae/gmvae/kernels/fmath"

// Twins of kernels/likelihood.cu: per-row Bernoulli and diagonal-Gaussian
// log-likelihoods and their backward. Forward twins sum each row's terms in the warp
// order of Sum32; backward twins are elementwise. "accumulate" as in elementwise.go.
//
// Bad values (pinned by likelihood_test.go, identical on the GPU):
//   - Bernoulli: every finite logit is exact in the stable form; l = +-Inf gives the
//     exact limits (0 when x sits on the saturated side, -Inf otherwise), never NaN;
//     NaN in x or l gives NaN.
//   - Gaussian: lv enters only through h = exp(-lv/2) and s = (x-mu)*h, with s = +0
//     whenever x == mu. h is finite and nonzero for -177 < lv < 207 (beyond: h = +Inf
//     or +0); s*s overflows to +Inf when |x-mu|/sigma > 1.8e19, giving loglik -Inf.
//     lv = +Inf: loglik -Inf; lv = -Inf with x == mu: loglik +Inf; lv = -Inf with
//     x != mu: NaN (Inf - Inf inside the fma); h = +Inf with x != mu: -Inf; NaN
//     anywhere in a row: NaN.

// vecRowGrainWork is the per-goroutine work (rows*cols) below which a row twin with a
// vector kernel runs on the calling goroutine.
const vecRowGrainWork = 1 << 15

// bernoulliTerm is x*l - softplus(l) in the stable form (x - [l > 0])*l - softplus(-|l|)
// (softplus(l) = max(l,0) + softplus(-|l|)): for x in [0,1] both parts are <= 0, so
// nothing cancels. The product is fused, and skipped when x - [l > 0] == 0.
func bernoulliTerm(x, l float32) float32 {
	a, nl := x, l
	if l > 0 {
		a, nl = x-1, -l
	}
	sp := fmath.Softplus(nl)
	if a == 0 {
		return -sp
	}
	return fmath.FMA(a, l, -sp)
}

// BernoulliLoglik computes out[r] = sum_c x[r,c]*l[r,c] - softplus(l[r,c]), the log of
// the Bernoulli(sigmoid(l)) likelihood of x (x in [0,1]; fractional x gives the usual
// cross-entropy), summing bernoulliTerm in the warp order of Sum32. x, logits are
// (rows, cols), out (rows). Twin of bernoulli_loglik.
func BernoulliLoglik(x, logits, out []float32, rows, cols int) {
	x, logits, out = x[:rows*cols], logits[:rows*cols], out[:rows]
	if ewAsm {
		// The terms of a row by bernTerms8 (the last cols%8 by bernoulliTerm), then
		// their Sum32.
		ewParallel(rows, max(vecRowGrainWork/max(cols, 1), 1), func(lo, hi int) {
			t := gemmGetBuf(cols)
			defer gemmPutBuf(t)
			c8 := cols &^ 7
			for r := lo; r < hi; r++ {
				xr, lr := x[r*cols:(r+1)*cols], logits[r*cols:(r+1)*cols]
				if c8 > 0 {
					bernTerms8(&xr[0], &lr[0], &t[0], c8)
				}
				for c := c8; c < cols; c++ {
					t[c] = bernoulliTerm(xr[c], lr[c])
				}
				out[r] = sum32Slice(t)
			}
		})
		return
	}
	rowParallel(rows, cols, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, lr := x[r*cols:(r+1)*cols], logits[r*cols:(r+1)*cols]
			out[r] = Sum32(cols, func(c int) float32 { return bernoulliTerm(xr[c], lr[c]) })
		}
	})
}

// BernoulliLoglikBwd computes dlogits[r,c] (+)= g[r] * (x[r,c] - sigmoid(l[r,c])), the
// backward of BernoulliLoglik for upstream g = dL/dout (rows). x - sigmoid(l) is
// (x - 1) + sigmoid(-l) for l > 0 and x - sigmoid(l) otherwise, so small gradients of
// confident predictions survive. x, logits, dlogits are (rows, cols). Twin of
// bernoulli_loglik_bwd.
func BernoulliLoglikBwd(x, logits, g, dlogits []float32, rows, cols int, accumulate bool) {
	n := rows * cols
	x, logits, dlogits = x[:n], logits[:n], dlogits[:n]
	if n == 0 {
		return
	}
	g = g[:rows]
	acc := 0
	if accumulate {
		acc = 1
	}
	ewParallel(rows, max(ewGrain/cols, 1), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			gr := g[r]
			i0 := r * cols
			if c8 := cols &^ 7; ewAsm && c8 > 0 {
				bernBwd8(&x[i0], &logits[i0], &dlogits[i0], c8, gr, acc)
				i0 += c8
			}
			for i := i0; i < (r+1)*cols; i++ {
				l, xi := logits[i], x[i]
				var d float32
				if l > 0 {
					d = (xi - 1) + fmath.Sigmoid(-l)
				} else {
					d = xi - fmath.Sigmoid(l)
				}
				v := float32(gr * d)
				if accumulate {
					v = dlogits[i] + v
				}
				dlogits[i] = v
			}
		}
	})
}

// gaussScaled returns s = (x - mu) * h and h = exp(-lv/2), with s = +0 when x == mu
// (so h = +Inf cannot make 0 * Inf = NaN).
func gaussScaled(x, mu, lv float32) (s, h float32) {
	d := x - mu
	h = fmath.Exp(float32(-0.5 * lv))
	if d == 0 {
		return 0, h
	}
	return float32(d * h), h
}

// GaussianLoglik computes out[r] = -1/2 * sum_c [log(2 pi) + lv + (x-mu)^2 exp(-lv)],
// the diagonal Gaussian log-density N(x; mu, exp(lv)) of each row: the terms
// FMA(s, s, Log2Pi + lv) with s from gaussScaled, summed in the warp order of Sum32,
// then multiplied by -0.5 (exact). x, mu, lv are (rows, cols), out (rows). Twin of
// gaussian_loglik.
func GaussianLoglik(x, mu, lv, out []float32, rows, cols int) {
	n := rows * cols
	x, mu, lv, out = x[:n], mu[:n], lv[:n], out[:rows]
	if ewAsm {
		// The terms of a row by gaussTerms8 (the last cols%8 as below), then their
		// Sum32.
		ewParallel(rows, max(vecRowGrainWork/max(cols, 1), 1), func(lo, hi int) {
			t := gemmGetBuf(cols)
			defer gemmPutBuf(t)
			c8 := cols &^ 7
			for r := lo; r < hi; r++ {
				o := r * cols
				if c8 > 0 {
					gaussTerms8(&x[o], &mu[o], &lv[o], &t[0], c8)
				}
				for c := c8; c < cols; c++ {
					lvc := lv[o+c]
					s, _ := gaussScaled(x[o+c], mu[o+c], lvc)
					t[c] = fmath.FMA(s, s, fmath.Log2Pi+lvc)
				}
				out[r] = float32(-0.5 * sum32Slice(t))
			}
		})
		return
	}
	rowParallel(rows, cols, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			o := r * cols
			acc := Sum32(cols, func(c int) float32 {
				lvc := lv[o+c]
				s, _ := gaussScaled(x[o+c], mu[o+c], lvc)
				return fmath.FMA(s, s, fmath.Log2Pi+lvc)
			})
			out[r] = float32(-0.5 * acc)
		}
	})
}

// GaussianLoglikBwd is the backward of GaussianLoglik for upstream g = dL/dout (rows):
// with s, h from gaussScaled,
//
//	dmu[r,c] (+)= g[r] * (s == 0 ? +0 : s*h)      = g (x - mu) exp(-lv)
//	dlv[r,c] (+)= g[r] * (0.5 * FMA(s, s, -1))    = g ((x-mu)^2 exp(-lv) - 1) / 2
//
// x, mu, lv, dmu, dlv are (rows, cols); dmu or dlv may be nil (not computed). The
// gradient with respect to x is -dmu. Twin of gaussian_loglik_bwd.
func GaussianLoglikBwd(x, mu, lv, g, dmu, dlv []float32, rows, cols int, accumulate bool) {
	n := rows * cols
	x, mu, lv = x[:n], mu[:n], lv[:n]
	if dmu != nil {
		dmu = dmu[:n]
	}
	if dlv != nil {
		dlv = dlv[:n]
	}
	if n == 0 {
		return
	}
	g = g[:rows]
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
	ewParallel(rows, max(ewGrain/cols, 1), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			gr := g[r]
			i0 := r * cols
			if c8 := cols &^ 7; ewAsm && c8 > 0 && flags&3 != 0 {
				var pm, pl *float32 // never touched when nil (gaussBwd8's flags)
				if dmu != nil {
					pm = &dmu[i0]
				}
				if dlv != nil {
					pl = &dlv[i0]
				}
				gaussBwd8(&x[i0], &mu[i0], &lv[i0], pm, pl, c8, gr, flags)
				i0 += c8
			}
			for i := i0; i < (r+1)*cols; i++ {
				s, h := gaussScaled(x[i], mu[i], lv[i])
				if dmu != nil {
					var sh float32
					if s != 0 {
						sh = float32(s * h)
					}
					v := float32(gr * sh)
					if accumulate {
						v = dmu[i] + v
					}
					dmu[i] = v
				}
				if dlv != nil {
					v := float32(gr * float32(0.5*fmath.FMA(s, s, -1)))
					if accumulate {
						v = dlv[i] + v
					}
					dlv[i] = v
				}
			}
		}
	})
}
