package gmvae

import (
	"testing"

	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/engine/cpu"
	"github.com/gmvae/gmvae/engine/nn"
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
	cpu.RandUniform(proto, len(proto), seed, 0)
	flip := make([]float32, n*d)
	cpu.RandUniform(flip, len(flip), seed, 1)
	pick := make([]float32, n)
	cpu.RandUniform(pick, n, seed, 2)
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
// every step's Terms followed by Infer's, and Infer's posteriors and latent means,
// and checks that the model gives back all its memory.
func trainAndInfer(t *testing.T, b engine.Backend, cfg Config, x []float32, batches []int) ([]float32, []Terms, []float32, []float32) {
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
	it, err := m.Infer(xb.Slice(0, n*D), n, post, zmean, uint64(len(batches)))
	tMust(t, err)
	if f := it.Finite(); f != "" {
		t.Errorf("infer: term %s not finite: %+v", f, it)
	}
	terms = append(terms, it)
	params := tDownload(t, b, m.Params().P)
	ph, zh := tDownload(t, b, post), tDownload(t, b, zmean)
	for _, buf := range []*engine.Buf{xb, post, zmean} {
		tMust(t, b.Release(buf))
	}
	tMust(t, m.Release())
	if gpu, ok := b.(*engine.GPU); ok {
		tMust(t, gpu.Pool().CheckLeaks())
	}
	return params, terms, ph, zh
}
