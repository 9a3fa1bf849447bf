package fmath

import (
	"math"
	"runtime"
	"sync"
)

// ulpErr returns the error of got against the exact value want, in float32 ulps of
// want: |got - want| / ulp(want), where ulp(want) is the spacing of float32 numbers at
// want's magnitude (2^-149 in the subnormal range). NaN against NaN is 0; a non-finite
// value against anything else is 0 when got is what want rounds to, else +Inf.
func ulpErr(got float32, want float64) float64 {
	g := float64(got)
	if math.IsNaN(g) || math.IsNaN(want) {
		if math.IsNaN(g) && math.IsNaN(want) {
			return 0
		}
		return math.Inf(1)
	}
	if math.IsInf(g, 0) || math.IsInf(want, 0) {
		if got == float32(want) {
			return 0
		}
		if math.IsInf(want, 0) || !math.IsInf(float64(float32(want)), 0) {
			return math.Inf(1)
		}
		// want is finite but beyond the float32 range and got = +-Inf: measure
		// against MaxFloat32 + ulp, the value Inf stands for.
		g = math.Copysign(math.MaxFloat32+0x1p104, g)
	}
	e := -126
	if want != 0 {
		_, ex := math.Frexp(want)
		if ex-1 > e {
			e = ex - 1
		}
	}
	return math.Abs(g-want) / math.Ldexp(1, e-23)
}

// sweepResult is the worst case found by a sweep.
type sweepResult struct {
	maxErr float64
	worstX float32
	worstG float32
	worstW float64
	n      int64
}

func (r *sweepResult) merge(o sweepResult) {
	r.n += o.n
	if o.maxErr > r.maxErr || (math.IsNaN(o.maxErr) && !math.IsNaN(r.maxErr)) {
		r.maxErr, r.worstX, r.worstG, r.worstW = o.maxErr, o.worstX, o.worstG, o.worstW
	}
}

// sweep evaluates f against ref on n inputs input(0..n-1), on all cores, and returns
// the maximum ulp error.
func sweep(n int64, input func(i int64) float32, f func(float32) float32, ref func(float64) float64) sweepResult {
	workers := int64(runtime.GOMAXPROCS(0))
	const chunk = 1 << 16
	var (
		mu   sync.Mutex
		res  sweepResult
		next int64
		wg   sync.WaitGroup
	)
	for w := int64(0); w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var loc sweepResult
			for {
				mu.Lock()
				start := next
				next += chunk
				mu.Unlock()
				if start >= n {
					break
				}
				end := min(start+chunk, n)
				for i := start; i < end; i++ {
					x := input(i)
					got := f(x)
					want := ref(float64(x))
					e := ulpErr(got, want)
					if e > loc.maxErr {
						loc.maxErr, loc.worstX, loc.worstG, loc.worstW = e, x, got, want
					}
				}
				loc.n += end - start
			}
			mu.Lock()
			res.merge(loc)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return res
}

// bitRange returns an input function covering the float32s from lo to hi (lo <= hi,
// both finite) by stepping through their ordered bit patterns with the given stride,
// and the number of inputs.
func bitRange(lo, hi float32, stride int64) (func(i int64) float32, int64) {
	a, b := ordered(lo), ordered(hi)
	n := (b-a)/stride + 1
	return func(i int64) float32 { return unordered(a + i*stride) }, n
}

// ordered maps a float32 to an integer that increases with its value (-0 and +0 are
// neighbours: -0 maps to -1, +0 to 0).
func ordered(x float32) int64 {
	b := math.Float32bits(x)
	if b&0x80000000 != 0 {
		return -int64(b&0x7fffffff) - 1
	}
	return int64(b)
}

func unordered(o int64) float32 {
	if o < 0 {
		return math.Float32frombits(uint32(-(o + 1)) | 0x80000000)
	}
	return math.Float32frombits(uint32(o))
}

// uniform returns an input function of n values spread evenly (with a hashed jitter)
// over [lo, hi]: dense sampling of a critical range.
func uniform(lo, hi float64, n int64) func(i int64) float32 {
	return func(i int64) float32 {
		u := (float64(i) + float64(mix(uint64(i))>>11)*0x1p-53) / float64(n)
		return float32(lo + (hi-lo)*u)
	}
}

// mix is splitmix64's finaliser.
func mix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}
