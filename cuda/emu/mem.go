package emu

import (
	"fmt"
	"sort"
	"strings"
)

// Address map of the emulated device. Global allocations live at and above
// globalBase, each aligned to 256 bytes with at least 256 unmapped bytes after it, so
// a small overrun lands outside any allocation. Addresses are never reused, so an
// access through a freed pointer is recognised as a use after free. Generic addresses
// of shared and local memory live in two 4 GiB windows below globalBase.
const (
	globalBase   uint64 = 1 << 40
	sharedWindow uint64 = 1 << 32
	localWindow  uint64 = 2 << 32
	windowSize   uint64 = 1 << 32
	allocAlign   uint64 = 256
	allocGap     uint64 = 256
)

// allocation is one device allocation (or a module's .global/.const variable).
type allocation struct {
	base  uint64
	size  uint64
	data  []byte
	init  []byte // 1 for every byte written since allocation
	freed bool
	name  string // "" for Alloc; the variable name for module variables
	ro    bool   // .const: written only at load time
}

func (a *allocation) describe() string {
	what := fmt.Sprintf("%d-byte allocation at %#x", a.size, a.base)
	if a.name != "" {
		what = fmt.Sprintf("%d-byte module variable %s at %#x", a.size, a.name, a.base)
	}
	if a.freed {
		what = "freed " + what
	}
	return what
}

// memory is the device's global memory.
type memory struct {
	allocs []*allocation // sorted by base (bases only grow), freed ones included
	next   uint64
	live   int64
	total  int64
}

func newMemory(total int64) *memory {
	return &memory{next: globalBase, total: total}
}

func (m *memory) alloc(size uint64, name string) (*allocation, error) {
	if int64(size) > m.total-m.live {
		return nil, fmt.Errorf("out of memory: %d bytes requested, %d of %d in use", size, m.live, m.total)
	}
	a := &allocation{base: m.next, size: size, data: make([]byte, size), init: make([]byte, size), name: name}
	m.next = (m.next + size + allocGap + allocAlign - 1) &^ (allocAlign - 1)
	m.allocs = append(m.allocs, a)
	m.live += int64(size)
	return a, nil
}

// find returns the allocation (live or freed) whose range holds addr, or nil.
func (m *memory) find(addr uint64) *allocation {
	i := sort.Search(len(m.allocs), func(i int) bool { return m.allocs[i].base > addr }) - 1
	if i < 0 {
		return nil
	}
	a := m.allocs[i]
	if addr-a.base < a.size || (a.size == 0 && addr == a.base) {
		return a
	}
	return nil
}

// nearest describes the allocation nearest to addr, for messages.
func (m *memory) nearest(addr uint64) string {
	i := sort.Search(len(m.allocs), func(i int) bool { return m.allocs[i].base > addr })
	var best string
	bestD := ^uint64(0)
	for _, j := range []int{i - 1, i} {
		if j < 0 || j >= len(m.allocs) {
			continue
		}
		a := m.allocs[j]
		var d uint64
		var rel string
		if addr >= a.base+a.size {
			d = addr - (a.base + a.size)
			rel = fmt.Sprintf("%d bytes past the end of the %s", d, a.describe())
		} else {
			d = a.base - addr
			rel = fmt.Sprintf("%d bytes before the %s", d, a.describe())
		}
		if d < bestD {
			bestD, best = d, rel
		}
	}
	if best == "" {
		return "no allocation near it"
	}
	return best
}

// checkRange returns the live allocation holding [addr, addr+n) or an error.
func (m *memory) checkRange(op string, addr uint64, n uint64) (*allocation, error) {
	if n == 0 {
		return nil, nil
	}
	a := m.find(addr)
	if a == nil {
		return nil, fmt.Errorf("%s: address %#x is not in any allocation (%s)", op, addr, m.nearest(addr))
	}
	if a.freed {
		return nil, fmt.Errorf("use after free (%s): address %#x is in a %s", strings.TrimPrefix(op, "out-of-bounds "), addr, a.describe())
	}
	if addr+n-a.base > a.size {
		return nil, fmt.Errorf("%s: %d bytes at %#x run %d bytes past the end of the %s", op, n, addr, addr+n-a.base-a.size, a.describe())
	}
	return a, nil
}

func (m *memory) free(addr uint64) error {
	a := m.find(addr)
	if a == nil || a.base != addr || a.name != "" {
		return fmt.Errorf("%#x is not the start of an allocation", addr)
	}
	if a.freed {
		return fmt.Errorf("%#x was already freed (double free)", addr)
	}
	a.freed = true
	a.data, a.init = nil, nil
	m.live -= int64(a.size)
	return nil
}
