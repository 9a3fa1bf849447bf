//go:build !cuda

// gorgonia.org/gorgonia has its own `cuda` build tag, under which it compiles its
// cuDNN/cuBLAS variant; our driver uses the same tag name, so this cross-check stays out
// of tagged builds (the default build, what CI tests, runs it).

package gmvae

// An independent check of model A's hand-written backward pass: the whole loss (minus
// the ELBO, batch and sample mean, with or without the y-prior term, p(y|z,w) held
// constant in the conditional-prior term as in the model) built as a
// gorgonia graph in float64 from the same parameters, the same inputs and the same eps
// noise, differentiated by gorgonia's reverse-mode autodiff, and compared with the
// gradients TrainBatch adds into Params().G on the CPU backend.
//
// The clamps of the log-variances are written as raw*mask + bound*(1-mask) with the
// mask of the model's own raw values (inside [lo, hi] passes, as clamp_bwd), which has
// the clamp's value and gradient. gorgonia's LogSumExp is not used (it is wrong in
// v0.9.18): the row log-sum-exp is c + log(sum_k exp(L_k - c)) with c the row maximum
// of the model's L held as a constant (same value and gradient for any constant c).

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

func adScalar(v float64) *G.Node { return G.NewConstant(v) }

// adModel is the float64 graph of the loss with its parameter nodes.
type adModel struct {
	g      *G.ExprGraph
	params []*G.Node   // W, b of every Linear, in adLinears order
	grads  [][]float32 // the model's gradients of the same tensors
	names  []string    // for messages
	recon  *G.Node     // sum over rows of log p(x|z)
	cp     *G.Node     // sum over rows of sum_k p_k KL_k
	ent    *G.Node     // sum over rows of sum_k p_k log p_k
	klw    *G.Node     // sum over observations of KL(q(w|x) || N(0,I))
	cost   *G.Node
	// clamped and free count the log-variances outside and inside [LvMin, LvMax].
	clamped, free int
}

// adLinears lists the model's layers in parameter order.
func adLinears(d *dilokthanakul) []*nn.Linear {
	ls := append([]*nn.Linear{}, d.encTrunk.Layers...)
	ls = append(ls, d.encMz, d.encSz, d.encMw, d.encSw, d.priorH, d.priorMu, d.priorLv)
	ls = append(ls, d.decTrunk.Layers...)
	ls = append(ls, d.decOut)
	if d.decLv != nil {
		ls = append(ls, d.decLv)
	}
	return ls
}

