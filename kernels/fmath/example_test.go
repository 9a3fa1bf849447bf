package fmath_test

import (
	"fmt"

	"github.com/gmvae/gmvae/kernels/fmath"
)

// Exp agrees with the kernels' gm_exp bit for bit; it overflows to +Inf and underflows
// through the subnormals to 0.
func ExampleExp() {
	for _, x := range []float32{0, 1, -1, 88.7, 89, -100, -104} {
		fmt.Printf("Exp(%g) = %g\n", x, fmath.Exp(x))
	}
	// Output:
	// Exp(0) = 1
	// Exp(1) = 2.7182817
	// Exp(-1) = 0.36787945
	// Exp(88.7) = 3.3259769e+38
	// Exp(89) = +Inf
	// Exp(-100) = 3.8e-44
	// Exp(-104) = 0
}

// Sincos2Pi is Box-Muller's angle: exact at the quarter turns, for any finite u
// (u - rint(u) is computed exactly first).
func ExampleSincos2Pi() {
	for _, u := range []float32{0, 0.25, 0.5, -0.75, 1e6 + 0.25} {
		s, c := fmath.Sincos2Pi(u)
		fmt.Printf("u=%g: sin %g, cos %g\n", u, s, c)
	}
	// Output:
	// u=0: sin 0, cos 1
	// u=0.25: sin 1, cos 0
	// u=0.5: sin 0, cos -1
	// u=-0.75: sin 1, cos 0
	// u=1.00000025e+06: sin 1, cos 0
}
