package gmvae

// Model A, "dilokthanakul": the GMVAE of Dilokthanakul et al. (arXiv 1611.02648), see
// shared/design/GMVAE.md. Forward and backward passes are written out as kernel
// launches over buffers laid out once for cfg.MaxBatch rows.
//
// Networks (Hidden = [h_0, ..., h_{L-1}]; parameters declared in this order, which
// fixes their initial draws):
//
//	encoder trunk  x (n, D) -> h_0 -> ... -> h_{L-1}, relu on every layer (encActivation);
//	               with BatchNorm, Linear (no bias) - BatchNorm - relu on every layer, as
//	               the authors' recogniser (Nat-D/GMVAE models/FullyConnected.lua):
//	               batch statistics in TrainBatch, running estimates in Infer
//	encoder heads  m_z, s_z (n, Dz) and m_w, s_w (n, Dw), linear; s_z, s_w clamped
//	prior network  w (·, Dw) -> h_0 tanh -> mu, lv (·, K*Dz) linear heads, lv clamped
//	decoder trunk  z (·, Dz) -> h_{L-1} -> ... -> h_0, relu (Hidden reversed)
//	decoder head   D logits (Bernoulli); D means and D clamped log-variances (Gaussian)
//
// Monte Carlo samples: the M draws of (z, w) are laid out sample-major, rows m*n + i
// (i < n) holding sample m of observation i, so the prior network, the mixture, the
// decoder and the row reductions each run as one launch over M*n rows; only the
// pieces that read the encoder's n-row outputs (reparameterisation, KL to the
// conditional prior, reconstruction) launch once per sample.
//
// Random streams: eps of z for sample m is the stream kernels.StreamID(step, streamZ+2m),
// eps of w the stream kernels.StreamID(step, streamZ+2m+1), seed cfg.Seed.
// Generation (SampleCluster(k, n, z, seed)), keyed by the caller's seed: w ~ N(0, I) is
// the stream kernels.StreamID(k, streamGenW), the eps of z ~ p(z|w, y=k) the stream
// kernels.StreamID(k, streamGenZ). Both tensor ids lie above every id of a training step
// (streamZ+2m+1 < streamGenW: newDilokthanakul refuses larger M), so no seed makes a
// generated draw repeat a training draw.
//
// SampleCluster runs the prior network on the n draws of w (the buffers of the M*n
// sample rows), copies block k of each row of mu and lv (n, K*Dz) into (n, Dz) (one
// exact copy, a scale by 1, per row) and draws z by reparam. Decode runs the decoder
// trunk and head over n rows, then sigmoid (Bernoulli) in place; Gaussian: the mean head.
//
// The mixing weights: p(y) = Cat(1/K), so log pi_k = -log K for every k. In
// p(y=k|z,w) = softmax_k(log pi_k + log N(z; mu_k, lv_k)) a weight that is the same for
// every k cancels, so mixture_loglik runs with logpi = null (L is the bare component
// log-density; its row log-sum-exp is not needed) and the prior enters only the y-prior
// term, KL(p(y|z,w) || Cat(1/K)) = sum_k p_k log p_k + log K, whose log K is added on the
// host to the batch mean (it has no gradient).
//
// Responsibilities (the gradient of the conditional-prior term): in term 2,
// sum_k p(y=k|z,w) KL(q(z|x) || p(z|w,y=k)), p(y|z,w) is treated as a constant
// (stop-gradient, as the responsibilities of an EM step): the term's gradient goes into
// the KLs (m_z, s_z, mu_k, lv_k, weighted by p_k) but not into p, i.e. not into z and
// the log-densities through the softmax. The y-prior term keeps its full gradient
// through p. The loss VALUES (Terms) are unchanged, minus the ELBO; only this one path of
// its gradient is dropped. Why: the exact gradient of term 2 through p moves every
// posterior toward the component with the smallest KL, and p is a softmax of a sum over
// Dz = 200 dimensions, so one component (the broadest one early in training) wins for
// every observation within a few hundred steps; the winner then alone receives the
// p-weighted gradient, the others none, and the y-prior term cannot pull back through
// the saturated softmax: all observations end in one cluster (kl_y = log K, NMI 0) at
// the authors' settings. The authors' code does not follow this gradient either: in
// main.lua, `gradQz:add(EntropyCriterion:backward(qZ)):mul(-1)` adds the y-prior's
// gradient to the expected KL's gradient with respect to p and negates the sum, so the
// y-prior's keeps its sign and the KL's is reversed (whenever the y-prior term is above
// lambda, i.e. always with lambda = 0), and while free bits hold the y-prior term back
// it applies the KL's gradient into p as it is. Reversed, it keeps the posteriors close
// to uniform for longer; dropped, clusters form faster in our runs.
//
// cfg.PGrad chooses: PGradStop (the default, as above), PGradAuthors (the authors' code:
// the KL's share of d/dp is -KL_k/(nM) while the y-prior gradient is applied and
// +KL_k/(nM) while free bits are active) or PGradExact (+KL_k/(nM): the ELBO's own
// gradient). The share is added to the y prior's d/dp before the softmax backward.
//
// Negligible responsibilities: the gradient weights of a (row, component) pair whose
// p(y=k|z,w) is below pNegligible = 2^-64 (gKL and gL) are set to zero. Trained models
// put most rows' p of most components far below that (down to subnormal floats), and
// those weights, multiplied through the KL and mixture backward kernels and the prior
// network's GEMMs, made whole matrices of subnormal floats, which x86 cores compute
// with microcode assists: an M = 10 training step ran 6x slower after 5 epochs than at
// the start (420 against 67 examples/s on one core). What is dropped is below 2^-64 of
// the row's largest weight: invisible in every float32 sum it would join, and the
// components it alone reaches get steps that Adam's eps (1e-8) already makes ~0. The
// mask is an ordinary kernel (clamp_bwd on p), so every backend drops the same pairs.
//
// Free bits (the paper's minimum information constraint, as in the authors' code): with
// cfg.Lambda > 0 the batch mean of the y-prior term (over the n observations and the M
// samples) is brought back after the forward pass; when it is below Lambda the term's
// gradient is not applied (Terms.FreeBitsActive, and Terms.Loss counts Lambda in
// place of the term: max(lambda, term)).