// adBuild builds the graph of d's loss for the batch x (n rows) as the model computed it
// in its last TrainBatch (its eps, raw log-variances and L are read from its buffers).
func adBuild(t *testing.T, d *dilokthanakul, x []float32, n int, yGrad bool) *adModel {
	t.Helper()
	b, c := d.b, d.cfg
	M, MN, K, Dz, Dw, D := c.M, c.M*n, c.K, c.Dz, c.Dw, c.D
	get := func(buf *engine.Buf, k int) []float32 {
		v := make([]float32, k)
		testutil.Must(t, b.Download(v, buf.Slice(0, k)))
		return v
	}
	am := &adModel{g: G.NewGraph()}
	g := am.g
	lin := map[*nn.Linear][]*G.Node{}
	vector := func(tn nn.Tensor, k int, name string) *G.Node {
		v := tensor.New(tensor.WithShape(k), tensor.WithBacking(ad64(get(tn.P, k))))
		nd := G.NewVector(g, tensor.Float64, G.WithShape(k), G.WithName(name), G.WithValue(v))
		am.params = append(am.params, nd)
		am.grads = append(am.grads, get(tn.G, k))
		am.names = append(am.names, tn.Name)
		return nd
	}
	for i, l := range adLinears(d) {
		w := l.W()
		wv := tensor.New(tensor.WithShape(l.In, l.Out), tensor.WithBacking(ad64(get(w.P, l.In*l.Out))))
		wn := G.NewMatrix(g, tensor.Float64, G.WithShape(l.In, l.Out), G.WithName(fmt.Sprintf("W%d", i)), G.WithValue(wv))
		am.params = append(am.params, wn)
		am.grads = append(am.grads, get(w.G, l.In*l.Out))
		am.names = append(am.names, w.Name)
		if l.Norm != nil {
			lin[l] = []*G.Node{wn, vector(l.Norm.Gamma(), l.Out, fmt.Sprintf("gamma%d", i)), vector(l.Norm.Beta(), l.Out, fmt.Sprintf("beta%d", i))}
		} else {
			lin[l] = []*G.Node{wn, vector(l.B(), l.Out, fmt.Sprintf("b%d", i))}
		}
	}
	// apply is a layer before its activation: x·W + b, or batch normalisation of x·W
	// with the batch's mean and biased variance, then gamma and beta.
	apply := func(l *nn.Linear, x *G.Node) *G.Node {
		p := lin[l]
		if l.Norm == nil {
			return adMust(G.BroadcastAdd(adMust(G.Mul(x, p[0])), p[1], nil, []byte{0}))
		}
		xw := adMust(G.Mul(x, p[0]))
		cen := adMust(G.BroadcastSub(xw, adMust(G.Mean(xw, 0)), nil, []byte{0}))
		vr := adMust(G.Mean(adMust(G.HadamardProd(cen, cen)), 0))
		inv := adMust(G.Inverse(adMust(G.Sqrt(adMust(G.Add(vr, adScalar(float64(nn.BatchNormEps))))))))
		xh := adMust(G.BroadcastHadamardProd(cen, inv, nil, []byte{0}))
		return adMust(G.BroadcastAdd(adMust(G.BroadcastHadamardProd(xh, p[1], nil, []byte{0})), p[2], nil, []byte{0}))
	}
	clamp := func(raw *G.Node, rawv []float32, rows, cols int) *G.Node {
		mask, fill := make([]float64, len(rawv)), make([]float64, len(rawv))
		for i, v := range rawv {
			switch {
			case v < c.LvMin:
				fill[i] = float64(c.LvMin)
				am.clamped++
			case v > c.LvMax:
				fill[i] = float64(c.LvMax)
				am.clamped++
			default:
				mask[i] = 1
				am.free++
			}
		}
		return adMust(G.Add(adMust(G.HadamardProd(raw, adTensor(mask, rows, cols))), adTensor(fill, rows, cols)))
	}
	rep := func(v []float32, times int) []float64 {
		var out []float64
		for i := 0; i < times; i++ {
			out = append(out, ad64(v)...)
		}
		return out
	}
	repNode := func(x *G.Node) *G.Node {
		if M == 1 {
			return x
		}
		xs := make([]*G.Node, M)
		for i := range xs {
			xs[i] = x
		}
		return adMust(G.Concat(0, xs...))
	}
	sum := func(x *G.Node) *G.Node { return adMust(G.Sum(x)) }
	add := func(a, b *G.Node) *G.Node { return adMust(G.Add(a, b)) }
	sub := func(a, b *G.Node) *G.Node { return adMust(G.Sub(a, b)) }
	mul := func(a, b *G.Node) *G.Node { return adMust(G.HadamardProd(a, b)) }
	exp := func(a *G.Node) *G.Node { return adMust(G.Exp(a)) }
	expNeg := func(a *G.Node) *G.Node { return exp(adMust(G.Neg(a))) }
	half := adScalar(0.5)
	log2pi := math.Log(2 * math.Pi)

	xc := adTensor(ad64(x[:n*D]), n, D)
	// Encoder.
	h := xc
	for _, l := range d.encTrunk.Layers {
		h = adMust(G.Rectify(apply(l, h)))
	}
	mz := apply(d.encMz, h)
	sz := clamp(apply(d.encSz, h), get(d.szRaw, n*Dz), n, Dz)
	mw := apply(d.encMw, h)
	sw := clamp(apply(d.encSw, h), get(d.swRaw, n*Dw), n, Dw)
	// Samples (sample-major rows, as the model).
	z := add(repNode(mz), mul(exp(mul(half, repNode(sz))), adTensor(ad64(get(d.epsZ, MN*Dz)), MN, Dz)))
	w := add(repNode(mw), mul(exp(mul(half, repNode(sw))), adTensor(ad64(get(d.epsW, MN*Dw)), MN, Dw)))
	// Prior network.
	hp := adMust(G.Tanh(apply(d.priorH, w)))
	mu := apply(d.priorMu, hp)
	lv := clamp(apply(d.priorLv, hp), get(d.lvRaw, MN*K*Dz), MN, K*Dz)
	// Decoder and reconstruction.
	hd := z
	for _, l := range d.decTrunk.Layers {
		hd = adMust(G.Rectify(apply(l, hd)))
	}
	out := apply(d.decOut, hd)
	xr := adTensor(rep(x[:n*D], M), MN, D)
	if c.Likelihood == Gaussian {
		xlv := clamp(apply(d.decLv, hd), get(d.xlvRaw, MN*D), MN, D)
		diff := sub(xr, out)
		s := sum(add(xlv, mul(mul(diff, diff), expNeg(xlv))))
		am.recon = mul(adScalar(-0.5), add(s, adScalar(float64(MN*D)*log2pi)))
	} else {
		am.recon = sum(sub(mul(xr, out), adMust(G.Softplus(out))))
	}
	// w prior.
	am.klw = mul(half, sub(sum(sub(add(exp(sw), mul(mw, mw)), sw)), adScalar(float64(n*Dw))))
	// Mixture posterior, conditional prior and y prior, row by row. In the conditional
	// prior, p(y|z,w) is a constant (the model's own resp): the term's value is the
	// same, its gradient does not flow into p (see the model's file comment).
	Lm := get(d.L, MN*K)
	respm := get(d.resp, MN*K)
	// PGrad: the conditional prior's gradient into p is that of sum_k p_k KL_k with KL
	// held constant (the model's own values), times pSign.
	klm := get(d.kl, MN*K)
	pSign := 0.0
	switch {
	case c.PGrad == PGradExact || (c.PGrad == PGradAuthors && !yGrad):
		pSign = 1
	case c.PGrad == PGradAuthors:
		pSign = -1
	}
	var pTerm *G.Node
	for r := 0; r < MN; r++ {
		i := r % n
		zr := adMust(G.Slice(z, G.S(r)))
		mzr := adMust(G.Slice(mz, G.S(i)))
		szr := adMust(G.Slice(sz, G.S(i)))
		cmax := Lm[r*K]
		for k := 1; k < K; k++ {
			if Lm[r*K+k] > cmax {
				cmax = Lm[r*K+k]
			}
		}
		cr := adScalar(float64(cmax))
		Ls := make([]*G.Node, K)
		KLs := make([]*G.Node, K)
		var se *G.Node
		for k := 0; k < K; k++ {
			muk := adMust(G.Slice(mu, G.S(r), G.S(k*Dz, (k+1)*Dz)))
			lvk := adMust(G.Slice(lv, G.S(r), G.S(k*Dz, (k+1)*Dz)))
			e := expNeg(lvk)
			dd := sub(zr, muk)
			Ls[k] = mul(adScalar(-0.5), add(sum(add(lvk, mul(mul(dd, dd), e))), adScalar(float64(Dz)*log2pi)))
			dm := sub(mzr, muk)
			KLs[k] = mul(half, sub(sum(add(sub(lvk, szr), mul(add(exp(szr), mul(dm, dm)), e))), adScalar(float64(Dz))))
			ek := exp(sub(Ls[k], cr))
			if se == nil {
				se = ek
			} else {
				se = add(se, ek)
			}
		}
		lse := add(cr, adMust(G.Log(se)))
		for k := 0; k < K; k++ {
			logp := sub(Ls[k], lse)
			p := exp(logp)
			cpk, entk := mul(adScalar(float64(respm[r*K+k])), KLs[k]), mul(p, logp)
			if am.cp == nil {
				am.cp, am.ent = cpk, entk
			} else {
				am.cp, am.ent = add(am.cp, cpk), add(am.ent, entk)
			}
			if pSign != 0 {
				pk := mul(adScalar(pSign*float64(klm[r*K+k])), p)
				if pTerm == nil {
					pTerm = pk
				} else {
					pTerm = add(pTerm, pk)
				}
			}
		}
	}
	inv := 1 / float64(MN)
	body := add(adMust(G.Neg(am.recon)), am.cp)
	if yGrad {
		body = add(body, am.ent)
	}
	if pTerm != nil { // changes the cost's value, which is not compared, not the terms'
		body = add(body, pTerm)
	}
	am.cost = add(mul(adScalar(inv), body), mul(adScalar(1/float64(n)), am.klw))
	return am
}

