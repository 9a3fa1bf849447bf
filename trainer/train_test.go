package trainer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/checkpoint"
	"github.com/gmvae/gmvae/cuda/emu"
	"github.com/gmvae/gmvae/data"
	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/gmvae"
	"github.com/gmvae/gmvae/internal/testutil"
	"github.com/gmvae/gmvae/kernels"
	"github.com/gmvae/gmvae/kernels/philox"
	"github.com/gmvae/gmvae/nn"
	"github.com/gmvae/gmvae/ops"
)

// fakeModel is a tiny clustering autoencoder for the trainer's tests: logits =
// enc(x) + 0.1 * noise(step), resp = softmax(logits) (the "posterior"), x is
// reconstructed by Bernoulli(sigmoid(dec(resp))). It has the gmvae.Model interface, draws
// random numbers from the step like the real models, and can poison a gradient.
type fakeModel struct {
	b        engine.Backend
	cfg      gmvae.Config
	ps       *nn.Params
	enc, dec *nn.Linear
	encS     nn.Scratch
	decS     nn.Scratch

	logits, noise, resp, dresp, dlogits, rec, drec, out, g *engine.Buf
	outh                                                   []float32

	poisonStep int64   // step whose gradients get poisonValue in tensor "dec.b" (-1: none)
	poisonTerm bool    // also make the recon term NaN at that step
	poison     float32 // the value
	noNoise    bool    // leave out the noise (a run whose bits depend only on the data)
}

func newFake(t testing.TB, b engine.Backend, d, k, maxBatch int, seed uint64) *fakeModel {
	t.Helper()
	cfg := gmvae.Config{Model: "dilokthanakul", D: d, K: k, Dz: k, Dw: 1, Hidden: []int{1}, MaxBatch: maxBatch, Seed: seed}.Defaults()
	ps := nn.NewParams(b)
	f := &fakeModel{b: b, cfg: cfg, ps: ps, poisonStep: -1}
	f.enc = nn.NewLinear(ps, "enc", d, k, kernels.ActNone)
	f.dec = nn.NewLinear(ps, "dec", k, d, kernels.ActNone)
	require.NoError(t, ps.Alloc(seed))
	var err error
	mk := func(n int) *engine.Buf {
		buf, e := b.New(n, "fake")
		if e != nil {
			err = e
		}
		return buf
	}
	n := maxBatch
	f.logits, f.noise, f.resp, f.dresp, f.dlogits = mk(n*k), mk(n*k), mk(n*k), mk(n*k), mk(n*k)
	f.rec, f.drec, f.out, f.g = mk(n*d), mk(n*d), mk(n), mk(n)
	require.NoError(t, err)
	f.encS, err = f.enc.NewScratch(b, n, "enc")
	require.NoError(t, err)
	f.decS, err = f.dec.NewScratch(b, n, "dec")
	require.NoError(t, err)
	f.outh = make([]float32, n)
	return f
}

func (f *fakeModel) Config() gmvae.Config                { return f.cfg }
func (f *fakeModel) Params() *nn.Params                  { return f.ps }
func (f *fakeModel) Release() error                      { return f.ps.Release() }
func (f *fakeModel) sl(b *engine.Buf, n int) *engine.Buf { return b.Slice(0, n) }

func (f *fakeModel) forward(x *engine.Buf, n int, step uint64, resp *engine.Buf) (gmvae.Terms, error) {
	k, d, b := f.cfg.K, f.cfg.D, f.b
	lg := f.sl(f.logits, n*k)
	if err := f.enc.Forward(b, x, lg, n, f.encS); err != nil {
		return gmvae.Terms{}, err
	}
	if !f.noNoise {
		if err := ops.RandNormal(b, f.sl(f.noise, n*k), n*k, f.cfg.Seed, kernels.StreamID(step, 0)); err != nil {
			return gmvae.Terms{}, err
		}
		if err := ops.EwAxpby(b, f.sl(f.noise, n*k), lg, n*k, float32(0.1), float32(1)); err != nil {
			return gmvae.Terms{}, err
		}
	}
	if err := ops.LseSoftmax(b, n, k, lg, nil, resp); err != nil {
		return gmvae.Terms{}, err
	}
	if err := f.dec.Forward(b, resp, f.sl(f.rec, n*d), n, f.decS); err != nil {
		return gmvae.Terms{}, err
	}
	if err := ops.BernoulliLoglik(b, x, f.sl(f.rec, n*d), f.sl(f.out, n), n, d); err != nil {
		return gmvae.Terms{}, err
	}
	if err := b.Download(f.outh[:n], f.sl(f.out, n)); err != nil {
		return gmvae.Terms{}, err
	}
	s := 0.0
	for _, v := range f.outh[:n] {
		s += float64(v)
	}
	r := -s / float64(n)
	return gmvae.Terms{Loss: r, Recon: r, ELBO: -r}, nil
}

