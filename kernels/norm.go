package kernels

// The norm family (norm.cu): batch normalisation over the rows of a (M, N) batch, one
// set of statistics per column. bn_stats and bn_bwd have N work items (one column
// each, summed sequentially in row order from +0); bn_fwd has M*N work items and
// bn_invstd n, one element each.
func init() {
	for _, k := range []Kernel{
		{Name: "bn_stats",
			Params: []Param{buf("X", "m*n"), buf("mean", "n"), buf("invstd", "n"), buf("run_mean", "n"),
				buf("run_var", "n"), i64("M"), i64("N"), f32("eps"), f32("momentum")},
			Threads: "n",
			Doc:     "per column of X(M,N), sums in row order from +0: mean = sum/M, invstd = 1/sqrt(biased var + eps); run_mean, run_var (N, nullable) = fmaf(momentum, stat, (1-momentum)*old) with the unbiased var (M = 1: biased); M >= 1"},
		{Name: "bn_fwd",
			Params: []Param{buf("X", "m*n"), buf("mean", "n"), buf("invstd", "n"), buf("gamma", "n"),
				buf("beta", "n"), buf("Y", "m*n"), i64("M"), i64("N"), act("act")},
			Threads: "m * n",
			Doc:     "Y(M,N) = gm_activate(act, fmaf(gamma, (X - mean)*invstd, beta)) per column's (N) parameters; Y may alias X"},
		{Name: "bn_bwd",
			Params: []Param{buf("X", "m*n"), buf("mean", "n"), buf("invstd", "n"), buf("gamma", "n"),
				buf("dY", "m*n"), buf("dX", "m*n"), buf("dgamma", "n"), buf("dbeta", "n"),
				i64("M"), i64("N"), flag("accumulate")},
			Threads: "n",
			Doc:     "per column, sums in row order from +0: dbeta (+)= sum dY, dgamma (+)= sum dY*xh (nullable); dX(M,N) = gamma*invstd*(dY - mean(dY) - xh*mean(dY*xh)), overwritten; dX may alias dY"},
		{Name: "bn_invstd",
			Params:  []Param{buf("v", "n"), buf("invstd", "n"), i64("n"), f32("eps")},
			Threads: "n",
			Doc:     "invstd = 1/sqrt(v + eps), v and invstd (n): evaluation mode from the running variance; invstd may alias v"},
	} {
		k.Module = "norm"
		register(k)
	}
}