import (
	"fmt"
	"math"

	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/kernels"
	"github.com/gmvae/gmvae/nn"
	"github.com/gmvae/gmvae/ops"
)

// encActivation is the activation of the encoder and decoder hidden layers: relu, as
// the authors' fully connected MNIST network. (The prior network's hidden layer is
// tanh, as in the paper.)
const encActivation = kernels.ActRelu

// streamZ is the first random tensor id of model A's steps (see the file comment):
// ids streamZ+2m (z) and streamZ+2m+1 (w) for sample m, kept clear of the small ids a
// trainer may use for its own draws (e.g. binarisation).
const streamZ = 0x100

// streamGenW and streamGenZ are the random tensor ids of SampleCluster's draws of w
// and of z (see the file comment).
const (
	streamGenW = 0x5A3E_0000
	streamGenZ = 0x5A3E_0001
)

// dilokthanakul is model A on one backend.
type dilokthanakul struct {
	b   engine.Backend
	cfg Config
	ps  *nn.Params

	encTrunk                   *nn.MLP
	encMz, encSz, encMw, encSw *nn.Linear
	priorH, priorMu, priorLv   *nn.Linear
	decTrunk                   *nn.MLP
	decOut, decLv              *nn.Linear // decLv: Gaussian only

	enc, dec *nn.MLPBufs
	priorS   nn.Scratch

	all []*engine.Buf // every buffer below, for Release

	// Encoder outputs and their gradients, (N, Dz) or (N, Dw).
	mz, szRaw, sz, mw, swRaw, sw       *engine.Buf
	dmz, dsz, dszRaw, dmw, dsw, dswRaw *engine.Buf
	dh                                 *engine.Buf // (N, h_{L-1}) gradient of the trunk output
	// Samples, (M*N, Dz) and (M*N, Dw), sample-major.
	epsZ, z, dz, epsW, w, dw *engine.Buf
	// Prior network, (M*N, h_0) and (M*N, K*Dz).
	hp, dhp, mu, lvRaw, lv, dmu, dlv, dlvRaw *engine.Buf
	// Mixture, (M*N, K).
	L, resp, kl, gKL, gresp, gL *engine.Buf
	// Rows, (M*N) or (N).
	ll, cp, ent, klw, gll, gy, gw *engine.Buf
	// Decoder, (M*N, D) and (M*N, h_0).
	out, xlvRaw, xlv, dout, dxlv, dxlvRaw, ddec *engine.Buf
	// The four batch sums: recon, conditional prior, w prior, sum p log p.
	scalars *engine.Buf
	sc      [4]*engine.Buf
	host    [4]float32
	// SampleCluster's mean and log-variance of cluster k (MaxBatch, Dz); nil until its
	// first call.
	genMu, genLv *engine.Buf
}