func (f *fakeModel) TrainBatch(x *engine.Buf, n int, step uint64) (gmvae.Terms, error) {
	k, d, b := f.cfg.K, f.cfg.D, f.b
	resp := f.sl(f.resp, n*k)
	terms, err := f.forward(x, n, step, resp)
	if err != nil {
		return terms, err
	}
	if err := nn.Fill(b, f.sl(f.g, n), float32(-1/float64(n))); err != nil {
		return terms, err
	}
	if err := ops.BernoulliLoglikBwd(b, x, f.sl(f.rec, n*d), f.sl(f.g, n), f.sl(f.drec, n*d), n, d, false); err != nil {
		return terms, err
	}
	if err := f.dec.Backward(b, resp, f.sl(f.rec, n*d), f.sl(f.drec, n*d), f.sl(f.dresp, n*k), n, f.decS, false); err != nil {
		return terms, err
	}
	if err := ops.LseSoftmaxBwd(b, n, k, resp, nil, f.sl(f.dresp, n*k), f.sl(f.dlogits, n*k), false); err != nil {
		return terms, err
	}
	if err := f.enc.Backward(b, x, f.sl(f.logits, n*k), f.sl(f.dlogits, n*k), nil, n, f.encS, false); err != nil {
		return terms, err
	}
	if int64(step) == f.poisonStep {
		if err := nn.Fill(b, f.dec.B().G.Slice(2, 1), f.poison); err != nil {
			return terms, err
		}
		if f.poisonTerm {
			terms.Recon = math.NaN()
		}
	}
	return terms, nil
}

func (f *fakeModel) Infer(x *engine.Buf, n int, post, logits, zmean *engine.Buf, step uint64) (gmvae.Terms, error) {
	terms, err := f.forward(x, n, step, post)
	if err != nil {
		return terms, err
	}
	if logits != nil {
		if err := ops.EwScale(f.b, f.sl(f.logits, n*f.cfg.K), logits, n*f.cfg.K, float32(1)); err != nil {
			return terms, err
		}
	}
	return terms, nn.Fill(f.b, zmean, 0)
}

// blobs returns a labelled data set of n examples in [0,1]^d drawn around k
// prototypes.
func blobs(t testing.TB, name string, n, d, k int, seed uint64) *data.Dataset {
	t.Helper()
	proto := make([]float32, k*d)
	philox.Uniforms(proto, seed, 0)
	noise := make([]float32, n*d)
	philox.Uniforms(noise, seed, 1)
	x := make([]float32, n*d)
	labels := make([]int, n)
	for i := range n {
		c := i % k
		labels[i] = c
		for j := range d {
			v := 0.8*proto[c*d+j] + 0.2*noise[i*d+j]
			if proto[c*d+j] > 0.5 {
				v = 0.9*v + 0.1
			}
			x[i*d+j] = float32(min(1, max(0, v)))
		}
	}
	ds, err := data.New(name, n, d, x, labels)
	require.NoError(t, err)
	return ds
}

func params(t testing.TB, b engine.Backend, ps *nn.Params) (p, m, v []float32) {
	t.Helper()
	p, m, v, err := downloadParams(b, ps)
	require.NoError(t, err)
	return p, m, v
}

// downloadParams is params for the rank goroutines, which must not stop the test:
// they return the error.
func downloadParams(b engine.Backend, ps *nn.Params) (p, m, v []float32, err error) {
	p, m, v = make([]float32, ps.Len()), make([]float32, ps.Len()), make([]float32, ps.Len())
	for i, c := range []struct {
		dst []float32
		src *engine.Buf
	}{{p, ps.P}, {m, ps.M}, {v, ps.V}} {
		if err := b.Download(c.dst, c.src); err != nil {
			return nil, nil, nil, fmt.Errorf("tensor %d of (P, M, V): %w", i, err)
		}
	}
	return p, m, v, nil
}

