// Package philox is the Go twin of kernels/gm_philox.cuh: the engine's counter-based
// random numbers (DETERMINISM.md, rule 12), for the host (parameter initialisation) and
// the CPU twins of the random kernels. Keep the two in step, line for line.
package philox

import (
	"math"

	"github.com/gmvae/gmvae/kernels/fmath"
)

// Generator: Philox-4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as
// easy as 1, 2, 3", SC 2011; the Random123 library), checked against Random123's
// published known-answer vectors.
//
// Stream convention (the whole engine's):
//
//	key     = (seed & 0xffffffff, seed >> 32)
//	counter = (block & 0xffffffff, block >> 32, stream & 0xffffffff, stream >> 32)
//
// with block = element index / 4 and stream = kernels.StreamID(step, tensor). Element i of a
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

// Block returns block number block of the stream (seed, stream) under the
// engine's convention: key (seed low, seed high), counter (block low, block high,
// stream low, stream high). Twin of gm_philox_block.
func Block(seed, stream, block uint64) [4]uint32 {
	return Philox4x32(
		[4]uint32{uint32(block), uint32(block >> 32), uint32(stream), uint32(stream >> 32)},
		[2]uint32{uint32(seed), uint32(seed >> 32)})
}

// Uniform maps a 32-bit word to (2k+1)/2^24 with k = w >> 9: a float32 in
// (0, 1), never 0 or 1 (2^-24 <= u <= 1 - 2^-24), computed exactly. Twin of
// gm_uniform01.
func Uniform(w uint32) float32 {
	return float32((w>>9)*2+1) * float32(twoM24)
}

// BoxMuller turns two words into two standard normals: with ua = uniform(wa) and
// ub = uniform(wb), r = sqrt(-2 * Log(ua)), (s, c) = Sincos2Pi(ub); it returns
// (r*c, r*s), each product rounded once. |n| <= sqrt(48 ln 2) = 5.768 since
// ua >= 2^-24. Twin of gm_box_muller.
func BoxMuller(wa, wb uint32) (n0, n1 float32) {
	ua := Uniform(wa)
	ub := Uniform(wb)
	r := float32(math.Sqrt(float64(float32(-2 * fmath.Log(ua)))))
	s, c := fmath.Sincos2Pi(ub)
	return float32(r * c), float32(r * s)
}

// Normal4 returns the four normals of one block in element order
// (r01*c1, r01*s1, r23*c3, r23*s3). Twin of gm_philox_normal4.
func Normal4(w [4]uint32) [4]float32 {
	n0, n1 := BoxMuller(w[0], w[1])
	n2, n3 := BoxMuller(w[2], w[3])
	return [4]float32{n0, n1, n2, n3}
}

// Uniform4 returns the four uniforms of one block in element order. Twin of
// gm_philox_uniform4.
func Uniform4(w [4]uint32) [4]float32 {
	return [4]float32{Uniform(w[0]), Uniform(w[1]), Uniform(w[2]), Uniform(w[3])}
}

// NBlocks returns ceil(n/4) for n > 0, else 0 (as gm_philox_nblocks).
func NBlocks(n int) int {
	if n <= 0 {
		return 0
	}
	return (n-1)/4 + 1
}

// Uniforms sets out[i] to uniform number i of (seed, stream), in element order: the
// numbers of the rand_uniform kernel, computed serially.
func Uniforms(out []float32, seed, stream uint64) { fill(out, seed, stream, Uniform4) }

// Normals sets out[i] to standard normal number i of (seed, stream), in element order:
// the numbers of the rand_normal kernel, computed serially.
func Normals(out []float32, seed, stream uint64) { fill(out, seed, stream, Normal4) }

func fill(out []float32, seed, stream uint64, gen func([4]uint32) [4]float32) {
	for b := 0; b < NBlocks(len(out)); b++ {
		v := gen(Block(seed, stream, uint64(b)))
		for j := 0; j < 4; j++ {
			if i := 4*b + j; i < len(out) {
				out[i] = v[j]
			}
		}
	}
}
