package kernels

// The kl family (kl.cu): closed-form KL divergences between diagonal Gaussians (mean,
// log-variance) and their gradients. Every kernel accepts any block of whole warps
// (Block{}) and any grid.
func init() {
	register(Kernel{
		Name: "kl_mixture", Module: "kl",
		Params: []Param{{"N", I64}, {"K", I64}, {"D", I64}, {"m", PtrF32}, {"s", PtrF32}, {"mu", PtrF32},
			{"lv", PtrF32}, {"param_stride", I64}, {"KL", PtrF32}},
		Doc: "KL (N,K) = KL(N(m,s) (N,D) || N(mu_k,lv_k)), params (K,D) or (N,K,D) by param_stride 0/K*D",
	})
	register(Kernel{
		Name: "kl_mixture_bwd", Module: "kl",
		Params: []Param{{"N", I64}, {"K", I64}, {"D", I64}, {"m", PtrF32}, {"s", PtrF32}, {"mu", PtrF32},
			{"lv", PtrF32}, {"param_stride", I64}, {"gKL", PtrF32}, {"dm", PtrF32}, {"ds", PtrF32},
			{"acc_q", I64}, {"dmu", PtrF32}, {"dlv", PtrF32}, {"acc_p", I64}},
		Doc: "from gKL (N,K): dm, ds (N,D) summed over k in order; dmu, dlv per sample or shared summed over n in order; all nullable",
	})
	register(Kernel{
		Name: "kl_std_normal", Module: "kl",
		Params: []Param{{"N", I64}, {"D", I64}, {"m", PtrF32}, {"s", PtrF32}, {"KL", PtrF32}},
		Doc:    "KL (N) = 1/2 sum_d [exp(s) + m^2 - 1 - s], m, s (N,D)",
	})
	register(Kernel{
		Name: "kl_std_normal_bwd", Module: "kl",
		Params: []Param{{"N", I64}, {"D", I64}, {"m", PtrF32}, {"s", PtrF32}, {"g", PtrF32}, {"dm", PtrF32},
			{"ds", PtrF32}, {"accumulate", I64}},
		Doc: "dm (N,D) (+)= g[n] m, ds (+)= g[n] (exp(s)-1)/2; dm, ds nullable",
	})
}
