package kernels

// The likelihood family (likelihood.cu): per-row Bernoulli and diagonal Gaussian
// log-likelihoods (rows work items, one warp each, warp order of gm_warp_sum32) and
// their backward (rows*cols elementwise work items).
func init() {
	for _, k := range []Kernel{
		{Name: "bernoulli_loglik",
			Params:  []Param{buf("x", "rows*cols"), buf("logits", "rows*cols"), buf("out", "rows"), i64("rows"), i64("cols")},
			Threads: "32 * rows",
			Doc:     "out[r] = sum_c x*l - softplus(l) (stable form, warp order), x and logits (rows, cols), out (rows)"},
		{Name: "bernoulli_loglik_bwd",
			Params: []Param{buf("x", "rows*cols"), buf("logits", "rows*cols"), buf("g", "rows"), buf("dlogits", "rows*cols"),
				i64("rows"), i64("cols"), flag("accumulate")},
			Threads: "rows * cols",
			Doc:     "dlogits (+)= g[r] * (x - sigmoid(l)), x, logits, dlogits (rows, cols), g (rows)"},
		{Name: "gaussian_loglik",
			Params: []Param{buf("x", "rows*cols"), buf("mu", "rows*cols"), buf("lv", "rows*cols"), buf("out", "rows"),
				i64("rows"), i64("cols")},
			Threads: "32 * rows",
			Doc:     "out[r] = -1/2 sum_c log 2pi + lv + (x-mu)^2 exp(-lv) (warp order), x, mu, lv (rows, cols), out (rows)"},
		{Name: "gaussian_loglik_bwd",
			Params: []Param{buf("x", "rows*cols"), buf("mu", "rows*cols"), buf("lv", "rows*cols"), buf("g", "rows"),
				buf("dmu", "rows*cols"), buf("dlv", "rows*cols"), i64("rows"), i64("cols"), flag("accumulate")},
			Threads: "rows * cols",
			Doc:     "dmu (+)= g[r] (x-mu) exp(-lv), dlv (+)= g[r] ((x-mu)^2 exp(-lv) - 1)/2, all (rows, cols), g (rows); dmu or dlv may be null"},
	} {
		k.Module = "likelihood"
		register(k)
	}
}
