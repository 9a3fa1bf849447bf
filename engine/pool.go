package engine

import (
	"errors"
	"fmt"
	"math/bits"
	"sort"
	"strings"
	"sync"

	"github.com/gmvae/gmvae/cuda"
)

// DeviceAllocator is what the pool needs from a device: raw allocations. cuda.Device
// satisfies it.
type DeviceAllocator interface {
	Alloc(bytes int64) (cuda.DevicePtr, error)
	Free(p cuda.DevicePtr) error
}

// Pool is a caching device-memory allocator (shared/design/ARCHITECTURE.md, "Memory").
// A request is rounded up to a size class (four classes per power of two from 512
// bytes, so at most 19% is wasted); a freed block goes back to its class's free list
// instead of to the driver, and the next request of that class reuses it, so a training
// step makes no driver call in steady state.
//
// When the driver cannot satisfy a request, or the request would take the pool past its
// limit, the pool first returns its cached blocks to the driver and tries again; only
// then does it fail, with an *OutOfMemoryError that names the request and the pool's
// state.
//
// A Pool is safe for concurrent use.
type Pool struct {
	dev   DeviceAllocator
	limit int64 // 0: no limit

	mu    sync.Mutex
	free  map[int64][]cuda.DevicePtr // class size -> cached blocks
	live  map[cuda.DevicePtr]block   // blocks handed out
	stats PoolStats
}

type block struct {
	size int64 // class size
	req  int64 // requested bytes
	tag  string
}

// PoolStats are a pool's counters. Bytes are class sizes (what the driver holds).
type PoolStats struct {
	Allocated    int64 // bytes in blocks handed out and not yet freed
	Cached       int64 // bytes in blocks kept for reuse
	Peak         int64 // highest Allocated so far
	DriverAllocs int64 // calls to the device's Alloc
	DriverFrees  int64 // calls to the device's Free
	Hits         int64 // requests served from the cache
	Requests     int64 // all requests
}

func (s PoolStats) String() string {
	return fmt.Sprintf("allocated %s, cached %s, peak %s, %d driver allocs, %d driver frees, %d/%d cache hits",
		byteSize(s.Allocated), byteSize(s.Cached), byteSize(s.Peak), s.DriverAllocs, s.DriverFrees, s.Hits, s.Requests)
}

// ErrOutOfMemory is what every backend's refusal of a buffer for lack of memory
// matches (errors.Is): the pool's *OutOfMemoryError and the CPU backend's budget.
var ErrOutOfMemory = errors.New("out of memory")

// OutOfMemoryError reports a request the pool could not satisfy.
type OutOfMemoryError struct {
	Request int64  // bytes requested
	Class   int64  // the size class it rounds to
	Tag     string // what the memory was for
	Limit   int64  // the pool's limit (0: none)
	Stats   PoolStats
	Err     error // the driver's error, nil when the limit refused it
}

func (e *OutOfMemoryError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "engine: out of device memory: request of %s (class %s)", byteSize(e.Request), byteSize(e.Class))
	if e.Tag != "" {
		fmt.Fprintf(&b, " for %s", e.Tag)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, " failed in the driver (%v)", e.Err)
	} else {
		fmt.Fprintf(&b, " would exceed the pool's limit of %s", byteSize(e.Limit))
	}
	fmt.Fprintf(&b, "; pool: %v", e.Stats)
	return b.String()
}

func (e *OutOfMemoryError) Unwrap() error { return e.Err }

// Is makes every OutOfMemoryError match ErrOutOfMemory.
func (e *OutOfMemoryError) Is(target error) bool { return target == ErrOutOfMemory }

// NewPool returns a pool over dev. limit caps the bytes the pool holds from the driver
// (allocated plus cached); 0 means no cap.
func NewPool(dev DeviceAllocator, limit int64) *Pool {
	return &Pool{dev: dev, limit: limit, free: map[int64][]cuda.DevicePtr{}, live: map[cuda.DevicePtr]block{}}
}

// minClass is the smallest block the pool hands out. Every block is a whole driver
// allocation (the pool never splits one), so blocks keep the driver's 256-byte
// alignment.
const minClass = 512

// SizeClass returns the size a request of n bytes is rounded up to: 512 bytes, or
// the smallest of 2^e, 1.25*2^e, 1.5*2^e and 1.75*2^e that holds n.
func SizeClass(n int64) int64 {
	if n <= minClass {
		return minClass
	}
	e := 63 - bits.LeadingZeros64(uint64(n)) // 2^e <= n < 2^(e+1)
	step := int64(1) << (e - 2)              // a quarter of 2^e (e >= 9)
	return (n + step - 1) / step * step
}

