//go:build !cuda

// gorgonia.org/gorgonia has its own `cuda` build tag, under which it compiles its
// cuDNN/cuBLAS variant; our driver uses the same tag name, so this cross-check stays out
// of tagged builds (the default build, what CI tests, runs it).

package gmvae

// An independent check of model B's hand-written backward pass, exact marginal and
// Gumbel-softmax: the whole loss (batch mean of minus the ELBO) built as a gorgonia
// graph in float64 from the same parameters, the same batch and the same noise (eps
// and Gumbel draws read back from the model's buffers), differentiated by gorgonia's
// reverse-mode autodiff, and compared with the gradients TrainBatch adds into
// Params().G on the CPU backend.
//
// Softmaxes are written without gorgonia's LogSumExp (wrong in v0.9.18): with C the
// row maximum of the model's own logits held as a constant, log q = (a - C) -
// log((exp(a - C))·1_{KxK}) (the matrix product with a KxK matrix of ones puts every
// row's sum in each of its columns), the same value and gradient for any constant C.
// Clamps are raw*mask + bound*(1-mask) with the mask of the model's raw values.

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/internal/testutil"
	"github.com/gmvae/gmvae/kernels/philox"
	"github.com/gmvae/gmvae/nn"
)

// shuADGraph is the float64 graph of model B's loss with its parameter nodes.
type shuADGraph struct {
	g      *G.ExprGraph
	params []*G.Node
	grads  [][]float32 // the model's gradients of the same tensors
	names  []string
	cost   *G.Node
}

