package dist

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/cuda/emu"
	"github.com/gmvae/gmvae/engine"
)

// pinnedEmu is the PTX emulator with page-locked host memory "allocation" (plain
// memory here), so that GradSync takes its pinned path as on a real GPU.
type pinnedEmu struct {
	*emu.Device
	allocs int
}

func (p *pinnedEmu) AllocPinned(n int) ([]byte, error) {
	p.allocs++
	return make([]byte, n), nil
}

func (p *pinnedEmu) FreePinned([]byte) error { p.allocs--; return nil }

// TestDataParallelEmulator trains the data-parallel loop on 2 ranks whose backends are
// the GPU backend over the PTX emulator (through GradSync's pinned host path): the
// parameters end bit-equal to the same world on CPU backends, since every op is
// bit-exact across backends and the sum runs on the host in rank order.
func TestDataParallelEmulator(t *testing.T) {
	const p = 2
	cpuRes, err := trainWorld(p, 1)
	require.NoError(t, err)
	results := make([]*dpResult, p)
	devs := make([]*pinnedEmu, p)
	err = runWorld(p, func(c Comm) error {
		dev := &pinnedEmu{Device: emu.New(emu.Options{})}
		devs[c.Rank()] = dev
		g := engine.NewGPU(dev, engine.GPUOptions{})
		gs, err := NewGradSync(c, g, 10, GradSyncOptions{})
		if err != nil {
			return err
		}
		assert.Contains(t, gs.Name(), "pinned", "gradient sync on the emulator with pinned memory") // assert: a rank's goroutine
		if err := gs.Close(); err != nil {
			return err
		}
		r, err := trainDP(c, g, 1)
		results[c.Rank()] = r
		if err != nil {
			return err
		}
		return g.Close()
	})
	require.NoError(t, err)
	require.NoError(t, sameBits32(results[0].params, cpuRes.params), "2 ranks on the emulator vs 2 ranks on the CPU")
	for r, d := range devs {
		assert.Zero(t, d.allocs, "rank %d: pinned buffers not freed", r)
	}
}
