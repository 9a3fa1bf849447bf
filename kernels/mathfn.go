package kernels

func init() {
	register(Kernel{
		Name:    "math_eval",
		Module:  "mathfn",
		Params:  []Param{buf("x", "n"), buf("y", "n"), i64("n"), i64("fn")},
		Threads: "n",
		Doc: "y[i] = f_fn(x[i]), x and y (n): the shared math of gm_math.cuh, fn 0 exp, 1 log, " +
			"2 log1p, 3 tanh, 4 sigmoid, 5 softplus, 6 sin, 7 cos, 8 sin(2*pi*x), 9 cos(2*pi*x)",
	})
}
