package kernels

// The likelihood family (likelihood.cu): per-row Bernoulli and diagonal Gaussian
// log-likelihoods (rows work items, one warp each, warp order of gm_warp_sum32) and
// their backward (rows*cols elementwise work items).
func init() {
	for _, k := range []Kernel{
		{Name: "bernoulli_loglik",
			Params: []Param{{"x", PtrF32}, {"logits", PtrF32}, {"out", PtrF32}, {"rows", I64}, {"cols", I64}},
			Doc:    "out[r] = sum_c x*l - softplus(l) (stable form, warp order), x and logits (rows, cols), out (rows)"},
		{Name: "bernoulli_loglik_bwd",
			Params: []Param{{"x", PtrF32}, {"logits", PtrF32}, {"g", PtrF32}, {"dlogits", PtrF32}, {"rows", I64}, {"cols", I64}, {"accumulate", I64}},
			Doc:    "dlogits (+)= g[r] * (x - sigmoid(l)), x, logits, dlogits (rows, cols), g (rows)"},
		{Name: "gaussian_loglik",
			Params: []Param{{"x", PtrF32}, {"mu", PtrF32}, {"lv", PtrF32}, {"out", PtrF32}, {"rows", I64}, {"cols", I64}},
			Doc:    "out[r] = -1/2 sum_c log 2pi + lv + (x-mu)^2 exp(-lv) (warp order), x, mu, lv (rows, cols), out (rows)"},
		{Name: "gaussian_loglik_bwd",
			Params: []Param{{"x", PtrF32}, {"mu", PtrF32}, {"lv", PtrF32}, {"g", PtrF32}, {"dmu", PtrF32}, {"dlv", PtrF32}, {"rows", I64}, {"cols", I64}, {"accumulate", I64}},
			Doc:    "dmu (+)= g[r] (x-mu) exp(-lv), dlv (+)= g[r] ((x-mu)^2 exp(-lv) - 1)/2, all (rows, cols), g (rows); dmu or dlv may be null"},
	} {
		k.Module = "likelihood"
		register(k)
	}
}
