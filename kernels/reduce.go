package kernels

// The reduce family (reduce.cu): whole-tensor sums in the block order of
// gm_block_sum256, computed by block 0 alone (exactly 256 threads per block; any grid,
// 1 block is enough), and per-row sums in warp order (rows work items).
func init() {
	for _, k := range []Kernel{
		{Name: "sum_all",
			Params: []Param{{"x", PtrF32}, {"out", PtrF32}, {"n", I64}, {"scale", F32}},
			Block:  Block{X: 256, Y: 1},
			Doc:    "out[0] = scale * sum_i x[i] (block order, block 0 only), x (n), out (1)"},
		{Name: "sum_squares",
			Params: []Param{{"x", PtrF32}, {"out", PtrF32}, {"n", I64}},
			Block:  Block{X: 256, Y: 1},
			Doc:    "out[0] = sum_i x[i]*x[i] (block order, block 0 only), x (n), out (1)"},
		{Name: "sum_rows",
			Params: []Param{{"x", PtrF32}, {"out", PtrF32}, {"rows", I64}, {"cols", I64}, {"scale", F32}},
			Doc:    "out[r] = scale * sum_c x[r,c] (warp order), x (rows, cols), out (rows)"},
	} {
		k.Module = "reduce"
		register(k)
	}
}