func sameBits(a, b []float32) int {
	if len(a) != len(b) {
		return 0
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

// stripTiming removes the fields that depend on the clock from metrics.jsonl lines.
func stripTiming(t testing.TB, path string) []map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		var m map[string]any
		require.NoError(t, json.Unmarshal(line, &m))
		delete(m, "wall_s")
		delete(m, "examples_per_s")
		out = append(out, m)
	}
	return out
}

const fd, fk = 12, 3

func fakeRun(t *testing.T, b engine.Backend, cfg Config, seed uint64) (*fakeModel, *Result, error) {
	t.Helper()
	train := blobs(t, "blobs-train", 70, fd, fk, 7)
	test := blobs(t, "blobs-test", 25, fd, fk, 8)
	m := newFake(t, b, fd, fk, 16, seed)
	res, err := Train(context.Background(), b, m, train, test, cfg, Hooks{})
	return m, res, err
}

func baseCfg(dir string) Config {
	return Config{Epochs: 3, BatchSize: 16, LR: 0.05, Binarize: true, EvalBatch: 10, Seed: 11, RunDir: dir, Clip: 5}
}

// TestTrainFakeModel runs the loop on the fake model and checks the run folder and
// that training lowers the loss.
func TestTrainFakeModel(t *testing.T) {
	dir := t.TempDir()
	b := engine.NewCPU()
	var steps, evals int
	train := blobs(t, "blobs-train", 70, fd, fk, 7)
	test := blobs(t, "blobs-test", 25, fd, fk, 8)
	m := newFake(t, b, fd, fk, 16, 3)
	cfg := baseCfg(dir)
	cfg.Schedule = ScheduleCosine
	res, err := Train(context.Background(), b, m, train, test, cfg, Hooks{
		Step: func(p Progress) { steps++ },
		Eval: func(r EvalRecord) { evals++ },
	})
	require.NoError(t, err)
	require.Equal(t, 15, steps, "steps (3 epochs of 5 batches)")
	require.Equal(t, 3, evals, "evaluations")
	require.Equal(t, uint64(15), res.Steps, "the result's steps")
	recs, err := LoadMetrics(filepath.Join(dir, MetricsFile))
	require.NoError(t, err)
	require.Len(t, recs, 3, "metrics: %+v", recs)
	require.Equal(t, 3.0, recs[2].Epoch, "metrics: %+v: last epoch", recs)
	require.Equal(t, uint64(15), recs[2].Step, "metrics: %+v: last step", recs)
	require.Len(t, recs[2].Usage, fk, "metrics: %+v: last usage", recs)
	require.Equal(t, 25, recs[2].Labelled, "metrics: %+v: last labelled", recs)
	assert.Less(t, float64(recs[2].Train.Loss), float64(recs[0].Train.Loss), "training loss did not fall: %v then %v", recs[0].Train.Loss, recs[2].Train.Loss)
	assert.True(t, res.HasScores, "no scores: %+v", recs[2])
	r := recs[2]
	for name, v := range map[string]Float{"acc_paper": r.ACCPaper, "acc_paper_f32": r.ACCPaperF32,
		"acc_purity": r.ACCPurity, "acc_hungarian": r.ACCHungarian, "nmi": r.NMI} {
		assert.True(t, v >= 0 && v <= 1, "%s = %v, want a score in [0, 1]", name, v)
	}
	for _, f := range []string{ConfigFile, SummaryFile, checkpoint.File} {
		_, err := os.Stat(filepath.Join(dir, f))
		assert.NoError(t, err)
	}
	var cfgFile struct {
		Model gmvae.Config
		Train Config
	}
	raw, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
	assert.NoError(t, json.Unmarshal(raw, &cfgFile), "config.json")
	assert.Equal(t, ScheduleCosine, cfgFile.Train.Schedule, "config.json: schedule")
	assert.Equal(t, fk, cfgFile.Model.K, "config.json: k")
	ck, err := checkpoint.Load(filepath.Join(dir, checkpoint.File))
	require.NoError(t, err)
	p, mm, v := params(t, b, m.ps)
	assert.Equal(t, uint64(15), ck.State.Step, "final checkpoint: %+v: step", ck.State)
	assert.Equal(t, 15, ck.State.AdamSteps, "final checkpoint: %+v: Adam steps", ck.State)
	assert.Equal(t, 3, ck.State.Epoch, "final checkpoint: %+v: epoch", ck.State)
	assert.Equal(t, -1, sameBits(ck.P, p), "final checkpoint: the first parameter that differs from the model's (bits)")
	assert.Equal(t, -1, sameBits(ck.M, mm), "final checkpoint: the first Adam first moment that differs from the model's (bits)")
	assert.Equal(t, -1, sameBits(ck.V, v), "final checkpoint: the first Adam second moment that differs from the model's (bits)")
	assert.Equal(t, "enc.W,enc.b,dec.W,dec.b", strings.Join(ck.Names, ","), "tensor names")
	t.Logf("final: %+v", recs[2])
}

