//go:build cuda

package driver_test

import (
	_ "embed"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/cuda"
	"github.com/gmvae/gmvae/cuda/driver"
	"github.com/gmvae/gmvae/cuda/driver/drivertest"
	"github.com/gmvae/gmvae/cuda/emu"
	"github.com/gmvae/gmvae/kernels"
)

//go:embed testdata/tiny.ptx
var tinyPTX string

// The tests of the cuda.Device contract run on the emulator too, so that they are
// known to be right before they meet a GPU; the driver's runs skip without one.
var devices = []struct {
	name string
	open func(t *testing.T) cuda.Device
}{
	{"emu", func(t *testing.T) cuda.Device {
		d := emu.New(emu.Options{})
		t.Cleanup(func() { assert.NoError(t, d.Close()) })
		return d
	}},
	{"driver", func(t *testing.T) cuda.Device { return drivertest.Open(t) }},
	{"driver-forward", func(t *testing.T) cuda.Device {
		return drivertest.OpenWith(t, driver.Options{Forward: true})
	}},
}

func forEachDevice(t *testing.T, f func(t *testing.T, d cuda.Device)) {
	for _, dc := range devices {
		t.Run(dc.name, func(t *testing.T) {
			d := dc.open(t)
			f(t, d)
			if dd, ok := d.(*driver.Device); ok {
				n, b := dd.Allocated()
				assert.Zero(t, n, "leaked %d allocations (%d bytes)", n, b)
			}
		})
	}
}

func randFloats(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	forEachDevice(t, func(t *testing.T, d cuda.Device) {
		r := rand.New(rand.NewSource(1))
		for _, n := range []int{1, 3, 4, 1000, 1<<20 + 3} {
			src := make([]byte, n)
			r.Read(src)
			a, err := d.Alloc(int64(n))
			require.NoError(t, err)
			b, err := d.Alloc(int64(n))
			require.NoError(t, err)
			require.Zero(t, uint64(a)%256, "allocation %#x not 256-byte aligned", uint64(a))
			require.NoError(t, d.MemcpyHtoD(a, src))
			require.NoError(t, d.MemcpyDtoD(b, a, int64(n)))
			got := make([]byte, n)
			require.NoError(t, d.MemcpyDtoH(got, b))
			require.Equal(t, src, got, "n=%d", n)
			// An offset copy inside the allocation.
			if n > 8 {
				part := make([]byte, n-5)
				require.NoError(t, d.MemcpyDtoH(part, a.Offset(5)))
				require.Equal(t, src[5:], part)
			}
			if words := n / 4; words > 0 {
				require.NoError(t, d.MemsetD32(b, 0xdeadbeef, int64(words)))
				require.NoError(t, d.MemcpyDtoH(got[:words*4], b))
				u := make([]uint32, words)
				copy(cuda.Bytes(u), got[:words*4])
				for i, v := range u {
					require.Equal(t, uint32(0xdeadbeef), v, "word %d", i)
				}
			}
			require.NoError(t, d.Free(a))
			require.NoError(t, d.Free(b))
		}
		// Zero-length copies are no-ops.
		assert.NoError(t, d.MemcpyHtoD(0, nil))
		assert.NoError(t, d.MemcpyDtoH(nil, 0))
	})
}

func loadTiny(t *testing.T, d cuda.Device) (axpy, iota cuda.Function) {
	m, err := d.LoadModule("tiny", tinyPTX)
	require.NoError(t, err)
	t.Cleanup(func() { m.Unload() })
	axpy, err = m.Function("gm_test_axpy")
	require.NoError(t, err)
	iota, err = m.Function("gm_test_iota")
	require.NoError(t, err)
	require.Equal(t, 4, axpy.NumParams())
	require.Equal(t, 3, iota.NumParams())
	require.Equal(t, "gm_test_axpy", axpy.Name())
	return axpy, iota
}

