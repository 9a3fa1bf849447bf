package cpu

import (
	"github.com/gmvae/gmvae/kernels/fmath"
	"github.com/gmvae/gmvae/kernels/philox"
)

// Twins of kernels/random.cu: random tensors from the Philox streams of philox.go.
// Element i's number depends only on (seed, stream, i); see philox.go for the stream
// convention. Outputs must not alias inputs. Each twin splits its Philox blocks (or
// elements) across goroutines; every element is computed the same way whatever the
// split.

// philoxFill calls put(i, v[j]) for every element i = 4b+j < n of every Philox block b,
// where v = gen(block b of (seed, stream)).
func philoxFill(n int, seed, stream uint64, gen func([4]uint32) [4]float32, put func(i int, v float32)) {
	rngParallel(philox.NBlocks(n), func(lo, hi int) {
		for b := lo; b < hi; b++ {
			v := gen(philox.Block(seed, stream, uint64(b)))
			for j := 0; j < 4; j++ {
				if i := 4*b + j; i < n {
					put(i, v[j])
				}
			}
		}
	})
}

// philoxVec writes uniform (normal false) or normal (normal true) numbers 0..n-1 of
// (seed, stream) to out, the numbers of RandUniform and RandNormal: whole groups of 8
// blocks (32 elements) by philoxUniform8 or philoxNormal8, the last n%32 by the scalar
// generator. Requires ewAsm.
func philoxVec(normal bool, out []float32, n int, seed, stream uint64) {
	out = out[:n]
	groups := n / 32
	key0, key1 := uint32(seed), uint32(seed>>32)
	ewParallel(groups, max(ewGrain/32, 1), func(lo, hi int) {
		for g := lo; g < hi; {
			b := uint64(g) * 8
			// One call never crosses a multiple of 2^32 blocks (the counter's low word
			// must not wrap inside it).
			end := hi
			if lim := (b>>32 + 1) << 32; uint64(end)*8 > lim {
				end = int(lim / 8)
			}
			if normal {
				philoxNormal8(&out[32*g], (end-g)*8, key0, key1, uint32(b), uint32(b>>32), uint32(stream), uint32(stream>>32))
			} else {
				philoxUniform8(&out[32*g], (end-g)*8, key0, key1, uint32(b), uint32(b>>32), uint32(stream), uint32(stream>>32))
			}
			g = end
		}
	})
	gen := philox.Uniform4
	if normal {
		gen = philox.Normal4
	}
	for b := groups * 8; b < philox.NBlocks(n); b++ {
		v := gen(philox.Block(seed, stream, uint64(b)))
		for j := 0; j < 4; j++ {
			if i := 4*b + j; i < n {
				out[i] = v[j]
			}
		}
	}
}

// RandUniform sets out[i], i < n, to uniform number i of (seed, stream): (2k+1)/2^24
// with k the top 23 bits of word i%4 of Philox block i/4, in (0, 1), never 0 or 1.
// out is (n). Twin of rand_uniform.
func RandUniform(out []float32, n int, seed, stream uint64) {
	if ewAsm {
		philoxVec(false, out, n, seed, stream)
		return
	}
	philoxFill(n, seed, stream, philox.Uniform4, func(i int, v float32) { out[i] = v })
}

// RandNormal sets out[i], i < n, to standard normal number i of (seed, stream):
// Box-Muller on the word pairs (0, 1) and (2, 3) of Philox block i/4; element 4b+0 gets
// r01*cos, 4b+1 r01*sin, 4b+2 r23*cos, 4b+3 r23*sin (see BoxMuller). out is (n). Twin
// of rand_normal.
func RandNormal(out []float32, n int, seed, stream uint64) {
	if ewAsm {
		philoxVec(true, out, n, seed, stream)
		return
	}
	philoxFill(n, seed, stream, philox.Normal4, func(i int, v float32) { out[i] = v })
}

// Reparam draws the reparameterisation sample of the diagonal Gaussian N(m, exp(lv)):
// eps[i] = normal number i of (seed, stream) (as RandNormal) and
// z[i] = FMA(Exp(0.5*lv[i]), eps[i], m[i]), one rounding after the standard deviation.
// eps is kept for ReparamBwd. m, lv, eps, z are (n). Twin of reparam.
func Reparam(m, lv, eps, z []float32, n int, seed, stream uint64) {
	if ewAsm && n > 0 {
		// The normals into eps, then z from them by reparamZ8 (the same operations).
		m, lv, eps, z = m[:n], lv[:n], eps[:n], z[:n]
		RandNormal(eps, n, seed, stream)
		ewParallel(n, ewGrain, func(lo, hi int) {
			if n8 := (hi - lo) &^ 7; n8 > 0 {
				reparamZ8(&m[lo], &lv[lo], &eps[lo], &z[lo], n8)
				lo += n8
			}
			for i := lo; i < hi; i++ {
				z[i] = fmath.FMA(fmath.Exp(float32(0.5*lv[i])), eps[i], m[i])
			}
		})
		return
	}
	philoxFill(n, seed, stream, philox.Normal4, func(i int, e float32) {
		s := fmath.Exp(float32(0.5 * lv[i]))
		eps[i] = e
		z[i] = fmath.FMA(s, e, m[i])
	})
}

