package trainer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/gmvae/gmvae/checkpoint"
	"github.com/gmvae/gmvae/cuda/emu"
	"github.com/gmvae/gmvae/data"
	"github.com/gmvae/gmvae/dist"
	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/gmvae"
	"github.com/gmvae/gmvae/internal/testutil"
	"github.com/gmvae/gmvae/nn"
)

// Train over in-process ranks (dist.NewLocalWorld: goroutines, the same data movement
// and arithmetic as MPI).

// rankRun is what one rank of a data-parallel Train ends with.
type rankRun struct {
	p, m, v []float32
	res     *Result
	err     error
}

// distRun trains the fake model on p in-process ranks; setup adjusts each rank's
// model, config and context before Train.
func distRun(t *testing.T, p int, cfg Config, seed uint64, train, test *data.Dataset,
	setup func(rank int, m *fakeModel, c *Config, ctx *context.Context)) []rankRun {
	t.Helper()
	cs := dist.NewLocalWorld(p)
	if p == 1 {
		cs = []dist.Comm{dist.Single()}
	}
	out := make([]rankRun, p)
	ms := make([]*fakeModel, p)
	for r := range ms {
		ms[r] = newFake(t, engine.NewCPU(), fd, fk, 16, seed)
	}
	var wg sync.WaitGroup
	for r := range cs {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			defer func() {
				if e := recover(); e != nil { // a LocalWorld Abort panics
					out[r].err = fmt.Errorf("rank %d panicked: %v", r, e)
				}
			}()
			c := cfg
			c.Comm = cs[r]
			ctx := context.Background()
			if setup != nil {
				setup(r, ms[r], &c, &ctx)
			}
			out[r].res, out[r].err = Train(ctx, ms[r].b, ms[r], train, test, c, Hooks{})
			if out[r].err == nil {
				out[r].p, out[r].m, out[r].v = params(t, ms[r].b, ms[r].ps)
			}
		}(r)
	}
	wg.Wait()
	return out
}

func distData(t *testing.T) (train, test *data.Dataset) {
	// 65 rows in batches of 16: the last global batch has 1 row, so rank 1's shard of
	// it is empty.
	return blobs(t, "blobs-train", 65, fd, fk, 7), blobs(t, "blobs-test", 25, fd, fk, 8)
}

func distCfg(dir string) Config {
	c := baseCfg(dir)
	c.CheckpointEvery = 3
	return c
}