// pNegligible is the responsibility below which a (row, component) pair's gradient
// weight is dropped (file comment, "Negligible responsibilities").
const pNegligible = float32(1.0 / (1 << 32) / (1 << 32)) // 2^-64

// newDilokthanakul builds model A for cfg (defaults filled in and validated by New).
func newDilokthanakul(b engine.Backend, cfg Config) (Model, error) {
	if len(cfg.Hidden) == 0 {
		return nil, fmt.Errorf("gmvae: model dilokthanakul needs at least one hidden layer (hidden = [])")
	}
	if cfg.Likelihood != Bernoulli && cfg.Likelihood != Gaussian {
		return nil, fmt.Errorf("gmvae: likelihood %q, want bernoulli or gaussian", cfg.Likelihood)
	}
	if uint64(cfg.M) > (streamGenW-streamZ)/2 {
		return nil, fmt.Errorf("gmvae: m = %d Monte Carlo samples is too many", cfg.M)
	}
	if !(cfg.LvMin > -80 && cfg.LvMax < 80) {
		return nil, fmt.Errorf("gmvae: log-variance bounds [%g, %g] must lie inside (-80, 80) (exp of them must stay finite)", cfg.LvMin, cfg.LvMax)
	}
	H := cfg.Hidden
	last := H[len(H)-1]
	ps := nn.NewParams(b)
	ps.SetScheme(cfg.Init)
	d := &dilokthanakul{b: b, cfg: cfg, ps: ps}
	if cfg.BatchNorm {
		d.encTrunk = nn.NewMLPBN(ps, "enc", append([]int{cfg.D}, H...), encActivation)
	} else {
		d.encTrunk = nn.NewMLP(ps, "enc", append([]int{cfg.D}, H...), encActivation, encActivation)
	}
	d.encMz = nn.NewLinear(ps, "enc.m_z", last, cfg.Dz, kernels.ActNone)
	d.encSz = nn.NewLinear(ps, "enc.s_z", last, cfg.Dz, kernels.ActNone)
	d.encMw = nn.NewLinear(ps, "enc.m_w", last, cfg.Dw, kernels.ActNone)
	d.encSw = nn.NewLinear(ps, "enc.s_w", last, cfg.Dw, kernels.ActNone)
	d.priorH = nn.NewLinear(ps, "prior.h", cfg.Dw, H[0], kernels.ActTanh)
	d.priorMu = nn.NewLinear(ps, "prior.mu", H[0], cfg.K*cfg.Dz, kernels.ActNone)
	d.priorLv = nn.NewLinear(ps, "prior.lv", H[0], cfg.K*cfg.Dz, kernels.ActNone)
	dsizes := []int{cfg.Dz}
	for i := len(H) - 1; i >= 0; i-- {
		dsizes = append(dsizes, H[i])
	}
	d.decTrunk = nn.NewMLP(ps, "dec", dsizes, encActivation, encActivation)
	d.decOut = nn.NewLinear(ps, "dec.out", H[0], cfg.D, kernels.ActNone)
	if cfg.Likelihood == Gaussian {
		d.decLv = nn.NewLinear(ps, "dec.lv", H[0], cfg.D, kernels.ActNone)
	}
	if err := checkExpected(cfg, ps); err != nil {
		return nil, err
	}
	if err := ps.Alloc(cfg.Seed); err != nil {
		return nil, err
	}
	if err := d.alloc(); err != nil {
		d.Release()
		return nil, err
	}
	return d, nil
}

