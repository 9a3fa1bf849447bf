package kernels

// The reduce family (reduce.cu): whole-tensor sums in the block order of
// gm_block_sum256, computed by block 0 alone (exactly 256 threads per block; any grid,
// 1 block is enough), and per-row sums in warp order (rows work items).
func init() {
	for _, k := range []Kernel{
		{Name: "sum_all",
			Params:  []Param{buf("x", "n"), buf("out", "1"), i64("n"), f32("scale")},
			Block:   Block{X: 256, Y: 1},
			Threads: "256",
			Doc:     "out[0] = scale * sum_i x[i] (block order, block 0 only), x (n), out (1)"},
		{Name: "sum_squares",
			Params:  []Param{buf("x", "n"), buf("out", "1"), i64("n")},
			Block:   Block{X: 256, Y: 1},
			Threads: "256",
			Doc:     "out[0] = sum_i x[i]*x[i] (block order, block 0 only), x (n), out (1)"},
		{Name: "sum_rows",
			Params:  []Param{buf("x", "rows*cols"), buf("out", "rows"), i64("rows"), i64("cols"), f32("scale")},
			Threads: "32 * rows",
			Doc:     "out[r] = scale * sum_c x[r,c] (warp order), x (rows, cols), out (rows)"},
	} {
		k.Module = "reduce"
		register(k)
	}
}