// TestAdamStepMatchesParams: the trainer's own Adam launch is nn.Params.Step.
func TestAdamStepMatchesParams(t *testing.T) {
	b := engine.NewCPU()
	x := blobs(t, "x", 16, fd, fk, 1)
	xb := testutil.Upload(t, b, x.X, "x")
	m1, m2 := newFake(t, b, fd, fk, 16, 5), newFake(t, b, fd, fk, 16, 5)
	for s := range 4 {
		for i, m := range []*fakeModel{m1, m2} {
			require.NoError(t, m.ps.ZeroGrad())
			_, err := m.TrainBatch(xb, 16, uint64(s))
			require.NoError(t, err)
			o := nn.DefaultAdam(0.01)
			if i == 0 {
				err = m.ps.Step(o)
			} else {
				err = m.ps.StepAt(o, s+1)
			}
			require.NoError(t, err)
		}
	}
	p1, a1, v1 := params(t, b, m1.ps)
	p2, a2, v2 := params(t, b, m2.ps)
	require.Equal(t, -1, sameBits(p1, p2), "adamStep differs from nn.Params.Step: the first parameter that differs (bits)")
	require.Equal(t, -1, sameBits(a1, a2), "adamStep differs from nn.Params.Step: the first first moment that differs (bits)")
	require.Equal(t, -1, sameBits(v1, v2), "adamStep differs from nn.Params.Step: the first second moment that differs (bits)")
}

// TestTrainReproducible: the same seed gives the same parameters and metrics on the
// CPU with 1 and 4 threads and on the PTX emulator.
func TestTrainReproducible(t *testing.T) {
	cfg := baseCfg("")
	cfg.Epochs = 2
	cfg.Schedule = ScheduleExp
	type run struct {
		name    string
		p, m, v []float32
		metrics []map[string]any
	}
	var runs []run
	do := func(name string, b engine.Backend) {
		c := cfg
		c.RunDir = t.TempDir()
		m, _, err := fakeRun(t, b, c, 9)
		require.NoError(t, err, name)
		p, mm, v := params(t, b, m.ps)
		runs = append(runs, run{name, p, mm, v, stripTiming(t, filepath.Join(c.RunDir, MetricsFile))})
	}
	old := runtime.GOMAXPROCS(1)
	do("cpu, GOMAXPROCS=1", engine.NewCPU())
	runtime.GOMAXPROCS(4)
	do("cpu, GOMAXPROCS=4", engine.NewCPU())
	runtime.GOMAXPROCS(old)
	dev := emu.New(emu.Options{})
	g := engine.NewGPU(dev, engine.GPUOptions{})
	do("emulator", g)
	for _, r := range runs[1:] {
		assert.Equal(t, -1, sameBits(runs[0].p, r.p), "%s: the first parameter that differs from %s (bits)", r.name, runs[0].name)
		assert.Equal(t, -1, sameBits(runs[0].m, r.m), "%s: the first Adam first moment that differs from %s (bits)", r.name, runs[0].name)
		assert.Equal(t, -1, sameBits(runs[0].v, r.v), "%s: the first Adam second moment that differs from %s (bits)", r.name, runs[0].name)
		a, _ := json.Marshal(runs[0].metrics)
		bb, _ := json.Marshal(r.metrics)
		assert.Equal(t, string(a), string(bb), "%s: metrics, %s's then this run's", r.name, runs[0].name)
	}
}