// TestTrainDataParallel: a 2-rank run (with binarisation, clipping, an empty shard) is
// bit-identical across two runs, every rank ends with the same parameters, Adam
// moments and results, and only rank 0 writes the run folder.
func TestTrainDataParallel(t *testing.T) {
	train, test := distData(t)
	var mu sync.Mutex
	writers := map[string]map[int]int{}
	fileWritten = func(rank int, name string) {
		mu.Lock()
		defer mu.Unlock()
		if writers[name] == nil {
			writers[name] = map[int]int{}
		}
		writers[name][rank]++
	}
	defer func() { fileWritten = nil }()
	var runs [][]rankRun
	var metrics [][]byte
	for range 2 {
		dir := t.TempDir()
		rs := distRun(t, 2, distCfg(dir), 5, train, test, nil)
		for r, x := range rs {
			if x.err != nil {
				t.Fatalf("rank %d: %v", r, x.err)
			}
		}
		runs = append(runs, rs)
		j, _ := json.Marshal(stripTiming(t, filepath.Join(dir, MetricsFile)))
		metrics = append(metrics, j)
		names := lsDir(t, dir)
		if want := []string{checkpoint.File, checkpoint.TimingFile, ConfigFile, MetricsFile, SummaryFile}; fmt.Sprint(names) != fmt.Sprint(want) {
			t.Errorf("run folder holds %v, want %v", names, want)
		}
		ck, err := checkpoint.Load(filepath.Join(dir, checkpoint.File))
		if err != nil {
			t.Fatal(err)
		}
		if ck.State.WorldSize != 2 || sameBits(ck.P, rs[0].p) != -1 {
			t.Errorf("checkpoint: world size %d, parameters equal: %v", ck.State.WorldSize, sameBits(ck.P, rs[0].p) == -1)
		}
	}
	r0 := runs[0][0]
	if !(r0.res.Final.Test.Loss < 10) || r0.res.Steps != 15 || r0.res.WorldSize != 2 {
		t.Fatalf("result: steps %d, world %d, final %s", r0.res.Steps, r0.res.WorldSize, evalString(r0.res.Final))
	}
	for i, rs := range runs {
		for r, x := range rs {
			if sameBits(r0.p, x.p) != -1 || sameBits(r0.m, x.m) != -1 || sameBits(r0.v, x.v) != -1 {
				t.Errorf("run %d rank %d: parameters or Adam moments differ from run 0 rank 0", i, r)
			}
			a, b := r0.res.Final, x.res.Final
			a.WallS, b.WallS, a.ExamplesPerS, b.ExamplesPerS = 0, 0, 0, 0
			if evalString(a) != evalString(b) {
				t.Errorf("run %d rank %d: final evaluation differs:\n%s\n%s", i, r, evalString(a), evalString(b))
			}
		}
	}
	if !bytes.Equal(metrics[0], metrics[1]) {
		t.Errorf("metrics differ between runs:\n%s\n%s", metrics[0], metrics[1])
	}
	for name, by := range writers {
		for r := range by {
			if r != 0 {
				t.Errorf("rank %d wrote %s", r, name)
			}
		}
	}
	if writers[checkpoint.File][0] == 0 || writers[SummaryFile][0] == 0 {
		t.Errorf("rank 0 wrote %v", writers)
	}
	// The metrics have one line per evaluation (one writer).
	if n := bytes.Count(metrics[0], []byte(`"step"`)); n != 3 {
		t.Errorf("%d evaluations in metrics.jsonl, want 3", n)
	}
}

