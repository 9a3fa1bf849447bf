package cpu

//go:generate go run ./internal/ewgen -out ew_amd64.s -stubs ew_stub_amd64.go

// ewHaveAsm says whether the AVX2+FMA elementwise kernels of ew_amd64.s can run here.
var ewHaveAsm = gemmHaveAsm
