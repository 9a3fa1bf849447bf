package emu

import (
	"os"
	"sync"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	return d, m.(*Module)
}

func fn(t testing.TB, m *Module, name string) cuda.Function {
	f, err := m.Function(name)
	require.NoError(t, err)
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
	require.NoError(t, err)
	if len(b) > 0 {
		require.NoError(t, d.MemcpyHtoD(p, b))
	}
	return p
}

// download copies n elements from p.
func download[T any](t testing.TB, d *Device, p cuda.DevicePtr, n int) []T {
	s := make([]T, n)
	require.NoError(t, d.MemcpyDtoH(bytesOf(s), p))
	return s
}

// zeros returns a device buffer of n zero elements of T (written, so initialised).
func zeros[T any](t testing.TB, d *Device, n int) cuda.DevicePtr {
	return upload(t, d, make([]T, n))
}

func d1(x int) cuda.Dim3 { return cuda.Dim3{X: x} }

func mustLaunch(t testing.TB, d *Device, f cuda.Function, grid, block cuda.Dim3, shared int, args ...cuda.Arg) {
	t.Helper()
	require.NoError(t, d.Launch(f, grid, block, shared, nil, args...))
}

// wantKernelError checks that err is a KernelError whose message holds every
// fragment, with a PTX line and a CUDA source position.
func wantKernelError(t *testing.T, err error, fragments ...string) *KernelError {
	t.Helper()
	require.Error(t, err, "launch succeeded; want an error containing %q", fragments)
	ke, ok := AsKernelError(err)
	require.True(t, ok, "error is not a KernelError: %v", err)
	for _, f := range fragments {
		assert.ErrorContains(t, err, f)
	}
	assert.Positive(t, ke.PTXLine, "error lacks a PTX line: %+v", ke)
	assert.Contains(t, ke.Source, "fixtures.cu:", "error lacks a source position: %+v", ke)
	t.Logf("%v", err)
	return ke
}