func lsDir(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// TestTrainDataParallelVsOneProcess: 2 ranks x a global batch of 16 against one
// process with batches of 16, on a model and data with no random draws (the fake
// model without its noise, no binarisation), so that the only difference is the order
// of the sums over the batch rows (the weight and bias gradients accumulated as two
// chains of 8 rows added in rank order, instead of one chain of 16, and the loss
// summed per rank): not bit-equal, but within docs/distributed.md's bounds (10^-3 max
// and 10^-5 rms on the parameters, 10^-5 relative on the loss). With random draws the
// runs would differ more: each rank numbers its draws dist.RankStep(step, rank, P).
func TestTrainDataParallelVsOneProcess(t *testing.T) {
	train, test := distData(t)
	cfg := distCfg("")
	cfg.Binarize = false
	cfg.LR = 0.01
	noNoise := func(rank int, m *fakeModel, c *Config, ctx *context.Context) { m.noNoise = true }
	one := distRun(t, 1, cfg, 5, train, test, noNoise)[0]
	two := distRun(t, 2, cfg, 5, train, test, noNoise)
	for r, x := range append(two, one) {
		if x.err != nil {
			t.Fatalf("run %d: %v", r, x.err)
		}
	}
	var maxd, ss, maxp float64
	for i := range one.p {
		d := math.Abs(float64(one.p[i]) - float64(two[0].p[i]))
		maxd = max(maxd, d)
		ss += d * d
		maxp = max(maxp, math.Abs(float64(one.p[i])))
	}
	rms := math.Sqrt(ss / float64(len(one.p)))
	l1, l2 := float64(one.res.Final.Train.Loss), float64(two[0].res.Final.Train.Loss)
	tl1, tl2 := float64(one.res.Final.Test.Loss), float64(two[0].res.Final.Test.Loss)
	rel := math.Max(math.Abs(l1-l2)/math.Abs(l1), math.Abs(tl1-tl2)/math.Abs(tl1))
	t.Logf("%d parameters (max |p| %.3g): max|diff| %.3g, rms %.3g; loss rel diff %.3g; bit-equal: %v",
		len(one.p), maxp, maxd, rms, rel, sameBits(one.p, two[0].p) == -1)
	if maxd > 1e-3 || rms > 1e-5 || rel > 1e-5 {
		t.Errorf("2 ranks vs 1 process: parameters max|diff| %g (bound 1e-3), rms %g (1e-5), loss %g (1e-5)", maxd, rms, rel)
	}
}

// TestTrainDataParallelResume: a 2-rank run interrupted on one rank stops on every
// rank at the same step with a checkpoint, and resumed on 2 ranks ends bit-identical
// to the uninterrupted run (parameters, moments, metrics); a resume on another number
// of ranks is refused on every rank.
func TestTrainDataParallelResume(t *testing.T) {
	train, test := distData(t)
	cfg := distCfg(t.TempDir())
	cfg.Epochs = 4
	cfg.Schedule = ScheduleCosine
	full := distRun(t, 2, cfg, 4, train, test, nil)
	if full[0].err != nil || full[1].err != nil {
		t.Fatal(full[0].err, full[1].err)
	}
	metricsA, _ := json.Marshal(stripTiming(t, filepath.Join(cfg.RunDir, MetricsFile)))

	// Rank 1 alone sees the interruption, after the 8th step.
	c := cfg
	c.RunDir = t.TempDir()
	stopped := distRunHooks(t, 2, c, 4, train, test, 8)
	for r, x := range stopped {
		if x.err == nil || !errors.Is(x.err, context.Canceled) || !strings.Contains(x.err.Error(), "interrupted at step 8") {
			t.Fatalf("rank %d: %v", r, x.err)
		}
	}
	ckPath := filepath.Join(c.RunDir, checkpoint.File)
	ck, err := checkpoint.Load(ckPath)
	if err != nil {
		t.Fatal(err)
	}
	if ck.State.Step != 8 || ck.State.WorldSize != 2 {
		t.Fatalf("checkpoint state %+v", ck.State)
	}
	c.Resume = ckPath
	// Garbage parameters and moments: the checkpoint must set them all.
	res := distRun(t, 2, c, 4, train, test, func(rank int, m *fakeModel, cc *Config, ctx *context.Context) {
		for _, buf := range []*engine.Buf{m.ps.P, m.ps.M, m.ps.V} {
			if err := nn.Fill(m.b, buf, float32(rank)+0.25); err != nil {
				t.Error(err)
			}
		}
	})
	for r, x := range res {
		if x.err != nil {
			t.Fatalf("resume, rank %d: %v", r, x.err)
		}
		if sameBits(full[0].p, x.p) != -1 || sameBits(full[0].m, x.m) != -1 || sameBits(full[0].v, x.v) != -1 {
			t.Fatalf("resume, rank %d: parameters or moments differ from the uninterrupted run", r)
		}
	}
	metricsB, _ := json.Marshal(stripTiming(t, filepath.Join(c.RunDir, MetricsFile)))
	if !bytes.Equal(metricsA, metricsB) {
		t.Fatalf("metrics differ after resume:\n%s\n%s", metricsA, metricsB)
	}
	// Another world size: refused, on every rank, naming both sizes.
	for _, p := range []int{1, 3} {
		for r, x := range distRun(t, p, c, 4, train, test, nil) {
			if x.err == nil || !strings.Contains(x.err.Error(), fmt.Sprintf("written by a run on 2 rank(s), this run has %d", p)) {
				t.Errorf("resume on %d ranks, rank %d: %v", p, r, x.err)
			}
		}
	}
}

// distRunHooks is distRun with rank 1 cancelling its own context after step stopAt.
func distRunHooks(t *testing.T, p int, cfg Config, seed uint64, train, test *data.Dataset, stopAt uint64) []rankRun {
	t.Helper()
	cs := dist.NewLocalWorld(p)
	out := make([]rankRun, p)
	var wg sync.WaitGroup
	for r := range cs {
		m := newFake(t, engine.NewCPU(), fd, fk, 16, seed)
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			defer func() {
				if e := recover(); e != nil {
					out[r].err = fmt.Errorf("rank %d panicked: %v", r, e)
				}
			}()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var hooks Hooks
			if r == 1 {
				hooks.Step = func(pr Progress) {
					if pr.Step == stopAt {
						cancel()
					}
				}
			}
			c := cfg
			c.Comm = cs[r]
			out[r].res, out[r].err = Train(ctx, m.b, m, train, test, c, hooks)
		}(r)
	}
	wg.Wait()
	return out
}