func (d *dilokthanakul) alloc() error {
	c := d.cfg
	N, MN, KDz := c.MaxBatch, c.M*c.MaxBatch, c.K*c.Dz
	var err error
	nb := func(n int, tag string) *engine.Buf {
		if err != nil {
			return nil
		}
		var x *engine.Buf
		x, err = d.b.New(n, "dilokthanakul "+tag)
		if err == nil {
			d.all = append(d.all, x)
		}
		return x
	}
	last := c.Hidden[len(c.Hidden)-1]
	d.mz, d.szRaw, d.sz = nb(N*c.Dz, "m_z"), nb(N*c.Dz, "s_z raw"), nb(N*c.Dz, "s_z")
	d.mw, d.swRaw, d.sw = nb(N*c.Dw, "m_w"), nb(N*c.Dw, "s_w raw"), nb(N*c.Dw, "s_w")
	d.dmz, d.dsz, d.dszRaw = nb(N*c.Dz, "dm_z"), nb(N*c.Dz, "ds_z"), nb(N*c.Dz, "ds_z raw")
	d.dmw, d.dsw, d.dswRaw = nb(N*c.Dw, "dm_w"), nb(N*c.Dw, "ds_w"), nb(N*c.Dw, "ds_w raw")
	d.dh = nb(N*last, "encoder trunk gradient")
	d.epsZ, d.z, d.dz = nb(MN*c.Dz, "eps z"), nb(MN*c.Dz, "z"), nb(MN*c.Dz, "dz")
	d.epsW, d.w, d.dw = nb(MN*c.Dw, "eps w"), nb(MN*c.Dw, "w"), nb(MN*c.Dw, "dw")
	d.hp, d.dhp = nb(MN*c.Hidden[0], "prior hidden"), nb(MN*c.Hidden[0], "prior hidden gradient")
	d.mu, d.lvRaw, d.lv = nb(MN*KDz, "mu"), nb(MN*KDz, "lv raw"), nb(MN*KDz, "lv")
	d.dmu, d.dlv, d.dlvRaw = nb(MN*KDz, "dmu"), nb(MN*KDz, "dlv"), nb(MN*KDz, "dlv raw")
	d.L, d.resp, d.kl = nb(MN*c.K, "log-densities"), nb(MN*c.K, "p(y|z,w)"), nb(MN*c.K, "KL to components")
	d.gKL, d.gresp, d.gL = nb(MN*c.K, "dKL"), nb(MN*c.K, "dresp"), nb(MN*c.K, "dL")
	d.ll, d.cp, d.ent = nb(MN, "log p(x|z)"), nb(MN, "conditional prior"), nb(MN, "sum p log p")
	d.klw, d.gll, d.gy, d.gw = nb(N, "KL w"), nb(MN, "dll"), nb(MN, "dy rows"), nb(N, "dKL w")
	d.out, d.dout, d.ddec = nb(MN*c.D, "decoder output"), nb(MN*c.D, "decoder output gradient"),
		nb(MN*c.Hidden[0], "decoder trunk gradient")
	if c.Likelihood == Gaussian {
		d.xlvRaw, d.xlv = nb(MN*c.D, "decoder lv raw"), nb(MN*c.D, "decoder lv")
		d.dxlv, d.dxlvRaw = nb(MN*c.D, "decoder dlv"), nb(MN*c.D, "decoder dlv raw")
	}
	d.scalars = nb(4, "loss terms")
	if err != nil {
		return err
	}
	for i := range d.sc {
		d.sc[i] = d.scalars.Slice(i, 1)
	}
	if d.enc, err = d.encTrunk.NewBufs(d.b, N, "dilokthanakul encoder"); err != nil {
		return err
	}
	if d.dec, err = d.decTrunk.NewBufs(d.b, MN, "dilokthanakul decoder"); err != nil {
		return err
	}
	d.priorS, err = d.priorH.NewScratch(d.b, MN, "dilokthanakul prior")
	d.all = append(d.all, d.priorS.Bufs()...)
	return err
}

// Config implements Model.
func (d *dilokthanakul) Config() Config { return d.cfg }

// Params implements Model.
func (d *dilokthanakul) Params() *nn.Params { return d.ps }

// Release implements Model.
func (d *dilokthanakul) Release() error {
	err := releaseModel(d.b, d.all, []*nn.MLPBufs{d.enc, d.dec}, d.ps)
	d.all, d.enc, d.dec = nil, nil, nil
	return err
}

func dkB2i(v bool) int {
	if v {
		return 1
	}
	return 0
}

func (d *dilokthanakul) checkBatch(op string, x *engine.Buf, n int) error {
	if n < 1 || n > d.cfg.MaxBatch {
		return fmt.Errorf("gmvae: dilokthanakul %s: batch of %d rows, want 1..%d (max_batch)", op, n, d.cfg.MaxBatch)
	}
	if x == nil || x.Len() < n*d.cfg.D {
		l := 0
		if x != nil {
			l = x.Len()
		}
		return fmt.Errorf("gmvae: dilokthanakul %s: batch of %d rows of %d needs %d values, x has %d", op, n, d.cfg.D, n*d.cfg.D, l)
	}
	return nil
}

