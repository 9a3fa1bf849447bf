package engine

import (
	"errors"
	"fmt"
	"strings"
	"testing"

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
		if got := SizeClass(tt.n); got != tt.want {
			t.Errorf("SizeClass(%d) = %d, want %d", tt.n, got, tt.want)
		}
	}
	for n := int64(1); n < 1<<22; n = n*5/4 + 1 {
		c := SizeClass(n)
		if c < n || c%128 != 0 || (n > minClass && float64(c) > 1.25*float64(n)+1) {
			t.Fatalf("SizeClass(%d) = %d: must hold n, be a multiple of 128, waste <= 25%%", n, c)
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
			if err != nil {
				t.Fatal(err)
			}
			ptrs = append(ptrs, ptr)
		}
		for _, ptr := range ptrs {
			if err := p.Free(ptr); err != nil {
				t.Fatal(err)
			}
		}
	}
	step()
	warm := p.Stats()
	for i := 0; i < 100; i++ {
		step()
	}
	s := p.Stats()
	if s.DriverAllocs != warm.DriverAllocs {
		t.Fatalf("driver allocations after warm-up: %d -> %d", warm.DriverAllocs, s.DriverAllocs)
	}
	if s.Hits != 100*int64(len(sizes)) || s.Allocated != 0 || s.Cached != warm.Cached {
		t.Fatalf("stats after 100 steps: %v", s)
	}
	if err := p.CheckLeaks(); err != nil {
		t.Fatal(err)
	}
	if err := p.Release(); err != nil {
		t.Fatal(err)
	}
	if s := p.Stats(); s.Cached != 0 || len(dev.live) != 0 {
		t.Fatalf("after Release: %v, %d blocks still with the driver", s, len(dev.live))
	}
}

func TestPoolLimit(t *testing.T) {
	dev := newFakeDevice(1 << 30)
	p := NewPool(dev, 4096)
	a, err := p.Alloc(3000, "weights")
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Alloc(2000, "activations")
	var oom *OutOfMemoryError
	if !errors.As(err, &oom) {
		t.Fatalf("want *OutOfMemoryError, got %v", err)
	}
	msg := err.Error()
	for _, want := range []string{"2.0 KiB (class 2.0 KiB)", "activations", "limit of 4.0 KiB", "allocated 3.0 KiB"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	// Cached blocks are given back to make room under the limit.
	if err := p.Free(a); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Alloc(3500, "bigger"); err != nil {
		t.Fatalf("limit should release the cache first: %v", err)
	}
}

func TestPoolDriverOOMReleasesCache(t *testing.T) {
	dev := newFakeDevice(2048)
	p := NewPool(dev, 0)
	a, err := p.Alloc(1024, "a")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Free(a); err != nil {
		t.Fatal(err)
	}
	// 1500 rounds to 1536; with 1024 cached the driver has only 1024 left.
	if _, err := p.Alloc(1500, "b"); err != nil {
		t.Fatalf("pool should free its cache and retry: %v", err)
	}
	_, err = p.Alloc(1500, "c")
	var oom *OutOfMemoryError
	if !errors.As(err, &oom) || oom.Err == nil || !strings.Contains(err.Error(), "CUDA_ERROR_OUT_OF_MEMORY") {
		t.Fatalf("want driver OOM naming the CUDA error, got %v", err)
	}
}

func TestPoolLeakAndDoubleFree(t *testing.T) {
	p := NewPool(newFakeDevice(1<<20), 0)
	a, _ := p.Alloc(100, "z samples")
	b, _ := p.Alloc(5000, "decoder weights")
	if err := p.Free(a); err != nil {
		t.Fatal(err)
	}
	if err := p.Free(a); err == nil || !strings.Contains(err.Error(), "double free") {
		t.Fatalf("double free not reported: %v", err)
	}
	err := p.CheckLeaks()
	if err == nil || !strings.Contains(err.Error(), `"decoder weights": 1 blocks`) {
		t.Fatalf("leak not reported with its tag: %v", err)
	}
	if err := p.Free(b); err != nil {
		t.Fatal(err)
	}
	if err := p.CheckLeaks(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Alloc(-1, "x"); err == nil {
		t.Fatal("negative request accepted")
	}
}
