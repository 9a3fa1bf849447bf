package kernels

// The adam family (adam.cu): the optimizer step, elementwise (n work items).
func init() {
	register(Kernel{
		Name: "adam_step", Module: "adam",
		Params: []Param{{"p", PtrF32}, {"g", PtrF32}, {"m", PtrF32}, {"v", PtrF32}, {"n", I64},
			{"lr", F32}, {"beta1", F32}, {"beta2", F32}, {"eps", F32}, {"weight_decay", F32},
			{"bc1", F32}, {"bc2", F32}},
		Doc: "AdamW in place on p, m, v (n): m,v moments; p -= lr*(m/bc1/(sqrt(v/bc2)+eps) + wd*p); bc = 1-beta^t from the host",
	})
}
