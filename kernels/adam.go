package kernels

// The optimizer (adam.cu).
func init() {
	register(Kernel{
		Name: "adam_step", Module: "adam",
		Params: []Param{buf("p", "n"), buf("g", "n"), buf("m", "n"), buf("v", "n"), i64("n"),
			f32("lr"), f32("beta1"), f32("beta2"), f32("eps"), f32("weight_decay"),
			f32("bc1"), f32("bc2")},
		Threads: "n",
		Doc:     "AdamW in place on p, m, v (n): m,v moments; p -= lr*(m/bc1/(sqrt(v/bc2)+eps) + wd*p); bc = 1-beta^t from the host",
	})
}
