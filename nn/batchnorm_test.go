package nn

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/cuda/emu"
	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/kernels"
	"github.com/gmvae/gmvae/kernels/philox"
)

// bnRun is what one Linear-BatchNorm-ReLU layer computes on a batch: the Train-mode
// output, the state after it, the Eval-mode output and the state after that.
type bnRun struct {
	w, yTrain, stTrain, yEval, stEval []float32
}

func runBN(t *testing.T, b engine.Backend, x []float32, n, in, out int) bnRun {
	t.Helper()
	must := func(err error) {
		t.Helper()
		require.NoError(t, err)
	}
	ps := NewParams(b)
	l := NewLinearBN(ps, "l", in, out, kernels.ActRelu)
	must(ps.Alloc(3))
	defer ps.Release()
	s, err := l.NewScratch(b, n, "l")
	must(err)
	xb, err := b.New(n*in, "x")
	must(err)
	yb, err := b.New(n*out, "y")
	must(err)
	defer func() {
		for _, buf := range append(s.Bufs(), xb, yb) {
			must(b.Release(buf))
		}
	}()
	must(b.Upload(xb, x))
	down := func(buf *engine.Buf) []float32 {
		v := make([]float32, buf.Len())
		must(b.Download(v, buf))
		return v
	}
	var r bnRun
	r.w = down(l.W().P)
	require.ErrorContains(t, l.Forward(b, xb, yb, n, s), "ForwardMode", "Forward of a batch-norm layer: want an error that asks for ForwardMode")
	must(l.ForwardMode(b, xb, yb, n, s, Train))
	r.yTrain, r.stTrain = down(yb), down(ps.S)
	must(l.ForwardMode(b, xb, yb, n, s, Eval))
	r.yEval, r.stEval = down(yb), down(ps.S)
	return r
}

// TestBatchNormModes checks a Linear-BatchNorm-ReLU layer against a float64 reference
// in both modes: Train normalises with the batch mean and biased variance and moves
// the running estimates (momentum 0.1, unbiased variance) from their initial 0 and 1;
// Eval normalises with the running estimates and changes nothing. The CPU and the
// emulator give the same bits.
func TestBatchNormModes(t *testing.T) {
	for _, sz := range []struct{ n, in, out int }{{5, 3, 4}, {1, 2, 3}, {37, 7, 33}} {
		n, in, out := sz.n, sz.in, sz.out
		x := make([]float32, n*in)
		philox.Normals(x, 9, uint64(n))
		r := runBN(t, engine.NewCPU(), x, n, in, out)

		lin := make([]float64, n*out)
		for i := 0; i < n; i++ {
			for j := 0; j < out; j++ {
				for k := 0; k < in; k++ {
					lin[i*out+j] += float64(x[i*in+k]) * float64(r.w[k*out+j])
				}
			}
		}
		eps := float64(BatchNormEps)
		mom := float64(BatchNormMomentum)
		relu := func(v float64) float64 { return math.Max(v, 0) }
		near := func(what string, got float32, want float64) {
			t.Helper()
			assert.InDelta(t, want, float64(got), 2e-5*(1+math.Abs(want)), "n=%d %s", n, what)
		}
		for j := 0; j < out; j++ {
			var mean, ss float64
			for i := 0; i < n; i++ {
				mean += lin[i*out+j]
			}
			mean /= float64(n)
			for i := 0; i < n; i++ {
				d := lin[i*out+j] - mean
				ss += d * d
			}
			varB, varU := ss/float64(n), ss/float64(n)
			if n > 1 {
				varU = ss / float64(n-1)
			}
			rm, rv := mom*mean, (1-mom)+mom*varU
			near("running mean", r.stTrain[j], rm)
			near("running var", r.stTrain[out+j], rv)
			for i := 0; i < n; i++ {
				v := lin[i*out+j]
				near("train y", r.yTrain[i*out+j], relu((v-mean)/math.Sqrt(varB+eps)))
				near("eval y", r.yEval[i*out+j], relu((v-rm)/math.Sqrt(rv+eps)))
			}
		}
		assert.Equal(t, r.stTrain, r.stEval, "n=%d: an Eval forward changed the state", n)

		gpu := engine.NewGPU(emu.New(emu.Options{}), engine.GPUOptions{})
		e := runBN(t, gpu, x, n, in, out)
		require.NoError(t, gpu.Close())
		for name, pair := range map[string][2][]float32{"train y": {r.yTrain, e.yTrain}, "eval y": {r.yEval, e.yEval}, "state": {r.stEval, e.stEval}} {
			requireSameBits(t, pair[0], pair[1], "n=%d %s (cpu, emulator)", n, name)
		}
	}
}

// TestBatchNormParams checks what a batch-norm layer declares: W without a bias, gamma
// (1) and beta (0) trained, the running mean (0) and variance (1) as state that
// ResetState restores.
func TestBatchNormParams(t *testing.T) {
	b := engine.NewCPU()
	ps := NewParams(b)
	l := NewLinearBN(ps, "enc.0", 2, 3, kernels.ActRelu)
	require.NoError(t, ps.Alloc(1))
	defer ps.Release()
	names, sizes := ps.Layout()
	assert.Equal(t, []string{"enc.0.W", "enc.0.bn.gamma", "enc.0.bn.beta"}, names, "parameter names")
	assert.Equal(t, []int{6, 3, 3}, sizes, "parameter sizes")
	snames, ssizes := ps.StateLayout()
	assert.Equal(t, []string{"enc.0.bn.running_mean", "enc.0.bn.running_var"}, snames, "state names")
	assert.Equal(t, []int{3, 3}, ssizes, "state sizes")
	assert.Nil(t, l.B().P, "a batch-norm layer has a bias")
	p := make([]float32, ps.Len())
	require.NoError(t, b.Download(p, ps.P))
	assert.Equal(t, []float32{1, 1, 1, 0, 0, 0}, p[6:], "gamma, beta start at 1s and 0s")
	want := []float32{0, 0, 0, 1, 1, 1}
	st := make([]float32, ps.StateLen())
	require.NoError(t, b.Upload(ps.S, []float32{7, 7, 7, 7, 7, 7}))
	require.NoError(t, ps.ResetState())
	require.NoError(t, b.Download(st, ps.S))
	assert.Equal(t, want, st, "state after ResetState")
	assert.Contains(t, ps.String(), "enc.0.bn.running_var", "Params.String leaves out the state")
	assert.Zero(t, NewParams(b).StateLen(), "a store without state has state")
}
