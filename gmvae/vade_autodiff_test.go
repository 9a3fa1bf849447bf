//go:build !cuda

// gorgonia.org/gorgonia has its own `cuda` build tag: the cross-check stays out of
// tagged builds (the default build, what CI tests, runs it).

package gmvae

// An independent check of model C's hand-written backward pass: the loss (batch mean
// of minus the ELBO, or the autoencoder's reconstruction loss in pretraining) built as
// a gorgonia graph in float64 from the same parameters, batch and noise (eps read back
// from the model's buffers), differentiated by gorgonia's reverse-mode autodiff and
// compared with the gradients TrainBatch adds into Params().G on the CPU backend.
//
// The Gaussian log-densities and KLs between the rows (n) and the components (K) are
// written as matrix products (sum_d (z_d - mu_cd)^2 e^-lv_cd = z^2·e^-lvᵀ - 2 z·(mu
// e^-lv)ᵀ + sum_d mu^2 e^-lv), softmaxes with a constant row maximum as in the other
// models' checks (gorgonia's LogSumExp is wrong in v0.9.18), clamps as raw*mask +
// bound*(1-mask) with the mask of the model's raw values.

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

type vadeADGraph struct {
	g      *G.ExprGraph
	params []*G.Node
	grads  [][]float32
	names  []string
	cost   *G.Node
	unused []nn.Tensor // tensors without a path to the loss (pretraining): zero gradient
}

