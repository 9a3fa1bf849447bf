package data

import (
	"fmt"
	"math/bits"
)

// Shuffling is done on the CPU with a generator written here, so that the order of the
// examples depends only on (seed, epoch): never on the machine, the Go version (the
// standard library's Shuffle and IntN algorithms are not promised to stay the same), the
// number of threads or anything else. The device-side random numbers (Philox, see
// DETERMINISM.md) are a different stream; the two never share state.
//
// The generator is SplitMix64 (Steele, Lea, Flood 2014; the seeding generator of
// xoshiro): state += 0x9E3779B97F4A7C15, output = mix64(state), with Stafford's
// "variant 13" finaliser mix64(z) = z ^= z>>30; z *= 0xBF58476D1CE4E5B9;
// z ^= z>>27; z *= 0x94D049BB133111EB; z ^= z>>31.
//
// Epoch e of seed s starts from state mix64(s) ^ mix64(e + 0x2545F4914F6CDD1D). Bounded
// integers use Lemire's multiply-and-reject method (unbiased), and a permutation of n is
// Fisher–Yates from the identity: for i = n-1 down to 1, swap i with Uint64n(i+1).
// TestPermutationGolden pins the output; changing any of this changes every run's
// batches, so do not.

// SplitMix64 is the SplitMix64 generator. The zero value is a valid generator (state 0).
type SplitMix64 struct{ State uint64 }

// Next returns the next 64 random bits.
func (g *SplitMix64) Next() uint64 {
	g.State += 0x9E3779B97F4A7C15
	return mix64(g.State)
}

// Uint64n returns a uniform integer in [0, n); n must be > 0.
func (g *SplitMix64) Uint64n(n uint64) uint64 {
	hi, lo := bits.Mul64(g.Next(), n)
	if lo < n {
		thresh := -n % n
		for lo < thresh {
			hi, lo = bits.Mul64(g.Next(), n)
		}
	}
	return hi
}

func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// EpochRNG returns the generator for epoch epoch of a run seeded with seed.
func EpochRNG(seed uint64, epoch int) SplitMix64 {
	return SplitMix64{State: mix64(seed) ^ mix64(uint64(epoch)+0x2545F4914F6CDD1D)}
}

// Permutation returns a uniformly random permutation of 0..n-1 determined by (seed,
// epoch) alone.
func Permutation(n int, seed uint64, epoch int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	g := EpochRNG(seed, epoch)
	for i := n - 1; i > 0; i-- {
		j := int(g.Uint64n(uint64(i + 1)))
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// Batcher cuts each epoch's permutation of N examples into mini-batches of BatchSize
// indices. Epoch e's order is Permutation(N, seed, e): the same seed and epoch give the
// same batches on every machine, and every epoch visits every example once (with
// DropLast, the last N mod BatchSize of that epoch's order are left out).
type Batcher struct {
	n, size  int
	seed     uint64
	dropLast bool
	src      Source // NewSourceBatcher: the order is src.Order
}

// NewBatcher returns a Batcher over n examples with the given batch size, seed and
// drop-last choice. It needs n >= 0 and batchSize >= 1.
func NewBatcher(n, batchSize int, seed uint64, dropLast bool) (*Batcher, error) {
	if n < 0 {
		return nil, fmt.Errorf("data: batcher: %d examples", n)
	}
	if batchSize < 1 {
		return nil, fmt.Errorf("data: batcher: batch size %d, expected >= 1", batchSize)
	}
	return &Batcher{n: n, size: batchSize, seed: seed, dropLast: dropLast}, nil
}

// NewSourceBatcher returns a Batcher over the examples of src whose epoch order is
// src.Order(seed, epoch): for a *Dataset that is Permutation (the same batches as
// NewBatcher), for a *Sharded the shard-and-window order (ShardOrder).
func NewSourceBatcher(src Source, batchSize int, seed uint64, dropLast bool) (*Batcher, error) {
	b, err := NewBatcher(src.Info().N, batchSize, seed, dropLast)
	if err != nil {
		return nil, err
	}
	b.src = src
	return b, nil
}

// N returns the number of examples, BatchSize the batch size.
func (b *Batcher) N() int         { return b.n }
func (b *Batcher) BatchSize() int { return b.size }

// NumBatches returns the number of batches in one epoch: floor(N/BatchSize) with
// DropLast, ceil(N/BatchSize) without.
func (b *Batcher) NumBatches() int {
	if b.dropLast {
		return b.n / b.size
	}
	return (b.n + b.size - 1) / b.size
}

// Order returns epoch's permutation of the N examples: Permutation(N, seed, epoch),
// or the source's order (NewSourceBatcher).
func (b *Batcher) Order(epoch int) []int {
	if b.src != nil {
		return b.src.Order(b.seed, epoch)
	}
	return Permutation(b.n, b.seed, epoch)
}

// Batches returns epoch's mini-batches: NumBatches() slices of indices, each of
// BatchSize except perhaps the last (without DropLast). The slices share one array.
func (b *Batcher) Batches(epoch int) [][]int {
	return cut(b.Order(epoch), b.size, b.dropLast)
}

// SequentialBatches cuts 0..n-1, in order, into batches of batchSize (the last one
// shorter): the order for evaluation, where no shuffling is wanted.
func SequentialBatches(n, batchSize int) [][]int {
	if batchSize < 1 {
		panic(fmt.Sprintf("data: batch size %d", batchSize))
	}
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	return cut(p, batchSize, false)
}

func cut(p []int, size int, dropLast bool) [][]int {
	var out [][]int
	for lo := 0; lo < len(p); lo += size {
		hi := min(lo+size, len(p))
		if hi-lo < size && dropLast {
			break
		}
		out = append(out, p[lo:hi:hi])
	}
	return out
}