func upload(t *testing.T, d cuda.Device, b []byte) cuda.DevicePtr {
	t.Helper()
	p, err := d.Alloc(int64(max(len(b), 4)))
	require.NoError(t, err)
	t.Cleanup(func() { d.Free(p) })
	if len(b) > 0 {
		require.NoError(t, d.MemcpyHtoD(p, b))
	}
	return p
}

func gridFor(n int) cuda.Dim3 { return cuda.Dim3{X: max(1, min((n+255)/256, 64))} }

// TestLaunch runs the hand-written kernels: an 8-byte pointer, a .f32 and a .u32
// in their 8-byte slots, a grid stride; results bit for bit.
func TestLaunch(t *testing.T) {
	forEachDevice(t, func(t *testing.T, d cuda.Device) {
		axpy, iota := loadTiny(t, d)
		r := rand.New(rand.NewSource(2))
		for _, n := range []int{1, 31, 32, 33, 1000, 20011} {
			x, y := randFloats(r, n), randFloats(r, n)
			a := float32(r.NormFloat64())
			px, py := upload(t, d, cuda.Bytes(x)), upload(t, d, cuda.Bytes(y))
			require.NoError(t, d.Launch(axpy, gridFor(n), cuda.Dim3{X: 256}, 0, nil,
				cuda.Ptr(py), cuda.Ptr(px), cuda.F32(a), cuda.I64(int64(n))))
			got := make([]float32, n)
			require.NoError(t, d.MemcpyDtoH(cuda.Bytes(got), py))
			for i := range got {
				want := float32(a*x[i]) + y[i]
				require.Equal(t, math.Float32bits(want), math.Float32bits(got[i]), "n=%d i=%d", n, i)
			}

			out := upload(t, d, nil)
			if n*4 > 4 {
				out = upload(t, d, make([]byte, n*4))
			}
			v := uint32(0xfffffff0)
			require.NoError(t, d.Launch(iota, gridFor(n), cuda.Dim3{X: 64, Y: 2}, 0, nil,
				cuda.Ptr(out), cuda.Arg(v), cuda.I64(int64(n))))
			u := make([]uint32, n)
			require.NoError(t, d.MemcpyDtoH(cuda.Bytes(u), out))
			for i := range u {
				require.Equal(t, v+uint32(i), u[i], "n=%d i=%d", n, i)
			}
		}
		require.NoError(t, d.Synchronize())
	})
}

func TestLaunchRefused(t *testing.T) {
	forEachDevice(t, func(t *testing.T, d cuda.Device) {
		axpy, _ := loadTiny(t, d)
		p := upload(t, d, make([]byte, 64))
		args := []cuda.Arg{cuda.Ptr(p), cuda.Ptr(p), cuda.F32(1), cuda.I64(16)}
		err := d.Launch(axpy, cuda.Dim3{X: 1}, cuda.Dim3{X: 32}, 0, nil, args[:3]...)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "3 arguments for 4 parameters")
		assert.Error(t, d.Launch(axpy, cuda.Dim3{X: 1}, cuda.Dim3{X: 2048}, 0, nil, args...))
		assert.Error(t, d.Launch(axpy, cuda.Dim3{X: 0}, cuda.Dim3{X: 32}, 0, nil, args...))
		assert.Error(t, d.Launch(axpy, cuda.Dim3{X: 1}, cuda.Dim3{X: 32}, 1<<20, nil, args...))
		assert.Error(t, d.Launch(axpy, cuda.Dim3{X: 1}, cuda.Dim3{X: 32}, -1, nil, args...))
		// The device is still fine.
		require.NoError(t, d.Launch(axpy, cuda.Dim3{X: 1}, cuda.Dim3{X: 32}, 0, nil, args...))
		require.NoError(t, d.Synchronize())
	})
}