// TestResumeBitIdentical: N steps straight equal N/2, a checkpoint (mid-epoch), and a
// resumed N/2, byte for byte (parameters, Adam state, metrics).
func TestResumeBitIdentical(t *testing.T) {
	b := engine.NewCPU()
	train := blobs(t, "blobs-train", 70, fd, fk, 7)
	test := blobs(t, "blobs-test", 25, fd, fk, 8)
	c := checkResumeBitIdentical(t, b, func() (data.Source, data.Source) { return train, test })

	// A resumed run must keep the settings that decide its steps.
	c.LR = 0.01
	_, err := Train(context.Background(), b, newFake(t, b, fd, fk, 16, 4), train, test, c, Hooks{})
	require.ErrorContains(t, err, "lr is 0.01 in this run but 0.05 in the checkpoint", "changed lr")
}

// checkResumeBitIdentical trains the fake model (a cosine schedule, 4 epochs of 5
// batches) on the sources that src returns, straight through; then again, cancelled
// after step 8 (epoch 2, batch 3 of 5) and resumed from its checkpoint in a fresh
// model whose parameters and moments are garbage (the checkpoint must set them all).
// Parameters, Adam's moments and metrics must be the same bytes. src is called for
// every run, so a sharded source can be opened afresh each time. It returns the
// resumed run's Config.
func checkResumeBitIdentical(t *testing.T, b engine.Backend, src func() (train, test data.Source)) Config {
	t.Helper()
	cfg := baseCfg(t.TempDir())
	cfg.Epochs = 4
	cfg.Schedule = ScheduleCosine
	mA := newFake(t, b, fd, fk, 16, 4)
	train, test := src()
	_, err := Train(context.Background(), b, mA, train, test, cfg, Hooks{})
	require.NoError(t, err)
	pA, aA, vA := params(t, b, mA.ps)
	metricsA := stripTiming(t, filepath.Join(cfg.RunDir, MetricsFile))

	dir := t.TempDir()
	c := cfg
	c.RunDir = dir
	ctx, cancel := context.WithCancel(context.Background())
	m1 := newFake(t, b, fd, fk, 16, 4)
	train, test = src()
	_, err = Train(ctx, b, m1, train, test, c, Hooks{Step: func(p Progress) {
		if p.Step == 8 {
			cancel()
		}
	}})
	require.ErrorIs(t, err, context.Canceled, "interrupted run")
	require.ErrorContains(t, err, "-resume", "interrupted run")
	ck, err := checkpoint.Load(filepath.Join(dir, checkpoint.File))
	require.NoError(t, err)
	require.Equal(t, uint64(8), ck.State.Step, "checkpoint state %+v: step", ck.State)
	require.Equal(t, 1, ck.State.Epoch, "checkpoint state %+v: epoch", ck.State)
	require.Equal(t, 3, ck.State.Batch, "checkpoint state %+v: batch", ck.State)
	m2 := newFake(t, b, fd, fk, 16, 4)
	for _, buf := range []*engine.Buf{m2.ps.P, m2.ps.M, m2.ps.V} {
		require.NoError(t, nn.Fill(b, buf, 0.25))
	}
	c.Resume = filepath.Join(dir, checkpoint.File)
	train, test = src()
	_, err = Train(context.Background(), b, m2, train, test, c, Hooks{})
	require.NoError(t, err)
	pB, aB, vB := params(t, b, m2.ps)
	require.Equal(t, -1, sameBits(pA, pB), "the first parameter that differs after resume (bits)")
	require.Equal(t, -1, sameBits(aA, aB), "Adam moments differ after resume: the first first moment that differs (bits)")
	require.Equal(t, -1, sameBits(vA, vB), "Adam moments differ after resume: the first second moment that differs (bits)")
	require.Equal(t, string(mustJSON(metricsA)), string(mustJSON(stripTiming(t, filepath.Join(dir, MetricsFile)))), "metrics, straight then resumed")
	return c
}

