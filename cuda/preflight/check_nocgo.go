//go:build !cgo

package preflight

func check() error {
	return &Error{Call: "cgo", Detail: "this binary was built without cgo (CGO_ENABLED=0), which the CUDA driver needs"}
}

func markDone() {}