func TestModuleErrors(t *testing.T) {
	forEachDevice(t, func(t *testing.T, d cuda.Device) {
		bad := strings.Replace(tinyPTX, "mul.rn.f32 \t%f4, %f1, %f2;", "mul.rn.f32 \t%f4, %f1, %nosuchreg;", 1)
		require.NotEqual(t, tinyPTX, bad)
		_, err := d.LoadModule("bad", bad)
		require.Error(t, err)
		t.Logf("bad PTX: %v", err)
		if _, ok := d.(*driver.Device); ok {
			assert.True(t, errors.Is(err, driver.ErrInvalidPTX), "%v", err)
			assert.Contains(t, err.Error(), "cuda: cuModuleLoadDataEx(bad): CUDA_ERROR_INVALID_PTX:\n")
			assert.Contains(t, err.Error(), "nosuchreg", "the JIT log should name the problem")
		}
		m, err := d.LoadModule("tiny", tinyPTX)
		require.NoError(t, err)
		_, err = m.Function("gm_test_nope")
		assert.Error(t, err)
		f, err := m.Function("gm_test_iota")
		require.NoError(t, err)
		require.NoError(t, m.Unload())
		p := upload(t, d, make([]byte, 16))
		assert.Error(t, d.Launch(f, cuda.Dim3{X: 1}, cuda.Dim3{X: 32}, 0, nil, cuda.Ptr(p), cuda.Arg(0), cuda.I64(4)))
	})
}

// TestStreams orders work across two streams with an event.
func TestStreams(t *testing.T) {
	forEachDevice(t, func(t *testing.T, d cuda.Device) {
		axpy, _ := loadTiny(t, d)
		const n = 100000
		r := rand.New(rand.NewSource(3))
		x, y := randFloats(r, n), randFloats(r, n)
		px, py := upload(t, d, cuda.Bytes(x)), upload(t, d, make([]byte, 4*n))
		pz := upload(t, d, make([]byte, 4*n))
		s1, err := d.NewStream()
		require.NoError(t, err)
		s2, err := d.NewStream()
		require.NoError(t, err)
		e, err := d.NewEvent()
		require.NoError(t, err)
		for round := 0; round < 3; round++ {
			require.NoError(t, d.MemcpyHtoDAsync(py, cuda.Bytes(y), s1))
			require.NoError(t, d.Launch(axpy, gridFor(n), cuda.Dim3{X: 128}, 0, s1,
				cuda.Ptr(py), cuda.Ptr(px), cuda.F32(0.5), cuda.I64(n)))
			require.NoError(t, e.Record(s1))
			require.NoError(t, d.StreamWaitEvent(s2, e))
			require.NoError(t, d.MemcpyDtoDAsync(pz, py, 4*n, s2))
			got := make([]float32, n)
			require.NoError(t, d.MemcpyDtoHAsync(cuda.Bytes(got), pz, s2))
			require.NoError(t, s2.Synchronize())
			for i := range got {
				require.Equal(t, math.Float32bits(float32(0.5*x[i])+y[i]), math.Float32bits(got[i]), "round %d i=%d", round, i)
			}
		}
		require.NoError(t, e.Synchronize())
		require.NoError(t, s1.Synchronize())
		require.NoError(t, e.Destroy())
		require.NoError(t, s1.Destroy())
		require.NoError(t, s2.Destroy())
	})
}

func TestClose(t *testing.T) {
	drivertest.Open(t) // skips without a GPU
	for _, fwd := range []bool{false, true} {
		d, err := driver.OpenWith(drivertest.Ordinal(), driver.Options{Forward: fwd})
		require.NoError(t, err)
		// Left behind on purpose: Close releases them.
		_, err = d.Alloc(1 << 20)
		require.NoError(t, err)
		_, err = d.LoadModule("tiny", tinyPTX)
		require.NoError(t, err)
		_, err = d.NewStream()
		require.NoError(t, err)
		_, err = d.NewEvent()
		require.NoError(t, err)
		_, err = d.AllocPinned(4096)
		require.NoError(t, err)
		require.NoError(t, d.Close())
		_, err = d.Alloc(16)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "device is closed")
		assert.Error(t, d.Close())
	}
}

