// Package preflight checks, before gorgonia.org/cu's package init runs, that this
// process can use a CUDA GPU, and explains clearly when it cannot.
//
// # Why
//
// gorgonia.org/cu calls cuInit(0) in its package init and, when that fails, prints a
// terse line and exits the process with status 1. The tagged driver (cuda/driver,
// `//go:build cuda`) imports this package, which has no dependency on gorgonia.org/cu
// and therefore runs its init first (see "Init order" below). Its init loads the
// NVIDIA driver library with dlopen("libcuda.so.1"), calls cuInit(0) and
// cuDeviceGetCount through dlsym (this package does not link libcuda and does not
// need cuda.h, so it builds everywhere), and records the result: Err.
//
// # What happens when the check fails
//
//   - In a program (a main package built with -tags cuda): Message(Err()) is printed
//     on stderr and the process exits with status ExitCode (3), before
//     gorgonia.org/cu's init can exit with its own, unexplained message. Setting
//     GMVAE_CUDA_OPTIONAL=1 in the environment keeps the program running instead
//     (for -device cpu/emu/auto in a cuda build): the driver's Open then returns
//     Err, and gorgonia.org/cu's init is kept from exiting by the driver's cuInit
//     shim (cuda/driver/cuinit.c).
//   - In a test binary (its name ends in ".test", or it has -test.* arguments): the
//     process goes on, so that tests of the tagged driver can skip: driver.Open
//     returns Err, and cuda/driver/drivertest.Open skips the test with the message
//     (or fails it when GMVAE_REQUIRE_GPU=1, which the GPU runs set). Note that
//     this concerns the whole test binary: a package whose tests import the driver
//     skips its GPU tests, its other tests still run.
//
// A cuda-tagged binary links libcuda.so.1 dynamically (gorgonia.org/cu passes
// -lcuda), so on a machine without the library at all the dynamic loader refuses to
// start it ("error while loading shared libraries: libcuda.so.1") before any Go code
// runs: no Go code can explain that case. The dlopen step of the check covers the
// library being present but not loadable at its soname, and keeps this package
// honest when it is imported by a binary that does not link libcuda.
//
// # Init order
//
// Go initialises a package after all the packages it imports, and, since Go 1.21,
// among packages that are ready it always picks the first by import path (the Go
// spec, "Package initialization": "Given the list of all packages, sorted by import
// path, in each step the first uninitialized package in the list for which all
// imports (if any) are already initialized is initialized"). Two facts then put this
// package before gorgonia.org/cu in every binary:
//
//  1. its import path, github.com/gmvae/gmvae/cuda/preflight, sorts before
//     gorgonia.org/cu ("gi" < "go");
//  2. every package it depends on is also a dependency of gorgonia.org/cu (os, fmt,
//     strings, errors, runtime/cgo ...), so whenever gorgonia.org/cu is ready to be
//     initialised, so is this package, and this package is first in the list.
//
// Fact 2 breaks if this package ever imports a package that gorgonia.org/cu does not
// import and whose path sorts after "gorgonia.org/cu" (e.g. "testing", "path/filepath",
// "text/template"): then gorgonia.org/cu may be initialised first. TestDepsSubsetOfCu
// guards fact 2, TestInitOrderTrace checks the order in a real cuda binary with
// GODEBUG=inittrace=1, and the driver's TestPreflightRanBeforeCuInit checks it from
// inside cuInit itself.
//
// Import this package only from cuda-tagged code that links the driver (cuda/driver,
// its drivertest helper, tools built with -tags cuda): any binary that imports it
// runs the check at start-up and, outside tests, exits when it fails.
// TestNoUntaggedImporter enforces that no untagged package imports it.
//
// `go vet`, `go build` and `go test -c` run no package init, so the check never
// gets in the way of compiling.
package preflight

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// ExitCode is the exit status of a program stopped by a failed check.
const ExitCode = 3

// Environment variables read by the check.
const (
	// EnvOptional, set to 1, keeps a program running when the check fails.
	EnvOptional = "GMVAE_CUDA_OPTIONAL"
	// EnvRequireGPU, set to 1, makes GPU tests fail instead of skip without a GPU
	// (read by cuda/driver/drivertest; set it on GPU machines).
	EnvRequireGPU = "GMVAE_REQUIRE_GPU"
)

