// Command kerneldoc rewrites the generated kernel table in docs/kernels.md from the
// kernel table in package kernels. Run from the repository root:
//
//	go run ./kernels/cmd/kerneldoc
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/gmvae/gmvae/kernels"
)

func main() {
	const path = "docs/kernels.md"
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kerneldoc:", err)
		os.Exit(1)
	}
	s := string(b)
	i := strings.Index(s, kernels.DocBegin)
	j := strings.Index(s, kernels.DocEnd)
	if i < 0 || j < i {
		fmt.Fprintf(os.Stderr, "kerneldoc: %s: markers %q ... %q not found\n", path, kernels.DocBegin, kernels.DocEnd)
		os.Exit(1)
	}
	out := s[:i] + kernels.DocBegin + "\n" + kernels.Markdown() + s[j:]
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "kerneldoc:", err)
		os.Exit(1)
	}
}