// TestDilokthanakulAutodiff compares every parameter gradient of TrainBatch (CPU
// backend, float32) with gorgonia's reverse-mode gradient of the same loss in float64,
// on a tiny network (D=6, K=3, Dz=2, Dw=2, Hidden=[4], n=5), for M = 1 and 2, free bits
// off, active and inactive, log-variance clamps engaged, both likelihoods, and the
// batch-norm encoder (Hidden=[4,3]; the batch statistics are part of the graph), and
// the other treatments of p(y|z,w) in the conditional prior (PGrad authors and exact). Bound: for
// every tensor, |model - gorgonia| <= 1e-3 * max|gorgonia gradient over the tensor| +
// 1e-7 (float32 arithmetic through about ten layers of the chain rule). The Terms are
// compared with the graph's values to 1e-4 relative.
func TestDilokthanakulAutodiff(t *testing.T) {
	for ci, c := range []struct {
		name       string
		M          int
		lambda     float32
		lik        Likelihood
		lo, hi     float32
		wantActive bool
		bn         bool
		pgrad      PGrad
	}{
		{"M=1", 1, 0, Bernoulli, -8, 8, false, false, ""},
		{"M=2", 2, 0, Bernoulli, -8, 8, false, false, ""},
		{"M=2 free bits active", 2, 100, Bernoulli, -8, 8, true, false, ""},
		{"M=2 free bits inactive", 2, 1e-6, Bernoulli, -8, 8, false, false, ""},
		{"M=1 free bits active", 1, 100, Bernoulli, -8, 8, true, false, ""},
		{"M=2 clamped", 2, 0, Bernoulli, -1.5, 1, false, false, ""},
		{"M=2 gaussian", 2, 0, Gaussian, -8, 8, false, false, ""},
		{"M=1 gaussian clamped", 1, 0.01, Gaussian, -1, 1.2, false, false, ""},
		{"M=2 batch norm", 2, 0, Bernoulli, -8, 8, false, true, ""},
		{"M=1 batch norm gaussian", 1, 0, Gaussian, -8, 8, false, true, ""},
		{"M=2 p_grad authors", 2, 0, Bernoulli, -8, 8, false, false, PGradAuthors},
		{"M=2 p_grad authors, free bits active", 2, 100, Bernoulli, -8, 8, true, false, PGradAuthors},
		{"M=1 p_grad exact", 1, 0, Bernoulli, -8, 8, false, false, PGradExact},
		{"M=1 p_grad exact, free bits active", 1, 100, Bernoulli, -8, 8, true, false, PGradExact},
	} {
		t.Run(c.name, func(t *testing.T) {
			const n = 5
			cfg := Config{Model: "dilokthanakul", D: 6, K: 3, Dz: 2, Dw: 2, Hidden: []int{4}, M: c.M,
				MaxBatch: n, Seed: uint64(20 + ci), Lambda: c.lambda, Likelihood: c.lik, LvMin: c.lo, LvMax: c.hi, PGrad: c.pgrad}
			if c.bn {
				cfg.BatchNorm, cfg.Hidden = true, []int{4, 3}
			}
			b := engine.NewCPU()
			mi, err := New(b, cfg)
			testutil.Must(t, err)
			defer mi.Release()
			d := mi.(*dilokthanakul)
			// Random parameters (biases too), so every path carries gradient.
			p := make([]float32, d.ps.Len())
			philox.Normals(p, 99, uint64(ci))
			for i := range p {
				p[i] = float32(p[i] * 0.7)
			}
			testutil.Must(t, b.Upload(d.ps.P, p))
			x := make([]float32, n*cfg.D)
			if c.lik == Gaussian {
				philox.Normals(x, 98, uint64(ci))
			} else {
				philox.Uniforms(x, 98, uint64(ci))
			}
			xb := testutil.Upload(t, b, x, "x")
			defer b.Release(xb)
			testutil.Must(t, d.ps.ZeroGrad())
			tm, err := d.TrainBatch(xb, n, 3)
			testutil.Must(t, err)
			require.Equal(t, c.wantActive, tm.FreeBitsActive, "free bits active (terms %+v)", tm)
			am := adBuild(t, d, x, n, !tm.FreeBitsActive)
			if c.hi-c.lo < 3 {
				require.True(t, am.clamped > 0 && am.free > 0, "clamped case: %d log-variances clamped, %d free; want both", am.clamped, am.free)
			}
			_, err = G.Grad(am.cost, am.params...)
			require.NoError(t, err)
			vm := G.NewTapeMachine(am.g)
			defer vm.Close()
			testutil.Must(t, vm.RunAll())

			val := func(nd *G.Node) float64 { return nd.Value().Data().(float64) }
			inv := 1 / float64(cfg.M*n)
			want := Terms{Recon: -inv * val(am.recon), KLz: inv * val(am.cp), KLw: val(am.klw) / n,
				KLy: inv*val(am.ent) + math.Log(float64(cfg.K))}
			for _, f := range []struct {
				name      string
				got, want float64
			}{{"recon", tm.Recon, want.Recon}, {"kl_z", tm.KLz, want.KLz}, {"kl_w", tm.KLw, want.KLw}, {"kl_y", tm.KLy, want.KLy}} {
				assert.LessOrEqual(t, math.Abs(f.got-f.want), 1e-4*(math.Abs(f.want)+1e-2), "%s: model %.7g, gorgonia %.7g: error", f.name, f.got, f.want)
			}
			var worst float64
			for i, pn := range am.params {
				gv, err := pn.Grad()
				testutil.Must(t, err)
				auto := gv.Data().([]float64)
				model := am.grads[i]
				scale := 0.0
				for _, v := range auto {
					scale = math.Max(scale, math.Abs(v))
				}
				bad := false
				for j := range auto {
					e := math.Abs(float64(model[j]) - auto[j])
					if !(e <= 1e-3*scale+1e-7) && !bad { // the tensor's first element out of tolerance only
						bad = true
						assert.LessOrEqual(t, e, 1e-3*scale+1e-7, "%s[%d]: model %.7g, gorgonia %.7g (tensor scale %.3g): error", am.names[i], j, model[j], auto[j], scale)
					}
					if scale > 0 {
						worst = math.Max(worst, e/scale)
					}
				}
			}
			t.Logf("terms %+v; %d of %d log-variances clamped; worst gradient error / tensor scale %.2g",
				tm, am.clamped, am.clamped+am.free, worst)
		})
	}
}
