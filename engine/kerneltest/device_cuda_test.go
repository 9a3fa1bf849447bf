//go:build cuda

package kerneltest

import (
	"math/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/cuda/driver/drivertest"
	"github.com/gmvae/gmvae/engine/cpu"
	"github.com/gmvae/gmvae/kernels"
)

// TestDeviceMatchesTwins is TestEmulatorMatchesTwins on a real GPU: every case of every
// kernel, on several launch shapes, bit for bit against the CPU twin. It skips without
// a GPU (fails with GMVAE_REQUIRE_GPU=1; see cuda/driver/drivertest).
func TestDeviceMatchesTwins(t *testing.T) {
	dev := drivertest.Open(t)
	defer dev.Close()
	seed := caseSeed(t)
	compared, total := 0, 0
	for _, m := range kernels.Modules() {
		src, err := moduleSource(m)
		require.NoError(t, err)
		mod, err := dev.LoadModule(m, src)
		require.NoError(t, err, "module %s", m)
		entries, err := kernels.Entries(src)
		require.NoError(t, err)
		for _, e := range entries {
			total++
			k, err := kernels.Lookup(e.Name)
			if !assert.NoError(t, err) {
				continue
			}
			fn, err := mod.Function(e.Name)
			if !assert.NoError(t, err) {
				continue
			}
			twin, err := cpu.TwinOf(e.Name)
			if !assert.NoError(t, err) {
				continue
			}
			cases, _ := Cases(e.Name, rand.New(rand.NewSource(seed)))
			ok := len(cases) > 0
			for ci, c := range cases {
				want := Clone(c.Args)
				twin(want)
				for _, s := range Shapes(k, c.Work) {
					got, err := Launch(dev, fn, k, c.Args, s)
					if !assert.NoError(t, err, "%s case %d (%s), %v", e.Name, ci, c.Name, s) {
						ok = false
						break
					}
					if !assert.Empty(t, Diff(k, got, want), "%s case %d (%s), %v: the GPU differs from the twin", e.Name, ci, c.Name, s) {
						ok = false
						break
					}
				}
			}
			if ok {
				compared++
			}
		}
	}
	t.Logf("kernels compared on %s: %d of %d", dev.Name(), compared, total)
	assert.Equal(t, total, compared, "kernels that matched their twins on the GPU")
}
