package kerneltest

import (
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/cuda/emu"
	"github.com/gmvae/gmvae/engine/cpu"
	"github.com/gmvae/gmvae/kernels"
)

// caseSeed is the seed of every kernel's cases; GMVAE_KERNELTEST_SEED overrides it
// (to explore other inputs locally).
func caseSeed(t *testing.T) int64 {
	if s := os.Getenv("GMVAE_KERNELTEST_SEED"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		require.NoError(t, err, "GMVAE_KERNELTEST_SEED")
		return v
	}
	return 1
}

// moduleSource returns the PTX of module m: the embedded one, or, when
// GMVAE_KERNELTEST_PTXDIR names a directory holding m.ptx, that file (to check that
// a planted change in a kernel makes the suite fail, without touching kernels/).
func moduleSource(m string) (string, error) {
	if dir := os.Getenv("GMVAE_KERNELTEST_PTXDIR"); dir != "" {
		if b, err := os.ReadFile(filepath.Join(dir, m+".ptx")); err == nil {
			return string(b), nil
		}
	}
	return kernels.Module(m)
}

// onlyKernels returns the kernels GMVAE_KERNELTEST_KERNELS names (comma-separated),
// or nil for all: with GMVAE_KERNELTEST_PTXDIR, it replays one planted change (a
// mutant of ci/mutants.sh) on the kernel it is in, e.g.
//
//	GMVAE_KERNELTEST_PTXDIR=/tmp/m GMVAE_KERNELTEST_KERNELS=gemm_nn go test -run 'TestEmulatorMatchesTwins$' ./engine/kerneltest/
func onlyKernels() map[string]bool {
	v := os.Getenv("GMVAE_KERNELTEST_KERNELS")
	if v == "" {
		return nil
	}
	only := map[string]bool{}
	for _, n := range strings.Split(v, ",") {
		if n = strings.TrimSpace(n); n != "" {
			only[n] = true
		}
	}
	return only
}

// TestEmulatorMatchesTwins runs the shipped PTX of every kernel on the emulator, on
// every case of the kernel and several launch shapes, and compares every output slice
// with the CPU twin's bit for bit (NaN as a class). It fails when a kernel of any
// embedded module lacks a description in kernels, a twin or cases, or when its
// description's parameters disagree with the PTX. GMVAE_KERNELTEST_KERNELS restricts it
// to the kernels it names (onlyKernels).
func TestEmulatorMatchesTwins(t *testing.T) {
	seed := caseSeed(t)
	only := onlyKernels()
	type entry struct {
		module string
		name   string
	}
	var entries []entry
	total := 0
	for _, m := range kernels.Modules() {
		src, err := moduleSource(m)
		require.NoError(t, err)
		dev := emu.New(emu.Options{})
		mod, err := dev.LoadModule(m, src)
		if !assert.NoError(t, err, "module %s does not load in the emulator", m) {
			es, _ := kernels.Entries(src)
			for _, e := range es {
				if only == nil || only[e.Name] {
					delete(only, e.Name)
					total++
				}
			}
			continue
		}
		for _, name := range mod.(*emu.Module).Entries() {
			if only != nil && !only[name] {
				continue
			}
			delete(only, name)
			total++
			k, err := kernels.Lookup(name)
			if !assert.NoError(t, err, "kernel %s (module %s) has no description in package kernels", name, m) {
				continue
			}
			assert.Equal(t, m, k.Module, "kernel %s: the module it is described in, against the one it is found in", name)
			fn, _ := mod.Function(name)
			types := fn.(*emu.Function).ParamTypes()
			if !assert.Len(t, types, len(k.Params), "kernel %s: the PTX's parameters against the %d described", name, len(k.Params)) {
				continue
			}
			bad := false
			for i, p := range k.Params {
				if !assert.Equal(t, types[i], p.Kind.PTXType(), "kernel %s parameter %d (%s %s): the description's PTX type against the PTX", name, i, p.Kind, p.Name) {
					bad = true
				}
			}
			_, err = cpu.TwinOf(name)
			if !assert.NoError(t, err, "kernel %s has no CPU twin", name) {
				bad = true
			}
			if _, ok := Cases(name, rand.New(rand.NewSource(seed))); !assert.True(t, ok, "kernel %s has no cases in engine/kerneltest", name) {
				bad = true
			}
			if !bad {
				entries = append(entries, entry{m, name})
			}
		}
		dev.Close()
	}
	for name := range only {
		assert.Fail(t, "GMVAE_KERNELTEST_KERNELS names "+name+", which no module has")
	}

	var compared atomic.Int64
	var insts atomic.Uint64
	var launches atomic.Int64
	start := time.Now()
	var mu sync.Mutex
	t.Run("kernels", func(t *testing.T) {
		for _, e := range entries {
			t.Run(e.name, func(t *testing.T) {
				t.Parallel()
				n, st, ok := compareKernel(t, e.module, e.name, seed)
				insts.Add(st.ThreadInstructions)
				launches.Add(st.Launches)
				if ok {
					compared.Add(1)
				}
				mu.Lock()
				t.Logf("%s: %d case launches, %d thread-instructions", e.name, n, st.ThreadInstructions)
				mu.Unlock()
			})
		}
	})
	wall := time.Since(start)
	line := fmt.Sprintf("kernels compared: %d of %d (%d launches, %.1fM thread-instructions in %.2fs wall, %.0fM/s with the twins and copies)",
		compared.Load(), total, launches.Load(), float64(insts.Load())/1e6, wall.Seconds(),
		float64(insts.Load())/1e6/math.Max(wall.Seconds(), 1e-9))
	t.Log(line)
	fmt.Println(line)
	assert.Equal(t, int64(total), compared.Load(), "kernels that matched their twins")
}