// shuADBuild builds the graph of s's loss for the batch x (n rows) as the model
// computed it in its last TrainBatch (eps, Gumbel noise and raw log-variances are read
// from its buffers).
func shuADBuild(t *testing.T, s *shu, x []float32, n int) *shuADGraph {
	t.Helper()
	b, c := s.b, s.cfg
	K, Dz, D, H0 := c.K, c.Dz, c.D, s.h0
	get := func(buf *engine.Buf, k int) []float32 {
		v := make([]float32, k)
		testutil.Must(t, b.Download(v, buf.Slice(0, k)))
		return v
	}
	ag := &shuADGraph{g: G.NewGraph()}
	g := ag.g
	param := func(tn nn.Tensor, rows, cols int) *G.Node {
		var node *G.Node
		vec := rows == 0
		if vec {
			rows = 1
		}
		v := ad64(get(tn.P, rows*cols))
		if vec {
			node = G.NewVector(g, tensor.Float64, G.WithShape(cols), G.WithName(tn.Name),
				G.WithValue(tensor.New(tensor.WithShape(cols), tensor.WithBacking(v))))
		} else {
			node = G.NewMatrix(g, tensor.Float64, G.WithShape(rows, cols), G.WithName(tn.Name),
				G.WithValue(tensor.New(tensor.WithShape(rows, cols), tensor.WithBacking(v))))
		}
		ag.params = append(ag.params, node)
		ag.grads = append(ag.grads, get(tn.G, rows*cols))
		ag.names = append(ag.names, tn.Name)
		return node
	}
	type lin struct{ w, b *G.Node }
	lins := map[*nn.Linear]lin{}
	addLinear := func(l *nn.Linear) {
		lins[l] = lin{param(l.W(), l.In, l.Out), param(l.B(), 0, l.Out)}
	}
	apply := func(l *nn.Linear, in *G.Node) *G.Node {
		p := lins[l]
		out := adMust(G.BroadcastAdd(adMust(G.Mul(in, p.w)), p.b, nil, []byte{0}))
		if l.Act == shuActivation {
			out = adMust(G.Rectify(out))
		}
		return out
	}
	mlp := func(m *nn.MLP, in *G.Node) *G.Node {
		for _, l := range m.Layers {
			in = apply(l, in)
		}
		return in
	}
	// Parameters, in the model's order.
	for _, l := range s.qy.Layers {
		addLinear(l)
	}
	wx := param(s.tensor(s.wx), D, H0)
	wy := param(s.tensor(s.wy), K, H0)
	if s.qzUp != nil {
		for _, l := range s.qzUp.Layers {
			addLinear(l)
		}
	}
	addLinear(s.qzM)
	addLinear(s.qzLv)
	mu := param(s.tensor(s.pMu), K, Dz)
	lvRaw := param(s.tensor(s.pLv), K, Dz)
	for _, l := range s.px.Layers {
		addLinear(l)
	}
	addLinear(s.pxOut)
	if s.pxLv != nil {
		addLinear(s.pxLv)
	}
	clamp := func(raw *G.Node, rawv []float32, rows, cols int) *G.Node {
		mask, fill := make([]float64, len(rawv)), make([]float64, len(rawv))
		for i, v := range rawv {
			switch {
			case v < c.LvMin:
				fill[i] = float64(c.LvMin)
			case v > c.LvMax:
				fill[i] = float64(c.LvMax)
			default:
				mask[i] = 1
			}
		}
		return adMust(G.Add(adMust(G.HadamardProd(raw, adTensor(mask, rows, cols))), adTensor(fill, rows, cols)))
	}
	onesKK := make([]float64, K*K)
	for i := range onesKK {
		onesKK[i] = 1
	}
	// logSoftmax returns log softmax of the rows of a (n, K), av its values.
	logSoftmax := func(a *G.Node, av []float32) *G.Node {
		cm := make([]float64, n*K)
		for i := 0; i < n; i++ {
			mx := math.Inf(-1)
			for k := 0; k < K; k++ {
				mx = math.Max(mx, float64(av[i*K+k]))
			}
			for k := 0; k < K; k++ {
				cm[i*K+k] = mx
			}
		}
		sh := adMust(G.Sub(a, adTensor(cm, n, K)))
		sums := adMust(G.Mul(adMust(G.Exp(sh)), adTensor(onesKK, K, K)))
		return adMust(G.Sub(sh, adMust(G.Log(sums))))
	}
	half, log2pi := G.NewConstant(0.5), G.NewConstant(math.Log(2*math.Pi))
	// gaussLL returns the rows' log N(z; mean, lv) (n), all (n, Dz) or (n, D).
	gaussLL := func(z, mean, lv *G.Node) *G.Node {
		d := adMust(G.Sub(z, mean))
		q := adMust(G.HadamardProd(adMust(G.Square(d)), adMust(G.Exp(adMust(G.Neg(lv))))))
		term := adMust(G.Add(adMust(G.Add(lv, log2pi)), q))
		return adMust(G.Neg(adMust(G.Mul(adMust(G.Sum(term, 1)), half))))
	}
	xc := adTensor(ad64(x[:n*D]), n, D)
	// bernLL returns the rows' log p(x|logits) (n).
	bernLL := func(l *G.Node) *G.Node {
		sp := adMust(G.Log1p(adMust(G.Exp(l))))
		return adMust(G.Sum(adMust(G.Sub(adMust(G.HadamardProd(xc, l)), sp)), 1))
	}
	lvc := clamp(lvRaw, get(s.tensor(s.pLv).P, K*Dz), K, Dz)

	logits := mlp(s.qy, xc)
	logq := logSoftmax(logits, get(s.qyB.Output(), n*K))
	q := adMust(G.Exp(logq))
	negEnt := adMust(G.Sum(adMust(G.Sum(adMust(G.HadamardProd(q, logq)), 1))))
	logK := G.NewConstant(math.Log(float64(K)))

	// zBranch runs the z-encoder above the first layer's pre-activation pre, the
	// sample with eps (rows off.. of the model's buffers), the decoder and returns
	// the rows' -log p(x|z) + log q(z|x,y) and z.
	zBranch := func(pre *G.Node, off int) (*G.Node, *G.Node) {
		h := adMust(G.Rectify(pre))
		if s.qzUp != nil {
			h = mlp(s.qzUp, h)
		}
		m := apply(s.qzM, h)
		sv := clamp(apply(s.qzLv, h), get(s.spre.Slice(off*Dz, n*Dz), n*Dz), n, Dz)
		eps := adTensor(ad64(get(s.eps.Slice(off*Dz, n*Dz), n*Dz)), n, Dz)
		z := adMust(G.Add(m, adMust(G.HadamardProd(adMust(G.Exp(adMust(G.Mul(sv, half)))), eps))))
		hd := mlp(s.px, z)
		lx := apply(s.pxOut, hd)
		var llx *G.Node
		if s.pxLv != nil {
			lvx := clamp(apply(s.pxLv, hd), get(s.xlvRaw.Slice(off*D, n*D), n*D), n, D)
			llx = gaussLL(xc, lx, lvx)
		} else {
			llx = bernLL(lx)
		}
		row := adMust(G.Add(adMust(G.Neg(llx)), gaussLL(z, m, sv)))
		return row, z
	}
	px := adMust(G.Mul(xc, wx)) // (n, H0)
	var total *G.Node
	if c.Gumbel {
		// y = softmax((logits + g) * (1/tau)).
		gn := adTensor(ad64(get(s.gn, n*K)), n, K)
		inv := G.NewConstant(float64(1 / c.Tau))
		u := adMust(G.Mul(adMust(G.Add(logits, gn)), inv))
		y := adMust(G.Exp(logSoftmax(u, get(s.u, n*K))))
		pre := adMust(G.Add(px, adMust(G.Mul(y, wy))))
		row, z := zBranch(pre, 0)
		row = adMust(G.Sub(row, gaussLL(z, adMust(G.Mul(y, mu)), adMust(G.Mul(y, lvc)))))
		total = adMust(G.Add(adMust(G.Sum(row)), negEnt))
	} else {
		total = negEnt
		for k := 0; k < K; k++ {
			wyk := adMust(G.Slice(wy, G.S(k)))
			pre := adMust(G.BroadcastAdd(px, wyk, nil, []byte{0}))
			row, z := zBranch(pre, k*n)
			// log p(z|y=k): mu_k, lv_k broadcast over the rows (a ones (n, K)
			// one-hot column product: E_k (n, K)·MU).
			ek := make([]float64, n*K)
			for i := 0; i < n; i++ {
				ek[i*K+k] = 1
			}
			Ek := adTensor(ek, n, K)
			row = adMust(G.Sub(row, gaussLL(z, adMust(G.Mul(Ek, mu)), adMust(G.Mul(Ek, lvc)))))
			row = adMust(G.Add(row, logK))
			qk := adMust(G.Slice(q, nil, G.S(k)))
			total = adMust(G.Add(total, adMust(G.Sum(adMust(G.HadamardProd(qk, row))))))
		}
	}
	if c.Gumbel {
		total = adMust(G.Add(total, G.NewConstant(float64(n)*math.Log(float64(K)))))
	}
	ag.cost = adMust(G.Mul(total, G.NewConstant(1/float64(n))))
	return ag
}