// ErrUnavailable matches (errors.Is) every failed check.
var ErrUnavailable = errors.New("no usable CUDA GPU")

// Error is a failed check: which call failed and why.
type Error struct {
	// Call is the failed step: "dlopen(libcuda.so.1)", "dlsym(cuInit)",
	// "cuInit(0)", "cuDeviceGetCount", or "cgo" for a build without cgo.
	Call string
	// Code is the CUresult of a failed CUDA call, 0 otherwise (a successful
	// cuDeviceGetCount that found no device also has Code 0).
	Code int
	// Name is the CUDA error's name (cuGetErrorName), e.g. "CUDA_ERROR_NO_DEVICE";
	// empty for the non-CUDA steps.
	Name string
	// Detail is the CUDA error's description (cuGetErrorString), or dlerror's text.
	Detail string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("no usable CUDA GPU: ")
	b.WriteString(e.Call)
	switch {
	case e.Name != "" && e.Detail != "":
		fmt.Fprintf(&b, ": %s (%s)", e.Name, e.Detail)
	case e.Name != "":
		b.WriteString(": " + e.Name)
	case e.Detail != "":
		b.WriteString(": " + e.Detail)
	}
	return b.String()
}

// Is reports whether target is ErrUnavailable.
func (e *Error) Is(target error) bool { return target == ErrUnavailable }

// hint says what to do about e, in one line.
func (e *Error) hint() string {
	switch {
	case strings.HasPrefix(e.Call, "dlopen"):
		return "The NVIDIA driver is not installed or its library is not visible (in a container, run it with the NVIDIA container toolkit, e.g. docker run --gpus all)."
	case strings.HasPrefix(e.Call, "dlsym"):
		return "The NVIDIA driver library found is not a usable libcuda."
	case e.Call == "cgo":
		return ""
	case e.Name == "CUDA_ERROR_INSUFFICIENT_DRIVER" || e.Name == "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE":
		return "The installed NVIDIA driver is too old for this device or program."
	}
	h := "No NVIDIA GPU is visible to this process (check nvidia-smi"
	if v, ok := os.LookupEnv("CUDA_VISIBLE_DEVICES"); ok {
		h += fmt.Sprintf(", and CUDA_VISIBLE_DEVICES=%q", v)
	}
	return h + ")."
}

var result error

// Err is the result of the check run at start-up: nil when libcuda loaded,
// cuInit(0) succeeded and at least one device answered; otherwise an *Error.
func Err() error { return result }

// Check runs the check now and returns its result (Err is the start-up one).
func Check() error { return check() }

// Message is the text printed when a program stops on err (several lines, ending
// in a newline).
func Message(err error) string {
	var b strings.Builder
	b.WriteString("gmvae: this program was built with CUDA support (-tags cuda), but it cannot use a GPU here:\n")
	fmt.Fprintf(&b, "  %v\n", err)
	var pe *Error
	if errors.As(err, &pe) {
		if h := pe.hint(); h != "" {
			b.WriteString("  " + h + "\n")
		}
	}
	b.WriteString("The default build (go build, without -tags cuda) runs without a GPU: use -device cpu (the Go engine) or -device emu (the PTX emulator).\n")
	if os.Getenv(EnvOptional) != "1" {
		fmt.Fprintf(&b, "To start this binary anyway (for -device cpu, emu or auto), set %s=1.\n", EnvOptional)
	}
	return b.String()
}

// inTestBinary reports whether this process is a Go test binary, without importing
// package testing (which gorgonia.org/cu does not import: see "Init order").
func inTestBinary() bool {
	a0 := os.Args[0]
	if strings.HasSuffix(a0, ".test") || strings.HasSuffix(a0, ".test.exe") {
		return true
	}
	for _, a := range os.Args[1:] {
		if strings.HasPrefix(a, "-test.") || strings.HasPrefix(a, "--test.") {
			return true
		}
	}
	return false
}

func init() {
	if err := check(); err != nil {
		result = err
	}
	markDone()
	if result == nil || inTestBinary() || os.Getenv(EnvOptional) == "1" {
		return
	}
	os.Stderr.WriteString(Message(result))
	os.Exit(ExitCode)
}
