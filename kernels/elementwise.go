package kernels

// The elementwise family (elementwise.cu): activations, small elementwise ops and the
// per-row dot/negative-entropy reductions of a training step. Elementwise kernels have
// n (or rows*cols) work items; row_dot and xlogx_rows have rows work items, one warp
// each, in the warp order of gm_warp_sum32.
func init() {
	for _, k := range []Kernel{
		{Name: "act_fwd",
			Params:  []Param{buf("x", "n"), buf("y", "n"), i64("n"), act("act")},
			Threads: "n",
			Doc:     "y = gm_activate(act, x), x and y (n), act a GM_ACT_* code; y may alias x"},
		{Name: "act_bwd",
			Params:  []Param{buf("x", "n"), buf("y", "n"), buf("dy", "n"), buf("dx", "n"), i64("n"), act("act"), flag("accumulate")},
			Threads: "n",
			Doc:     "dx (+)= dy * gm_activate_grad(act, x, y), all (n); y may be null (recomputed from x)"},
		{Name: "ew_fill",
			Params:  []Param{buf("y", "n"), i64("n"), f32("value")},
			Threads: "n",
			Doc:     "y = value, y (n)"},
		{Name: "ew_add",
			Params:  []Param{buf("a", "n"), buf("b", "n"), buf("y", "n"), i64("n")},
			Threads: "n",
			Doc:     "y = a + b, all (n); y may alias a or b"},
		{Name: "ew_axpby",
			Params:  []Param{buf("x", "n"), buf("y", "n"), i64("n"), f32("alpha"), f32("beta")},
			Threads: "n",
			Doc:     "y = fmaf(alpha, x, beta*y), x and y (n); beta == 0: y = alpha*x, y not read"},
		{Name: "ew_mul",
			Params:  []Param{buf("a", "n"), buf("b", "n"), buf("y", "n"), i64("n")},
			Threads: "n",
			Doc:     "y = a * b, all (n); y may alias a or b"},
		{Name: "ew_scale",
			Params:  []Param{buf("x", "n"), buf("y", "n"), i64("n"), f32("alpha")},
			Threads: "n",
			Doc:     "y = alpha * x, x and y (n); y may alias x"},
		{Name: "row_scale",
			Params:  []Param{buf("x", "rows*cols"), buf("s", "rows"), buf("y", "rows*cols"), i64("rows"), i64("cols")},
			Threads: "rows * cols",
			Doc:     "y[r,c] = x[r,c] * s[r], x and y (rows, cols), s (rows); y may alias x"},
		{Name: "row_dot",
			Params:  []Param{buf("a", "rows*cols"), buf("b", "rows*cols"), buf("out", "rows"), i64("rows"), i64("cols")},
			Threads: "32 * rows",
			Doc:     "out[r] = sum_c a[r,c]*b[r,c] (warp order), a and b (rows, cols), out (rows)"},
		{Name: "xlogx_rows",
			Params:  []Param{buf("p", "rows*cols"), buf("out", "rows"), i64("rows"), i64("cols")},
			Threads: "32 * rows",
			Doc:     "out[r] = sum_c p log p with 0 log 0 = 0 (warp order), p (rows, cols), out (rows)"},
		{Name: "xlogx_rows_bwd",
			Params:  []Param{buf("p", "rows*cols"), buf("g", "rows"), buf("dp", "rows*cols"), i64("rows"), i64("cols"), flag("accumulate")},
			Threads: "rows * cols",
			Doc:     "dp (+)= g[r] * (log p + 1), p = 0 taken as 2^-149 (finite), p and dp (rows, cols), g (rows)"},
		{Name: "clamp",
			Params:  []Param{buf("x", "n"), buf("y", "n"), i64("n"), f32("lo"), f32("hi")},
			Threads: "n",
			Doc:     "y = x < lo ? lo : x > hi ? hi : x (NaN passes), x and y (n); y may alias x"},
		{Name: "clamp_bwd",
			Params:  []Param{buf("x", "n"), buf("dy", "n"), buf("dx", "n"), i64("n"), f32("lo"), f32("hi"), flag("accumulate")},
			Threads: "n",
			Doc:     "dx (+)= (x < lo || x > hi) ? 0 : dy, all (n); passes at the bounds and at NaN x"},
	} {
		k.Module = "elementwise"
		register(k)
	}
}