func vadeADBuild(t *testing.T, v *vade, x []float32, n int) *vadeADGraph {
	t.Helper()
	b, c := v.b, v.cfg
	K, Dz, D := c.K, c.Dz, c.D
	get := func(buf *engine.Buf, k int) []float32 {
		out := make([]float32, k)
		require.NoError(t, b.Download(out, buf.Slice(0, k)))
		return out
	}
	ag := &vadeADGraph{g: G.NewGraph()}
	g := ag.g
	param := func(tn nn.Tensor, rows, cols int) *G.Node {
		node := G.NewMatrix(g, tensor.Float64, G.WithShape(rows, cols), G.WithName(tn.Name),
			G.WithValue(tensor.New(tensor.WithShape(rows, cols), tensor.WithBacking(ad64(get(tn.P, rows*cols))))))
		ag.params = append(ag.params, node)
		ag.grads = append(ag.grads, get(tn.G, rows*cols))
		ag.names = append(ag.names, tn.Name)
		return node
	}
	ones := func(r, c int) *G.Node {
		o := make([]float64, r*c)
		for i := range o {
			o[i] = 1
		}
		return adTensor(o, r, c)
	}
	type lin struct{ w, b *G.Node }
	lins := map[*nn.Linear]lin{}
	addLinear := func(l *nn.Linear) {
		lins[l] = lin{param(l.W(), l.In, l.Out), param(l.B(), 1, l.Out)}
	}
	apply := func(l *nn.Linear, in *G.Node, rows int) *G.Node {
		p := lins[l]
		out := adMust(G.Add(adMust(G.Mul(in, p.w)), adMust(G.Mul(ones(rows, 1), p.b))))
		if l.Act == encActivation {
			out = adMust(G.Rectify(out))
		}
		return out
	}
	mlp := func(m *nn.MLP, in *G.Node, rows int) *G.Node {
		for _, l := range m.Layers {
			in = apply(l, in, rows)
		}
		return in
	}
	clamp := func(raw *G.Node, rawv []float32, rows, cols int) *G.Node {
		mask, fill := make([]float64, len(rawv)), make([]float64, len(rawv))
		for i, x := range rawv {
			switch {
			case x < c.LvMin:
				fill[i] = float64(c.LvMin)
			case x > c.LvMax:
				fill[i] = float64(c.LvMax)
			default:
				mask[i] = 1
			}
		}
		return adMust(G.Add(adMust(G.HadamardProd(raw, adTensor(mask, rows, cols))), adTensor(fill, rows, cols)))
	}
	// logSoftmax of the rows of a (r, K), av its values (the row maxima are constants).
	logSoftmax := func(a *G.Node, av []float32, r int) *G.Node {
		cm := make([]float64, r*K)
		for i := 0; i < r; i++ {
			mx := math.Inf(-1)
			for k := 0; k < K; k++ {
				mx = math.Max(mx, float64(av[i*K+k]))
			}
			for k := 0; k < K; k++ {
				cm[i*K+k] = mx
			}
		}
		sh := adMust(G.Sub(a, adTensor(cm, r, K)))
		sums := adMust(G.Mul(adMust(G.Exp(sh)), ones(K, K)))
		return adMust(G.Sub(sh, adMust(G.Log(sums))))
	}
	half := G.NewConstant(0.5)
	// Parameters, in the model's order.
	for _, l := range v.encTrunk.Layers {
		addLinear(l)
	}
	addLinear(v.encM)
	if !c.Pretrain {
		addLinear(v.encS)
	}
	for _, l := range v.decTrunk.Layers {
		addLinear(l)
	}
	addLinear(v.decOut)
	if v.decLv != nil {
		addLinear(v.decLv)
	}
	xc := adTensor(ad64(x[:n*D]), n, D)
	h := mlp(v.encTrunk, xc, n)
	m := apply(v.encM, h, n)
	var z *G.Node
	logitsT, muT, lvT := v.Prior()
	var logitsP, muP, lvRaw, s *G.Node
	if c.Pretrain {
		z = m
		// The s head and the prior have no path to the loss.
		ag.unused = []nn.Tensor{v.encS.W(), v.encS.B(), logitsT, muT, lvT}
	} else {
		s = clamp(apply(v.encS, h, n), get(v.sRaw, n*Dz), n, Dz)
		eps := adTensor(ad64(get(v.eps, n*Dz)), n, Dz)
		z = adMust(G.Add(m, adMust(G.HadamardProd(adMust(G.Exp(adMust(G.Mul(s, half)))), eps))))
		logitsP = param(logitsT, 1, K)
		muP = param(muT, K, Dz)
		lvRaw = param(lvT, K, Dz)
	}
	// The decoder (its layers were declared before the prior's tensors, but the node
	// order of params does not matter).
	hd := mlp(v.decTrunk, z, n)
	out := apply(v.decOut, hd, n)
	var ll *G.Node
	if v.decLv != nil {
		lvx := clamp(apply(v.decLv, hd, n), get(v.xlvRaw, n*D), n, D)
		d := adMust(G.Sub(xc, out))
		q := adMust(G.HadamardProd(adMust(G.Square(d)), adMust(G.Exp(adMust(G.Neg(lvx))))))
		term := adMust(G.Add(adMust(G.Add(lvx, G.NewConstant(math.Log(2*math.Pi)))), q))
		ll = adMust(G.Neg(adMust(G.Mul(adMust(G.Sum(term, 1)), half))))
	} else {
		sp := adMust(G.Log1p(adMust(G.Exp(out))))
		ll = adMust(G.Sum(adMust(G.Sub(adMust(G.HadamardProd(xc, out)), sp)), 1))
	}
	total := adMust(G.Neg(adMust(G.Sum(ll))))
	if !c.Pretrain {
		lvc := clamp(lvRaw, get(lvT.P, K*Dz), K, Dz)
		elv := adMust(G.Exp(adMust(G.Neg(lvc))))                                             // (K, Dz)
		mue := adMust(G.HadamardProd(muP, elv))                                              // (K, Dz)
		c3 := adMust(G.Mul(adMust(G.HadamardProd(adMust(G.Square(muP)), elv)), ones(Dz, 1))) // (K, 1)
		sumlv := adMust(G.Mul(lvc, ones(Dz, 1)))                                             // (K, 1)
		rowsK := func(col *G.Node) *G.Node {                                                 // (K, 1) -> (n, K), every row the same
			return adMust(G.Mul(ones(n, 1), adMust(G.Transpose(col))))
		}
		elvT := adMust(G.Transpose(elv))
		mueT := adMust(G.Transpose(mue))
		two := G.NewConstant(2.0)
		// log N(z; mu_c, lv_c) (n, K).
		quad := adMust(G.Add(adMust(G.Sub(adMust(G.Mul(adMust(G.Square(z)), elvT)),
			adMust(G.Mul(two, adMust(G.Mul(z, mueT)))))), rowsK(c3)))
		logN := adMust(G.Neg(adMust(G.Mul(half, adMust(G.Add(adMust(G.Add(quad, rowsK(sumlv))),
			G.NewConstant(float64(Dz)*math.Log(2*math.Pi))))))))
		L := adMust(G.Add(logN, adMust(G.Mul(ones(n, 1), logitsP))))
		logGamma := logSoftmax(L, get(v.L, n*K), n)
		gamma := adMust(G.Exp(logGamma))
		logPi := logSoftmax(logitsP, get(logitsT.P, K), 1)
		// KL(N(m, s) || N(mu_c, lv_c)) (n, K).
		sumS := adMust(G.Mul(adMust(G.Mul(s, ones(Dz, 1))), ones(1, K)))
		inner := adMust(G.Add(adMust(G.Mul(adMust(G.Exp(s)), elvT)), adMust(G.Mul(adMust(G.Square(m)), elvT))))
		inner = adMust(G.Sub(inner, adMust(G.Mul(two, adMust(G.Mul(m, mueT))))))
		inner = adMust(G.Add(inner, rowsK(c3)))
		kl := adMust(G.Mul(half, adMust(G.Sub(adMust(G.Add(inner, rowsK(sumlv))), adMust(G.Add(sumS, G.NewConstant(float64(Dz))))))))
		klTerm := adMust(G.Sum(adMust(G.Sum(adMust(G.HadamardProd(gamma, kl)), 1))))
		yTerm := adMust(G.Sum(adMust(G.Sum(adMust(G.HadamardProd(gamma,
			adMust(G.Sub(logGamma, adMust(G.Mul(ones(n, 1), logPi)))))), 1))))
		total = adMust(G.Add(total, adMust(G.Add(klTerm, yTerm))))
	}
	ag.cost = adMust(G.Mul(total, G.NewConstant(1/float64(n))))
	return ag
}

