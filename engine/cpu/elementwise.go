package cpu

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/gmvae/gmvae/kernels"
	"github.com/gmvae/gmvae/kernels/fmath"
)

// Twins of kernels/elementwise.cu: activations, elementwise arithmetic, row_scale,
// row_dot, xlogx_rows (+ backward), clamp (+ backward).
//
// Conventions shared with the kernels:
//   - slices are row-major; n, rows, cols are the kernel's counts (the slices may be
//     longer; a shorter one panics);
//   - accumulate: out[i] = out[i] + value, the addition last; otherwise out[i] = value
//     and out's old contents are never read;
//   - outputs of the pure elementwise twins may alias their inputs (element i is read
//     before it is written), as on the GPU.

// ewGrain is the number of elements below which an elementwise twin runs on the
// calling goroutine; rowGrainWork is the per-goroutine work (rows*cols) below which a
// row twin does.
const (
	ewGrain      = 1 << 15
	rowGrainWork = 1 << 14
	// ewCheapGrain is ewGrain for loops of a few cycles per element (fills, adds,
	// products, ReLU): below 2*ewCheapGrain elements a goroutine's start and wake-up
	// cost more than the work.
	ewCheapGrain = 1 << 17
)

// ewParallel calls f on contiguous chunks [lo, hi) covering [0, items), on all cores
// when items >= grain, else once on the calling goroutine. Each item is computed by
// exactly one call, so results never depend on the number of cores.
func ewParallel(items, grain int, f func(lo, hi int)) {
	if items <= 0 {
		return
	}
	workers := runtime.GOMAXPROCS(0)
	if grain < 1 {
		grain = 1
	}
	if items < 2*grain || workers <= 1 {
		f(0, items)
		return
	}
	parallelChunks(items, min(items/grain, 2*workers), f)
}

// parallelChunks runs f over [0, items) split into chunks contiguous chunks (chunk c
// is [items*c/chunks, items*(c+1)/chunks)), taken in turn from a shared counter by the
// calling goroutine and up to GOMAXPROCS-1 others, and waits for all of them. Which
// goroutine computes a chunk never changes its result.
func parallelChunks(items, chunks int, f func(lo, hi int)) {
	chunks = max(min(chunks, items), 1)
	workers := min(runtime.GOMAXPROCS(0), chunks)
	if workers <= 1 {
		f(0, items)
		return
	}
	var next atomic.Int64
	run := func() {
		for {
			c := int(next.Add(1)) - 1
			if c >= chunks {
				return
			}
			f(items*c/chunks, items*(c+1)/chunks)
		}
	}
	var wg sync.WaitGroup
	wg.Add(workers - 1)
	for w := 1; w < workers; w++ {
		go func() {
			defer wg.Done()
			run()
		}()
	}
	run()
	wg.Wait()
}

// rowParallel runs f over rows [0, rows) in parallel chunks sized so that each chunk
// covers at least rowGrainWork elements of cols columns.
func rowParallel(rows, cols int, f func(lo, hi int)) {
	ewParallel(rows, rowGrainWork/max(cols, 1), f)
}

// ActFwd computes y[i] = fmath.Activate(act, x[i]) for i < n (act an kernels.Act code;
// an unknown code gives NaN). x, y are (n); y may alias x. Twin of act_fwd.
func ActFwd(x, y []float32, n int, act kernels.Act) {
	x, y = x[:n], y[:n]
	grain := ewGrain
	if act == kernels.ActNone || act == kernels.ActRelu {
		grain = ewCheapGrain
	}
	ewParallel(n, grain, func(lo, hi int) {
		activateSlice(act, x[lo:hi], y[lo:hi])
	})
}

