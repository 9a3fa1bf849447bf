package kernels

// The mixture family (mixture.cu): the batched Gaussian-mixture log-likelihood, the
// row-wise log-sum-exp/softmax and their gradients. Every kernel accepts any block of
// whole warps (Block{}) and any grid.
func init() {
	params := []Param{{"N", I64}, {"K", I64}, {"D", I64}, {"z", PtrF32}, {"mu", PtrF32}, {"lv", PtrF32},
		{"param_stride", I64}}
	with := func(more ...Param) []Param { return append(append([]Param(nil), params...), more...) }
	register(Kernel{
		Name: "mixture_loglik", Module: "mixture",
		Params: with(Param{"logpi", PtrF32}, Param{"pi_stride", I64}, Param{"L", PtrF32},
			Param{"lse", PtrF32}, Param{"resp", PtrF32}),
		Doc: "L (N,K) = logpi + log N(z (N,D); mu_k, lv_k), params (K,D) or (N,K,D) by param_stride 0/K*D, logpi (K)/(N,K)/null; optional lse (N) and resp = softmax_k L (N,K)",
	})
	register(Kernel{
		Name: "lse_softmax", Module: "mixture",
		Params: []Param{{"N", I64}, {"K", I64}, {"x", PtrF32}, {"lse", PtrF32}, {"resp", PtrF32}},
		Doc:    "row-wise stable log-sum-exp lse (N) and softmax resp (N,K) of x (N,K); either output nullable",
	})
	register(Kernel{
		Name: "lse_softmax_bwd", Module: "mixture",
		Params: []Param{{"N", I64}, {"K", I64}, {"resp", PtrF32}, {"glse", PtrF32}, {"gresp", PtrF32},
			{"gx", PtrF32}, {"accumulate", I64}},
		Doc: "gx (N,K) (+)= glse*resp + resp*(gresp - sum_j gresp_j resp_j); glse (N), gresp (N,K) nullable",
	})
	register(Kernel{
		Name: "mixture_bwd_z", Module: "mixture",
		Params: with(Param{"gL", PtrF32}, Param{"dz", PtrF32}, Param{"accumulate", I64}),
		Doc:    "dz (N,D) (+)= -sum_k gL[n,k] (z-mu_k) exp(-lv_k), sequential over k",
	})
	register(Kernel{
		Name: "mixture_bwd_params", Module: "mixture",
		Params: with(Param{"gL", PtrF32}, Param{"dmu", PtrF32}, Param{"dlv", PtrF32},
			Param{"accumulate", I64}),
		Doc: "dmu (+)= gL (z-mu) exp(-lv), dlv (+)= -gL/2 (1-(z-mu)^2 exp(-lv)): per sample (N,K,D) or shared (K,D) summed over n in order",
	})
}