// encode runs the encoder on x (n, D): m_z, s_z, m_w, s_w (clamped).
func (d *dilokthanakul) encode(l *launcher, x *engine.Buf, n int, mode nn.Mode) {
	c := d.cfg
	l.do(d.encTrunk.Forward(l.b, x, n, d.enc, mode))
	h := d.enc.Output()
	l.do(d.encMz.Forward(l.b, h, d.mz, n, nn.Scratch{}))
	l.do(d.encSz.Forward(l.b, h, d.szRaw, n, nn.Scratch{}))
	l.do(d.encMw.Forward(l.b, h, d.mw, n, nn.Scratch{}))
	l.do(d.encSw.Forward(l.b, h, d.swRaw, n, nn.Scratch{}))
	l.do(ops.Clamp(l.b, d.szRaw, d.sz, n*c.Dz, c.LvMin, c.LvMax))
	l.do(ops.Clamp(l.b, d.swRaw, d.sw, n*c.Dw, c.LvMin, c.LvMax))
}

// prior runs the prior network on w (rows, Dw): mu, lv (rows, K*Dz), lv clamped.
func (d *dilokthanakul) prior(l *launcher, w *engine.Buf, rows int) {
	c := d.cfg
	l.do(d.priorH.Forward(l.b, w, d.hp, rows, d.priorS))
	l.do(d.priorMu.Forward(l.b, d.hp, d.mu, rows, nn.Scratch{}))
	l.do(d.priorLv.Forward(l.b, d.hp, d.lvRaw, rows, nn.Scratch{}))
	l.do(ops.Clamp(l.b, d.lvRaw, d.lv, rows*c.K*c.Dz, c.LvMin, c.LvMax))
}

// forward runs the sampled forward pass on x (n, D) for step and leaves the batch sums
// of the four terms in d.scalars: mean -log p(x|z), mean conditional prior, mean KL of
// w, mean sum_k p log p (without log K).
func (d *dilokthanakul) forward(l *launcher, x *engine.Buf, n int, step uint64, mode nn.Mode) {
	c := d.cfg
	M, MN, K, Dz, Dw, D := c.M, c.M*n, c.K, c.Dz, c.Dw, c.D
	d.encode(l, x, n, mode)
	for m := 0; m < M; m++ {
		// z, w sample m: rows m*n .. m*n+n-1.
		l.do(ops.Reparam(l.b, d.mz, d.sz, d.epsZ.Slice(m*n*Dz, n*Dz), d.z.Slice(m*n*Dz, n*Dz), n*Dz, c.Seed, kernels.StreamID(step, uint32(streamZ+2*m))))
		l.do(ops.Reparam(l.b, d.mw, d.sw, d.epsW.Slice(m*n*Dw, n*Dw), d.w.Slice(m*n*Dw, n*Dw), n*Dw, c.Seed, kernels.StreamID(step, uint32(streamZ+2*m+1))))
	}
	d.prior(l, d.w, MN)
	// p(y|z,w): the uniform log pi cancels in the softmax (file comment).
	l.do(ops.MixtureLoglik(l.b, MN, K, Dz, d.z, d.mu, d.lv, K*Dz, nil, 0, d.L, nil, d.resp))
	for m := 0; m < M; m++ {
		o := m * n * K * Dz
		l.do(ops.KlMixture(l.b, n, K, Dz, d.mz, d.sz, d.mu.Slice(o, n*K*Dz), d.lv.Slice(o, n*K*Dz), K*Dz, d.kl.Slice(m*n*K, n*K)))
	}
	l.do(ops.RowDot(l.b, d.resp, d.kl, d.cp, MN, K))
	l.do(ops.XlogxRows(l.b, d.resp, d.ent, MN, K))
	l.do(ops.KlStdNormal(l.b, n, Dw, d.mw, d.sw, d.klw))
	// Decoder.
	l.do(d.decTrunk.Forward(l.b, d.z, MN, d.dec, mode))
	hd := d.dec.Output()
	l.do(d.decOut.Forward(l.b, hd, d.out, MN, nn.Scratch{}))
	if c.Likelihood == Gaussian {
		l.do(d.decLv.Forward(l.b, hd, d.xlvRaw, MN, nn.Scratch{}))
		l.do(ops.Clamp(l.b, d.xlvRaw, d.xlv, MN*D, c.LvMin, c.LvMax))
	}
	for m := 0; m < M; m++ {
		o := m * n * D
		if c.Likelihood == Gaussian {
			l.do(ops.GaussianLoglik(l.b, x, d.out.Slice(o, n*D), d.xlv.Slice(o, n*D), d.ll.Slice(m*n, n), n, D))
		} else {
			l.do(ops.BernoulliLoglik(l.b, x, d.out.Slice(o, n*D), d.ll.Slice(m*n, n), n, D))
		}
	}
	inv := float32(1) / float32(MN)
	l.do(ops.SumAll(l.b, d.ll, d.sc[0], MN, -inv))
	l.do(ops.SumAll(l.b, d.cp, d.sc[1], MN, inv))
	l.do(ops.SumAll(l.b, d.klw, d.sc[2], n, float32(1)/float32(n)))
	l.do(ops.SumAll(l.b, d.ent, d.sc[3], MN, inv))
}

