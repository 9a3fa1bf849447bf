package cpu

import xcpu "golang.org/x/sys/cpu"

//go:generate go run ./internal/gemmgen -out gemm_amd64.s -stubs gemm_stub_amd64.go

// gemmHaveAsm says whether the AVX2+FMA microkernel of gemm_amd64.s can run here
// (x/sys/cpu also checks that the OS saves the AVX registers).
var gemmHaveAsm = xcpu.X86.HasAVX2 && xcpu.X86.HasFMA

// gemmHaveAsm512 says whether the AVX-512 microkernel can run here too.
var gemmHaveAsm512 = gemmHaveAsm && xcpu.X86.HasAVX512F