// ActBwd computes dx[i] (+)= dy[i] * fmath.ActivateGrad(act, x[i], y[i]) for i < n: the
// backward of ActFwd, with x the activation's input and y its output. x, y, dy, dx are
// (n); x must not be nil (ReLU and softplus differentiate through x); y may be nil, and
// is then recomputed as fmath.Activate(act, x[i]) (the bits ActFwd wrote). dx may alias
// dy. Twin of act_bwd.
func ActBwd(x, y, dy, dx []float32, n int, act kernels.Act, accumulate bool) {
	x, dy, dx = x[:n], dy[:n], dx[:n]
	if y != nil {
		y = y[:n]
	}
	if act == kernels.ActRelu || act == kernels.ActNone {
		// Specialised loops: dy * ActivateGrad (1 or 0), one rounded product each, as
		// below.
		acc := 0
		if accumulate {
			acc = 1
		}
		ewParallel(n, ewCheapGrain, func(lo, hi int) {
			if n8 := (hi - lo) &^ 7; ewAsm && act == kernels.ActRelu && n8 > 0 {
				reluBwd8(&x[lo], &dy[lo], &dx[lo], n8, acc)
				lo += n8
			}
			for i := lo; i < hi; i++ {
				var gr float32 = 1
				if act == kernels.ActRelu && !(x[i] > 0) {
					gr = 0
				}
				v := float32(dy[i] * gr)
				if accumulate {
					v = dx[i] + v
				}
				dx[i] = v
			}
		})
		return
	}
	acc := 0
	if accumulate {
		acc = 1
	}
	ewParallel(n, ewGrain, func(lo, hi int) {
		if n8 := (hi - lo) &^ 7; ewAsm && n8 > 0 && act >= kernels.ActTanh && act <= kernels.ActExp {
			// The vector loop of act on the multiple of 8 (y recomputed into scratch
			// by the vector activation if not given), the scalar loop on the rest.
			src := x[lo:]
			if act != kernels.ActSoftplus {
				if y != nil {
					src = y[lo:]
				} else {
					buf := gemmGetBuf(n8)
					defer gemmPutBuf(buf)
					activateSlice(act, x[lo:lo+n8], buf)
					src = buf
				}
			}
			switch act {
			case kernels.ActTanh:
				actBwdTanh8(&src[0], &dy[lo], &dx[lo], n8, acc)
			case kernels.ActSigmoid:
				actBwdSigmoid8(&src[0], &dy[lo], &dx[lo], n8, acc)
			case kernels.ActSoftplus:
				actBwdSoftplus8(&src[0], &dy[lo], &dx[lo], n8, acc)
			case kernels.ActExp:
				actBwdExp8(&src[0], &dy[lo], &dx[lo], n8, acc)
			}
			lo += n8
		}
		for i := lo; i < hi; i++ {
			xi := x[i]
			var yi float32
			if y != nil {
				yi = y[i]
			} else {
				yi = fmath.Activate(act, xi)
			}
			v := float32(dy[i] * fmath.ActivateGrad(act, xi, yi))
			if accumulate {
				v = dx[i] + v
			}
			dx[i] = v
		}
	})
}

// EwFill sets y[i] = value for i < n. Twin of ew_fill.
func EwFill(y []float32, n int, value float32) {
	y = y[:n]
	ewParallel(n, ewCheapGrain, func(lo, hi int) {
		y := y[lo:hi]
		if math.Float32bits(value) == 0 {
			clear(y) // +0
			return
		}
		for i := range y {
			y[i] = value
		}
	})
}

// EwAdd computes y[i] = a[i] + b[i] for i < n; y may alias a or b. Twin of ew_add.
func EwAdd(a, b, y []float32, n int) {
	a, b, y = a[:n], b[:n], y[:n]
	ewParallel(n, ewCheapGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			y[i] = a[i] + b[i]
		}
	})
}

// EwAxpby computes y[i] = alpha*x[i] + beta*y[i] for i < n as
// FMA(alpha, x[i], beta*y[i]) (beta*y rounded, alpha*x fused). beta == 0 (either sign)
// follows BLAS: y is not read and y[i] = alpha*x[i] (one rounded product), so a NaN or
// Inf in y never leaks. x, y are (n). Twin of ew_axpby.
func EwAxpby(x, y []float32, n int, alpha, beta float32) {
	x, y = x[:n], y[:n]
	ewParallel(n, ewGrain, func(lo, hi int) {
		if beta == 0 {
			for i := lo; i < hi; i++ {
				y[i] = float32(alpha * x[i])
			}
			return
		}
		for i := lo; i < hi; i++ {
			y[i] = fmath.FMA(alpha, x[i], float32(beta*y[i]))
		}
	})
}

// EwMul computes y[i] = a[i] * b[i] for i < n; y may alias a or b. Twin of ew_mul.
func EwMul(a, b, y []float32, n int) {
	a, b, y = a[:n], b[:n], y[:n]
	ewParallel(n, ewCheapGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			y[i] = float32(a[i] * b[i])
		}
	})
}

// EwScale computes y[i] = alpha * x[i] for i < n; y may alias x. Twin of ew_scale.
func EwScale(x, y []float32, n int, alpha float32) {
	x, y = x[:n], y[:n]
	ewParallel(n, ewCheapGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			y[i] = float32(alpha * x[i])
		}
	})
}

// RowScale computes y[r,c] = x[r,c] * s[r]; x, y are (rows, cols), s is (rows); y may
// alias x. It is the backward of a per-row weighted sum: for out[r] = sum_c a[r,c]*b[r,c]
// (RowDot) and g = dL/dout, dL/da = RowScale(b, g). Twin of row_scale.
func RowScale(x, s, y []float32, rows, cols int) {
	n := rows * cols
	x, y = x[:n], y[:n]
	if n == 0 {
		return
	}
	s = s[:rows]
	ewParallel(rows, max(ewGrain/cols, 1), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			sr := s[r]
			for i := r * cols; i < (r+1)*cols; i++ {
				y[i] = float32(x[i] * sr)
			}
		}
	})
}

