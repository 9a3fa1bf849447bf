package predict_test

import (
	"encoding/json"
	"math"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorgonia.org/tensor"

	"github.com/gmvae/gmvae/checkpoint"
	"github.com/gmvae/gmvae/cuda/emu"
	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/gmvae"
	"github.com/gmvae/gmvae/nn"
	"github.com/gmvae/gmvae/predict"
)

// tinyInput returns n rows of d values in [0,1] (a fixed pattern, no RNG).
func tinyInput(n, d int) []float32 {
	x := make([]float32, n*d)
	for i := range x {
		x[i] = float32((i*37+11)%101) / 100
	}
	return x
}

// tinyModel builds a small model on the CPU backend, trains it 3 Adam steps on
// tinyInput and returns it with its config. model is a model name, or
// "dilokthanakul+bn" for model A with the batch-norm encoder.
func tinyModel(t testing.TB, model string) gmvae.Model {
	t.Helper()
	b := engine.NewCPU()
	cfg := gmvae.Config{Model: model, D: 6, K: 3, Dz: 2, Dw: 2, Hidden: []int{5}, MaxBatch: 4, Seed: 7}
	if model == "dilokthanakul+bn" {
		cfg.Model, cfg.BatchNorm, cfg.Hidden = "dilokthanakul", true, []int{5, 4}
	}
	m, err := gmvae.New(b, cfg)
	require.NoError(t, err)
	xb, err := b.New(cfg.MaxBatch*cfg.D, "x")
	require.NoError(t, err)
	require.NoError(t, b.Upload(xb, tinyInput(cfg.MaxBatch, cfg.D)))
	for s := uint64(0); s < 3; s++ {
		require.NoError(t, m.Params().ZeroGrad())
		_, err := m.TrainBatch(xb, cfg.MaxBatch, s)
		require.NoError(t, err)
		require.NoError(t, m.Params().Step(nn.DefaultAdam(0.05)))
	}
	require.NoError(t, b.Release(xb))
	return m
}

// saveModel writes m's parameters (and state) as a checkpoint in dir and returns its
// path.
func saveModel(t testing.TB, m gmvae.Model, dir string) string {
	t.Helper()
	ps := m.Params()
	names, sizes := ps.Layout()
	n := ps.Len()
	mc, err := json.Marshal(m.Config())
	require.NoError(t, err)
	ck := &checkpoint.Checkpoint{Model: mc, Train: json.RawMessage(`{}`), Names: names, Sizes: sizes,
		P: make([]float32, n), M: make([]float32, n), V: make([]float32, n)}
	ck.StateNames, ck.StateSizes = ps.StateLayout()
	ck.S = make([]float32, ps.StateLen())
	ck.State.WorldSize = 1
	require.NoError(t, engine.NewCPU().Download(ck.P, ps.P))
	if ps.S != nil {
		require.NoError(t, engine.NewCPU().Download(ck.S, ps.S))
	}
	path := filepath.Join(dir, checkpoint.File)
	require.NoError(t, checkpoint.Save(path, ck))
	return path
}

// inferChunks runs m.Infer over x in chunks of the model's MaxBatch.
func inferChunks(t *testing.T, m gmvae.Model, x []float32, n int) (post, logits, zmean []float32) {
	b := engine.NewCPU()
	c := m.Config()
	post, logits, zmean = make([]float32, n*c.K), make([]float32, n*c.K), make([]float32, n*c.Dz)
	for lo := 0; lo < n; lo += c.MaxBatch {
		nb := min(c.MaxBatch, n-lo)
		xb, err := b.New(nb*c.D, "x")
		require.NoError(t, err)
		pb, _ := b.New(nb*c.K, "p")
		lb, _ := b.New(nb*c.K, "l")
		zb, _ := b.New(nb*c.Dz, "z")
		require.NoError(t, b.Upload(xb, x[lo*c.D:(lo+nb)*c.D]))
		_, err = m.Infer(xb, nb, pb, lb, zb, 0)
		require.NoError(t, err)
		require.NoError(t, b.Download(post[lo*c.K:(lo+nb)*c.K], pb))
		require.NoError(t, b.Download(logits[lo*c.K:(lo+nb)*c.K], lb))
		require.NoError(t, b.Download(zmean[lo*c.Dz:(lo+nb)*c.Dz], zb))
	}
	return post, logits, zmean
}

func bits(v []float32) []uint32 {
	out := make([]uint32, len(v))
	for i, f := range v {
		out[i] = math.Float32bits(f)
	}
	return out
}

