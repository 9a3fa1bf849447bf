package kernels

// The mixture family (mixture.cu): the batched Gaussian-mixture log-likelihood, the
// row-wise log-sum-exp/softmax and their gradients. Every kernel accepts any block of
// whole warps (Block{}) and any grid.
func init() {
	const params = "mixParams(n, k, d, paramStride)"
	mix := func(more ...Param) []Param {
		return append([]Param{i64("N"), i64("K"), i64("D"), buf("z", "n*d"), buf("mu", params), buf("lv", params),
			i64("param_stride")}, more...)
	}
	register(Kernel{
		Name: "mixture_loglik", Module: "mixture",
		Params: mix(buf("logpi", "strided(n, k, piStride)"), i64("pi_stride"), buf("L", "n*k"),
			buf("lse", "n"), buf("resp", "n*k")),
		Threads: "32 * n * k",
		Doc:     "L (N,K) = logpi + log N(z (N,D); mu_k, lv_k), params (K,D) or (N,K,D) by param_stride 0/K*D, logpi (K)/(N,K)/null; optional lse (N) and resp = softmax_k L (N,K)",
	})
	register(Kernel{
		Name: "lse_softmax", Module: "mixture",
		Params:  []Param{i64("N"), i64("K"), buf("x", "n*k"), buf("lse", "n"), buf("resp", "n*k")},
		Threads: "32 * n",
		Doc:     "row-wise stable log-sum-exp lse (N) and softmax resp (N,K) of x (N,K); either output nullable",
	})
	register(Kernel{
		Name: "lse_softmax_bwd", Module: "mixture",
		Params: []Param{i64("N"), i64("K"), buf("resp", "n*k"), buf("glse", "n"), buf("gresp", "n*k"),
			buf("gx", "n*k"), flag("accumulate")},
		Threads: "32 * n",
		Doc:     "gx (N,K) (+)= glse*resp + resp*(gresp - sum_j gresp_j resp_j); glse (N), gresp (N,K) nullable",
	})
	register(Kernel{
		Name: "mixture_bwd_z", Module: "mixture",
		Params:  mix(buf("gL", "n*k"), buf("dz", "n*d"), flag("accumulate")),
		Threads: "n * d",
		Doc:     "dz (N,D) (+)= -sum_k gL[n,k] (z-mu_k) exp(-lv_k), sequential over k",
	})
	register(Kernel{
		Name: "mixture_bwd_params", Module: "mixture",
		Params:  mix(buf("gL", "n*k"), buf("dmu", params), buf("dlv", params), flag("accumulate")),
		Threads: params,
		Doc:     "dmu (+)= gL (z-mu) exp(-lv), dlv (+)= -gL/2 (1-(z-mu)^2 exp(-lv)): per sample (N,K,D) or shared (K,D) summed over n in order",
	})
}
