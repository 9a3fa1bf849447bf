package gmvae

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/internal/testutil"
	"github.com/gmvae/gmvae/nn"
)

// Test helpers shared by the models' tests.

// trainAndInfer trains cfg on b with one Adam step per batch (batch s has batches[s]
// rows, taken in turn from x, starting again at row 0 when x runs out), checking that
// no step after the first allocates device memory, then runs Infer on the first
// batches[0] rows with the draws of step len(batches). It returns the parameters,
// every step's Terms followed by Infer's, and Infer's outputs, and checks that the
// model gives back all its memory.
func trainAndInfer(t *testing.T, b engine.Backend, cfg Config, x []float32, batches []int) ([]float32, []Terms, inferred) {
	t.Helper()
	m, err := New(b, cfg)
	testutil.Must(t, err)
	newModelHook(m)
	cfg = m.Config()
	D := cfg.D
	xb := testutil.Upload(t, b, x, "x")
	var terms []Terms
	var warm int64
	off := 0
	for step, n := range batches {
		if off+n > len(x)/D {
			off = 0
		}
		testutil.Must(t, m.Params().ZeroGrad())
		tm, err := m.TrainBatch(xb.Slice(off*D, n*D), n, uint64(step))
		testutil.Must(t, err)
		testutil.Must(t, m.Params().Step(nn.DefaultAdam(0.01)))
		terms = append(terms, tm)
		off += n
		if gpu, ok := b.(*engine.GPU); ok {
			st := gpu.Pool().Stats()
			if step == 0 {
				warm = st.DriverAllocs
			} else {
				assert.Equal(t, warm, st.DriverAllocs, "step %d: driver allocations since the first step (pool %v)", step, st)
			}
		}
	}
	n := batches[0]
	post, err := b.New(n*cfg.K, "post")
	testutil.Must(t, err)
	zmean, err := b.New(n*cfg.Dz, "zmean")
	testutil.Must(t, err)
	logits, err := b.New(n*cfg.K, "logits")
	testutil.Must(t, err)
	it, err := m.Infer(xb.Slice(0, n*D), n, post, logits, zmean, uint64(len(batches)))
	testutil.Must(t, err)
	assert.Empty(t, it.Finite(), "infer: a term not finite: %+v", it)
	terms = append(terms, it)
	params := testutil.Download(t, b, m.Params().P)
	if st := m.Params().S; st != nil {
		params = append(params, testutil.Download(t, b, st)...) // batch norm's running estimates
	}
	out := inferred{post: testutil.Download(t, b, post), zmean: testutil.Download(t, b, zmean), logits: testutil.Download(t, b, logits)}
	for _, buf := range []*engine.Buf{xb, post, zmean, logits} {
		testutil.Must(t, b.Release(buf))
	}
	testutil.Must(t, m.Release())
	if gpu, ok := b.(*engine.GPU); ok {
		testutil.Must(t, gpu.Pool().CheckLeaks())
	}
	return params, terms, out
}

// newModelHook is called by trainAndInfer with every model it builds (tests set it).
var newModelHook = func(Model) {}

// inferred holds Infer's outputs, downloaded: post (n, K), zmean (n, Dz), logits (n, K).
type inferred struct{ post, zmean, logits []float32 }

// requireSameBits fails t if any of Infer's outputs in a differs in its bits from b's.
func (a inferred) requireSameBits(t *testing.T, b inferred) {
	t.Helper()
	testutil.RequireSameBits(t, "post", a.post, b.post)
	testutil.RequireSameBits(t, "zmean", a.zmean, b.zmean)
	testutil.RequireSameBits(t, "logits", a.logits, b.logits)
}

// checkDistributions checks that every row of post sums to 1 and is the softmax of the
// same row of logits, both in float64 within float32 rounding.
func (a inferred) checkDistributions(t *testing.T, k int) {
	t.Helper()
	for i := 0; i < len(a.post)/k; i++ {
		row, lg := a.post[i*k:(i+1)*k], a.logits[i*k:(i+1)*k]
		top := math.Inf(-1)
		for _, v := range lg {
			top = max(top, float64(v))
		}
		z := 0.0
		for _, v := range lg {
			z += math.Exp(float64(v) - top)
		}
		sum := 0.0
		for j, p := range row {
			sum += float64(p)
			if want := math.Exp(float64(lg[j])-top) / z; math.Abs(float64(p)-want) > 1e-6 { // first one only
				require.InDelta(t, want, float64(p), 1e-6, "row %d cluster %d: posterior against the softmax of the logits", i, j)
			}
		}
		if math.Abs(sum-1) > 1e-5 {
			require.InDelta(t, 1.0, sum, 1e-5, "posterior of row %d: sum", i)
		}
	}
}