// TestPredictEqualsInfer: Load + Predict give the trained model's Infer output bit for
// bit, for N not a multiple of MaxBatch (4): 1, 4, 11; and each cluster is the first
// argmax of its posterior row.
func TestPredictEqualsInfer(t *testing.T) {
	for _, model := range []string{"dilokthanakul", "shu", "dilokthanakul+bn"} {
		t.Run(model, func(t *testing.T) {
			m := tinyModel(t, model)
			path := saveModel(t, m, t.TempDir())
			p, err := predict.Load(engine.NewCPU(), path)
			require.NoError(t, err)
			defer func() { require.NoError(t, p.Close()) }()
			c := p.Config()
			for _, n := range []int{1, 4, 11} {
				x := tinyInput(n, c.D)
				wantP, wantL, wantZ := inferChunks(t, m, x, n)
				cl, post, zm, err := p.Predict(tensor.New(tensor.WithShape(n, c.D), tensor.WithBacking(x)))
				require.NoError(t, err)
				require.Equal(t, tensor.Shape{n}, cl.Shape())
				require.Equal(t, tensor.Shape{n, c.K}, post.Shape())
				require.Equal(t, tensor.Shape{n, c.Dz}, zm.Shape())
				require.Equal(t, tensor.Float32, post.Dtype())
				require.Equal(t, tensor.Int, cl.Dtype())
				require.Equal(t, bits(wantP), bits(post.Data().([]float32)), "n=%d posteriors", n)
				require.Equal(t, bits(wantZ), bits(zm.Data().([]float32)), "n=%d latent means", n)
				pp := post.Data().([]float32)
				for i, k := range cl.Data().([]int) {
					row := pp[i*c.K : (i+1)*c.K]
					for j := range row {
						require.True(t, row[j] <= row[k], "row %d: cluster %d is not a max", i, k)
						if j < k {
							require.True(t, row[j] < row[k], "row %d: cluster %d is not the first max", i, k)
						}
					}
				}
				// The slice variants give the same, and Run the logits too.
				cs, ps, zs, err := p.PredictSlice(x, n)
				require.NoError(t, err)
				require.Equal(t, cl.Data().([]int), cs)
				require.Equal(t, bits(wantP), bits(ps))
				require.Equal(t, bits(wantZ), bits(zs))
				r, err := p.Run(x, n)
				require.NoError(t, err)
				require.Equal(t, cs, r.Clusters)
				require.Equal(t, bits(wantP), bits(r.Post))
				require.Equal(t, bits(wantL), bits(r.Logits), "n=%d logits", n)
				require.Equal(t, bits(wantZ), bits(r.ZMean))
			}
		})
	}
}

// TestPredictEdges: N = 0 gives empty results (not an error); a wrong D, dtype or rank,
// a nil tensor and a bad checkpoint path are errors naming what was expected; a
// transposed view is read in its logical order.
func TestPredictEdges(t *testing.T) {
	m := tinyModel(t, "shu")
	dir := t.TempDir()
	path := saveModel(t, m, dir)
	p, err := predict.Load(engine.NewCPU(), path)
	require.NoError(t, err)
	defer func() { require.NoError(t, p.Close()) }()

	cl, post, zm, err := p.Predict(tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(0, 6)))
	require.NoError(t, err)
	require.Equal(t, 0, cl.Shape().TotalSize())
	require.Equal(t, tensor.Shape{0, 3}, post.Shape())
	require.Equal(t, tensor.Shape{0, 2}, zm.Shape())
	cs, ps, zs, err := p.PredictSlice(nil, 0)
	require.NoError(t, err)
	require.Empty(t, cs)
	require.Empty(t, ps)
	require.Empty(t, zs)
	r, err := p.Run(nil, 0)
	require.NoError(t, err)
	require.NotNil(t, r.Clusters)
	require.Empty(t, r.Logits)

	_, _, _, err = p.Predict(tensor.New(tensor.WithShape(2, 5), tensor.WithBacking(make([]float32, 10))))
	require.ErrorContains(t, err, "shape (2, 5)")
	require.ErrorContains(t, err, "expected (N, 6)")
	_, _, _, err = p.Predict(tensor.New(tensor.WithShape(2, 6), tensor.WithBacking(make([]float64, 12))))
	require.ErrorContains(t, err, "dtype float64, expected float32")
	_, _, _, err = p.Predict(tensor.New(tensor.WithShape(12), tensor.WithBacking(make([]float32, 12))))
	require.ErrorContains(t, err, "expected (N, 6)")
	_, _, _, err = p.Predict(nil)
	require.ErrorContains(t, err, "nil")
	_, _, _, err = p.PredictSlice(make([]float32, 11), 2)
	require.ErrorContains(t, err, "expected n*D = 2*6 = 12")

	// A transposed (6, 5) tensor is the (5, 6) matrix.
	x := tinyInput(5, 6)
	_, want, _, err := p.PredictSlice(x, 5)
	require.NoError(t, err)
	xt := make([]float32, 30)
	for i := 0; i < 5; i++ {
		for j := 0; j < 6; j++ {
			xt[j*5+i] = x[i*6+j]
		}
	}
	tt := tensor.New(tensor.WithShape(6, 5), tensor.WithBacking(xt))
	require.NoError(t, tt.T())
	_, got, _, err := p.Predict(tt)
	require.NoError(t, err)
	require.Equal(t, bits(want), bits(got.Data().([]float32)))

	_, err = predict.Load(engine.NewCPU(), filepath.Join(dir, "missing.safetensors"))
	require.ErrorContains(t, err, "missing.safetensors")
}

