package gmvae

import (
	"math"
	"testing"

	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/kernels/philox"
	"github.com/gmvae/gmvae/nn"
)

// Test helpers shared by the models' tests.

func tMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// tUpload returns a new buffer on b holding v.
func tUpload(t *testing.T, b engine.Backend, v []float32, tag string) *engine.Buf {
	t.Helper()
	x, err := b.New(len(v), tag)
	tMust(t, err)
	tMust(t, b.Upload(x, v))
	return x
}

// tDownload returns x's contents.
func tDownload(t *testing.T, b engine.Backend, x *engine.Buf) []float32 {
	t.Helper()
	v := make([]float32, x.Len())
	tMust(t, b.Download(v, x))
	return v
}

// clusteredBits returns n rows of d binary pixels drawn around k prototypes (each
// pixel of a prototype on with probability 1/2; each pixel of a row copies its
// prototype's with probability 0.9) and each row's prototype.
func clusteredBits(n, d, k int, seed uint64) ([]float32, []int) {
	proto := make([]float32, k*d)
	philox.Uniforms(proto, seed, 0)
	flip := make([]float32, n*d)
	philox.Uniforms(flip, seed, 1)
	pick := make([]float32, n)
	philox.Uniforms(pick[:n], seed, 2)
	x := make([]float32, n*d)
	labels := make([]int, n)
	for i := 0; i < n; i++ {
		c := int(pick[i] * float32(k))
		if c >= k {
			c = k - 1
		}
		labels[i] = c
		for j := 0; j < d; j++ {
			on := proto[c*d+j] < 0.5
			if flip[i*d+j] < 0.1 {
				on = !on
			}
			if on {
				x[i*d+j] = 1
			}
		}
	}
	return x, labels
}

// trainAndInfer trains cfg on b with one Adam step per batch (batch s has batches[s]
// rows, taken in turn from x, starting again at row 0 when x runs out), checking that
// no step after the first allocates device memory, then runs Infer on the first
// batches[0] rows with the draws of step len(batches). It returns the parameters,
// every step's Terms followed by Infer's, and Infer's outputs, and checks that the
// model gives back all its memory.
func trainAndInfer(t *testing.T, b engine.Backend, cfg Config, x []float32, batches []int) ([]float32, []Terms, inferred) {
	t.Helper()
	m, err := New(b, cfg)
	tMust(t, err)
	cfg = m.Config()
	D := cfg.D
	xb := tUpload(t, b, x, "x")
	var terms []Terms
	var warm int64
	off := 0
	for step, n := range batches {
		if off+n > len(x)/D {
			off = 0
		}
		tMust(t, m.Params().ZeroGrad())
		tm, err := m.TrainBatch(xb.Slice(off*D, n*D), n, uint64(step))
		tMust(t, err)
		tMust(t, m.Params().Step(nn.DefaultAdam(0.01)))
		terms = append(terms, tm)
		off += n
		if gpu, ok := b.(*engine.GPU); ok {
			st := gpu.Pool().Stats()
			if step == 0 {
				warm = st.DriverAllocs
			} else if st.DriverAllocs != warm {
				t.Errorf("step %d: %d driver allocations after the first step (pool %v)", step, st.DriverAllocs-warm, st)
			}
		}
	}
	n := batches[0]
	post, err := b.New(n*cfg.K, "post")
	tMust(t, err)
	zmean, err := b.New(n*cfg.Dz, "zmean")
	tMust(t, err)
	logits, err := b.New(n*cfg.K, "logits")
	tMust(t, err)
	it, err := m.Infer(xb.Slice(0, n*D), n, post, logits, zmean, uint64(len(batches)))
	tMust(t, err)
	if f := it.Finite(); f != "" {
		t.Errorf("infer: term %s not finite: %+v", f, it)
	}
	terms = append(terms, it)
	params := tDownload(t, b, m.Params().P)
	if st := m.Params().S; st != nil {
		params = append(params, tDownload(t, b, st)...) // batch norm's running estimates
	}
	out := inferred{post: tDownload(t, b, post), zmean: tDownload(t, b, zmean), logits: tDownload(t, b, logits)}
	for _, buf := range []*engine.Buf{xb, post, zmean, logits} {
		tMust(t, b.Release(buf))
	}
	tMust(t, m.Release())
	if gpu, ok := b.(*engine.GPU); ok {
		tMust(t, gpu.Pool().CheckLeaks())
	}
	return params, terms, out
}

// inferred holds Infer's outputs, downloaded: post (n, K), zmean (n, Dz), logits (n, K).
type inferred struct{ post, zmean, logits []float32 }

// requireSameBits fails t if any of Infer's outputs in a differs in its bits from b's.
func (a inferred) requireSameBits(t *testing.T, b inferred) {
	t.Helper()
	requireSameBits(t, "post", a.post, b.post)
	requireSameBits(t, "zmean", a.zmean, b.zmean)
	requireSameBits(t, "logits", a.logits, b.logits)
}

// requireSameBits fails t at the first element where a and b differ in their bits (any
// two NaNs count as equal).
func requireSameBits(t *testing.T, what string, a, b []float32) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: lengths %d and %d", what, len(a), len(b))
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) && !(a[i] != a[i] && b[i] != b[i]) {
			t.Fatalf("%s[%d]: %g (first) and %g (second) differ", what, i, a[i], b[i])
		}
	}
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
			if want := math.Exp(float64(lg[j])-top) / z; math.Abs(float64(p)-want) > 1e-6 {
				t.Fatalf("row %d cluster %d: posterior %g, softmax of the logits %g", i, j, p, want)
			}
		}
		if math.Abs(sum-1) > 1e-5 {
			t.Fatalf("posterior of row %d sums to %g", i, sum)
		}
	}
}
