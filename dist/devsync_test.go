package dist

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/cuda"
	"github.com/gmvae/gmvae/cuda/emu"
	"github.com/gmvae/gmvae/engine"
)

// emuGPUs returns p GPU backends, each over its own PTX emulator device.
func emuGPUs(p int) []*engine.GPU {
	gs := make([]*engine.GPU, p)
	for r := range gs {
		gs[r] = engine.NewGPU(emu.New(emu.Options{}), engine.GPUOptions{})
	}
	return gs
}

// devData is rankData (normals over 2^-20..2^20, -0 on every rank, NaN on rank 1, ±Inf
// on rank 2, +Inf on rank 0) with two more special places: element 4 is -0 on rank 0
// and +0 elsewhere (the sum is +0), element 5 is ±3e38 (overflow to +Inf before rank
// 2's -3e38 comes in: the order shows in the result).
func devData(n, r int) []float32 {
	x := rankData(n, r)
	if n > 4 {
		x[4] = 0
		if r == 0 {
			x[4] = float32(math.Copysign(0, -1))
		}
	}
	if n > 5 {
		x[5] = 3e38
		if r == 2 {
			x[5] = -3e38
		}
	}
	return x
}

// devSizes are the gradient lengths of TestDeviceGradSyncBits for p ranks: 1, p-1,
// around the 16-element chunk alignment and the chunk boundaries, and 1000.
func devSizes(p int) []int {
	s := []int{1, p - 1, 2, 15, 16, 17, 16*(p-1) - 1, 16 * (p - 1), 16*(p-1) + 1, 16*p - 1, 16 * p, 16*p + 1, 16*p + 7, 1000}
	out := []int{}
	seen := map[int]bool{}
	for _, n := range s {
		if n >= 1 && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// sumWorld runs one gradient sum per size on every rank of a P-rank world: make
// returns rank c.Rank()'s GradSync for up to maxN elements on its backend. It returns
// every rank's results, res[size index][rank].
func sumWorld(p int, sizes []int, backends []engine.Backend, newSync func(c Comm, b engine.Backend, maxN int) (GradSync, error)) ([][][]float32, error) {
	maxN := 0
	for _, n := range sizes {
		maxN = max(maxN, n)
	}
	res := make([][][]float32, len(sizes))
	for i := range res {
		res[i] = make([][]float32, p)
	}
	err := runWorld(p, func(c Comm) error {
		b := backends[c.Rank()]
		gs, err := newSync(c, b, maxN)
		if err != nil {
			return err
		}
		defer gs.Close()
		// One buffer of maxN+3 floats; each gradient is a slice of it at offset 3, so
		// the sum works on views too.
		buf, err := b.New(maxN+3, "g")
		if err != nil {
			return err
		}
		defer b.Release(buf)
		for i, n := range sizes {
			g := buf.Slice(3, n)
			if err := b.Upload(g, devData(n, c.Rank())); err != nil {
				return err
			}
			if err := gs.Sum(g); err != nil {
				return fmt.Errorf("%d elements: %w", n, err)
			}
			out := make([]float32, n)
			if err := b.Download(out, g); err != nil {
				return err
			}
			res[i][c.Rank()] = out
		}
		return nil
	})
	return res, err
}

// swapDevice replaces NCCL by an in-process device world over gpus (and a probe that
// fails where fail says) for the rest of the test.
func swapDevice(t *testing.T, gpus []*engine.GPU, fail func(rank int) error) {
	ts := NewLocalDeviceWorld(gpus)
	rankOf := map[*engine.GPU]int{}
	for r, g := range gpus {
		rankOf[g] = r
	}
	probe, open := probeDevice, openDevice
	t.Cleanup(func() { probeDevice, openDevice = probe, open })
	probeDevice = func(g *engine.GPU) error {
		r, ok := rankOf[g]
		if !ok {
			return errors.New("not one of the test's GPUs")
		}
		if fail != nil {
			return fail(r)
		}
		return nil
	}
	openDevice = func(c Comm, g *engine.GPU) (DeviceTransport, error) { return ts[c.Rank()], nil }
}

// TestDeviceGradSyncBits: the device path (all-to-all into a device scratch, P−1
// ew_add launches on the emulator, all-gather, copies back) gives the host path's
// bits — and the sequential rank-order sum's — for 2, 3 and 4 ranks, at sizes 1, P−1,
// around the chunk alignment and boundaries, and 1000, with -0, NaN, ±Inf and
// overflow in the data; NaN compares as a class (DETERMINISM.md rule 8: the GPU's NaN
// is canonical), every other element bit for bit. Every rank ends with the same bytes,
// NaN included.
func TestDeviceGradSyncBits(t *testing.T) {
	for _, p := range []int{2, 3, 4} {
		sizes := devSizes(p)
		cpus := make([]engine.Backend, p)
		for r := range cpus {
			cpus[r] = engine.NewCPU()
		}
		host, err := sumWorld(p, sizes, cpus, func(c Comm, b engine.Backend, n int) (GradSync, error) {
			return NewGradSync(c, b, n, GradSyncOptions{Method: "host"})
		})
		require.NoError(t, err, "%d ranks, host path", p)
		gpus := emuGPUs(p)
		ts := NewLocalDeviceWorld(gpus)
		backends := make([]engine.Backend, p)
		for r, g := range gpus {
			backends[r] = g
		}
		dev, err := sumWorld(p, sizes, backends, func(c Comm, b engine.Backend, n int) (GradSync, error) {
			return NewDeviceGradSync(c, b.(*engine.GPU), n, ts[c.Rank()])
		})
		require.NoError(t, err, "%d ranks, device path", p)
		for i, n := range sizes {
			want := seqSumOf(n, p)
			require.NoError(t, sameBits32(host[i][0], want), "%d ranks, %d elements: the host path vs the sequential sum", p, n)
			for r := 0; r < p; r++ {
				require.NoError(t, sameBits32(dev[i][r], host[i][r]), "%d ranks, %d elements, rank %d: device path vs host path", p, n, r)
				for j := range dev[i][r] {
					if math.Float32bits(dev[i][r][j]) != math.Float32bits(dev[i][0][j]) { // first difference only
						require.Equal(t, math.Float32bits(dev[i][0][j]), math.Float32bits(dev[i][r][j]),
							"%d ranks, %d elements: rank %d's element %d against rank 0's (bits, NaN included)", p, n, r, j)
					}
				}
			}
			if n > 5 {
				require.True(t, math.IsNaN(float64(want[1])) && want[0] == 0 && math.Signbit(float64(want[0])) &&
					want[4] == 0 && !math.Signbit(float64(want[4])), "the special values did not come out as planned: %v", want[:6])
			}
		}
		for r, g := range gpus {
			require.NoError(t, g.Close())
			assert.NoError(t, g.Pool().CheckLeaks(), "rank %d", r)
		}
	}
}

// seqSumOf is the sequential rank-order float32 sum of devData.
func seqSumOf(n, p int) []float32 {
	s := devData(n, 0)
	for k := 1; k < p; k++ {
		for i, v := range devData(n, k) {
			s[i] += v
		}
	}
	return s
}

// TestDeviceGradSyncOrder: the device path sums in rank order, not in any other:
// with 3 ranks and the overflow at element 5 (3e38 + 3e38 = +Inf, then -3e38: +Inf;
// another order gives 3e38), and the full random data, whose reverse-order sum has
// other bits (TestRankOrderMatters).
func TestDeviceGradSyncOrder(t *testing.T) {
	const p, n = 3, 64
	gpus := emuGPUs(p)
	ts := NewLocalDeviceWorld(gpus)
	backends := []engine.Backend{gpus[0], gpus[1], gpus[2]}
	dev, err := sumWorld(p, []int{n}, backends, func(c Comm, b engine.Backend, n int) (GradSync, error) {
		return NewDeviceGradSync(c, b.(*engine.GPU), n, ts[c.Rank()])
	})
	require.NoError(t, err)
	got := dev[0][0][5]
	require.True(t, math.IsInf(float64(got), 1), "element 5 = %g, want +Inf ((3e38 + 3e38) - 3e38 in float32)", got)
	rev := devData(n, p-1)
	for k := p - 2; k >= 0; k-- {
		for i, v := range devData(n, k) {
			rev[i] += v
		}
	}
	require.Error(t, sameBits32(dev[0][0], rev), "the device sum equals the reverse-order sum")
}

// TestDeviceGradSyncSmall: one rank does nothing; an empty gradient and one longer
// than the sync was made for are handled; Close releases the scratch.
func TestDeviceGradSyncSmall(t *testing.T) {
	g := emuGPUs(1)[0]
	ts := NewLocalDeviceWorld([]*engine.GPU{g})
	c := NewLocalWorld(1)[0]
	gs, err := NewDeviceGradSync(c, g, 10, ts[0])
	require.NoError(t, err)
	buf, _ := g.New(4, "g")
	want := []float32{1, float32(math.NaN()), -0.0, 3}
	g.Upload(buf, want)
	require.NoError(t, gs.Sum(buf))
	got := make([]float32, 4)
	g.Download(got, buf)
	require.NoError(t, sameBits32(got, want), "one rank changed its gradient")
	gs.Close()
	g.Release(buf)

	gpus := emuGPUs(2)
	ts2 := NewLocalDeviceWorld(gpus)
	err = runWorld(2, func(c Comm) error {
		b := gpus[c.Rank()]
		gs, err := NewDeviceGradSync(c, b, 20, ts2[c.Rank()])
		if err != nil {
			return err
		}
		big, _ := b.New(21, "big")
		if err := gs.Sum(big.Slice(0, 0)); err != nil {
			return fmt.Errorf("empty gradient: %w", err)
		}
		if err := gs.Sum(big); err == nil || !strings.Contains(err.Error(), "made for 20") {
			return fmt.Errorf("a gradient of 21 floats on a sync for 20: %v", err)
		}
		if err := gs.Close(); err != nil {
			return err
		}
		b.Release(big)
		return b.Pool().CheckLeaks() // the sync's scratch is back
	})
	require.NoError(t, err)
	// A transport of another world size is refused.
	_, err = NewDeviceGradSync(NewLocalWorld(1)[0], gpus[0], 4, ts2[0])
	require.Error(t, err, "a transport of 2 ranks for a communicator of 1 was accepted")
}

// TestBufDevicePtr checks engine.Buf.DevicePtr, the device address
// the NCCL transport passes, against the emulator's memory: writing through the
// address it gives for a slice changes exactly that slice.
func TestBufDevicePtr(t *testing.T) {
	dev := emu.New(emu.Options{})
	g := engine.NewGPU(dev, engine.GPUOptions{})
	b, err := g.New(10, "b")
	require.NoError(t, err)
	g.Upload(b, make([]float32, 10))
	s := b.Slice(3, 4)
	require.NoError(t, dev.MemcpyHtoD(s.DevicePtr(), cuda.Bytes([]float32{1, 2, 3, 4})))
	got := make([]float32, 10)
	g.Download(got, b)
	want := []float32{0, 0, 0, 1, 2, 3, 4, 0, 0, 0}
	require.NoError(t, sameBits32(got, want))
	require.Equal(t, b.DevicePtr().Offset(12), s.DevicePtr(), "a slice's address is not its parent's plus the offset")
}

// TestNewGradSyncChoice: which path NewGradSync takes, with the NCCL transport
// replaced by an in-process device world (or by what this build really has).
func TestNewGradSyncChoice(t *testing.T) {
	const p = 2
	choose := func(opt GradSyncOptions, backends func(r int) engine.Backend) ([]string, []error) {
		names, errs := make([]string, p), make([]error, p)
		runWorld(p, func(c Comm) error {
			gs, err := NewGradSync(c, backends(c.Rank()), 8, opt)
			errs[c.Rank()] = err
			if err == nil {
				names[c.Rank()] = gs.Name()
				gs.Close()
			}
			return nil
		})
		return names, errs
	}
	gpus := emuGPUs(p)
	onGPU := func(r int) engine.Backend { return gpus[r] }
	onCPU := func(int) engine.Backend { return engine.NewCPU() }

	// This build's NCCL: without the cuda tag it is not built; with it, libnccl.so.2
	// does not load here (and the emulator is no CUDA device anyway).
	names, errs := choose(GradSyncOptions{}, onGPU)
	for r := 0; r < p; r++ {
		require.NoError(t, errs[r], "auto on a GPU without NCCL: rank %d", r)
		require.True(t, strings.HasPrefix(names[r], "host"), "auto on a GPU without NCCL: %q; want the host path", names[r])
		require.Contains(t, names[r], "NCCL unavailable", "auto on a GPU without NCCL: the host path saying why")
	}
	t.Logf("auto without NCCL: %s", names[0])
	_, errs = choose(GradSyncOptions{Method: "nccl"}, onGPU)
	for r := 0; r < p; r++ {
		require.ErrorContains(t, errs[r], "NCCL gradient path", "nccl without NCCL: rank %d", r)
	}
	t.Logf("nccl without NCCL: %v", errs[0])
	names, errs = choose(GradSyncOptions{Method: "nccl"}, onCPU)
	require.ErrorContains(t, errs[0], "not a GPU", "nccl on the CPU: %q", names[0])
	_, errs = choose(GradSyncOptions{Method: "ring"}, onCPU)
	require.Error(t, errs[0], "method ring accepted")

	// With a device transport that works.
	swapDevice(t, gpus, nil)
	for _, m := range []string{"", "auto", "nccl"} {
		names, errs = choose(GradSyncOptions{Method: m}, onGPU)
		for r := 0; r < p; r++ {
			require.NoError(t, errs[r], "method %q with a device transport: rank %d", m, r)
			require.True(t, strings.HasPrefix(names[r], "device (in-process device world), 2 ranks"), "method %q with a device transport: %q", m, names[r])
		}
	}
	for _, tc := range []struct {
		opt     GradSyncOptions
		backend func(int) engine.Backend
	}{{GradSyncOptions{Method: "host"}, onGPU}, {GradSyncOptions{}, onCPU}} {
		names, errs = choose(tc.opt, tc.backend)
		require.NoError(t, errs[0], "%+v", tc.opt)
		require.True(t, strings.HasPrefix(names[0], "host"), "%+v: %q; want the host path", tc.opt, names[0])
		require.NotContains(t, names[0], "NCCL", "%+v: want the host path, no word of NCCL", tc.opt)
	}
	// A world mixing a CPU rank and a GPU rank: both on the host path, without a
	// collective on one rank that the other skips.
	mixed := func(r int) engine.Backend { return []engine.Backend{engine.NewCPU(), gpus[1]}[r] }
	names, errs = choose(GradSyncOptions{}, mixed)
	require.NoError(t, errors.Join(errs...), "auto, rank 0 on the CPU, rank 1 on a GPU")
	require.Equal(t, "host, 2 ranks", names[0], "auto, rank 0 on the CPU, rank 1 on a GPU: rank 0")
	require.Contains(t, names[1], "NCCL unavailable: rank(s) [0] cannot use it", "auto, rank 0 on the CPU, rank 1 on a GPU: rank 1")
	// One rank alone cannot: every rank takes the host path (auto) or fails (nccl),
	// none waits in the transport's collectives.
	swapDevice(t, gpus, func(r int) error {
		if r == 1 {
			return errors.New("no libnccl on rank 1")
		}
		return nil
	})
	names, errs = choose(GradSyncOptions{}, onGPU)
	for r := 0; r < p; r++ {
		require.NoError(t, errs[r], "auto, NCCL missing on rank 1 only: rank %d", r)
		require.True(t, strings.HasPrefix(names[r], "host"), "auto, NCCL missing on rank 1 only: rank %d: %q", r, names[r])
	}
	require.Contains(t, names[0], "rank(s) [1]", "the reasons: rank 0")
	require.Contains(t, names[1], "no libnccl on rank 1", "the reasons: rank 1")
	_, errs = choose(GradSyncOptions{Method: "nccl"}, onGPU)
	for r := 0; r < p; r++ {
		require.Error(t, errs[r], "nccl, NCCL missing on rank 1 only: rank %d got no error", r)
	}
}

// TestDataParallelEmulatorDevice trains the data-parallel loop of dp_test.go on 2 and
// 3 ranks whose backends are the GPU backend over separate PTX emulator devices, the
// gradients summed by the device path (NewGradSync's auto choice, with the NCCL
// transport replaced by the in-process device world): parameters, first gradient,
// losses and per-step digests are byte-equal to the same world on CPU backends
// through the host path.
func TestDataParallelEmulatorDevice(t *testing.T) {
	for _, p := range []int{2, 3} {
		cpuRes, err := trainWorld(p, 1)
		require.NoError(t, err)
		gpus := emuGPUs(p)
		swapDevice(t, gpus, nil)
		results := make([]*dpResult, p)
		var mu sync.Mutex
		names := map[string]bool{}
		err = runWorld(p, func(c Comm) error {
			g := gpus[c.Rank()]
			gs, err := NewGradSync(c, g, 10, GradSyncOptions{})
			if err != nil {
				return err
			}
			mu.Lock()
			names[gs.Name()] = true
			mu.Unlock()
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
		for n := range names {
			require.True(t, strings.HasPrefix(n, "device"), "%d ranks: the gradient sum is %q, want the device path", p, n)
		}
		got := results[0]
		require.NoError(t, sameBits32(got.grad0, cpuRes.grad0), "%d ranks: first summed gradient, device path on the emulator vs host path on the CPU", p)
		require.NoError(t, sameBits32(got.params, cpuRes.params), "%d ranks: parameters, device path on the emulator vs host path on the CPU", p)
		for i := range got.digest {
			require.Equal(t, cpuRes.digest[i], got.digest[i], "%d ranks: step %d digest", p, i+1)
			require.Equal(t, cpuRes.losses[i], got.losses[i], "%d ranks: step %d loss", p, i+1)
		}
	}
}
