package philox

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPhilox4x32 checks the generator against Random123's published known-answer
// vectors (Random123 1.x, tests/kat_vectors, the "philox4x32 7" and "philox4x32 10"
// lines; columns: counter[4], key[2], expected[4]). The 7-round lines pin the round
// function and the key schedule independently of the round count the engine uses.
func TestPhilox4x32(t *testing.T) {
	cases := []struct {
		rounds int
		ctr    [4]uint32
		key    [2]uint32
		want   [4]uint32
	}{
		{7, [4]uint32{0, 0, 0, 0}, [2]uint32{0, 0},
			[4]uint32{0x5f6fb709, 0x0d893f64, 0x4f121f81, 0x4f730a48}},
		{7, [4]uint32{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, [2]uint32{0xffffffff, 0xffffffff},
			[4]uint32{0x5207ddc2, 0x45165e59, 0x4d8ee751, 0x8c52f662}},
		{7, [4]uint32{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, [2]uint32{0xa4093822, 0x299f31d0},
			[4]uint32{0x4dfccaba, 0x190a87f0, 0xc47362ba, 0xb6b5242a}},
		{10, [4]uint32{0, 0, 0, 0}, [2]uint32{0, 0},
			[4]uint32{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
		{10, [4]uint32{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, [2]uint32{0xffffffff, 0xffffffff},
			[4]uint32{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
		{10, [4]uint32{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, [2]uint32{0xa4093822, 0x299f31d0},
			[4]uint32{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, philox4x32R(c.rounds, c.ctr, c.key), "philox4x32 %d ctr %08x key %08x", c.rounds, c.ctr, c.key)
		if c.rounds == 10 {
			assert.Equal(t, c.want, Philox4x32(c.ctr, c.key), "Philox4x32(%08x, %08x)", c.ctr, c.key)
		}
	}
}

// TestBlock checks the stream convention: key = (seed low, seed high), counter =
// (block low, block high, stream low, stream high).
func TestBlock(t *testing.T) {
	assert.Equal(t, [4]uint32{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
		Block(math.MaxUint64, math.MaxUint64, math.MaxUint64), "all-ones")
	// The pi known answer: seed = 0x299f31d0_a4093822, block = 0x85a308d3_243f6a88,
	// stream = 0x03707344_13198a2e.
	assert.Equal(t, [4]uint32{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1},
		Block(0x299f31d0a4093822, 0x0370734413198a2e, 0x85a308d3243f6a88), "pi")
	// Every half of every 64-bit input matters.
	base := Block(1, 2, 3)
	for _, o := range [][3]uint64{
		{1 | 1<<32, 2, 3}, {0, 2, 3}, {1, 2 | 1<<32, 3}, {1, 3, 3}, {1, 2, 3 | 1<<32}, {1, 2, 4},
	} {
		assert.NotEqual(t, base, Block(o[0], o[1], o[2]), "Block%v equals Block(1, 2, 3)", o)
	}
}

// TestUniform checks the exact mapping: (2k+1)/2^24, k = w>>9, never 0 or 1,
// for every k.
func TestUniform(t *testing.T) {
	ulp := math.Ldexp(1, -24)
	for _, c := range []struct {
		w    uint32
		want float64
	}{{0, ulp}, {511, ulp}, {512, 3 * ulp}, {math.MaxUint32, 1 - ulp},
		{0x7fffffff, 0.5 - ulp}, {0x80000000, 0.5 + ulp}} {
		assert.Equal(t, c.want, float64(Uniform(c.w)), "Uniform(%#x)", c.w)
	}
	prev := float32(0)
	for k := uint32(0); k < 1<<23; k++ {
		u := Uniform(k<<9 | k&511)
		if float64(u) != float64(2*k+1)*ulp || !(u > prev) || !(u < 1) { // 2^23 words: no assert per word
			require.Failf(t, "Uniform: want (2k+1)/2^24, increasing, below 1", "k=%d: u=%g (previous %g)", k, u, prev)
		}
		prev = u
	}
}

// TestBoxMuller checks the normal transform against float64 Box-Muller on the same
// uniforms, over 2^19 word pairs plus the extreme words. Bound: |n - ref| <= 2^-19 *
// max(1, |ref|) (about 8 float32 ulps of a unit normal: r's error (log, sqrt: a few
// ulps) times |cos|, plus r times the absolute error of cos, a few 2^-24).
func TestBoxMuller(t *testing.T) {
	worst := 0.0
	check := func(wa, wb uint32) {
		n0, n1 := BoxMuller(wa, wb)
		ua, ub := float64(Uniform(wa)), float64(Uniform(wb))
		r := math.Sqrt(-2 * math.Log(ua))
		r0, r1 := r*math.Cos(2*math.Pi*ub), r*math.Sin(2*math.Pi*ub)
		e0 := math.Abs(float64(n0)-r0) / math.Max(1, math.Abs(r0))
		e1 := math.Abs(float64(n1)-r1) / math.Max(1, math.Abs(r1))
		worst = math.Max(worst, math.Max(e0, e1))
		if e0 > math.Ldexp(1, -19) || e1 > math.Ldexp(1, -19) { // 2^19 pairs: no assert per pair
			require.Failf(t, "BoxMuller: error above 2^-19 * max(1, |ref|)", "BoxMuller(%#x, %#x) = (%g, %g), float64 (%g, %g)", wa, wb, n0, n1, r0, r1)
		}
	}
	ext := []uint32{0, 511, 512, 0x3fffffff, 0x40000000, 0x7fffffff, 0x80000000, 0xbfffffff, 0xc0000000, math.MaxUint32}
	for _, a := range ext {
		for _, b := range ext {
			check(a, b)
		}
	}
	for b := uint64(0); b < 1<<18; b++ {
		w := Block(42, 7, b)
		check(w[0], w[1])
		check(w[2], w[3])
	}
	t.Logf("BoxMuller: worst error %.3g (in units of max(1, |n|)) = %.2f * 2^-24", worst, worst*(1<<24))
	// The largest radius: u = 2^-24 gives sqrt(48 ln 2) = 5.768.
	n0, _ := BoxMuller(0, 0)
	assert.InDelta(t, math.Sqrt(48*math.Ln2), float64(n0), 1e-5, "BoxMuller(0, 0)")
}
