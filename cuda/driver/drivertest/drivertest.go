//go:build cuda

// Package drivertest opens CUDA devices for tests: without a usable GPU the test is
// skipped with the reason, or fails when GMVAE_REQUIRE_GPU=1 (set it on GPU machines,
// so that a broken driver cannot pass as a skip).
package drivertest

import (
	"errors"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/gmvae/gmvae/cuda/driver"
	"github.com/gmvae/gmvae/cuda/preflight"
)

// EnvOrdinal names the device to test (default 0).
const EnvOrdinal = "GMVAE_CUDA_DEVICE"

var keep struct {
	once sync.Once
	d    *driver.Device
	err  error
}

// Ordinal is the device the tests use: $GMVAE_CUDA_DEVICE, or 0.
func Ordinal() int {
	if v, err := strconv.Atoi(os.Getenv(EnvOrdinal)); err == nil {
		return v
	}
	return 0
}

// Open opens the test device for t and closes it when t ends (t.Cleanup; an error
// from Close fails t). The first call also opens a handle kept for the life of the
// test binary, so that the primary context is created once, not once per test.
func Open(t testing.TB) *driver.Device { t.Helper(); return OpenWith(t, driver.Options{}) }

// OpenWith is Open with Options.
func OpenWith(t testing.TB, o driver.Options) *driver.Device {
	t.Helper()
	keep.once.Do(func() { keep.d, keep.err = driver.Open(Ordinal()) })
	if keep.err != nil {
		skipOrFail(t, keep.err)
	}
	d, err := driver.OpenWith(Ordinal(), o)
	if err != nil {
		skipOrFail(t, err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("closing the device: %v", err)
		}
	})
	return d
}

func skipOrFail(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, preflight.ErrUnavailable) && os.Getenv(preflight.EnvRequireGPU) != "1" {
		t.Skipf("no GPU (%v); set %s=1 to make this a failure", err, preflight.EnvRequireGPU)
	}
	t.Fatalf("opening CUDA device %d: %v", Ordinal(), err)
}