// TestResumeBatchNormBitIdentical: model A with the batch-norm encoder, interrupted
// mid-epoch and resumed into a fresh model whose parameters and running estimates are
// garbage, ends with the same checkpoint bytes (parameters, moments, running
// estimates, state) and the same metrics as an uninterrupted run; and a checkpoint of
// the model without batch norm does not resume it.
func TestResumeBatchNormBitIdentical(t *testing.T) {
	b := engine.NewCPU()
	mc := gmvae.Config{Model: "dilokthanakul", D: fd, K: fk, Dz: 3, Dw: 2, Hidden: []int{8, 6}, BatchNorm: true, MaxBatch: 16, Seed: 3}
	train := blobs(t, "blobs-train", 48, fd, fk, 7)
	test := blobs(t, "blobs-test", 20, fd, fk, 8)
	cfg := Config{Epochs: 3, BatchSize: 16, LR: 0.01, EvalBatch: 16, Seed: 3, Schedule: ScheduleCosine}
	run := func(c Config, garbage bool, stopAt uint64) error {
		m, err := gmvae.New(b, mc)
		testutil.Must(t, err)
		defer m.Release()
		if garbage {
			ps := m.Params()
			for _, buf := range []*engine.Buf{ps.P, ps.M, ps.V, ps.S} {
				testutil.Must(t, nn.Fill(b, buf, 0.25))
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		_, err = Train(ctx, b, m, train, test, c, Hooks{Step: func(p Progress) {
			if p.Step == stopAt {
				cancel()
			}
		}})
		return err
	}
	a := cfg
	a.RunDir = t.TempDir()
	testutil.Must(t, run(a, false, 0))
	r := cfg
	r.RunDir = t.TempDir()
	require.ErrorIs(t, run(r, false, 4), context.Canceled, "interrupted run")
	r.Resume = filepath.Join(r.RunDir, checkpoint.File)
	testutil.Must(t, run(r, true, 0))
	ca, err := os.ReadFile(filepath.Join(a.RunDir, checkpoint.File))
	testutil.Must(t, err)
	cb, err := os.ReadFile(filepath.Join(r.RunDir, checkpoint.File))
	testutil.Must(t, err)
	require.True(t, bytes.Equal(ca, cb), "the resumed run's checkpoint differs from the uninterrupted run's")
	require.True(t, bytes.Contains(ca, []byte(`"state/enc.1.bn.running_var"`)), "the checkpoint has no running estimates")
	require.Equal(t, string(mustJSON(stripTiming(t, filepath.Join(a.RunDir, MetricsFile)))), string(mustJSON(stripTiming(t, filepath.Join(r.RunDir, MetricsFile)))), "metrics, straight then resumed")
	mc.BatchNorm = false
	r.RunDir = t.TempDir()
	r.Resume = filepath.Join(a.RunDir, checkpoint.File)
	require.ErrorContains(t, run(r, false, 0), "batch_norm", "resume without batch norm from a batch-norm checkpoint")
}

// TestTrainMaxStepsAndSubset: max_steps stops mid-epoch with a final evaluation;
// subsets cut the data.
func TestTrainMaxStepsAndSubset(t *testing.T) {
	cfg := baseCfg(t.TempDir())
	cfg.MaxSteps = 7
	cfg.TrainSubset = 40 // 3 batches per epoch
	cfg.TestSubset = 9
	_, res, err := fakeRun(t, engine.NewCPU(), cfg, 1)
	require.NoError(t, err)
	require.Equal(t, uint64(7), res.Steps, "steps")
	require.Equal(t, 9, res.Final.Labelled, "labelled")
	require.InDelta(t, 7.0/3, res.Final.Epoch, 1e-12, "final epoch")
}

// TestTrainNaN: a non-finite term or gradient stops the run with an error that names
// the step, the term and the first tensor with a non-finite gradient.
func TestTrainNaN(t *testing.T) {
	for _, tc := range []struct {
		term  bool
		value float32
		want  []string
	}{
		{true, float32(math.NaN()), []string{"step 7 of 15 (epoch 2, batch 2 of 5)", "term recon = NaN", "tensor dec.b (element 2 = NaN)"}},
		{false, float32(math.Inf(1)), []string{"step 7 of 15 (epoch 2, batch 2 of 5)", "every loss term is finite", "tensor dec.b (element 2 = +Inf)"}},
	} {
		b := engine.NewCPU()
		m := newFake(t, b, fd, fk, 16, 3)
		m.poisonStep, m.poisonTerm, m.poison = 6, tc.term, tc.value
		_, err := Train(context.Background(), b, m, blobs(t, "tr", 70, fd, fk, 7), nil, baseCfg(t.TempDir()), Hooks{})
		require.Error(t, err)
		for _, w := range tc.want {
			assert.ErrorContains(t, err, w)
		}
		t.Log(err)
	}
}

// TestTrainConfigErrors: bad settings are errors naming the field.
func TestTrainConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.Epochs = -1 }, "epochs = -1"},
		{func(c *Config) { c.LR = math.NaN() }, "lr = NaN"},
		{func(c *Config) { c.Schedule = "steps" }, `schedule = "steps": want constant, cosine, exp or step`},
		{func(c *Config) { c.Clip = -1 }, "clip = -1"},
		{func(c *Config) { c.BatchSize = 17 }, "batch_size 17 is larger than the model's max_batch 16"},
		{func(c *Config) { c.EvalBatch = 100 }, "eval_batch 100"},
		{func(c *Config) { c.Schedule = ScheduleExp; c.LRDecay = 2 }, "lr_decay = 2"},
	} {
		c := baseCfg("")
		tc.mod(&c)
		_, _, err := fakeRun(t, engine.NewCPU(), c, 1)
		assert.ErrorContains(t, err, tc.want)
	}
	// Data outside [0,1] with a Bernoulli likelihood.
	b := engine.NewCPU()
	x := make([]float32, 4*fd)
	x[5] = 2
	ds, _ := data.New("big", 4, fd, x, nil)
	_, err := Train(context.Background(), b, newFake(t, b, fd, fk, 16, 1), ds, nil, baseCfg(""), Hooks{})
	assert.ErrorContains(t, err, "values in [0, 2]", "data range")
	// Wrong width.
	ds2 := blobs(t, "narrow", 10, fd-1, fk, 1)
	_, err = Train(context.Background(), b, newFake(t, b, fd, fk, 16, 1), ds2, nil, baseCfg(""), Hooks{})
	assert.ErrorContains(t, err, "11 features", "width")
}

