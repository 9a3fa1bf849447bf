package engine

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/cuda"
)

// fakeDevice is a DeviceAllocator with a capacity, recording its calls.
type fakeDevice struct {
	capacity int64
	used     int64
	next     cuda.DevicePtr
	live     map[cuda.DevicePtr]int64
}

func newFakeDevice(capacity int64) *fakeDevice {
	return &fakeDevice{capacity: capacity, next: 1 << 20, live: map[cuda.DevicePtr]int64{}}
}

func (d *fakeDevice) Alloc(n int64) (cuda.DevicePtr, error) {
	if d.used+n > d.capacity {
		return 0, errors.New("CUDA_ERROR_OUT_OF_MEMORY")
	}
	p := d.next
	d.next += cuda.DevicePtr((n + 255) / 256 * 256)
	d.live[p] = n
	d.used += n
	return p, nil
}

func (d *fakeDevice) Free(p cuda.DevicePtr) error {
	n, ok := d.live[p]
	if !ok {
		return fmt.Errorf("cuMemFree(%#x): CUDA_ERROR_INVALID_VALUE", uint64(p))
	}
	delete(d.live, p)
	d.used -= n
	return nil
}

func TestSizeClass(t *testing.T) {
	tests := []struct{ n, want int64 }{
		{0, 512}, {1, 512}, {512, 512}, {513, 640}, {640, 640}, {641, 768}, {1000, 1024},
		{1024, 1024}, {1025, 1280}, {3 << 20, 3 << 20}, {3<<20 + 1, 3<<20 + 1<<19},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, SizeClass(tt.n), "SizeClass(%d)", tt.n)
	}
	for n := int64(1); n < 1<<22; n = n*5/4 + 1 {
		c := SizeClass(n)
		require.GreaterOrEqual(t, c, n, "SizeClass(%d) = %d: must hold n", n, c)
		require.Zero(t, c%128, "SizeClass(%d) = %d: must be a multiple of 128", n, c)
		if n > minClass {
			require.LessOrEqual(t, float64(c), 1.25*float64(n)+1, "SizeClass(%d) = %d: must waste <= 25%%", n, c)
		}
	}
}

// TestPoolSteadyStateReuse allocates and frees the same set of buffers as a training
// step does, many times: after the first step the pool makes no driver call.
func TestPoolSteadyStateReuse(t *testing.T) {
	dev := newFakeDevice(1 << 30)
	p := NewPool(dev, 0)
	sizes := []int64{4 * 784 * 512, 4 * 512, 4 * 100 * 512, 4 * 100 * 784, 4, 4 * 10}
	step := func() {
		var ptrs []cuda.DevicePtr
		for i, n := range sizes {
			ptr, err := p.Alloc(n, fmt.Sprintf("buf%d", i))
			require.NoError(t, err)
			ptrs = append(ptrs, ptr)
		}
		for _, ptr := range ptrs {
			require.NoError(t, p.Free(ptr))
		}
	}
	step()
	warm := p.Stats()
	for i := 0; i < 100; i++ {
		step()
	}
	s := p.Stats()
	require.Equal(t, warm.DriverAllocs, s.DriverAllocs, "driver allocations after warm-up")
	require.Equal(t, 100*int64(len(sizes)), s.Hits, "stats after 100 steps: %v: cache hits", s)
	require.Zero(t, s.Allocated, "stats after 100 steps: %v: allocated", s)
	require.Equal(t, warm.Cached, s.Cached, "stats after 100 steps: %v: cached", s)
	require.NoError(t, p.CheckLeaks())
	require.NoError(t, p.Release())
	s = p.Stats()
	require.Zero(t, s.Cached, "after Release: %v: cached", s)
	require.Empty(t, dev.live, "after Release: blocks still with the driver")
}

func TestPoolLimit(t *testing.T) {
	dev := newFakeDevice(1 << 30)
	p := NewPool(dev, 4096)
	a, err := p.Alloc(3000, "weights")
	require.NoError(t, err)
	_, err = p.Alloc(2000, "activations")
	var oom *OutOfMemoryError
	require.ErrorAs(t, err, &oom)
	require.ErrorIs(t, err, ErrOutOfMemory)
	for _, want := range []string{"2.0 KiB (class 2.0 KiB)", "activations", "limit of 4.0 KiB", "allocated 3.0 KiB"} {
		assert.ErrorContains(t, err, want)
	}
	// Cached blocks are given back to make room under the limit.
	require.NoError(t, p.Free(a))
	_, err = p.Alloc(3500, "bigger")
	require.NoError(t, err, "limit should release the cache first")
}

func TestPoolDriverOOMReleasesCache(t *testing.T) {
	dev := newFakeDevice(2048)
	p := NewPool(dev, 0)
	a, err := p.Alloc(1024, "a")
	require.NoError(t, err)
	require.NoError(t, p.Free(a))
	// 1500 rounds to 1536; with 1024 cached the driver has only 1024 left.
	_, err = p.Alloc(1500, "b")
	require.NoError(t, err, "pool should free its cache and retry")
	_, err = p.Alloc(1500, "c")
	var oom *OutOfMemoryError
	require.ErrorAs(t, err, &oom, "want driver OOM")
	require.Error(t, oom.Err, "want driver OOM holding the driver's error")
	require.ErrorContains(t, err, "CUDA_ERROR_OUT_OF_MEMORY", "want driver OOM naming the CUDA error")
}

func TestPoolLeakAndDoubleFree(t *testing.T) {
	p := NewPool(newFakeDevice(1<<20), 0)
	a, _ := p.Alloc(100, "z samples")
	b, _ := p.Alloc(5000, "decoder weights")
	require.NoError(t, p.Free(a))
	require.ErrorContains(t, p.Free(a), "double free", "double free not reported")
	require.ErrorContains(t, p.CheckLeaks(), `"decoder weights": 1 blocks`, "leak not reported with its tag")
	require.NoError(t, p.Free(b))
	require.NoError(t, p.CheckLeaks())
	_, err := p.Alloc(-1, "x")
	require.Error(t, err, "negative request accepted")
}