func TestProps(t *testing.T) {
	d := drivertest.Open(t)
	p := d.Props()
	t.Logf("%+v", p)
	t.Logf("nominal bandwidth %.0f GB/s", p.PeakBandwidth()/1e9)
	assert.NotEmpty(t, p.Name)
	assert.Equal(t, p.Name, d.Name())
	assert.GreaterOrEqual(t, p.Major*10+p.Minor, 70, "the PTX targets compute_70")
	assert.Positive(t, p.SMs)
	assert.Equal(t, 32, p.WarpSize)
	assert.Positive(t, p.TotalMem)
	assert.Equal(t, p.TotalMem, d.TotalMem())
	assert.GreaterOrEqual(t, p.MaxThreadsPerBlock, 1024)
	assert.GreaterOrEqual(t, p.SharedPerBlock, 48<<10)
	free, total, err := d.MemInfo()
	require.NoError(t, err)
	assert.Equal(t, p.TotalMem, total)
	assert.True(t, free > 0 && free <= total)
	n, err := driver.Count()
	require.NoError(t, err)
	assert.Greater(t, n, drivertest.Ordinal())
	_, err = driver.Open(n)
	assert.ErrorContains(t, err, "no such device")
}

func TestErrors(t *testing.T) {
	d := drivertest.Open(t)
	_, err := d.Alloc(1 << 50)
	require.Error(t, err)
	assert.Equal(t, fmt.Sprintf("cuda: cuMemAlloc(%d bytes): CUDA_ERROR_OUT_OF_MEMORY", int64(1)<<50), err.Error())
	assert.True(t, errors.Is(err, driver.ErrOutOfMemory))
	var ce *cuda.Error
	require.True(t, errors.As(err, &ce))
	_, err = d.Alloc(0)
	assert.Error(t, err)
	p, err := d.Alloc(64)
	require.NoError(t, err)
	require.NoError(t, d.Free(p))
	err = d.Free(p)
	assert.ErrorContains(t, err, "not a live allocation")
	other := drivertest.Open(t)
	s, err := other.NewStream()
	require.NoError(t, err)
	q, err := d.Alloc(64)
	require.NoError(t, err)
	assert.ErrorContains(t, d.MemcpyHtoDAsync(q, make([]byte, 64), s), "another Device")
	require.NoError(t, d.Free(q))
}

func TestPinned(t *testing.T) {
	d := drivertest.Open(t)
	const n = 8 << 20
	h1, err := d.AllocPinned(n)
	require.NoError(t, err)
	h2, err := d.AllocPinned(n)
	require.NoError(t, err)
	k, b := d.PinnedAllocated()
	assert.Equal(t, 2, k)
	assert.Equal(t, int64(2*n), b)
	rand.New(rand.NewSource(4)).Read(h1)
	p, err := d.Alloc(n)
	require.NoError(t, err)
	s, err := d.NewStream()
	require.NoError(t, err)
	start, err := d.NewEvent()
	require.NoError(t, err)
	end, err := d.NewEvent()
	require.NoError(t, err)
	require.NoError(t, start.Record(s))
	require.NoError(t, d.MemcpyHtoDAsync(p, h1, s))
	require.NoError(t, d.MemcpyDtoHAsync(h2, p, s))
	require.NoError(t, end.Record(s))
	require.NoError(t, end.Synchronize())
	done, err := end.(*driver.Event).Done()
	require.NoError(t, err)
	assert.True(t, done)
	require.Equal(t, h1, h2)
	el, err := d.Elapsed(start, end)
	require.NoError(t, err)
	t.Logf("pinned 8 MiB HtoD + DtoH: %v (%.1f GB/s each way)", el, 2*n/el.Seconds()/1e9)
	assert.Positive(t, el)
	require.NoError(t, d.FreePinned(h1[:0]))
	require.NoError(t, d.FreePinned(h2))
	assert.ErrorContains(t, d.FreePinned(h2), "not a live pinned buffer")
	assert.ErrorContains(t, d.FreePinned(make([]byte, 8)), "not a live pinned buffer")
	require.NoError(t, d.Free(p))
	require.NoError(t, s.Destroy())
}

