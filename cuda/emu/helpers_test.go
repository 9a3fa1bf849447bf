package emu

import (
	"os"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/gmvae/gmvae/cuda"
)

var (
	fixturesOnce sync.Once
	fixturesPTX  string
)

// fixtures returns a fresh device with testdata/fixtures.ptx loaded.
func fixtures(t testing.TB) (*Device, *Module) {
	fixturesOnce.Do(func() {
		b, err := os.ReadFile("testdata/fixtures.ptx")
		if err != nil {
			panic(err)
		}
		fixturesPTX = string(b)
	})
	d := New(Options{MaxThreadInstructions: 1 << 20})
	m, err := d.LoadModule("fixtures", fixturesPTX)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, m.(*Module)
}

func fn(t testing.TB, m *Module, name string) cuda.Function {
	f, err := m.Function(name)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func bytesOf[T any](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	var z T
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*int(unsafe.Sizeof(z)))
}

// upload copies s to a new device buffer.
func upload[T any](t testing.TB, d *Device, s []T) cuda.DevicePtr {
	b := bytesOf(s)
	p, err := d.Alloc(int64(max(len(b), 1)))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 0 {
		if err := d.MemcpyHtoD(p, b); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// download copies n elements from p.
func download[T any](t testing.TB, d *Device, p cuda.DevicePtr, n int) []T {
	s := make([]T, n)
	if err := d.MemcpyDtoH(bytesOf(s), p); err != nil {
		t.Fatal(err)
	}
	return s
}

// zeros returns a device buffer of n zero elements of T (written, so initialised).
func zeros[T any](t testing.TB, d *Device, n int) cuda.DevicePtr {
	return upload(t, d, make([]T, n))
}

func d1(x int) cuda.Dim3 { return cuda.Dim3{X: x} }

func mustLaunch(t testing.TB, d *Device, f cuda.Function, grid, block cuda.Dim3, shared int, args ...cuda.Arg) {
	t.Helper()
	if err := d.Launch(f, grid, block, shared, nil, args...); err != nil {
		t.Fatal(err)
	}
}

// wantKernelError checks that err is a KernelError whose message holds every
// fragment, with a PTX line and a CUDA source position.
func wantKernelError(t *testing.T, err error, fragments ...string) *KernelError {
	t.Helper()
	if err == nil {
		t.Fatalf("launch succeeded; want an error containing %q", fragments)
	}
	ke, ok := AsKernelError(err)
	if !ok {
		t.Fatalf("error is not a KernelError: %v", err)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not contain %q", err, f)
		}
	}
	if ke.PTXLine <= 0 || !strings.Contains(ke.Source, "fixtures.cu:") {
		t.Errorf("error lacks a PTX line or source position: %+v", ke)
	}
	t.Logf("%v", err)
	return ke
}