// terms downloads the four batch means and assembles Terms (free bits decided here).
func (d *dilokthanakul) terms(l *launcher) Terms {
	var t Terms
	if l.err != nil {
		return t
	}
	if err := d.b.Download(d.host[:], d.scalars); err != nil {
		l.do(err)
		return t
	}
	t.Recon = float64(d.host[0])
	t.KLz = float64(d.host[1])
	t.KLw = float64(d.host[2])
	t.KLy = float64(d.host[3]) + math.Log(float64(d.cfg.K))
	neg := t.Recon + t.KLz + t.KLw + t.KLy
	t.ELBO = -neg
	t.Loss = neg
	if d.cfg.Lambda > 0 && t.KLy < float64(d.cfg.Lambda) {
		t.FreeBitsActive = true
		t.Loss = t.Recon + t.KLz + t.KLw + float64(d.cfg.Lambda)
	}
	return t
}

// TrainBatch implements Model.
func (d *dilokthanakul) TrainBatch(x *engine.Buf, n int, step uint64) (Terms, error) {
	if err := d.checkBatch("train", x, n); err != nil {
		return Terms{}, err
	}
	if step>>32 != 0 {
		return Terms{}, fmt.Errorf("gmvae: dilokthanakul: step %d >= 2^32 would reuse random streams", step)
	}
	l := newLauncher(d.b, "dilokthanakul")
	d.forward(l, x, n, step, nn.Train)
	t := d.terms(l)
	d.backward(l, x, n, !t.FreeBitsActive)
	return t, l.err
}