// ReparamBwd is the backward of Reparam: dm = dz and
// dlv = (dz*eps) * (0.5*Exp(0.5*lv)) (products in this order, each rounded), i.e.
// d z / d lv = eps * exp(lv/2) / 2. With accumulate the gradients are added to dm and
// dlv (dm + dz, dlv + g); otherwise they overwrite them. dm or dlv may be nil (that
// gradient is not wanted). lv, eps, dz, dm, dlv are (n). Twin of reparam_bwd.
func ReparamBwd(lv, eps, dz, dm, dlv []float32, n int, accumulate bool) {
	if ewAsm && n > 0 {
		lv, eps, dz = lv[:n], eps[:n], dz[:n]
		acc := 0
		if accumulate {
			acc = 1
		}
		ewParallel(n, ewGrain, func(lo, hi int) {
			if dm != nil {
				d, o := dz[lo:hi], dm[lo:hi]
				for i := range d {
					if accumulate {
						o[i] = o[i] + d[i]
					} else {
						o[i] = d[i]
					}
				}
			}
			if dlv == nil {
				return
			}
			o := dlv[lo:hi]
			if n8 := (hi - lo) &^ 7; n8 > 0 {
				reparamBwdLv8(&lv[lo], &eps[lo], &dz[lo], &o[0], n8, acc)
				lo += n8
			}
			for i := lo; i < hi; i++ {
				hs := float32(0.5 * fmath.Exp(float32(0.5*lv[i])))
				g := float32(float32(dz[i]*eps[i]) * hs)
				if accumulate {
					dlv[i] = dlv[i] + g
				} else {
					dlv[i] = g
				}
			}
		})
		return
	}
	rngParallel(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			d := dz[i]
			if dm != nil {
				if accumulate {
					dm[i] = dm[i] + d
				} else {
					dm[i] = d
				}
			}
			if dlv != nil {
				hs := float32(0.5 * fmath.Exp(float32(0.5*lv[i])))
				g := float32(float32(d*eps[i]) * hs)
				if accumulate {
					dlv[i] = dlv[i] + g
				} else {
					dlv[i] = g
				}
			}
		}
	})
}

// Binarize draws x[i] = 1 if u_i < p[i] else 0, with u_i uniform number i of
// (seed, stream) (as RandUniform): a Bernoulli(p[i]) sample, the dynamic binarisation
// of pixel intensities. p <= 0 gives 0, p >= 1 gives 1, NaN gives 0. p, x are (n).
// Twin of binarize.
func Binarize(p, x []float32, n int, seed, stream uint64) {
	if ewAsm && n > 0 {
		// The uniforms into x, then the comparison in place.
		p, x = p[:n], x[:n]
		RandUniform(x, n, seed, stream)
		n8 := n &^ 7
		if n8 > 0 {
			binarize8(&p[0], &x[0], n8)
		}
		for i := n8; i < n; i++ {
			if x[i] < p[i] {
				x[i] = 1
			} else {
				x[i] = 0
			}
		}
		return
	}
	philoxFill(n, seed, stream, philox.Uniform4, func(i int, u float32) {
		if u < p[i] {
			x[i] = 1
		} else {
			x[i] = 0
		}
	})
}

// Gumbel sets out[i] = -Log(-Log(u_i)), u_i uniform number i of (seed, stream) (as
// RandUniform): standard Gumbel noise (mean Euler's gamma 0.5772, variance pi^2/6),
// finite, in [-2.81, 16.64]. out is (n). Twin of gumbel.
func Gumbel(out []float32, n int, seed, stream uint64) {
	if ewAsm && n > 0 {
		// The uniforms into out, then -Log(-Log(u)) in place by ewGumbel8.
		out = out[:n]
		RandUniform(out, n, seed, stream)
		ewParallel(n, ewGrain, func(lo, hi int) { ewVec(ewOpGumbel, out[lo:hi], out[lo:hi]) })
		return
	}
	philoxFill(n, seed, stream, philox.Uniform4, func(i int, u float32) {
		out[i] = -fmath.Log(-fmath.Log(u))
	})
}
