package cpu

import (
	"math"
	"runtime"
	"sync"

	"github.com/gmvae/gmvae/kernels/fmath"
)

// This file is the Go twin of kernels/gm_philox.cuh: the engine's counter-based random
// numbers (DETERMINISM.md, rule 12). Keep the two in step, line for line.
//
// Generator: Philox-4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as
// easy as 1, 2, 3", SC 2011; the Random123 library), checked against Random123's
// published known-answer vectors.
//
// Stream convention (the whole engine's):
//
//	key     = (seed & 0xffffffff, seed >> 32)
//	counter = (block & 0xffffffff, block >> 32, stream & 0xffffffff, stream >> 32)
//
// with block = element index / 4 and stream = StreamID(step, tensor). Element i of a
// tensor uses word i%4 of block i/4, so its number depends only on (seed, stream, i):
// never on the tensor's length, the launch shape or the number of CPU threads.

// Philox constants (Random123: PHILOX_M4x32_0/1, PHILOX_W32_0/1).
const (
	philoxM0     = 0xD2511F53
	philoxM1     = 0xCD9E8D57
	philoxW0     = 0x9E3779B9
	philoxW1     = 0xBB67AE85
	philoxRounds = 10
)

// twoM24 is 2^-24.
const twoM24 = 1.0 / (1 << 24)

// Philox4x32 returns the Philox-4x32-10 block of counter ctr under key key: 10 rounds,
// the key bumped by the Weyl constants 0x9E3779B9, 0xBB67AE85 between rounds; round r
// maps (c0, c1, c2, c3) to (hi(M1*c2) ^ c1 ^ k0, lo(M1*c2), hi(M0*c0) ^ c3 ^ k1,
// lo(M0*c0)) with M0 = 0xD2511F53, M1 = 0xCD9E8D57. The same as Random123's
// philox4x32_R(10, ctr, key) and gm_philox4x32_10.
func Philox4x32(ctr [4]uint32, key [2]uint32) [4]uint32 {
	return philox4x32R(philoxRounds, ctr, key)
}

// philox4x32R is Philox-4x32 with the given number of rounds (the engine uses 10; the
// known-answer tests check 7 as well).
func philox4x32R(rounds int, c [4]uint32, key [2]uint32) [4]uint32 {
	k0, k1 := key[0], key[1]
	for r := 0; r < rounds; r++ {
		if r > 0 {
			k0 += philoxW0
			k1 += philoxW1
		}
		p0 := uint64(philoxM0) * uint64(c[0])
		p1 := uint64(philoxM1) * uint64(c[2])
		hi0, lo0 := uint32(p0>>32), uint32(p0)
		hi1, lo1 := uint32(p1>>32), uint32(p1)
		c = [4]uint32{hi1 ^ c[1] ^ k0, lo1, hi0 ^ c[3] ^ k1, lo0}
	}
	return c
}

// PhiloxBlock returns block number block of the stream (seed, stream) under the
// engine's convention: key (seed low, seed high), counter (block low, block high,
// stream low, stream high). Twin of gm_philox_block.
func PhiloxBlock(seed, stream, block uint64) [4]uint32 {
	return Philox4x32(
		[4]uint32{uint32(block), uint32(block >> 32), uint32(stream), uint32(stream >> 32)},
		[2]uint32{uint32(seed), uint32(seed >> 32)})
}

// StreamID returns the Philox stream of tensor number tensor at training step step:
// step<<32 | tensor, so the counter's words 2 and 3 are (tensor, step). Tensor ids
// are the caller's (one per random tensor of a step: each layer's eps, the binarised
// batch, ...); two different (step, tensor) pairs never share a stream. It panics when
// step >= 2^32, which would alias step 0's streams (4.3e9 steps: a programming error,
// not a real run).
func StreamID(step uint64, tensor uint32) uint64 {
	if step>>32 != 0 {
		panic("cpu: StreamID: step >= 2^32 would reuse random streams")
	}
	return step<<32 | uint64(tensor)
}

// UniformFromWord maps a 32-bit word to (2k+1)/2^24 with k = w >> 9: a float32 in
// (0, 1), never 0 or 1 (2^-24 <= u <= 1 - 2^-24), computed exactly. Twin of
// gm_uniform01.
func UniformFromWord(w uint32) float32 {
	return float32((w>>9)*2+1) * float32(twoM24)
}

// BoxMuller turns two words into two standard normals: with ua = uniform(wa) and
// ub = uniform(wb), r = sqrt(-2 * Log(ua)), (s, c) = Sincos2Pi(ub); it returns
// (r*c, r*s), each product rounded once. |n| <= sqrt(48 ln 2) = 5.768 since
// ua >= 2^-24. Twin of gm_box_muller.
func BoxMuller(wa, wb uint32) (n0, n1 float32) {
	ua := UniformFromWord(wa)
	ub := UniformFromWord(wb)
	r := float32(math.Sqrt(float64(float32(-2 * fmath.Log(ua)))))
	s, c := fmath.Sincos2Pi(ub)
	return float32(r * c), float32(r * s)
}

// philoxNormal4 returns the four normals of one block in element order
// (r01*c1, r01*s1, r23*c3, r23*s3). Twin of gm_philox_normal4.
func philoxNormal4(w [4]uint32) [4]float32 {
	n0, n1 := BoxMuller(w[0], w[1])
	n2, n3 := BoxMuller(w[2], w[3])
	return [4]float32{n0, n1, n2, n3}
}

// philoxUniform4 returns the four uniforms of one block in element order. Twin of
// gm_philox_uniform4.
func philoxUniform4(w [4]uint32) [4]float32 {
	return [4]float32{UniformFromWord(w[0]), UniformFromWord(w[1]), UniformFromWord(w[2]), UniformFromWord(w[3])}
}

// philoxNBlocks returns ceil(n/4) for n > 0, else 0 (as gm_philox_nblocks).
func philoxNBlocks(n int) int {
	if n <= 0 {
		return 0
	}
	return (n-1)/4 + 1
}

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
