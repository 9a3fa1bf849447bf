package cpu

import (
	"runtime"
	"sync"
)

// rngParallel runs f over [0, items) split into contiguous chunks on all cores. Each
// item is computed by exactly one call, in the same way whatever the split, so the
// result never depends on the number of goroutines.
func rngParallel(items int, f func(lo, hi int)) {
	const minChunk = 4096
	workers := runtime.GOMAXPROCS(0)
	if items <= minChunk || workers <= 1 {
		if items > 0 {
			f(0, items)
		}
		return
	}
	chunk := (items + workers - 1) / workers
	if chunk < minChunk {
		chunk = minChunk
	}
	var wg sync.WaitGroup
	for lo := 0; lo < items; lo += chunk {
		hi := lo + chunk
		if hi > items {
			hi = items
		}
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			f(lo, hi)
		}(lo, hi)
	}
	wg.Wait()
}
