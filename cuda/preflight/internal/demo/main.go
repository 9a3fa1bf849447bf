//go:build cuda

// Command demo opens CUDA device 0 through the tagged driver and prints its
// properties. Package preflight's tests build it with -tags cuda and run it: on a
// machine without a GPU it must stop in preflight's init with status 3 and the
// preflight message (not gorgonia.org/cu's).
package main

import (
	"fmt"
	"os"

	"github.com/gmvae/gmvae/cuda/driver"
	"github.com/gmvae/gmvae/cuda/preflight"
)

func main() {
	d, err := driver.Open(0)
	if err != nil {
		// Reached only with GMVAE_CUDA_OPTIONAL=1 (otherwise preflight's init exits).
		os.Stderr.WriteString(preflight.Message(err))
		os.Exit(preflight.ExitCode)
	}
	p := d.Props()
	fmt.Printf("device 0: %s, compute capability %d.%d, %d SMs, %.1f GiB, driver CUDA %d.%d\n",
		p.Name, p.Major, p.Minor, p.SMs, float64(p.TotalMem)/(1<<30), p.DriverVersion/1000, p.DriverVersion%1000/10)
	if err := d.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
