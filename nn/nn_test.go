package nn

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/cuda/emu"
	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/kernels"
	"github.com/gmvae/gmvae/kernels/philox"
	"github.com/gmvae/gmvae/ops"
)

// autoencoder is a two-layer Bernoulli autoencoder, x (N, D) -> h (N, H) -> logits
// (N, D), small enough for the emulator, big enough to use every kernel of a linear
// layer's forward and backward, the Bernoulli likelihood, a reduction and Adam.
type autoencoder struct {
	ps       *Params
	enc, dec *Linear
}

func newAutoencoder(b engine.Backend, d, h int, act kernels.Act) (*autoencoder, error) {
	ps := NewParams(b)
	m := &autoencoder{ps: ps, enc: NewLinear(ps, "enc", d, h, act), dec: NewLinear(ps, "dec", h, d, kernels.ActNone)}
	return m, ps.Alloc(42)
}

// step runs one training step on the batch x (n, D): it allocates its activations from
// the backend and releases them at the end, as a naive caller would, so that the
// GPU backend's pool is what keeps the driver out of the steady state. It returns the
// mean negative log-likelihood.
func (m *autoencoder) step(t *testing.T, b engine.Backend, xb *engine.Buf, n int, opt Adam) float32 {
	t.Helper()
	d, h := m.enc.In, m.enc.Out
	var bufs []*engine.Buf
	buf := func(k int, tag string) *engine.Buf {
		x, err := b.New(k, tag)
		require.NoError(t, err)
		bufs = append(bufs, x)
		return x
	}
	must := func(err error) {
		t.Helper()
		require.NoError(t, err)
	}
	hid, logits := buf(n*h, "hidden"), buf(n*d, "logits")
	ll, loss := buf(n, "row log-likelihoods"), buf(1, "loss")
	g, dlogits, dhid := buf(n, "row gradients"), buf(n*d, "dlogits"), buf(n*h, "dhidden")
	es, err := m.enc.NewScratch(b, n, "enc")
	must(err)
	ds, err := m.dec.NewScratch(b, n, "dec")
	must(err)
	for _, s := range []*engine.Buf{es.Pre, es.DPre, ds.Pre, ds.DPre} {
		if s != nil {
			bufs = append(bufs, s)
		}
	}

	must(m.ps.ZeroGrad())
	must(m.enc.Forward(b, xb, hid, n, es))
	must(m.dec.Forward(b, hid, logits, n, ds))
	must(ops.BernoulliLoglik(b, xb, logits, ll, n, d))
	must(ops.SumAll(b, ll, loss, n, float32(-1)/float32(n)))
	// d(loss)/d(ll_r) = -1/n for every row.
	must(Fill(b, g, float32(-1)/float32(n)))
	must(ops.BernoulliLoglikBwd(b, xb, logits, g, dlogits, n, d, false))
	must(m.dec.Backward(b, hid, logits, dlogits, dhid, n, ds, false))
	must(m.enc.Backward(b, xb, hid, dhid, nil, n, es, false))
	must(m.ps.Step(opt))

	out := make([]float32, 1)
	must(b.Download(out, loss))
	for _, x := range bufs {
		must(b.Release(x))
	}
	return out[0]
}

func binaryBatch(n, d int) []float32 {
	x := make([]float32, n*d)
	u := make([]float32, n*d)
	philox.Uniforms(u, 7, 1)
	for i := range x {
		// Structured data: the first half of each row copies a per-row coin.
		if u[i] < 0.5 {
			x[i] = 1
		}
		if i%d < d/2 && u[i-i%d] < 0.5 {
			x[i] = 1
		}
	}
	return x
}

func train(t *testing.T, b engine.Backend, act kernels.Act, steps int) ([]float32, []float32) {
	const n, d, h = 33, 20, 17
	m, err := newAutoencoder(b, d, h, act)
	require.NoError(t, err)
	xb, err := b.New(n*d, "batch")
	require.NoError(t, err)
	require.NoError(t, b.Upload(xb, binaryBatch(n, d)))
	var losses []float32
	var warmAllocs int64
	for s := 0; s < steps; s++ {
		losses = append(losses, m.step(t, b, xb, n, DefaultAdam(0.01)))
		if gpu, ok := b.(*engine.GPU); ok {
			st := gpu.Pool().Stats()
			if s == 0 {
				warmAllocs = st.DriverAllocs
			} else {
				assert.Equal(t, warmAllocs, st.DriverAllocs, "step %d: driver allocations after warm-up (pool: %v)", s, st)
			}
		}
	}
	params := make([]float32, m.ps.Len())
	require.NoError(t, b.Download(params, m.ps.P))
	require.NoError(t, b.Release(xb))
	require.NoError(t, m.ps.Release())
	if gpu, ok := b.(*engine.GPU); ok {
		assert.NoError(t, gpu.Pool().CheckLeaks())
	}
	return params, losses
}

