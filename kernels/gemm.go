package kernels

// The gemm family (gemm.cu): the matrix products of linear layers and the bias
// gradient's column sum. The products are tiled (64 x 64 tiles of C, one per 16 x 16
// block at a time, grid-stride over tiles); colsum has N work items, one per column.
func init() {
	gemmParams := []Param{{"A", PtrF32}, {"B", PtrF32}, {"bias", PtrF32}, {"C", PtrF32},
		{"M", I64}, {"N", I64}, {"K", I64}, {"act", I64}, {"accumulate", I64}}
	tile := Block{X: 16, Y: 16}
	for _, k := range []Kernel{
		{Name: "gemm_nn", Params: gemmParams, Block: tile,
			Doc: "C(M,N) = act(C_old? + A(M,K)·B(K,N) + bias?): per element fma chain over k = 0..K-1 from +0, then + bias[n], then C_old + (accumulate), then gm_activate"},
		{Name: "gemm_nt", Params: gemmParams, Block: tile,
			Doc: "C(M,N) = act(C_old? + A(M,K)·B(N,K)ᵀ + bias?), the order of gemm_nn"},
		{Name: "gemm_tn", Params: gemmParams, Block: tile,
			Doc: "C(M,N) = act(C_old? + A(K,M)ᵀ·B(K,N) + bias?), the order of gemm_nn"},
		{Name: "colsum",
			Params: []Param{{"X", PtrF32}, {"out", PtrF32}, {"M", I64}, {"N", I64}, {"accumulate", I64}},
			Doc:    "out(N) = out_old? + column sums of X(M,N), each summed in row order m = 0..M-1 from +0"},
	} {
		k.Module = "gemm"
		register(k)
	}
}
