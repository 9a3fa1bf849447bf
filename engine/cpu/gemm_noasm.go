//go:build !amd64

package cpu

// Off amd64 the products run on the scalar path; these stand in for the assembly of
// gemm_amd64.s (same signatures as gemm_stub_amd64.go) and are never called.

// gemmHaveAsm is false: there is no microkernel here.
const gemmHaveAsm, gemmHaveAsm512 = false, false

func gemmKernel6x16(kc int, a *float32, rsa int, csa int, b *float32, ldb int, src *float32, lds int, dst *float32, ldd int, bias *float32, flags int) {
	panic("cpu: gemm microkernel called without assembly")
}

func gemmKernel6x32(kc int, a *float32, rsa int, csa int, b *float32, ldb int, pstride int, src *float32, lds int, dst *float32, ldd int, bias *float32, flags int) {
	panic("cpu: gemm microkernel called without assembly")
}

func gemmPackRows16(kc int, src *float32, ld int, dst *float32, np int, dstride int) {
	panic("cpu: gemm packing called without assembly")
}

func gemmPackCols16(kc int, src *float32, ld int, dst *float32) {
	panic("cpu: gemm packing called without assembly")
}

func fmaPeak8(n int, out *float32)  { panic("cpu: fmaPeak8 called without assembly") }
func fmaPeak16(n int, out *float32) { panic("cpu: fmaPeak16 called without assembly") }
