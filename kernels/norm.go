package kernels

// The norm family (norm.cu): batch normalisation over the rows of a (M, N) batch, one
// set of statistics per column. bn_stats and bn_bwd have N work items (one column
// each, summed sequentially in row order from +0); bn_fwd has M*N work items and
// bn_invstd n, one element each.
func init() {
	for _, k := range []Kernel{
		{Name: "bn_stats",
			Params: []Param{{"X", PtrF32}, {"mean", PtrF32}, {"invstd", PtrF32}, {"run_mean", PtrF32},
				{"run_var", PtrF32}, {"M", I64}, {"N", I64}, {"eps", F32}, {"momentum", F32}},
			Doc: "per column of X(M,N), sums in row order from +0: mean = sum/M, invstd = 1/sqrt(biased var + eps); run_mean, run_var (N, nullable) = fmaf(momentum, stat, (1-momentum)*old) with the unbiased var (M = 1: biased); M >= 1"},
		{Name: "bn_fwd",
			Params: []Param{{"X", PtrF32}, {"mean", PtrF32}, {"invstd", PtrF32}, {"gamma", PtrF32},
				{"beta", PtrF32}, {"Y", PtrF32}, {"M", I64}, {"N", I64}, {"act", I64}},
			Doc: "Y(M,N) = gm_activate(act, fmaf(gamma, (X - mean)*invstd, beta)) per column's (N) parameters; Y may alias X"},
		{Name: "bn_bwd",
			Params: []Param{{"X", PtrF32}, {"mean", PtrF32}, {"invstd", PtrF32}, {"gamma", PtrF32},
				{"dY", PtrF32}, {"dX", PtrF32}, {"dgamma", PtrF32}, {"dbeta", PtrF32},
				{"M", I64}, {"N", I64}, {"accumulate", I64}},
			Doc: "per column, sums in row order from +0: dbeta (+)= sum dY, dgamma (+)= sum dY*xh (nullable); dX(M,N) = gamma*invstd*(dY - mean(dY) - xh*mean(dY*xh)), overwritten; dX may alias dY"},
		{Name: "bn_invstd",
			Params: []Param{{"v", PtrF32}, {"invstd", PtrF32}, {"n", I64}, {"eps", F32}},
			Doc:    "invstd = 1/sqrt(v + eps), v and invstd (n): evaluation mode from the running variance; invstd may alias v"},
	} {
		k.Module = "norm"
		register(k)
	}
}