// TestVaDEAutodiff compares every parameter gradient of model C's loss (pretraining
// and the full model; Bernoulli and Gaussian; one and three hidden layers) on a tiny
// network with gorgonia's autodiff of the same loss in float64. Parameters are random,
// the prior is set with unequal weights and spread means, and some encoder and prior
// log-variances are pushed outside [LvMin, LvMax] so that every clamp is exercised.
// Tolerance as in the other models' checks: |g - g_ad| <= 1e-3 |g_ad| + 1e-4 max|g_ad|
// of the tensor; the loss to 1e-5 relative.
func TestVaDEAutodiff(t *testing.T) {
	for _, tc := range []struct {
		pretrain bool
		hidden   []int
		lik      Likelihood
	}{
		{false, []int{5}, Bernoulli},
		{false, []int{4, 3, 5}, Bernoulli},
		{false, []int{5}, Gaussian},
		{true, []int{4, 5}, Bernoulli},
		{true, []int{5}, Gaussian},
	} {
		t.Run(fmt.Sprintf("pretrain=%v hidden=%v %s", tc.pretrain, tc.hidden, tc.lik), func(t *testing.T) {
			cfg := Config{Model: "vade", D: 6, K: 3, Dz: 2, Hidden: tc.hidden, MaxBatch: 5, Seed: 23,
				LvMin: -3, LvMax: 3, Likelihood: tc.lik, Pretrain: tc.pretrain}.Defaults()
			const n = 5
			b := engine.NewCPU()
			mod, err := New(b, cfg)
			require.NoError(t, err)
			defer mod.Release()
			v := mod.(*vade)
			p := make([]float32, v.ps.Len())
			philox.Normals(p, 78, 0)
			for i := range p {
				p[i] *= 0.8
			}
			require.NoError(t, b.Upload(v.ps.P, p))
			setTestPrior(t, v)
			_, _, lv := v.Prior()
			lvh := testutil.Download(t, b, lv.P)
			lvh[0], lvh[3] = 3.5, -3.4 // both bounds
			require.NoError(t, b.Upload(lv.P, lvh))
			bs := v.encS.B()
			bh := testutil.Download(t, b, bs.P)
			bh[1] = -3
			require.NoError(t, b.Upload(bs.P, bh))

			x, _ := testutil.ClusteredBits(n, cfg.D, 2, 4)
			xb := testutil.Upload(t, b, x, "x")
			require.NoError(t, v.ps.ZeroGrad())
			tm, err := v.TrainBatch(xb, n, 3)
			require.NoError(t, err)

			ag := vadeADBuild(t, v, x, n)
			_, err = G.Grad(ag.cost, ag.params...)
			require.NoError(t, err)
			vm := G.NewTapeMachine(ag.g)
			defer vm.Close()
			require.NoError(t, vm.RunAll())
			cost := ag.cost.Value().Data().(float64)
			assert.InDelta(t, cost, tm.Loss, 1e-5*math.Abs(cost), "loss")
			worst := 0.0
			for i, node := range ag.params {
				gv, err := node.Grad()
				require.NoError(t, err)
				auto := gv.Data().([]float64)
				mine := ag.grads[i]
				require.Len(t, mine, len(auto), ag.names[i])
				mx := 0.0
				for _, a := range auto {
					mx = math.Max(mx, math.Abs(a))
				}
				bad := 0
				for j, a := range auto {
					d := math.Abs(float64(mine[j]) - a)
					if !(d <= 1e-3*math.Abs(a)+1e-4*mx) && bad < 3 {
						bad++
						assert.Failf(t, "gradient differs", "%s[%d]: model %.7g, gorgonia %.10g (tensor max %.3g)", ag.names[i], j, mine[j], a, mx)
					}
					if a != 0 {
						worst = math.Max(worst, d/math.Abs(a))
					}
				}
			}
			for _, tn := range ag.unused {
				for j, g := range testutil.Download(t, b, tn.G) {
					require.Zero(t, g, "%s[%d]: pretraining must leave it without gradient", tn.Name, j)
				}
			}
			if !tc.pretrain {
				clamped := 0
				for _, s := range testutil.Download(t, b, v.sRaw.Slice(0, n*cfg.Dz)) {
					if s < cfg.LvMin || s > cfg.LvMax {
						clamped++
					}
				}
				assert.Positive(t, clamped, "no encoder log-variance was clamped: the clamp path is not covered")
			}
			t.Logf("loss %.6f (gorgonia %.6f); worst relative gradient error %.2g", tm.Loss, cost, worst)
			require.NoError(t, b.Release(xb))
		})
	}
}
