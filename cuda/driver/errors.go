//go:build cuda

package driver

/*
#include <cuda.h>
#include <stddef.h>

static const char *gm_err_name(int r) {
	const char *s = NULL;
	if (cuGetErrorName((CUresult)r, &s) != CUDA_SUCCESS) return NULL;
	return s;
}
static const char *gm_err_string(int r) {
	const char *s = NULL;
	if (cuGetErrorString((CUresult)r, &s) != CUDA_SUCCESS) return NULL;
	return s;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/gmvae/gmvae/cuda"
)

// Result is a CUDA driver error code (CUresult). Its Error is the code's name, e.g.
// "CUDA_ERROR_OUT_OF_MEMORY". Every error this package returns is a *cuda.Error
// whose Op names the driver call (with its main argument) and whose Err is a Result
// (or wraps one: JITError), so errors.Is(err, ErrOutOfMemory) works.
type Result int

// Driver error codes that callers may want to test for with errors.Is.
const (
	ErrInvalidValue         = Result(C.CUDA_ERROR_INVALID_VALUE)
	ErrOutOfMemory          = Result(C.CUDA_ERROR_OUT_OF_MEMORY)
	ErrNotInitialized       = Result(C.CUDA_ERROR_NOT_INITIALIZED)
	ErrNoDevice             = Result(C.CUDA_ERROR_NO_DEVICE)
	ErrInvalidPTX           = Result(C.CUDA_ERROR_INVALID_PTX)
	ErrNotReady             = Result(C.CUDA_ERROR_NOT_READY)
	ErrIllegalAddress       = Result(C.CUDA_ERROR_ILLEGAL_ADDRESS)
	ErrLaunchOutOfResources = Result(C.CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES)
	ErrLaunchFailed         = Result(C.CUDA_ERROR_LAUNCH_FAILED)
)

// Name is the code's name from the driver (cuGetErrorName), e.g.
// "CUDA_ERROR_OUT_OF_MEMORY", or "CUresult(N)" for a code the driver does not know.
func (r Result) Name() string {
	if s := C.gm_err_name(C.int(r)); s != nil {
		return C.GoString(s)
	}
	return fmt.Sprintf("CUresult(%d)", int(r))
}

// Description is the driver's one-line description of the code
// (cuGetErrorString), e.g. "out of memory".
func (r Result) Description() string {
	if s := C.gm_err_string(C.int(r)); s != nil {
		return C.GoString(s)
	}
	return ""
}

func (r Result) Error() string { return r.Name() }

// JITError is a failed module load: the driver's code and the JIT compiler's error
// log (which names the PTX line).
type JITError struct {
	Result Result
	Log    string
}

func (e *JITError) Error() string {
	if e.Log == "" {
		return e.Result.Name()
	}
	return e.Result.Name() + ":\n" + e.Log
}

// Unwrap returns the driver code.
func (e *JITError) Unwrap() error { return e.Result }

// resultOf extracts the CUresult from an error of gorgonia.org/cu (its unexported
// cuResult, an int type).
func resultOf(err error) (Result, bool) {
	if r, ok := err.(Result); ok {
		return r, true
	}
	v := reflect.ValueOf(err)
	if v.Kind() == reflect.Int && v.Type().PkgPath() == "gorgonia.org/cu" {
		return Result(v.Int()), true
	}
	return 0, false
}

// wrap turns err from a driver call into a *cuda.Error for op. A *cuda.Error is
// returned as it is; a gorgonia.org/cu error becomes a Result.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var ce *cuda.Error
	if errors.As(err, &ce) {
		return err
	}
	if r, ok := resultOf(err); ok {
		return &cuda.Error{Op: op, Err: r}
	}
	return &cuda.Error{Op: op, Err: err}
}

// trimLog tidies a JIT log buffer: trailing whitespace and NULs removed.
func trimLog(s string) string { return strings.TrimRight(s, " \t\r\n\x00") }
