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
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
				out[r].p, out[r].m, out[r].v, out[r].err = downloadParams(ms[r].b, ms[r].ps)
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
			require.NoError(t, x.err, "rank %d", r)
		}
		runs = append(runs, rs)
		j, _ := json.Marshal(stripTiming(t, filepath.Join(dir, MetricsFile)))
		metrics = append(metrics, j)
		names := lsDir(t, dir)
		assert.Equal(t, []string{checkpoint.File, checkpoint.TimingFile, ConfigFile, MetricsFile, SummaryFile}, names, "run folder")
		ck, err := checkpoint.Load(filepath.Join(dir, checkpoint.File))
		require.NoError(t, err)
		assert.Equal(t, 2, ck.State.WorldSize, "checkpoint: world size")
		assert.Equal(t, -1, sameBits(ck.P, rs[0].p), "checkpoint: the first parameter that differs from rank 0's (bits)")
	}
	r0 := runs[0][0]
	require.Less(t, float64(r0.res.Final.Test.Loss), 10.0, "result: final %s: test loss", evalString(r0.res.Final))
	require.Equal(t, uint64(15), r0.res.Steps, "result: steps")
	require.Equal(t, 2, r0.res.WorldSize, "result: world size")
	for i, rs := range runs {
		for r, x := range rs {
			assert.Equal(t, -1, sameBits(r0.p, x.p), "run %d rank %d: the first parameter that differs from run 0 rank 0's (bits)", i, r)
			assert.Equal(t, -1, sameBits(r0.m, x.m), "run %d rank %d: the first Adam first moment that differs from run 0 rank 0's (bits)", i, r)
			assert.Equal(t, -1, sameBits(r0.v, x.v), "run %d rank %d: the first Adam second moment that differs from run 0 rank 0's (bits)", i, r)
			a, b := r0.res.Final, x.res.Final
			a.WallS, b.WallS, a.ExamplesPerS, b.ExamplesPerS = 0, 0, 0, 0
			assert.Equal(t, evalString(a), evalString(b), "run %d rank %d: final evaluation, run 0 rank 0's then this one's", i, r)
		}
	}
	assert.Equal(t, string(metrics[0]), string(metrics[1]), "metrics, run 0 then run 1")
	for name, by := range writers {
		for r := range by {
			assert.Equal(t, 0, r, "a rank other than 0 wrote %s", name)
		}
	}
	assert.NotZero(t, writers[checkpoint.File][0], "rank 0 wrote %v", writers)
	assert.NotZero(t, writers[SummaryFile][0], "rank 0 wrote %v", writers)
	// The metrics have one line per evaluation (one writer).
	assert.Equal(t, 3, bytes.Count(metrics[0], []byte(`"step"`)), "evaluations in metrics.jsonl")
}

