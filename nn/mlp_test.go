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

// mlpCase is an MLP 5 -> 6 -> 4 -> 3: without batch norm (act, last tanh), or with batch
// norm on every layer (act on every layer).
type mlpCase struct {
	act kernels.Act
	bn  bool
}

func (c mlpCase) build(ps *Params) *MLP {
	if c.bn {
		return NewMLPBN(ps, "mlp", []int{5, 6, 4, 3}, c.act)
	}
	return NewMLP(ps, "mlp", []int{5, 6, 4, 3}, c.act, kernels.ActTanh)
}

// mlpLossGrads runs the MLP of c forward (Train mode) on x (n, 5) with n below the
// buffers' rows, the loss sum(y * r), and its backward (dx accumulated onto ones when
// acc); it returns the loss, the parameter gradients and dx.
func mlpLossGrads(t *testing.T, b engine.Backend, c mlpCase, params, xh, r []float32, acc bool) (float64, []float32, []float32) {
	t.Helper()
	const n, rows = 4, 6
	ps := NewParams(b)
	m := c.build(ps)
	require.NoError(t, ps.Alloc(1))
	defer ps.Release()
	if params != nil {
		require.NoError(t, b.Upload(ps.P, params))
	}
	bufs, err := m.NewBufs(b, rows, "mlp")
	require.NoError(t, err)
	defer bufs.Release(b)
	up := func(v []float32) *engine.Buf {
		x, _ := b.New(len(v), "t")
		require.NoError(t, b.Upload(x, v))
		return x
	}
	x, dy := up(xh), up(r)
	ones := make([]float32, n*5)
	for i := range ones {
		ones[i] = 1
	}
	dx := up(ones)
	defer func() { b.Release(x); b.Release(dy); b.Release(dx) }()
	require.NoError(t, m.Forward(b, x, n, bufs, Train))
	y := make([]float32, n*3)
	require.NoError(t, b.Download(y, bufs.Output().Slice(0, n*3)))
	loss := 0.0
	for i := 0; i < n*3; i++ {
		loss += float64(y[i]) * float64(r[i])
	}
	require.NoError(t, m.Backward(b, x, dy, dx, n, bufs, acc))
	g := make([]float32, ps.Len())
	dxh := make([]float32, n*5)
	require.NoError(t, b.Download(g, ps.G))
	require.NoError(t, b.Download(dxh, dx))
	return loss, g, dxh
}

// TestMLPGradients checks an MLP's backward (parameters and input, dx overwritten and
// accumulated) against central finite differences of its forward, and that the CPU
// backend and the PTX emulator give the same bits; with and without batch norm (whose
// Train-mode forward depends on every row through the batch statistics, so the finite
// differences check the whole batch-norm gradient).
func TestMLPGradients(t *testing.T) {
	const n = 4
	var cases []mlpCase
	for _, bn := range []bool{false, true} {
		for _, act := range []kernels.Act{kernels.ActRelu, kernels.ActTanh, kernels.ActSoftplus} {
			cases = append(cases, mlpCase{act, bn})
		}
	}
	for _, c := range cases {

		xh := make([]float32, n*5)
		philox.Normals(xh, 4, 0)
		r := make([]float32, 6*3)
		philox.Normals(r, 4, 1)
		b := engine.NewCPU()
		_, g, dx := mlpLossGrads(t, b, c, nil, xh, r, false)
		_, gAcc, dxAcc := mlpLossGrads(t, b, c, nil, xh, r, true)
		for i := range dx {
			require.Equal(t, dx[i]+1, dxAcc[i], "%+v: accumulated dx[%d], want dx + 1", c, i)
		}
		require.Equal(t, g, gAcc, "%+v: the gradients depend on accumulateDX", c)
		gpu := engine.NewGPU(emu.New(emu.Options{}), engine.GPUOptions{})
		_, ge, dxe := mlpLossGrads(t, gpu, c, nil, xh, r, false)
		requireSameBits(t, g, ge, "%+v: gradients (cpu, emulator)", c)
		requireSameBits(t, dx, dxe, "%+v: dx (cpu, emulator)", c)
		require.NoError(t, gpu.Close())

		ps0 := NewParams(b)
		c.build(ps0)
		require.NoError(t, ps0.Alloc(1))
		params := make([]float32, ps0.Len())
		require.NoError(t, b.Download(params, ps0.P))
		const eps = 1e-2
		check := func(what string, i int, analytic float32, f func(d float32) float64) {
			fd := (f(eps) - f(-eps)) / (2 * eps)
			assert.LessOrEqual(t, math.Abs(fd-float64(analytic)), 3e-3*(1+math.Abs(fd)),
				"%+v: d loss/d %s[%d] = %g, finite differences %g", c, what, i, analytic, fd)
		}
		for i := range params {
			check("param", i, g[i], func(d float32) float64 {
				p := append([]float32(nil), params...)
				p[i] += d
				l, _, _ := mlpLossGrads(t, b, c, p, xh, r, false)
				return l
			})
		}
		for i := range xh {
			check("x", i, dx[i], func(d float32) float64 {
				x := append([]float32(nil), xh...)
				x[i] += d
				l, _, _ := mlpLossGrads(t, b, c, params, x, r, false)
				return l
			})
		}
	}
}