// backward adds the gradient of the loss (batch and sample mean of -ELBO; without the
// y-prior term when yGrad is false; p(y|z,w) constant in the conditional-prior term, see
// the file comment) to the parameters' gradients.
func (d *dilokthanakul) backward(l *launcher, x *engine.Buf, n int, yGrad bool) {
	c := d.cfg
	M, MN, K, Dz, Dw, D := c.M, c.M*n, c.K, c.Dz, c.Dw, c.D
	KDz := K * Dz
	inv := float32(1) / float32(MN)
	// Per-row weights: d loss / d ll_r = -1/(nM), d loss / d (row term) = 1/(nM),
	// d loss / d KLw_i = 1/n.
	l.do(ops.EwFill(l.b, d.gll, MN, -inv))
	l.do(ops.EwFill(l.b, d.gy, MN, inv))
	l.do(ops.EwFill(l.b, d.gw, n, float32(1)/float32(n)))

	// Decoder: d out (MN, D), then the trunk into dz (overwritten).
	for m := 0; m < M; m++ {
		o := m * n * D
		if c.Likelihood == Gaussian {
			l.do(ops.GaussianLoglikBwd(l.b, x, d.out.Slice(o, n*D), d.xlv.Slice(o, n*D), d.gll.Slice(m*n, n), d.dout.Slice(o, n*D), d.dxlv.Slice(o, n*D), n, D, false))
		} else {
			l.do(ops.BernoulliLoglikBwd(l.b, x, d.out.Slice(o, n*D), d.gll.Slice(m*n, n), d.dout.Slice(o, n*D), n, D, false))
		}
	}
	if c.Likelihood == Bernoulli {
		// The logits in d.out are not read again in this step (decOut has no
		// activation): they serve as flushTiny's scratch.
		l.flushTiny(d.dout, d.out, MN*D)
	}
	hd := d.dec.Output()
	l.do(d.decOut.Backward(l.b, hd, d.out, d.dout, d.ddec, MN, nn.Scratch{}, false))
	if c.Likelihood == Gaussian {
		l.do(ops.ClampBwd(l.b, d.xlvRaw, d.dxlv, d.dxlvRaw, MN*D, c.LvMin, c.LvMax, false))
		l.do(d.decLv.Backward(l.b, hd, d.xlvRaw, d.dxlvRaw, d.ddec, MN, nn.Scratch{}, true))
	}
	l.do(d.decTrunk.Backward(l.b, d.z, d.ddec, d.dz, MN, d.dec, false))

	// Conditional prior sum_k p_k KL_k: d/dKL = p/(nM); into p = p(y|z,w) by PGrad
	// (the file comment's "responsibilities"): nothing (stop), KL/(nM) (exact), or
	// -KL/(nM) while the y prior's gradient is applied and +KL/(nM) while free bits
	// hold it back (authors).
	l.do(ops.EwScale(l.b, d.resp, d.gKL, MN*K, inv))
	l.do(ops.ClampBwd(l.b, d.resp, d.gKL, d.gKL, MN*K, pNegligible, float32(2), false))
	klp := float32(0)
	switch {
	case c.PGrad == PGradExact || (c.PGrad == PGradAuthors && !yGrad):
		klp = inv
	case c.PGrad == PGradAuthors:
		klp = -inv
	}
	pGrad := yGrad || klp != 0
	if pGrad {
		// y prior sum_k p_k log p_k: d/dp = (log p + 1)/(nM), plus the KL's share,
		// through the softmax into L, then into z (added to the decoder's dz), mu, lv
		// (overwritten here, the KL's gradient added below).
		switch {
		case yGrad && klp != 0:
			l.do(ops.XlogxRowsBwd(l.b, d.resp, d.gy, d.gresp, MN, K, false))
			l.do(ops.EwAxpby(l.b, d.kl, d.gresp, MN*K, klp, float32(1)))
		case yGrad:
			l.do(ops.XlogxRowsBwd(l.b, d.resp, d.gy, d.gresp, MN, K, false))
		default:
			l.do(ops.EwScale(l.b, d.kl, d.gresp, MN*K, klp))
		}
		l.do(ops.LseSoftmaxBwd(l.b, MN, K, d.resp, nil, d.gresp, d.gL, false))
		l.do(ops.ClampBwd(l.b, d.resp, d.gL, d.gL, MN*K, pNegligible, float32(2), false))
		l.do(ops.MixtureBwdZ(l.b, MN, K, Dz, d.z, d.mu, d.lv, KDz, d.gL, d.dz, true))
		l.do(ops.MixtureBwdParams(l.b, MN, K, Dz, d.z, d.mu, d.lv, KDz, d.gL, d.dmu, d.dlv, false))
	}
	// KL to each component: into m_z, s_z (summed over samples) and mu, lv (added to the
	// y prior's gradient, or written when it is off).
	for m := 0; m < M; m++ {
		o := m * n * KDz
		l.do(ops.KlMixtureBwd(l.b, n, K, Dz, d.mz, d.sz, d.mu.Slice(o, n*KDz), d.lv.Slice(o, n*KDz), KDz, d.gKL.Slice(m*n*K, n*K), d.dmz, d.dsz, (dkB2i(m > 0)) != 0, d.dmu.Slice(o, n*KDz), d.dlv.Slice(o, n*KDz), (dkB2i(pGrad)) != 0))
	}
	// Prior network.
	l.do(ops.ClampBwd(l.b, d.lvRaw, d.dlv, d.dlvRaw, MN*KDz, c.LvMin, c.LvMax, false))
	l.do(d.priorMu.Backward(l.b, d.hp, d.mu, d.dmu, d.dhp, MN, nn.Scratch{}, false))
	l.do(d.priorLv.Backward(l.b, d.hp, d.lvRaw, d.dlvRaw, d.dhp, MN, nn.Scratch{}, true))
	l.do(d.priorH.Backward(l.b, d.w, d.hp, d.dhp, d.dw, MN, d.priorS, false))

	// Reparameterisations: z = m_z + exp(s_z/2) eps (added to the KL's dm_z, ds_z),
	// w likewise, then the w prior's own gradient.
	for m := 0; m < M; m++ {
		l.do(ops.ReparamBwd(l.b, d.sz, d.epsZ.Slice(m*n*Dz, n*Dz), d.dz.Slice(m*n*Dz, n*Dz), d.dmz, d.dsz, n*Dz, true))
		l.do(ops.ReparamBwd(l.b, d.sw, d.epsW.Slice(m*n*Dw, n*Dw), d.dw.Slice(m*n*Dw, n*Dw), d.dmw, d.dsw, n*Dw, (dkB2i(m > 0)) != 0))
	}
	l.do(ops.KlStdNormalBwd(l.b, n, Dw, d.mw, d.sw, d.gw, d.dmw, d.dsw, true))
	l.do(ops.ClampBwd(l.b, d.szRaw, d.dsz, d.dszRaw, n*Dz, c.LvMin, c.LvMax, false))
	l.do(ops.ClampBwd(l.b, d.swRaw, d.dsw, d.dswRaw, n*Dw, c.LvMin, c.LvMax, false))

	// Encoder heads into the trunk's output gradient, then the trunk.
	h := d.enc.Output()
	l.do(d.encMz.Backward(l.b, h, d.mz, d.dmz, d.dh, n, nn.Scratch{}, false))
	l.do(d.encSz.Backward(l.b, h, d.szRaw, d.dszRaw, d.dh, n, nn.Scratch{}, true))
	l.do(d.encMw.Backward(l.b, h, d.mw, d.dmw, d.dh, n, nn.Scratch{}, true))
	l.do(d.encSw.Backward(l.b, h, d.swRaw, d.dswRaw, d.dh, n, nn.Scratch{}, true))
	l.do(d.encTrunk.Backward(l.b, x, d.dh, nil, n, d.enc, false))
}

