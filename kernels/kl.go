package kernels

// The kl family (kl.cu): closed-form KL divergences between diagonal Gaussians (mean,
// log-variance) and their gradients. Every kernel accepts any block of whole warps
// (Block{}) and any grid.
func init() {
	register(Kernel{
		Name: "kl_mixture", Module: "kl",
		Params: []Param{i64("N"), i64("K"), i64("D"), buf("m", "n*d"), buf("s", "n*d"),
			buf("mu", "mixParams(n, k, d, paramStride)"), buf("lv", "mixParams(n, k, d, paramStride)"),
			i64("param_stride"), buf("KL", "n*k")},
		Threads: "32 * n * k",
		Doc:     "KL (N,K) = KL(N(m,s) (N,D) || N(mu_k,lv_k)), params (K,D) or (N,K,D) by param_stride 0/K*D",
	})
	register(Kernel{
		Name: "kl_mixture_bwd", Module: "kl",
		Params: []Param{i64("N"), i64("K"), i64("D"), buf("m", "n*d"), buf("s", "n*d"),
			buf("mu", "mixParams(n, k, d, paramStride)"), buf("lv", "mixParams(n, k, d, paramStride)"),
			i64("param_stride"), buf("gKL", "n*k"), buf("dm", "n*d"), buf("ds", "n*d"), flag("acc_q"),
			buf("dmu", "mixParams(n, k, d, paramStride)"), buf("dlv", "mixParams(n, k, d, paramStride)"), flag("acc_p")},
		Threads: "max(n*d, mixParams(n, k, d, paramStride))",
		Doc:     "from gKL (N,K): dm, ds (N,D) summed over k in order; dmu, dlv per sample or shared summed over n in order; all nullable",
	})
	register(Kernel{
		Name: "kl_std_normal", Module: "kl",
		Params:  []Param{i64("N"), i64("D"), buf("m", "n*d"), buf("s", "n*d"), buf("KL", "n")},
		Threads: "32 * n",
		Doc:     "KL (N) = 1/2 sum_d [exp(s) + m^2 - 1 - s], m, s (N,D)",
	})
	register(Kernel{
		Name: "kl_std_normal_bwd", Module: "kl",
		Params: []Param{i64("N"), i64("D"), buf("m", "n*d"), buf("s", "n*d"), buf("g", "n"), buf("dm", "n*d"),
			buf("ds", "n*d"), flag("accumulate")},
		Threads: "n * d",
		Doc:     "dm (N,D) (+)= g[n] m, ds (+)= g[n] (exp(s)-1)/2; dm, ds nullable",
	})
}
