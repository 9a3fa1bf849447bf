//go:build !cuda

package engine

// Without the cuda tag there is no CUDA opener: OpenBackend("cuda") returns an error
// wrapping ErrNoCUDA, and "auto" picks the CPU.
