package kernels

// The random family (random.cu): Philox-4x32-10 streams (gm_philox.cuh). Every
// generating kernel's work item is one Philox block of 4 elements (ceil(n/4) items);
// reparam_bwd's is one element.
func init() {
	rng := []Param{i64("n"), u64("seed"), u64("stream")}
	with := func(ps ...Param) []Param { return append(ps, rng...) }
	const blocks = "(n + 3) / 4"
	register(Kernel{
		Name: "rand_uniform", Module: "random",
		Params:  with(buf("out", "n")),
		Threads: blocks,
		Doc:     "out (n) = uniforms (2k+1)/2^24 in (0,1), element i from word i%4 of Philox block i/4 of (seed, stream)",
	})
	register(Kernel{
		Name: "rand_normal", Module: "random",
		Params:  with(buf("out", "n")),
		Threads: blocks,
		Doc:     "out (n) = standard normals by Box-Muller on word pairs (0,1), (2,3) of Philox block i/4 of (seed, stream)",
	})
	register(Kernel{
		Name: "reparam", Module: "random",
		Params:  with(buf("m", "n"), buf("lv", "n"), buf("eps", "n"), buf("z", "n")),
		Threads: blocks,
		Doc:     "eps (n) = normals of (seed, stream); z (n) = fmaf(exp(lv/2), eps, m): the reparameterisation sample",
	})
	register(Kernel{
		Name: "reparam_bwd", Module: "random",
		Params: []Param{buf("lv", "n"), buf("eps", "n"), buf("dz", "n"), buf("dm", "n"), buf("dlv", "n"),
			i64("n"), flag("accumulate")},
		Threads: "n",
		Doc:     "dm (n) = dz, dlv (n) = (dz*eps)*(0.5*exp(lv/2)); overwritten, or added when accumulate != 0; dm/dlv may be null",
	})
	register(Kernel{
		Name: "binarize", Module: "random",
		Params:  with(buf("p", "n"), buf("x", "n")),
		Threads: blocks,
		Doc:     "x (n) = (u_i < p_i) ? 1 : 0 with u the uniforms of (seed, stream): dynamic binarisation; NaN p gives 0",
	})
	register(Kernel{
		Name: "gumbel", Module: "random",
		Params:  with(buf("out", "n")),
		Threads: blocks,
		Doc:     "out (n) = -log(-log(u_i)) with u the uniforms of (seed, stream): standard Gumbel noise",
	})
}