// TestTrainRealModelsReproducible trains each real model for a few steps on the CPU
// (1 and 2 threads) and the emulator, with binarisation and clipping, and compares
// the final parameters and metrics bit for bit.
func TestTrainRealModelsReproducible(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, bmc := range []gmvae.Config{{Model: "dilokthanakul"}, {Model: "shu"}, {Model: "dilokthanakul", BatchNorm: true}, {Model: "shu", Gumbel: true},
		{Model: "vade"}, {Model: "vade", Pretrain: true}, {Model: "kmeans"}, {Model: "gmm"}, {Model: "gmm", Covariance: gmvae.CovAuto}} {
		model := bmc.Model
		mc := gmvae.Config{Model: model, D: fd, K: fk, Dz: 3, Dw: 2, Hidden: []int{8}, MaxBatch: 16, Seed: 3, Pretrain: bmc.Pretrain}
		if model == "dilokthanakul" {
			mc.Lambda = 0.5
		}
		if model == "kmeans" || model == "gmm" {
			mc.Dw, mc.Hidden, mc.Dz = 0, nil, 0
		}
		if bmc.BatchNorm {
			// The authors' recogniser with their Torch initialisation.
			model += " batch norm, torch init"
			mc.BatchNorm, mc.Hidden, mc.Init = true, []int{8, 6}, nn.SchemeTorch
		}
		if bmc.Gumbel {
			model += " gumbel, annealed"
			mc.Gumbel, mc.Lambda = true, 0
		}
		if bmc.Covariance != "" {
			model += " covariance " + bmc.Covariance
			mc.Covariance = bmc.Covariance
		}
		if _, err := gmvae.New(engine.NewCPU(), mc); err != nil {
			if strings.Contains(err.Error(), "not implemented") {
				t.Skipf("%s: %v", model, err)
			}
			require.NoError(t, err)
		}
		train := blobs(t, "blobs-train", 40, fd, fk, 7)
		test := blobs(t, "blobs-test", 20, fd, fk, 8)
		cfg := Config{Epochs: 2, BatchSize: 16, LR: 0.01, Binarize: true, Clip: 1, EvalBatch: 16, Seed: 3, Schedule: ScheduleCosine}
		if bmc.Gumbel {
			cfg.TauDecay, cfg.TauMin = 0.5, 0.3
		}
		if model == "vade" {
			// Images of 3 x 4 pixels, moved by the augmentation kernel every step of the
			// pretraining (the clustering stage ignores it: TestVaDEAugmentsPretraining).
			model += fmt.Sprintf(" pretrain=%v, augmented", bmc.Pretrain)
			train.Shape = []int{3, 4}
			cfg.AugmentShift, cfg.AugmentRotate = 1, 15
		}
		var ref []float32
		var refMetrics []byte
		for _, dev := range []string{"cpu1", "cpu2", "emu"} {
			var b engine.Backend = engine.NewCPU()
			switch dev {
			case "cpu1":
				runtime.GOMAXPROCS(1)
			case "cpu2":
				runtime.GOMAXPROCS(2)
			case "emu":
				g := engine.NewGPU(emu.New(emu.Options{}), engine.GPUOptions{})
				defer g.Close()
				b = g
			}
			m, err := gmvae.New(b, mc)
			require.NoError(t, err)
			c := cfg
			c.RunDir = t.TempDir()
			res, err := Train(context.Background(), b, m, train, test, c, Hooks{})
			require.NoError(t, err, "%s on %s", model, dev)
			p, _, _ := params(t, b, m.Params())
			if st := m.Params().S; st != nil {
				p = append(p, testutil.Download(t, b, st)...)
			}
			mj, _ := json.Marshal(stripTiming(t, filepath.Join(c.RunDir, MetricsFile)))
			if ref == nil {
				ref, refMetrics = p, mj
				t.Logf("%s: %s", model, evalString(res.Final))
				continue
			}
			assert.Equal(t, -1, sameBits(ref, p), "%s on %s: the first parameter that differs from cpu1 (bits)", model, dev)
			assert.Equal(t, string(refMetrics), string(mj), "%s on %s: metrics, cpu1's then this run's", model, dev)
		}
	}
}