// TestPredictEmulatorEqualsCPU: the same checkpoint gives the same bits on the PTX
// emulator (the GPU code path) as on the CPU twins, for both models and the batch-norm
// encoder.
func TestPredictEmulatorEqualsCPU(t *testing.T) {
	for _, model := range []string{"dilokthanakul", "shu", "dilokthanakul+bn"} {
		t.Run(model, func(t *testing.T) {
			path := saveModel(t, tinyModel(t, model), t.TempDir())
			x := tinyInput(6, 6)
			var res [2][]uint32
			var cls [2][]int
			for i, b := range []engine.Backend{engine.NewCPU(), engine.NewGPU(emu.New(emu.Options{}), engine.GPUOptions{})} {
				p, err := predict.Load(b, path)
				require.NoError(t, err)
				r, err := p.Run(x, 6)
				require.NoError(t, err)
				res[i] = append(append(bits(r.Post), bits(r.Logits)...), bits(r.ZMean)...)
				cls[i] = r.Clusters
				require.NoError(t, p.Close())
			}
			require.Equal(t, res[0], res[1])
			require.Equal(t, cls[0], cls[1])
		})
	}
}

// TestPredictChecksRows: the trainer's data checks apply to the rows a predictor
// assigns: a non-finite value, and a value outside [0, 1] for a Bernoulli model, are
// errors naming the row and column.
func TestPredictChecksRows(t *testing.T) {
	m := tinyModel(t, "dilokthanakul")
	path := saveModel(t, m, t.TempDir())
	p, err := predict.Load(engine.NewCPU(), path)
	require.NoError(t, err)
	defer p.Close()
	d := p.Config().D
	for _, tc := range []struct {
		v    float32
		want string
	}{
		{2, "row 1 column 2 is 2: model dilokthanakul (Bernoulli likelihood) was trained on data in [0, 1]"},
		{float32(math.NaN()), "row 1 column 2 is NaN: every value must be finite"},
		{float32(math.Inf(-1)), "row 1 column 2 is -Inf"},
	} {
		x := tinyInput(3, d)
		x[d+2] = tc.v
		_, err := p.Run(x, 3)
		assert.ErrorContains(t, err, tc.want)
	}
}

// TestLoadRefusesConfigNotMatchingTensors: a checkpoint whose model_config describes
// another model than its tensors (k of 10^6 where the tensors are k = 3's) is refused
// before the described model is built: it used to allocate and initialise that model
// (gigabytes, minutes) before comparing.
func TestLoadRefusesConfigNotMatchingTensors(t *testing.T) {
	for _, model := range []string{"shu", "dilokthanakul", "vade"} {
		t.Run(model, func(t *testing.T) {
			m := tinyModel(t, model)
			cfg := m.Config()
			path := saveModel(t, m, t.TempDir())
			require.NoError(t, m.Release())
			ck, err := checkpoint.Load(path)
			require.NoError(t, err)
			cfg.K = 1_000_000
			ck.Model, err = json.Marshal(cfg)
			require.NoError(t, err)
			require.NoError(t, checkpoint.Save(path, ck))
			b := engine.NewCPU()
			b.SetMemoryLimit(256 << 20) // building the k = 10^6 model would pass this
			_, err = predict.Load(b, path)
			require.ErrorContains(t, err, "the checkpoint holds")
			require.ErrorContains(t, err, "its model_config does not describe its tensors")
			assert.NotErrorIs(t, err, engine.ErrOutOfMemory, "refused before anything was allocated")
		})
	}
}
