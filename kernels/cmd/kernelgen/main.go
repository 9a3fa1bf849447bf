// Command kernelgen writes what follows from the kernel table of package kernels, so
// that a kernel's signature is written twice only (its .cu and its table entry):
//
//   - ops/ops_gen.go: one typed Go function per kernel (package ops), which checks its
//     buffers' lengths against the table and launches the kernel with the table's
//     thread count;
//   - engine/cpu/twins_gen.go: the adapters that call each CPU twin with its kernel's
//     arguments (engine/cpu's KernelArgs conventions);
//   - the kernel table of docs/kernels.md.
//
// Run from the repository root after changing the kernel table:
//
//	go run ./kernels/cmd/kernelgen
//
// A test (TestGeneratedUpToDate) fails when a generated file is stale.
package main

import (
	"fmt"
	"os"
)

func main() {
	files, err := generate(".")
	if err != nil {
		fmt.Fprintln(os.Stderr, "kernelgen:", err)
		os.Exit(1)
	}
	for _, f := range files {
		if err := os.WriteFile(f.path, f.content, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "kernelgen:", err)
			os.Exit(1)
		}
	}
}
