package gmvae

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/cuda/emu"
	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/internal/testutil"
)

// TestFlushTiny: magnitudes up to 2^-100 (subnormals and ±0 included) become +0,
// everything else keeps its bits (2^-99, NaN, ±Inf), on the CPU and the emulator alike.
func TestFlushTiny(t *testing.T) {
	tiny := float64(gTiny)
	nan := float32(math.NaN())
	in := []float32{float32(tiny * 0.75), float32(-tiny * 0.5), math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32,
		float32(tiny), float32(-tiny), float32(tiny * 2), 1, -3.5, nan, float32(math.Inf(1)), float32(math.Inf(-1)),
		0, float32(math.Copysign(0, -1)), 1e-30, -1e-25}
	want := []float32{0, 0, 0, 0, 0, 0, float32(tiny * 2), 1, -3.5, nan, float32(math.Inf(1)),
		float32(math.Inf(-1)), 0, 0, 1e-30, -1e-25}
	require.Equal(t, float32(math.Ldexp(1, -100)), gTiny, "gTiny, want 2^-100")
	for _, b := range []engine.Backend{engine.NewCPU(), engine.NewGPU(emu.New(emu.Options{}), engine.GPUOptions{})} {
		g := testutil.Upload(t, b, in, "g")
		scratch, err := b.New(len(in), "scratch")
		testutil.Must(t, err)
		l := newLauncher(b, "test")
		l.flushTiny(g, scratch, len(in))
		testutil.Must(t, l.err)
		got := testutil.Download(t, b, g)
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(math.IsNaN(float64(got[i])) && math.IsNaN(float64(want[i]))) {
				assert.Equal(t, math.Float32bits(want[i]), math.Float32bits(got[i]), "%s: flushTiny(%g) = %g, want %g (bits; first difference only)", b.Name(), in[i], got[i], want[i])
				break
			}
		}
	}
}