// TestTrainDataParallelErrors: a non-finite gradient on one rank stops every rank at
// the same step with the same error; settings that differ between ranks are refused on
// every rank; a shard larger than the model's max_batch is an error.
func TestTrainDataParallelErrors(t *testing.T) {
	train, test := distData(t)
	rs := distRun(t, 2, distCfg(t.TempDir()), 3, train, test, func(rank int, m *fakeModel, c *Config, ctx *context.Context) {
		if rank == 1 {
			m.poisonStep, m.poison = int64(dist.RankStep(6, 1, 2)), float32(math.NaN())
		}
	})
	for r, x := range rs {
		if x.err == nil || !dist.SameOnEveryRank(x.err) || !strings.Contains(x.err.Error(), "diverged at step 7 of 15") || !strings.Contains(x.err.Error(), "tensor dec.b (element 2 = NaN)") {
			t.Errorf("rank %d: %v", r, x.err)
		}
	}
	if rs[0].err != nil && rs[1].err != nil && rs[0].err.Error() != rs[1].err.Error() {
		t.Errorf("ranks report different errors:\n%v\n%v", rs[0].err, rs[1].err)
	}
	rs = distRun(t, 2, distCfg(""), 3, train, test, func(rank int, m *fakeModel, c *Config, ctx *context.Context) {
		if rank == 1 {
			c.LR = 0.5
		}
	})
	for r, x := range rs {
		if x.err == nil || !strings.Contains(x.err.Error(), "rank 1's settings differ from rank 0's") {
			t.Errorf("settings differ, rank %d: %v", r, x.err)
		}
	}
	// A global batch of 40 over 2 ranks: shards of 20 rows > max_batch 16.
	c := distCfg("")
	c.BatchSize = 40
	for r, x := range distRun(t, 2, c, 3, train, test, nil) {
		if x.err == nil || !strings.Contains(x.err.Error(), "shards of up to 20 rows") {
			t.Errorf("big shards, rank %d: %v", r, x.err)
		}
	}
	// A global batch of 32 over 2 ranks fits a max_batch of 16.
	c.BatchSize = 32
	for r, x := range distRun(t, 2, c, 3, train, test, nil) {
		if x.err != nil {
			t.Errorf("batch 32 on 2 ranks, rank %d: %v", r, x.err)
		}
	}
}

// TestTrainDataParallelMixedBackends: rank 0 on the CPU and rank 1 on the GPU backend
// over the PTX emulator give the same bits as two CPU ranks (every backend op is
// bit-exact and the gradient sum runs on the host in rank order).
func TestTrainDataParallelMixedBackends(t *testing.T) {
	train, test := distData(t)
	cfg := distCfg("")
	cfg.Epochs = 1
	ref := distRun(t, 2, cfg, 5, train, test, nil)
	if ref[0].err != nil || ref[1].err != nil {
		t.Fatal(ref[0].err, ref[1].err)
	}
	cs := dist.NewLocalWorld(2)
	got := make([]rankRun, 2)
	var wg sync.WaitGroup
	for r := range cs {
		var b engine.Backend = engine.NewCPU()
		if r == 1 {
			g := engine.NewGPU(emu.New(emu.Options{}), engine.GPUOptions{})
			defer g.Close()
			b = g
		}
		m := newFake(t, b, fd, fk, 16, 5)
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			c := cfg
			c.Comm = cs[r]
			if _, got[r].err = Train(context.Background(), b, m, train, test, c, Hooks{}); got[r].err == nil {
				got[r].p, got[r].m, got[r].v = params(t, b, m.ps)
			}
		}(r)
	}
	wg.Wait()
	for r, x := range got {
		if x.err != nil {
			t.Fatalf("rank %d: %v", r, x.err)
		}
		if sameBits(ref[0].p, x.p) != -1 || sameBits(ref[0].m, x.m) != -1 || sameBits(ref[0].v, x.v) != -1 {
			t.Errorf("rank %d (%s): parameters or moments differ from the all-CPU run", r, map[int]string{0: "cpu", 1: "emulator"}[r])
		}
	}
}