// TestVaDEAugmentsPretraining: augmentation changes model vade's pretraining and not
// its clustering stage (Config.AugmentShift).
func TestVaDEAugmentsPretraining(t *testing.T) {
	b := engine.NewCPU()
	train := blobs(t, "blobs-train", 40, fd, fk, 7)
	train.Shape = []int{3, 4}
	run := func(pretrain bool, shift float64) []float32 {
		m, err := gmvae.New(b, gmvae.Config{Model: "vade", D: fd, K: fk, Dz: 3, Hidden: []int{8}, MaxBatch: 16, Seed: 3, Pretrain: pretrain})
		require.NoError(t, err)
		defer m.Release()
		cfg := Config{Epochs: 1, BatchSize: 16, LR: 0.01, EvalBatch: 16, Seed: 3, AugmentShift: shift, RunDir: t.TempDir()}
		_, err = Train(context.Background(), b, m, train, nil, cfg, Hooks{})
		require.NoError(t, err)
		p, _, _ := params(t, b, m.Params())
		return p
	}
	assert.NotEqual(t, -1, sameBits(run(true, 0), run(true, 1)), "augmentation moves the pretraining's batches")
	assert.Equal(t, -1, sameBits(run(false, 0), run(false, 1)), "the clustering stage trains on the data as it is")
}

func evalString(r EvalRecord) string {
	j, _ := json.Marshal(r)
	return string(j)
}

// TestInterruptedEvaluation: a signal during the evaluation at an epoch's end stops
// the run there (not after the whole evaluation) with a checkpoint of the evaluated
// parameters; the resumed run evaluates them again and ends as the straight run does,
// with the same metrics lines.
func TestInterruptedEvaluation(t *testing.T) {
	b := engine.NewCPU()
	cfg := baseCfg(t.TempDir())
	_, _, err := fakeRun(t, b, cfg, 4)
	require.NoError(t, err)
	want := stripTiming(t, filepath.Join(cfg.RunDir, MetricsFile))

	c := cfg
	c.RunDir = t.TempDir()
	train := blobs(t, "blobs-train", 70, fd, fk, 7)
	test := blobs(t, "blobs-test", 25, fd, fk, 8)
	ctx, cancel := context.WithCancel(context.Background())
	evals := 0
	_, err = Train(ctx, b, newFake(t, b, fd, fk, 16, 4), train, test, c, Hooks{
		Step: func(p Progress) {
			if p.Epoch == 1 && p.Batch == p.Batches { // the last step of epoch 2: its evaluation comes next
				cancel()
			}
		},
		Eval: func(EvalRecord) { evals++ },
	})
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 1, evals, "the second evaluation was stopped")
	c.Resume = filepath.Join(c.RunDir, checkpoint.File)
	_, err = Train(context.Background(), b, newFake(t, b, fd, fk, 16, 4), train, test, c, Hooks{})
	require.NoError(t, err)
	assert.Equal(t, want, stripTiming(t, filepath.Join(c.RunDir, MetricsFile)))
	assert.Equal(t, checkpointBytes(t, filepath.Join(cfg.RunDir, checkpoint.File)), checkpointBytes(t, c.Resume))
}