// compareKernel runs every case of one kernel on every shape; it returns the number
// of launches, the emulator's stats and whether everything matched.
func compareKernel(t *testing.T, module, name string, seed int64) (int, emu.Stats, bool) {
	src, err := moduleSource(module)
	require.NoError(t, err)
	res, err := runKernel(module, src, name, seed, false)
	require.NoError(t, err)
	for _, f := range res.failures {
		assert.Fail(t, f)
	}
	return res.launches, res.stats, len(res.failures) == 0
}

// kernelRun is what runKernel found.
type kernelRun struct {
	launches int
	stats    emu.Stats
	// failures describes each case (or launch) that failed: a launch error, a
	// difference from the twin, leaked device memory, no cases.
	failures []string
}

// runKernel runs every case of kernel name, loaded from src (the PTX text of module),
// on a fresh emulator and every shape, and compares it with the twin. A case stops at
// its first failing shape; with first, the whole run stops at the first failure (the
// mutation test only needs to know whether anything differs). With -short, the cases
// marked Sweep are left out. The error is for a
// setup that cannot run at all (the module does not load, the kernel is unknown).
func runKernel(module, src, name string, seed int64, first bool) (res kernelRun, err error) {
	k, err := kernels.Lookup(name)
	if err != nil {
		return res, err
	}
	dev := emu.New(emu.Options{MaxThreadInstructions: 1 << 24})
	defer dev.Close()
	mod, err := dev.LoadModule(module, src)
	if err != nil {
		return res, err
	}
	fn, err := mod.Function(name)
	if err != nil {
		return res, err
	}
	twin, err := cpu.TwinOf(name)
	if err != nil {
		return res, err
	}
	fail := func(format string, a ...any) bool {
		res.failures = append(res.failures, fmt.Sprintf(format, a...))
		return first
	}
	defer func() { res.stats = dev.Stats() }()
	cases, _ := Cases(name, rand.New(rand.NewSource(seed)))
	if len(cases) == 0 {
		fail("kernel %s: no cases", name)
		return res, nil
	}
	for ci, c := range cases {
		if c.Sweep && testing.Short() {
			continue // -short: the small cases only
		}
		if err := CheckArgs(k, c.Args); err != nil {
			if fail("%s case %d (%s): %v", name, ci, c.Name, err) {
				return res, nil
			}
			continue
		}
		want := Clone(c.Args)
		twin(want)
		for _, s := range c.shapes(k) {
			res.launches++
			got, err := Launch(dev, fn, k, c.Args, s)
			if err != nil {
				if fail("%s case %d (%s), %v: %v", name, ci, c.Name, s, err) {
					return res, nil
				}
				break
			}
			if d := Diff(k, got, want); d != "" {
				if fail("%s case %d (%s), %v: the emulated kernel differs from its twin:\n%s", name, ci, c.Name, s, d) {
					return res, nil
				}
				break
			}
		}
		if nb, _ := dev.Allocated(); nb != 0 {
			if fail("%s: %d bytes of device allocations leaked", name, nb) {
				return res, nil
			}
		}
	}
	return res, nil
}