// TestTrainingStepsCPUEqualsEmulator trains the same network from the same seed on the
// CPU backend and on the GPU backend over the PTX emulator: the parameters must end
// with identical bytes, the steady state must make no driver allocation, and the loss
// must fall.
func TestTrainingStepsCPUEqualsEmulator(t *testing.T) {
	for _, act := range []kernels.Act{kernels.ActTanh, kernels.ActRelu, kernels.ActSoftplus} {
		const steps = 6
		pc, lc := train(t, engine.NewCPU(), act, steps)
		dev := emu.New(emu.Options{})
		gpu := engine.NewGPU(dev, engine.GPUOptions{})
		pg, lg := train(t, gpu, act, steps)
		requireSameBits(t, pc, pg, "act %d: parameters after %d steps (cpu, emulator)", act, steps)
		requireSameBits(t, lc, lg, "act %d: losses (cpu, emulator)", act)
		assert.Less(t, lc[steps-1], lc[0], "act %d: loss did not fall: %v", act, lc)
		t.Logf("act %d: losses %v; pool %v", act, lc, gpu.Pool().Stats())
		require.NoError(t, gpu.Close())
	}
}

// TestLinearGradients checks a Linear layer's backward (act_bwd, gemm_tn, colsum,
// gemm_nt together) against central finite differences of its forward in float64
// terms, for a scalar loss sum(y * r) with fixed random r.
func TestLinearGradients(t *testing.T) {
	for _, act := range []kernels.Act{kernels.ActNone, kernels.ActTanh, kernels.ActSigmoid, kernels.ActSoftplus} {
		b := engine.NewCPU()
		const n, in, out = 5, 7, 3
		ps := NewParams(b)
		l := NewLinear(ps, "l", in, out, act)
		require.NoError(t, ps.Alloc(3))
		xh := make([]float32, n*in)
		philox.Normals(xh, 5, 0)
		r := make([]float32, n*out)
		philox.Normals(r, 5, 1)
		x, _ := b.New(n*in, "x")
		y, _ := b.New(n*out, "y")
		dy, _ := b.New(n*out, "dy")
		dx, _ := b.New(n*in, "dx")
		s, _ := l.NewScratch(b, n, "l")
		_ = b.Upload(x, xh)
		_ = b.Upload(dy, r)
		loss := func() float64 {
			require.NoError(t, l.Forward(b, x, y, n, s))
			yh := make([]float32, n*out)
			_ = b.Download(yh, y)
			sum := 0.0
			for i := range yh {
				sum += float64(yh[i]) * float64(r[i])
			}
			return sum
		}
		loss()
		require.NoError(t, ps.ZeroGrad())
		require.NoError(t, l.Backward(b, x, y, dy, dx, n, s, false))
		grads := make([]float32, ps.Len())
		_ = b.Download(grads, ps.G)
		dxh := make([]float32, n*in)
		_ = b.Download(dxh, dx)
		params := make([]float32, ps.Len())
		_ = b.Download(params, ps.P)
		check := func(what string, i int, analytic float32, set func(v float32), v0 float32) {
			const eps = 1e-2
			set(v0 + eps)
			up := loss()
			set(v0 - eps)
			down := loss()
			set(v0)
			fd := (up - down) / (2 * eps)
			assert.LessOrEqual(t, math.Abs(fd-float64(analytic)), 2e-3*(1+math.Abs(fd)),
				"act %d: d loss/d %s[%d] = %g, finite differences %g", act, what, i, analytic, fd)
		}
		for i := range params {
			set := func(v float32) { params[i] = v; _ = b.Upload(ps.P, params) }
			check("param", i, grads[i], set, params[i])
		}
		for i := range xh {
			set := func(v float32) { xh[i] = v; _ = b.Upload(x, xh) }
			check("x", i, dxh[i], set, xh[i])
		}
	}
}

// requireSameBits stops the test at the first element where got and want differ in
// their bits (NaN payloads included), naming the element and both values; one require
// call for the whole slice.
func requireSameBits(t *testing.T, want, got []float32, msg string, args ...any) {
	t.Helper()
	what := fmt.Sprintf(msg, args...)
	require.Len(t, got, len(want), what)
	for i := range want {
		if math.Float32bits(want[i]) != math.Float32bits(got[i]) {
			require.Equalf(t, math.Float32bits(want[i]), math.Float32bits(got[i]), "%s: element %d: %g, then %g (bits)", what, i, want[i], got[i])
		}
	}
}
