package kerneltest

import (
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gmvae/gmvae/cuda/emu"
	"github.com/gmvae/gmvae/engine/cpu"
	"github.com/gmvae/gmvae/kernels"
)

// caseSeed is the seed of every kernel's cases; GMVAE_KERNELTEST_SEED overrides it
// (to explore other inputs locally).
func caseSeed(t *testing.T) int64 {
	if s := os.Getenv("GMVAE_KERNELTEST_SEED"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("GMVAE_KERNELTEST_SEED: %v", err)
		}
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

// TestEmulatorMatchesTwins runs the shipped PTX of every kernel on the emulator, on
// every case of the kernel and several launch shapes, and compares every output slice
// with the CPU twin's bit for bit (NaN as a class). It fails when a kernel of any
// embedded module lacks a description in kernels, a twin or cases, or when its
// description's parameters disagree with the PTX.
func TestEmulatorMatchesTwins(t *testing.T) {
	seed := caseSeed(t)
	type entry struct {
		module string
		name   string
	}
	var entries []entry
	total := 0
	for _, m := range kernels.Modules() {
		src, err := moduleSource(m)
		if err != nil {
			t.Fatal(err)
		}
		dev := emu.New(emu.Options{})
		mod, err := dev.LoadModule(m, src)
		if err != nil {
			t.Errorf("module %s does not load in the emulator: %v", m, err)
			es, _ := kernels.Entries(src)
			total += len(es)
			continue
		}
		for _, name := range mod.(*emu.Module).Entries() {
			total++
			k, err := kernels.Lookup(name)
			if err != nil {
				t.Errorf("kernel %s (module %s) has no description in package kernels", name, m)
				continue
			}
			if k.Module != m {
				t.Errorf("kernel %s: described in module %q, found in %q", name, k.Module, m)
			}
			fn, _ := mod.Function(name)
			types := fn.(*emu.Function).ParamTypes()
			if len(types) != len(k.Params) {
				t.Errorf("kernel %s: %d parameters described, the PTX has %d", name, len(k.Params), len(types))
				continue
			}
			bad := false
			for i, p := range k.Params {
				if p.Kind.PTXType() != types[i] {
					t.Errorf("kernel %s parameter %d (%s %s): PTX type %s, description wants %s", name, i, p.Kind, p.Name, types[i], p.Kind.PTXType())
					bad = true
				}
			}
			if _, err := cpu.TwinOf(name); err != nil {
				t.Errorf("kernel %s has no CPU twin: %v", name, err)
				bad = true
			}
			if _, ok := Cases(name, rand.New(rand.NewSource(seed))); !ok {
				t.Errorf("kernel %s has no cases in engine/kerneltest", name)
				bad = true
			}
			if !bad {
				entries = append(entries, entry{m, name})
			}
		}
		dev.Close()
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
	if compared.Load() != int64(total) {
		t.Errorf("only %d of %d kernels matched their twins", compared.Load(), total)
	}
}

// compareKernel runs every case of one kernel on every shape; it returns the number
// of launches, the emulator's stats and whether everything matched.
func compareKernel(t *testing.T, module, name string, seed int64) (int, emu.Stats, bool) {
	k, err := kernels.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	src, err := moduleSource(module)
	if err != nil {
		t.Fatal(err)
	}
	dev := emu.New(emu.Options{MaxThreadInstructions: 1 << 24})
	defer dev.Close()
	mod, err := dev.LoadModule(module, src)
	if err != nil {
		t.Fatal(err)
	}
	fn, err := mod.Function(name)
	if err != nil {
		t.Fatal(err)
	}
	twin, err := cpu.TwinOf(name)
	if err != nil {
		t.Fatal(err)
	}
	cases, _ := Cases(name, rand.New(rand.NewSource(seed)))
	if len(cases) == 0 {
		t.Errorf("kernel %s: no cases", name)
		return 0, dev.Stats(), false
	}
	ok := true
	n := 0
	for ci, c := range cases {
		if err := CheckArgs(k, c.Args); err != nil {
			t.Errorf("%s case %d (%s): %v", name, ci, c.Name, err)
			ok = false
			continue
		}
		want := Clone(c.Args)
		twin(want)
		for _, s := range Shapes(k, c.Work) {
			n++
			got, err := Launch(dev, fn, k, c.Args, s)
			if err != nil {
				t.Errorf("%s case %d (%s), %v: %v", name, ci, c.Name, s, err)
				ok = false
				break
			}
			if d := Diff(k, got, want); d != "" {
				t.Errorf("%s case %d (%s), %v: the emulated kernel differs from its twin:\n%s", name, ci, c.Name, s, d)
				ok = false
				break
			}
		}
		if nb, _ := dev.Allocated(); nb != 0 {
			t.Errorf("%s: %d device allocations leaked", name, nb)
		}
	}
	return n, dev.Stats(), ok
}
