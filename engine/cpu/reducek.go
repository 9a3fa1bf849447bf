package cpu

// Twins of kernels/reduce.cu: whole-tensor sums in the block order of Sum256 (on the
// GPU, block 0 of a 256-thread launch does the whole sum) and per-row sums in the warp
// order of Sum32. A scale is one rounded product after the sum.

// SumAll sets out[0] = scale * sum_{i<n} x[i], the sum in the order of Sum256 and the
// scale applied once after it (scale = 1/N gives a batch mean; scale = 1 leaves the
// sum's bits). n = 0 gives scale * +0. Twin of sum_all.
func SumAll(x, out []float32, n int, scale float32) {
	x = x[:n]
	out[0] = float32(scale * Sum256(n, func(i int) float32 { return x[i] }))
}

// SumSquares sets out[0] = sum_{i<n} x[i]^2 (the squared L2 norm, for gradient-norm
// clipping): each square rounded on its own (float32(x*x), not fused into the sum),
// summed in the order of Sum256. |x| > 1.8e19 overflows its square to +Inf. Twin of
// sum_squares.
func SumSquares(x, out []float32, n int) {
	x = x[:n]
	out[0] = Sum256(n, func(i int) float32 { return float32(x[i] * x[i]) })
}

// SumRows sets out[r] = scale * sum_c x[r,c] for x (rows, cols) row-major and out
// (rows), each row summed in the order of Sum32, the scale applied after. Twin of
// sum_rows.
func SumRows(x, out []float32, rows, cols int, scale float32) {
	x, out = x[:rows*cols], out[:rows]
	rowParallel(rows, cols, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr := x[r*cols : (r+1)*cols]
			out[r] = float32(scale * Sum32(cols, func(c int) float32 { return xr[c] }))
		}
	})
}