// Alloc returns a block of at least n bytes; tag says what it is for (it appears in
// out-of-memory and leak reports).
func (p *Pool) Alloc(n int64, tag string) (cuda.DevicePtr, error) {
	if n < 0 {
		return 0, fmt.Errorf("engine: pool: negative request %d for %s", n, tag)
	}
	class := SizeClass(n)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats.Requests++
	if list := p.free[class]; len(list) > 0 {
		ptr := list[len(list)-1]
		p.free[class] = list[:len(list)-1]
		p.stats.Cached -= class
		p.stats.Hits++
		p.handOut(ptr, block{size: class, req: n, tag: tag})
		return ptr, nil
	}
	if p.limit > 0 && p.stats.Allocated+p.stats.Cached+class > p.limit {
		p.releaseLocked()
		if p.stats.Allocated+class > p.limit {
			return 0, &OutOfMemoryError{Request: n, Class: class, Tag: tag, Limit: p.limit, Stats: p.stats}
		}
	}
	ptr, err := p.dev.Alloc(class)
	p.stats.DriverAllocs++
	if err != nil {
		// The driver may be holding our cached blocks: give them back and retry once.
		if p.stats.Cached == 0 {
			return 0, &OutOfMemoryError{Request: n, Class: class, Tag: tag, Limit: p.limit, Stats: p.stats, Err: err}
		}
		p.releaseLocked()
		ptr, err = p.dev.Alloc(class)
		p.stats.DriverAllocs++
		if err != nil {
			return 0, &OutOfMemoryError{Request: n, Class: class, Tag: tag, Limit: p.limit, Stats: p.stats, Err: err}
		}
	}
	p.handOut(ptr, block{size: class, req: n, tag: tag})
	return ptr, nil
}

func (p *Pool) handOut(ptr cuda.DevicePtr, b block) {
	p.live[ptr] = b
	p.stats.Allocated += b.size
	if p.stats.Allocated > p.stats.Peak {
		p.stats.Peak = p.stats.Allocated
	}
}

// Free returns a block to the pool's cache. Freeing a pointer the pool did not hand
// out (or freeing twice) is an error.
func (p *Pool) Free(ptr cuda.DevicePtr) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	b, ok := p.live[ptr]
	if !ok {
		return fmt.Errorf("engine: pool: free of %#x, which is not a live block of this pool (double free?)", uint64(ptr))
	}
	delete(p.live, ptr)
	p.stats.Allocated -= b.size
	p.free[b.size] = append(p.free[b.size], ptr)
	p.stats.Cached += b.size
	return nil
}

// Release returns every cached block to the driver. Blocks in use stay.
func (p *Pool) Release() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.releaseLocked()
}

func (p *Pool) releaseLocked() error {
	var errs []error
	for class, list := range p.free {
		for _, ptr := range list {
			p.stats.DriverFrees++
			if err := p.dev.Free(ptr); err != nil {
				errs = append(errs, err)
			}
			p.stats.Cached -= class
		}
		delete(p.free, class)
	}
	return errors.Join(errs...)
}

// Stats returns a snapshot of the pool's counters.
func (p *Pool) Stats() PoolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// CheckLeaks returns an error listing every block still handed out (by tag, largest
// first), or nil. Tests call it after freeing everything they allocated.
func (p *Pool) CheckLeaks() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.live) == 0 {
		return nil
	}
	type leak struct {
		tag   string
		n     int
		bytes int64
	}
	byTag := map[string]*leak{}
	for _, b := range p.live {
		l := byTag[b.tag]
		if l == nil {
			l = &leak{tag: b.tag}
			byTag[b.tag] = l
		}
		l.n++
		l.bytes += b.req
	}
	leaks := make([]*leak, 0, len(byTag))
	for _, l := range byTag {
		leaks = append(leaks, l)
	}
	sort.Slice(leaks, func(i, j int) bool {
		if leaks[i].bytes != leaks[j].bytes {
			return leaks[i].bytes > leaks[j].bytes
		}
		return leaks[i].tag < leaks[j].tag
	})
	var parts []string
	for _, l := range leaks {
		parts = append(parts, fmt.Sprintf("%q: %d blocks, %s", l.tag, l.n, byteSize(l.bytes)))
	}
	return fmt.Errorf("engine: pool: %d blocks leaked: %s", len(p.live), strings.Join(parts, "; "))
}

// byteSize formats n bytes for people.
func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