// Infer implements Model: the loss terms from the sampled forward pass of step, then
// post = p(y | z = m_z, w = m_w) (n, K), its logits log p(z = m_z | y=k, w = m_w) (n,
// K; the uniform log p(y) cancels, see the file comment) and zmean = m_z (n, Dz).
func (d *dilokthanakul) Infer(x *engine.Buf, n int, post, logits, zmean *engine.Buf, step uint64) (Terms, error) {
	if err := d.checkBatch("infer", x, n); err != nil {
		return Terms{}, err
	}
	if step>>32 != 0 {
		return Terms{}, fmt.Errorf("gmvae: dilokthanakul: step %d >= 2^32 would reuse random streams", step)
	}
	c := d.cfg
	if err := checkInferOutputs("dilokthanakul", c, n, post, logits, zmean); err != nil {
		return Terms{}, err
	}
	l := newLauncher(d.b, "dilokthanakul")
	d.forward(l, x, n, step, nn.Eval)
	t := d.terms(l)
	// The encoder's outputs of x are still in place; the prior network runs on m_w.
	d.prior(l, d.mw, n)
	l.do(ops.MixtureLoglik(l.b, n, c.K, c.Dz, d.mz, d.mu, d.lv, c.K*c.Dz, nil, 0, d.L, nil, post))
	if logits != nil {
		l.do(ops.EwScale(l.b, d.L, logits, n*c.K, float32(1)))
	}
	l.do(ops.EwScale(l.b, d.mz, zmean, n*c.Dz, float32(1)))
	return t, l.err
}

// Decode implements Model: the decoder on z (n, Dz), sigmoid of the logits (Bernoulli)
// or the mean head (Gaussian) into xmean (n, D).
func (d *dilokthanakul) Decode(z *engine.Buf, n int, xmean *engine.Buf) error {
	return decodeMean(d.b, "dilokthanakul", d.cfg, d.decTrunk, d.dec, d.decOut, z, n, xmean)
}

// SampleCluster implements Model: w (n, Dw) ~ N(0, I), (mu_k, lv_k) = the prior
// network's block k on w, z (n, Dz) = mu_k + exp(lv_k/2) eps (see the file comment for
// the streams).
func (d *dilokthanakul) SampleCluster(k, n int, z *engine.Buf, seed uint64) error {
	c := d.cfg
	if err := checkSample("dilokthanakul", c, k, n, z); err != nil {
		return err
	}
	K, Dz, Dw := c.K, c.Dz, c.Dw
	if d.genMu == nil {
		mu, err := d.b.New(c.MaxBatch*Dz, "dilokthanakul sample mu")
		if err != nil {
			return err
		}
		d.all = append(d.all, mu)
		lv, err := d.b.New(c.MaxBatch*Dz, "dilokthanakul sample lv")
		if err != nil {
			return err
		}
		d.all = append(d.all, lv)
		d.genMu, d.genLv = mu, lv
	}
	l := newLauncher(d.b, "dilokthanakul")
	l.do(ops.RandNormal(l.b, d.w, n*Dw, seed, kernels.StreamID(uint64(k), streamGenW)))
	d.prior(l, d.w, n)
	for i := 0; i < n; i++ {
		o := (i*K + k) * Dz
		l.do(ops.EwScale(l.b, d.mu.Slice(o, Dz), d.genMu.Slice(i*Dz, Dz), Dz, float32(1)))
		l.do(ops.EwScale(l.b, d.lv.Slice(o, Dz), d.genLv.Slice(i*Dz, Dz), Dz, float32(1)))
	}
	l.do(ops.Reparam(l.b, d.genMu, d.genLv, d.epsZ, z, n*Dz, seed, kernels.StreamID(uint64(k), streamGenZ)))
	return l.err
}