// TestTrainDataParallelBatchNorm: model A with the batch-norm encoder on 2 in-process
// ranks. Each rank normalises with its own shard's statistics; the trainer copies rank
// 0's running estimates to every rank before it evaluates or checkpoints, so both
// ranks end with the same estimates, and a run that rank 1 interrupts mid-epoch,
// resumed on 2 ranks whose state is garbage, ends with the uninterrupted run's
// checkpoint bytes and metrics.
func TestTrainDataParallelBatchNorm(t *testing.T) {
	train, test := distData(t)
	mc := gmvae.Config{Model: "dilokthanakul", D: fd, K: fk, Dz: 3, Dw: 2, Hidden: []int{8, 6}, BatchNorm: true, MaxBatch: 16, Seed: 3}
	cfg := Config{Epochs: 3, BatchSize: 16, LR: 0.01, EvalBatch: 16, Seed: 3}
	run := func(c Config, stopAt uint64, garbage bool) ([][]float32, []error) {
		cs := dist.NewLocalWorld(2)
		states, errs := make([][]float32, 2), make([]error, 2)
		var wg sync.WaitGroup
		for r := range cs {
			b := engine.NewCPU()
			m, err := gmvae.New(b, mc)
			testutil.Must(t, err)
			if garbage {
				ps := m.Params()
				for _, buf := range []*engine.Buf{ps.P, ps.M, ps.V, ps.S} {
					testutil.Must(t, nn.Fill(b, buf, float32(r)+0.25))
				}
			}
			wg.Add(1)
			go func(r int) {
				defer wg.Done()
				defer m.Release()
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				var hooks Hooks
				if r == 1 && stopAt > 0 {
					hooks.Step = func(p Progress) {
						if p.Step == stopAt {
							cancel()
						}
					}
				}
				cc := c
				cc.Comm = cs[r]
				if _, errs[r] = Train(ctx, b, m, train, test, cc, hooks); errs[r] == nil {
					states[r] = testutil.Download(t, b, m.Params().S)
				}
			}(r)
		}
		wg.Wait()
		return states, errs
	}
	a := cfg
	a.RunDir = t.TempDir()
	states, errs := run(a, 0, false)
	testutil.Must(t, errors.Join(errs...))
	if sameBits(states[0], states[1]) != -1 {
		t.Fatal("the ranks end with different running estimates")
	}
	r := cfg
	r.RunDir = t.TempDir()
	_, errs = run(r, 6, false)
	for i, err := range errs {
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("interrupted run, rank %d: %v", i, err)
		}
	}
	r.Resume = filepath.Join(r.RunDir, checkpoint.File)
	states2, errs := run(r, 0, true)
	testutil.Must(t, errors.Join(errs...))
	if sameBits(states[0], states2[0]) != -1 || sameBits(states[0], states2[1]) != -1 {
		t.Fatalf("running estimates differ after resume:\n%v\n%v\n%v", states[0], states2[0], states2[1])
	}
	ca, err := os.ReadFile(filepath.Join(a.RunDir, checkpoint.File))
	testutil.Must(t, err)
	cb, err := os.ReadFile(filepath.Join(r.RunDir, checkpoint.File))
	testutil.Must(t, err)
	if !bytes.Equal(ca, cb) {
		t.Fatal("the resumed run's checkpoint differs from the uninterrupted run's")
	}
	ma, _ := json.Marshal(stripTiming(t, filepath.Join(a.RunDir, MetricsFile)))
	mb, _ := json.Marshal(stripTiming(t, filepath.Join(r.RunDir, MetricsFile)))
	if !bytes.Equal(ma, mb) {
		t.Fatalf("metrics differ after resume:\n%s\n%s", ma, mb)
	}
}