func lsDir(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	require.NoError(t, err)
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
		require.NoError(t, x.err, "run %d", r)
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
	assert.LessOrEqual(t, maxd, 1e-3, "2 ranks vs 1 process: parameters max|diff|")
	assert.LessOrEqual(t, rms, 1e-5, "2 ranks vs 1 process: parameters rms difference")
	assert.LessOrEqual(t, rel, 1e-5, "2 ranks vs 1 process: loss relative difference")
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
	require.NoError(t, full[0].err, "rank 0")
	require.NoError(t, full[1].err, "rank 1")
	metricsA, _ := json.Marshal(stripTiming(t, filepath.Join(cfg.RunDir, MetricsFile)))

	// Rank 1 alone sees the interruption, after the 8th step.
	c := cfg
	c.RunDir = t.TempDir()
	stopped := distRunHooks(t, 2, c, 4, train, test, 8)
	for r, x := range stopped {
		require.ErrorIs(t, x.err, context.Canceled, "rank %d", r)
		require.ErrorContains(t, x.err, "interrupted at step 8", "rank %d", r)
	}
	ckPath := filepath.Join(c.RunDir, checkpoint.File)
	ck, err := checkpoint.Load(ckPath)
	require.NoError(t, err)
	require.Equal(t, uint64(8), ck.State.Step, "checkpoint state %+v: step", ck.State)
	require.Equal(t, 2, ck.State.WorldSize, "checkpoint state %+v: world size", ck.State)
	c.Resume = ckPath
	// Garbage parameters and moments: the checkpoint must set them all.
	res := distRun(t, 2, c, 4, train, test, func(rank int, m *fakeModel, cc *Config, ctx *context.Context) {
		for _, buf := range []*engine.Buf{m.ps.P, m.ps.M, m.ps.V} {
			assert.NoError(t, nn.Fill(m.b, buf, float32(rank)+0.25)) // a rank goroutine: assert only
		}
	})
	for r, x := range res {
		require.NoError(t, x.err, "resume, rank %d", r)
		require.Equal(t, -1, sameBits(full[0].p, x.p), "resume, rank %d: the first parameter that differs from the uninterrupted run's (bits)", r)
		require.Equal(t, -1, sameBits(full[0].m, x.m), "resume, rank %d: the first Adam first moment that differs from the uninterrupted run's (bits)", r)
		require.Equal(t, -1, sameBits(full[0].v, x.v), "resume, rank %d: the first Adam second moment that differs from the uninterrupted run's (bits)", r)
	}
	metricsB, _ := json.Marshal(stripTiming(t, filepath.Join(c.RunDir, MetricsFile)))
	require.Equal(t, string(metricsA), string(metricsB), "metrics, uninterrupted then resumed")
	// Another world size: refused, on every rank, naming both sizes.
	for _, p := range []int{1, 3} {
		for r, x := range distRun(t, p, c, 4, train, test, nil) {
			assert.ErrorContains(t, x.err, fmt.Sprintf("written by a run on 2 rank(s), this run has %d", p), "resume on %d ranks, rank %d", p, r)
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
		assert.ErrorContains(t, x.err, "diverged at step 7 of 15", "rank %d", r)
		assert.ErrorContains(t, x.err, "tensor dec.b (element 2 = NaN)", "rank %d", r)
		assert.True(t, dist.SameOnEveryRank(x.err), "rank %d: %v: not marked the same on every rank", r, x.err)
	}
	if rs[0].err != nil && rs[1].err != nil {
		assert.Equal(t, rs[0].err.Error(), rs[1].err.Error(), "ranks report different errors")
	}
	rs = distRun(t, 2, distCfg(""), 3, train, test, func(rank int, m *fakeModel, c *Config, ctx *context.Context) {
		if rank == 1 {
			c.LR = 0.5
		}
	})
	for r, x := range rs {
		assert.ErrorContains(t, x.err, "rank 1's settings differ from rank 0's", "settings differ, rank %d", r)
	}
	// A global batch of 40 over 2 ranks: shards of 20 rows > max_batch 16.
	c := distCfg("")
	c.BatchSize = 40
	for r, x := range distRun(t, 2, c, 3, train, test, nil) {
		assert.ErrorContains(t, x.err, "shards of up to 20 rows", "big shards, rank %d", r)
	}
	// A global batch of 32 over 2 ranks fits a max_batch of 16.
	c.BatchSize = 32
	for r, x := range distRun(t, 2, c, 3, train, test, nil) {
		assert.NoError(t, x.err, "batch 32 on 2 ranks, rank %d", r)
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
	require.NoError(t, ref[0].err, "rank 0")
	require.NoError(t, ref[1].err, "rank 1")
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
				got[r].p, got[r].m, got[r].v, got[r].err = downloadParams(b, m.ps)
			}
		}(r)
	}
	wg.Wait()
	for r, x := range got {
		require.NoError(t, x.err, "rank %d", r)
		dev := map[int]string{0: "cpu", 1: "emulator"}[r]
		assert.Equal(t, -1, sameBits(ref[0].p, x.p), "rank %d (%s): the first parameter that differs from the all-CPU run's (bits)", r, dev)
		assert.Equal(t, -1, sameBits(ref[0].m, x.m), "rank %d (%s): the first Adam first moment that differs from the all-CPU run's (bits)", r, dev)
		assert.Equal(t, -1, sameBits(ref[0].v, x.v), "rank %d (%s): the first Adam second moment that differs from the all-CPU run's (bits)", r, dev)
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
					// A rank goroutine: no testutil.Download (it would stop the test from here).
					states[r] = make([]float32, m.Params().S.Len())
					errs[r] = b.Download(states[r], m.Params().S)
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
	require.Equal(t, -1, sameBits(states[0], states[1]), "the ranks end with different running estimates: the first that differs (bits)")
	r := cfg
	r.RunDir = t.TempDir()
	_, errs = run(r, 6, false)
	for i, err := range errs {
		require.ErrorIs(t, err, context.Canceled, "interrupted run, rank %d", i)
	}
	r.Resume = filepath.Join(r.RunDir, checkpoint.File)
	states2, errs := run(r, 0, true)
	testutil.Must(t, errors.Join(errs...))
	require.Equal(t, -1, sameBits(states[0], states2[0]), "running estimates differ after resume: the first of rank 0's that differs (bits)\n%v\n%v", states[0], states2[0])
	require.Equal(t, -1, sameBits(states[0], states2[1]), "running estimates differ after resume: the first of rank 1's that differs (bits)\n%v\n%v", states[0], states2[1])
	ca, err := os.ReadFile(filepath.Join(a.RunDir, checkpoint.File))
	testutil.Must(t, err)
	cb, err := os.ReadFile(filepath.Join(r.RunDir, checkpoint.File))
	testutil.Must(t, err)
	require.True(t, bytes.Equal(ca, cb), "the resumed run's checkpoint differs from the uninterrupted run's")
	ma, _ := json.Marshal(stripTiming(t, filepath.Join(a.RunDir, MetricsFile)))
	mb, _ := json.Marshal(stripTiming(t, filepath.Join(r.RunDir, MetricsFile)))
	require.Equal(t, string(ma), string(mb), "metrics, uninterrupted then resumed")
}
