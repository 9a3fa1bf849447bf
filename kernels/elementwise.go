package kernels

// The elementwise family (elementwise.cu): activations, small elementwise ops and the
// per-row dot/negative-entropy reductions of a training step. Elementwise kernels have
// n (or rows*cols) work items; row_dot and xlogx_rows have rows work items, one warp
// each, in the warp order of gm_warp_sum32.
func init() {
	for _, k := range []Kernel{
		{Name: "act_fwd",
			Params: []Param{{"x", PtrF32}, {"y", PtrF32}, {"n", I64}, {"act", I64}},
			Doc:    "y = gm_activate(act, x), x and y (n), act a GM_ACT_* code; y may alias x"},
		{Name: "act_bwd",
			Params: []Param{{"x", PtrF32}, {"y", PtrF32}, {"dy", PtrF32}, {"dx", PtrF32}, {"n", I64}, {"act", I64}, {"accumulate", I64}},
			Doc:    "dx (+)= dy * gm_activate_grad(act, x, y), all (n); y may be null (recomputed from x)"},
		{Name: "ew_fill",
			Params: []Param{{"y", PtrF32}, {"n", I64}, {"value", F32}},
			Doc:    "y = value, y (n)"},
		{Name: "ew_add",
			Params: []Param{{"a", PtrF32}, {"b", PtrF32}, {"y", PtrF32}, {"n", I64}},
			Doc:    "y = a + b, all (n); y may alias a or b"},
		{Name: "ew_axpby",
			Params: []Param{{"x", PtrF32}, {"y", PtrF32}, {"n", I64}, {"alpha", F32}, {"beta", F32}},
			Doc:    "y = fmaf(alpha, x, beta*y), x and y (n); beta == 0: y = alpha*x, y not read"},
		{Name: "ew_mul",
			Params: []Param{{"a", PtrF32}, {"b", PtrF32}, {"y", PtrF32}, {"n", I64}},
			Doc:    "y = a * b, all (n); y may alias a or b"},
		{Name: "ew_scale",
			Params: []Param{{"x", PtrF32}, {"y", PtrF32}, {"n", I64}, {"alpha", F32}},
			Doc:    "y = alpha * x, x and y (n); y may alias x"},
		{Name: "row_scale",
			Params: []Param{{"x", PtrF32}, {"s", PtrF32}, {"y", PtrF32}, {"rows", I64}, {"cols", I64}},
			Doc:    "y[r,c] = x[r,c] * s[r], x and y (rows, cols), s (rows); y may alias x"},
		{Name: "row_dot",
			Params: []Param{{"a", PtrF32}, {"b", PtrF32}, {"out", PtrF32}, {"rows", I64}, {"cols", I64}},
			Doc:    "out[r] = sum_c a[r,c]*b[r,c] (warp order), a and b (rows, cols), out (rows)"},
		{Name: "xlogx_rows",
			Params: []Param{{"p", PtrF32}, {"out", PtrF32}, {"rows", I64}, {"cols", I64}},
			Doc:    "out[r] = sum_c p log p with 0 log 0 = 0 (warp order), p (rows, cols), out (rows)"},
		{Name: "xlogx_rows_bwd",
			Params: []Param{{"p", PtrF32}, {"g", PtrF32}, {"dp", PtrF32}, {"rows", I64}, {"cols", I64}, {"accumulate", I64}},
			Doc:    "dp (+)= g[r] * (log p + 1), p = 0 taken as 2^-149 (finite), p and dp (rows, cols), g (rows)"},
		{Name: "clamp",
			Params: []Param{{"x", PtrF32}, {"y", PtrF32}, {"n", I64}, {"lo", F32}, {"hi", F32}},
			Doc:    "y = x < lo ? lo : x > hi ? hi : x (NaN passes), x and y (n); y may alias x"},
		{Name: "clamp_bwd",
			Params: []Param{{"x", PtrF32}, {"dy", PtrF32}, {"dx", PtrF32}, {"n", I64}, {"lo", F32}, {"hi", F32}, {"accumulate", I64}},
			Doc:    "dx (+)= (x < lo || x > hi) ? 0 : dy, all (n); passes at the bounds and at NaN x"},
	} {
		k.Module = "elementwise"
		register(k)
	}
}