// RowDot computes out[r] = sum_c a[r,c]*b[r,c] in the warp order of Sum32, each
// product rounded before it is added (a (rows, cols) row-major, b likewise, out
// (rows)). cols = 0 gives +0. Twin of row_dot.
func RowDot(a, b, out []float32, rows, cols int) {
	a, b, out = a[:rows*cols], b[:rows*cols], out[:rows]
	rowParallel(rows, cols, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			ar, br := a[r*cols:(r+1)*cols], b[r*cols:(r+1)*cols]
			out[r] = Sum32(cols, func(c int) float32 { return float32(ar[c] * br[c]) })
		}
	})
}

// xlogx is p*log(p) with 0*log(0) = +0 (for p = +0 and -0); NaN for p < 0 or NaN.
func xlogx(p float32) float32 {
	if p == 0 {
		return 0
	}
	return float32(p * fmath.Log(p))
}

// XlogxRows computes out[r] = sum_c p[r,c]*log(p[r,c]) with 0 log 0 = 0, in the warp
// order of Sum32 (the negative entropy of each row of probabilities: the y-prior term).
// p is (rows, cols), out (rows). A negative or NaN p gives NaN. Twin of xlogx_rows.
func XlogxRows(p, out []float32, rows, cols int) {
	p, out = p[:rows*cols], out[:rows]
	rowParallel(rows, cols, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			pr := p[r*cols : (r+1)*cols]
			out[r] = Sum32(cols, func(c int) float32 { return xlogx(pr[c]) })
		}
	})
}

// xlogxPMin is 2^-149, the smallest positive float32: XlogxRowsBwd differentiates
// p = 0 there.
const xlogxPMin = float32(math.SmallestNonzeroFloat32)

// XlogxRowsBwd computes dp[r,c] (+)= g[r] * (log(p[r,c]) + 1), the backward of
// XlogxRows (p, dp (rows, cols), g (rows)). At p = 0 (either sign) it uses p = 2^-149,
// giving g * (log(2^-149) + 1) = about -102.28*g instead of the exact -Inf: a softmax
// backward multiplies dp by p = 0 and then gets the exact 0 of the analytic gradient
// where -Inf would give 0 * -Inf = NaN. Negative or NaN p gives NaN. Twin of
// xlogx_rows_bwd.
func XlogxRowsBwd(p, g, dp []float32, rows, cols int, accumulate bool) {
	n := rows * cols
	p, dp = p[:n], dp[:n]
	if n == 0 {
		return
	}
	g = g[:rows]
	ewParallel(rows, max(ewGrain/cols, 1), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			gr := g[r]
			for i := r * cols; i < (r+1)*cols; i++ {
				q := p[i]
				if q == 0 {
					q = xlogxPMin
				}
				v := float32(gr * (fmath.Log(q) + 1))
				if accumulate {
					v = dp[i] + v
				}
				dp[i] = v
			}
		}
	})
}

// Clamp computes y[i] = lo if x[i] < lo, hi if x[i] > hi, else x[i], for i < n. NaN
// passes through unchanged (both comparisons are false); signed zeros pass unchanged.
// Requires lo <= hi (with lo > hi the x < lo test wins). y may alias x. Twin of clamp.
func Clamp(x, y []float32, n int, lo, hi float32) {
	x, y = x[:n], y[:n]
	ewParallel(n, ewCheapGrain, func(a, b int) {
		for i := a; i < b; i++ {
			xi := x[i]
			switch {
			case xi < lo:
				y[i] = lo
			case xi > hi:
				y[i] = hi
			default:
				y[i] = xi
			}
		}
	})
}

// ClampBwd computes dx[i] (+)= +0 if x[i] < lo or x[i] > hi, else dy[i]: the backward
// of Clamp with x its input. The gradient passes where Clamp passed x through: on
// lo <= x <= hi, both bounds included, and at NaN x. dx may alias dy. Twin of
// clamp_bwd.
func ClampBwd(x, dy, dx []float32, n int, lo, hi float32, accumulate bool) {
	x, dy, dx = x[:n], dy[:n], dx[:n]
	ewParallel(n, ewCheapGrain, func(a, b int) {
		for i := a; i < b; i++ {
			xi := x[i]
			var v float32
			if !(xi < lo || xi > hi) {
				v = dy[i]
			}
			if accumulate {
				v = dx[i] + v
			}
			dx[i] = v
		}
	})
}
