package kernels

// The gemm family (gemm.cu): the matrix products of linear layers and the bias
// gradient's column sum. The products are tiled (64 x 64 tiles of C, one per 16 x 16
// block at a time, grid-stride over tiles); colsum has N work items, one per column.
func init() {
	gemm := func(aLen, bLen string) []Param {
		return []Param{buf("A", aLen), buf("B", bLen), buf("bias", "n"), buf("C", "m*n"),
			i64("M"), i64("N"), i64("K"), act("act"), flag("accumulate")}
	}
	tile := Block{X: 16, Y: 16}
	for _, k := range []Kernel{
		{Name: "gemm_nn", GoName: "GemmNN", Params: gemm("m*k", "k*n"), Block: tile, Threads: "gemmThreads(m, n)",
			Doc: "C(M,N) = act(C_old? + A(M,K)·B(K,N) + bias?): per element fma chain over k = 0..K-1 from +0, then + bias[n], then C_old + (accumulate), then gm_activate"},
		{Name: "gemm_nt", GoName: "GemmNT", Params: gemm("m*k", "n*k"), Block: tile, Threads: "gemmThreads(m, n)",
			Doc: "C(M,N) = act(C_old? + A(M,K)·B(N,K)ᵀ + bias?), the order of gemm_nn"},
		{Name: "gemm_tn", GoName: "GemmTN", Params: gemm("k*m", "k*n"), Block: tile, Threads: "gemmThreads(m, n)",
			Doc: "C(M,N) = act(C_old? + A(K,M)ᵀ·B(K,N) + bias?), the order of gemm_nn"},
		{Name: "colsum",
			Params:  []Param{buf("X", "m*n"), buf("out", "n"), i64("M"), i64("N"), flag("accumulate")},
			Threads: "n",
			Doc:     "out(N) = out_old? + column sums of X(M,N), each summed in row order m = 0..M-1 from +0"},
	} {
		k.Module = "gemm"
		register(k)
	}
}