// TestShippedKernels JIT-compiles every committed module for this GPU and checks
// every described kernel's parameter count; it logs registers and local memory.
func TestShippedKernels(t *testing.T) {
	d := drivertest.Open(t)
	for _, name := range kernels.Modules() {
		ptx, err := kernels.Module(name)
		require.NoError(t, err)
		m, err := d.LoadModule(name, ptx)
		require.NoError(t, err)
		for _, k := range kernels.All() {
			if k.Module != name {
				continue
			}
			f, err := m.Function(k.Name)
			require.NoError(t, err)
			assert.Equal(t, len(k.Params), f.NumParams(), k.Name)
			a := f.(*driver.Function).Attributes()
			t.Logf("%-28s regs %3d  local %4d B  static shared %5d B  max threads %4d", k.Name, a.Regs, a.LocalBytes, a.StaticShared, a.MaxThreads)
			if k.Block.X > 0 {
				assert.GreaterOrEqual(t, a.MaxThreads, k.Block.X*max(k.Block.Y, 1), "%s cannot launch with its required block", k.Name)
			}
		}
		require.NoError(t, m.Unload())
	}
}

// TestConcurrent uses one Device from several goroutines.
func TestConcurrent(t *testing.T) {
	for _, fwd := range []bool{false, true} {
		t.Run(fmt.Sprintf("forward=%v", fwd), func(t *testing.T) {
			d := drivertest.OpenWith(t, driver.Options{Forward: fwd})
			_, iota := loadTiny(t, d)
			var wg sync.WaitGroup
			for g := 0; g < 8; g++ {
				wg.Add(1)
				go func(g int) {
					defer wg.Done()
					s, err := d.NewStream()
					if !assert.NoError(t, err) {
						return
					}
					defer s.Destroy()
					for i := 0; i < 50; i++ {
						n := 1000 + 37*g + i
						p, err := d.Alloc(int64(4 * n))
						if !assert.NoError(t, err) {
							return
						}
						v := uint32(g<<16 | i)
						assert.NoError(t, d.Launch(iota, gridFor(n), cuda.Dim3{X: 128}, 0, s, cuda.Ptr(p), cuda.Arg(v), cuda.I64(int64(n))))
						u := make([]uint32, n)
						assert.NoError(t, d.MemcpyDtoHAsync(cuda.Bytes(u), p, s))
						assert.NoError(t, s.Synchronize())
						for j := range u {
							if u[j] != v+uint32(j) { // first difference only (assert: a goroutine)
								assert.Equal(t, v+uint32(j), u[j], "goroutine %d round %d: u[%d]", g, i, j)
								break
							}
						}
						assert.NoError(t, d.Free(p))
					}
				}(g)
			}
			wg.Wait()
			n, _ := d.Allocated()
			assert.Zero(t, n)
		})
	}
}

// BenchmarkLaunch measures the host cost of a launch (a tiny kernel, synchronised
// every 1000 launches) in both threading modes.
func BenchmarkLaunch(b *testing.B) {
	for _, fwd := range []bool{false, true} {
		b.Run(fmt.Sprintf("forward=%v", fwd), func(b *testing.B) {
			d := drivertest.OpenWith(b, driver.Options{Forward: fwd})
			m, err := d.LoadModule("tiny", tinyPTX)
			require.NoError(b, err)
			f, err := m.Function("gm_test_iota")
			require.NoError(b, err)
			p, err := d.Alloc(4 * 32)
			require.NoError(b, err)
			i := 0
			for b.Loop() {
				if err := d.Launch(f, cuda.Dim3{X: 1}, cuda.Dim3{X: 32}, 0, nil, cuda.Ptr(p), cuda.Arg(1), cuda.I64(32)); err != nil {
					b.Fatal(err)
				}
				if i++; i%1000 == 0 {
					d.Synchronize()
				}
			}
			require.NoError(b, d.Synchronize())
			require.NoError(b, d.Free(p))
			require.NoError(b, m.Unload())
		})
	}
}