// TestShuAutodiff compares every parameter gradient of model B's loss, exact and
// Gumbel-softmax, on a tiny network (D=6, K=3, Dz=2, Hidden=[4,4], n=5; also
// Hidden=[5] and [4,3,5], and the Gaussian likelihood) with
// gorgonia's reverse-mode autodiff of the same loss in float64. Parameters are
// random (biases too), one prior log-variance and some encoder log-variances are
// pushed outside [LvMin, LvMax] so that both clamps are exercised.
//
// Tolerance: |g_model - g_autodiff| <= 1e-3*|g_autodiff| + 1e-4*max|g_autodiff| of
// the tensor: float32 against float64, with the reparameterisation path of log q(z|x,y)
// cancelling its direct path (their exact sum depends on s only) so that elements
// far below the tensor's scale carry absolute, not relative, rounding. The loss value
// must agree to 1e-5 relative.
func TestShuAutodiff(t *testing.T) {
	for _, c := range []struct {
		gumbel bool
		tau    float32
		hidden []int
		lik    Likelihood
	}{
		{false, 1, []int{4, 4}, Bernoulli},
		{true, 1, []int{4, 4}, Bernoulli},
		{true, 0.5, []int{4, 4}, Bernoulli},
		{false, 1, []int{5}, Bernoulli},
		{true, 0.7, []int{5}, Bernoulli},
		{false, 1, []int{4, 3, 5}, Bernoulli},
		{false, 1, []int{4, 4}, Gaussian},
		{true, 0.5, []int{4, 4}, Gaussian},
	} {
		gumbel, tau := c.gumbel, c.tau
		t.Run(fmt.Sprintf("gumbel=%v tau=%g hidden=%v %s", gumbel, tau, c.hidden, c.lik), func(t *testing.T) {
			cfg := Config{Model: "shu", D: 6, K: 3, Dz: 2, Hidden: c.hidden, MaxBatch: 5, Seed: 21,
				Gumbel: gumbel, Tau: tau, LvMin: -3, LvMax: 3, Likelihood: c.lik}.Defaults()
			const n = 5
			b := engine.NewCPU()
			mod, err := New(b, cfg)
			testutil.Must(t, err)
			s := mod.(*shu)
			// Random parameters; the prior's log-variance entry 0 above LvMax.
			p := make([]float32, s.ps.Len())
			philox.Normals(p, 77, 0)
			for i := range p {
				p[i] *= 0.8
			}
			testutil.Must(t, b.Upload(s.ps.P, p))
			lv := s.tensor(s.pLv)
			lvh := make([]float32, lv.P.Len())
			testutil.Must(t, b.Download(lvh, lv.P))
			lvh[0] = 3.5
			testutil.Must(t, b.Upload(lv.P, lvh))
			// The encoder's log-variance bias pushes some rows past LvMin.
			bl := s.qzLv.B()
			bh := make([]float32, bl.P.Len())
			testutil.Must(t, b.Download(bh, bl.P))
			bh[1] = -3
			testutil.Must(t, b.Upload(bl.P, bh))

			x, _ := testutil.ClusteredBits(n, cfg.D, 2, 4)
			xb := testutil.Upload(t, b, x, "x")
			testutil.Must(t, s.ps.ZeroGrad())
			tm, err := s.TrainBatch(xb, n, 3)
			testutil.Must(t, err)

			ag := shuADBuild(t, s, x, n)
			_, err = G.Grad(ag.cost, ag.params...)
			require.NoError(t, err)
			vm := G.NewTapeMachine(ag.g)
			defer vm.Close()
			testutil.Must(t, vm.RunAll())
			cost := ag.cost.Value().Data().(float64)
			assert.InDelta(t, cost, tm.Loss, 1e-5*math.Abs(cost), "loss: gorgonia, then the model")
			// Clamped entries must be present for the check to cover clamp_bwd.
			spre := make([]float32, n*cfg.K*cfg.Dz)
			if gumbel {
				spre = spre[:n*cfg.Dz]
			}
			testutil.Must(t, b.Download(spre, s.spre.Slice(0, len(spre))))
			clamped := 0
			for _, v := range spre {
				if v < cfg.LvMin || v > cfg.LvMax {
					clamped++
				}
			}
			worst := 0.0
			for i, node := range ag.params {
				gv, err := node.Grad()
				testutil.Must(t, err)
				auto := gv.Data().([]float64)
				mine := ag.grads[i]
				require.Len(t, mine, len(auto), "%s: the model's gradients, against gorgonia's", ag.names[i])
				mx := 0.0
				for _, a := range auto {
					mx = math.Max(mx, math.Abs(a))
				}
				bad := false
				for j, a := range auto {
					d := math.Abs(float64(mine[j]) - a)
					if !(d <= 1e-3*math.Abs(a)+1e-4*mx) && !bad { // the tensor's first element out of tolerance only
						bad = true
						assert.LessOrEqual(t, d, 1e-3*math.Abs(a)+1e-4*mx, "%s[%d]: model %.7g, gorgonia %.10g (tensor max %.3g): error", ag.names[i], j, mine[j], a, mx)
					}
					if a != 0 {
						worst = math.Max(worst, d/math.Abs(a))
					}
				}
			}
			t.Logf("loss %.6f (gorgonia %.6f); %d clamped encoder log-variances; worst relative gradient error %.2g",
				tm.Loss, cost, clamped, worst)
			assert.NotZero(t, clamped, "no encoder log-variance was clamped: the clamp path is not covered")
			testutil.Must(t, b.Release(xb))
			testutil.Must(t, mod.Release())
		})
	}
}
