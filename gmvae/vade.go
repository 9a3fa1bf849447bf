package gmvae

// Model C, "vade": Variational Deep Embedding (Jiang et al. 2017; official code
// slim1017/VaDE), see shared/design/GMVAE.md. Forward and backward passes are written
// out as ops over buffers laid out once for cfg.MaxBatch rows.
//
// Networks and parameters (declared in this order, which fixes their initial draws):
//
//	encoder trunk  x (n, D) -> h_0 -> ... -> h_{L-1}, relu (Hidden, by default
//	               500-500-2000 as the paper's MNIST network)
//	encoder heads  m (n, Dz) and s (n, Dz) (the log-variance of q(z|x)), linear; s
//	               clamped to [LvMin, LvMax]
//	decoder trunk  z (n, Dz) -> h_{L-1} -> ... -> h_0, relu (Hidden reversed)
//	decoder head   D logits (Bernoulli); D means and D clamped log-variances (Gaussian)
//	prior          pi logits (K), the weights pi = softmax(logits); mu (K, Dz); the
//	               log-variances lv (K, Dz), clamped to [LvMin, LvMax]. Initialised to
//	               zero (uniform weights, standard normals); the recipe overwrites them
//	               with a Gaussian mixture fitted to the pretrained latent means.
//
// The loss of a row (minus its ELBO), with one sample z = m + exp(s/2)·eps and the
// responsibilities gamma_c = p(c|z) = softmax_c(log pi_c + log N(z; mu_c, lv_c)):
//
//	-log p(x|z) + sum_c gamma_c KL(N(m, s) || N(mu_c, lv_c)) + sum_c gamma_c (log gamma_c - log pi_c)
//
// reported as Recon, KLz (the expected KL to the components) and KLy (KL(gamma || pi));
// KLw is 0. The gradient is the exact gradient of that loss, gamma included (as in the
// authors' Keras code, which differentiates through gamma).
//
// Log weights: gamma is a softmax over c, in which log pi_c = logits_c - lse(logits)
// may be replaced by the logits themselves (the lse is the same for every c), so
// mixture_loglik runs with the raw logits as its logpi. Likewise in the row's KLy,
// sum_c gamma_c log pi_c = gamma·logits - lse(logits) (the gammas sum to 1): the rows'
// gamma·logits come from one product, and lse(logits) is added on the host. Gradients:
// d/dgamma_c = w (KL_c + log gamma_c + 1 - logits_c) (the constants drop out in the
// softmax backward), and d/dlogits_c = sum_n (gL_nc - w gamma_nc) + pi_c, w = 1/n.
//
// Negligible responsibilities: gradient weights of pairs with gamma below pNegligible
// are dropped, as in model A (dilokthanakul.go), so that trained models make no
// subnormal floats.
//
// Autoencoder pretraining (cfg.Pretrain): the same parameters trained as a
// deterministic autoencoder on the mean path, z = m(x): the loss is -log p(x|m(x))
// alone (Recon; the other terms 0), and only the encoder trunk, the m head and the
// decoder get gradients. The recipe (package trainer) pretrains, fits the prior, then
// trains the full model from the pretrained parameters.
//
// Evaluation (Infer): post = gamma at z = m(x) (the paper's cluster assignment),
// logits = log pi_c + log N(m; mu_c, lv_c) up to a constant per row, zmean = m. The
// loss terms come from the sampled forward pass of the given step, as in training.
//
// Random streams: eps of z is the stream kernels.StreamID(step, streamVaDE);
// SampleCluster(k, n, z, seed) draws z ~ N(mu_k, exp(lv_k)) on the stream
// kernels.StreamID(k, streamVaDEGen).

import (
	"fmt"
	"math"

	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/kernels"
	"github.com/gmvae/gmvae/nn"
	"github.com/gmvae/gmvae/ops"
)

// Random tensor ids of model C (see the file comment).
const (
	streamVaDE    = 0x300
	streamVaDEGen = 0x5A3E_0C00
)

// vade is model C on one backend.
type vade struct {
	b   engine.Backend
	cfg Config
	ps  *nn.Params

	encTrunk      *nn.MLP
	encM, encS    *nn.Linear
	decTrunk      *nn.MLP
	decOut, decLv *nn.Linear // decLv: Gaussian only
	// The prior's tensors in ps.
	pLogits, pMu, pLv int

	enc, dec *nn.MLPBufs
	all      []*engine.Buf

	// Encoder outputs and their gradients, (N, Dz).
	m, sRaw, s, dm, ds, dsRaw *engine.Buf
	dh                        *engine.Buf // (N, h_{L-1})
	eps, z, dz                *engine.Buf // (N, Dz)
	// The prior: clamped log-variances, the gradients of mu and lv (K, Dz); pi (K).
	lv, dmu, dlv, pi *engine.Buf
	// Mixture, (N, K).
	L, resp, kl, gKL, gresp, gL, tmp *engine.Buf
	// Rows, (N).
	ll, cp, ent, dot, gll, gy, negw *engine.Buf
	// Decoder, (N, D) and (N, h_0).
	out, xlvRaw, xlv, dout, dxlv, dxlvRaw, ddec *engine.Buf
	// The batch sums (recon, expected KL, sum gamma log gamma, sum gamma·logits) and
	// lse(logits).
	scalars *engine.Buf
	sc      [5]*engine.Buf
	host    [5]float32
	// SampleCluster's ones (N) and the rows of mu_k, lv_k (N, Dz); nil until used.
	ones, genMu, genLv *engine.Buf
}

// newVaDE builds model C for cfg (defaults filled in and validated by New).
func newVaDE(b engine.Backend, cfg Config) (Model, error) {
	if len(cfg.Hidden) == 0 {
		return nil, fmt.Errorf("gmvae: model vade needs at least one hidden layer (hidden = [])")
	}
	if !(cfg.LvMin > -80 && cfg.LvMax < 80) {
		return nil, fmt.Errorf("gmvae: log-variance bounds [%g, %g] must lie inside (-80, 80) (exp of them must stay finite)", cfg.LvMin, cfg.LvMax)
	}
	H := cfg.Hidden
	last := H[len(H)-1]
	ps := nn.NewParams(b)
	ps.SetScheme(cfg.Init)
	v := &vade{b: b, cfg: cfg, ps: ps}
	v.encTrunk = nn.NewMLP(ps, "enc", append([]int{cfg.D}, H...), encActivation, encActivation)
	v.encM = nn.NewLinear(ps, "enc.m", last, cfg.Dz, kernels.ActNone)
	v.encS = nn.NewLinear(ps, "enc.s", last, cfg.Dz, kernels.ActNone)
	dsizes := []int{cfg.Dz}
	for i := len(H) - 1; i >= 0; i-- {
		dsizes = append(dsizes, H[i])
	}
	v.decTrunk = nn.NewMLP(ps, "dec", dsizes, encActivation, encActivation)
	v.decOut = nn.NewLinear(ps, "dec.out", H[0], cfg.D, kernels.ActNone)
	if cfg.Likelihood == Gaussian {
		v.decLv = nn.NewLinear(ps, "dec.lv", H[0], cfg.D, kernels.ActNone)
	}
	v.pLogits = ps.Add("prior.logits", cfg.K, nn.Init{})
	v.pMu = ps.Add("prior.mu", cfg.K*cfg.Dz, nn.Init{})
	v.pLv = ps.Add("prior.lv", cfg.K*cfg.Dz, nn.Init{})
	if err := checkExpected(cfg, ps); err != nil {
		return nil, err
	}
	if err := ps.Alloc(cfg.Seed); err != nil {
		return nil, err
	}
	if err := v.alloc(); err != nil {
		v.Release()
		return nil, err
	}
	return v, nil
}

func (v *vade) alloc() error {
	c := v.cfg
	N, K, Dz, D := c.MaxBatch, c.K, c.Dz, c.D
	var err error
	nb := func(n int, tag string) *engine.Buf {
		if err != nil {
			return nil
		}
		var x *engine.Buf
		x, err = v.b.New(n, "vade "+tag)
		if err == nil {
			v.all = append(v.all, x)
		}
		return x
	}
	last := c.Hidden[len(c.Hidden)-1]
	v.m, v.sRaw, v.s = nb(N*Dz, "m"), nb(N*Dz, "s raw"), nb(N*Dz, "s")
	v.dm, v.ds, v.dsRaw = nb(N*Dz, "dm"), nb(N*Dz, "ds"), nb(N*Dz, "ds raw")
	v.dh = nb(N*last, "encoder trunk gradient")
	v.eps, v.z, v.dz = nb(N*Dz, "eps"), nb(N*Dz, "z"), nb(N*Dz, "dz")
	v.lv, v.dmu, v.dlv, v.pi = nb(K*Dz, "prior lv"), nb(K*Dz, "prior dmu"), nb(K*Dz, "prior dlv"), nb(K, "pi")
	v.L, v.resp, v.kl = nb(N*K, "log-densities"), nb(N*K, "gamma"), nb(N*K, "KL to components")
	v.gKL, v.gresp, v.gL, v.tmp = nb(N*K, "dKL"), nb(N*K, "dgamma"), nb(N*K, "dL"), nb(N*K, "scratch")
	v.ll, v.cp, v.ent, v.dot = nb(N, "log p(x|z)"), nb(N, "expected KL"), nb(N, "sum gamma log gamma"), nb(N, "gamma·logits")
	v.gll, v.gy, v.negw = nb(N, "dll"), nb(N, "dgamma rows"), nb(N, "-1/n")
	v.out, v.dout, v.ddec = nb(N*D, "decoder output"), nb(N*D, "decoder output gradient"), nb(N*c.Hidden[0], "decoder trunk gradient")
	if c.Likelihood == Gaussian {
		v.xlvRaw, v.xlv = nb(N*D, "decoder lv raw"), nb(N*D, "decoder lv")
		v.dxlv, v.dxlvRaw = nb(N*D, "decoder dlv"), nb(N*D, "decoder dlv raw")
	}
	v.scalars = nb(len(v.sc), "loss terms")
	if err != nil {
		return err
	}
	for i := range v.sc {
		v.sc[i] = v.scalars.Slice(i, 1)
	}
	if v.enc, err = v.encTrunk.NewBufs(v.b, N, "vade encoder"); err != nil {
		return err
	}
	v.dec, err = v.decTrunk.NewBufs(v.b, N, "vade decoder")
	return err
}

// Config implements Model.
func (v *vade) Config() Config { return v.cfg }

// Params implements Model.
func (v *vade) Params() *nn.Params { return v.ps }

// Prior returns the prior's parameter tensors: the weights' logits (K), the means
// (K, Dz) and the raw log-variances (K, Dz, clamped to [LvMin, LvMax] when used).
func (v *vade) Prior() (logits, mu, lv nn.Tensor) {
	return v.ps.Tensor(v.pLogits), v.ps.Tensor(v.pMu), v.ps.Tensor(v.pLv)
}

// Release implements Model.
func (v *vade) Release() error {
	err := releaseModel(v.b, v.all, []*nn.MLPBufs{v.enc, v.dec}, v.ps)
	v.all, v.enc, v.dec = nil, nil, nil
	return err
}

func (v *vade) checkBatch(op string, x *engine.Buf, n int, step uint64) error {
	if n < 1 || n > v.cfg.MaxBatch {
		return fmt.Errorf("gmvae: vade %s: batch of %d rows, want 1..%d (max_batch)", op, n, v.cfg.MaxBatch)
	}
	if x == nil || x.Len() < n*v.cfg.D {
		return fmt.Errorf("gmvae: vade %s: batch of %d rows of %d needs %d values, x has %d", op, n, v.cfg.D, n*v.cfg.D, bufLen(x))
	}
	if step>>32 != 0 {
		return fmt.Errorf("gmvae: vade: step %d >= 2^32 would reuse random streams", step)
	}
	return nil
}

// encode runs the encoder on x (n, D): m and s (clamped).
func (v *vade) encode(l *launcher, x *engine.Buf, n int) {
	c := v.cfg
	l.do(v.encTrunk.Forward(l.b, x, n, v.enc, nn.Train))
	h := v.enc.Output()
	l.do(v.encM.Forward(l.b, h, v.m, n, nn.Scratch{}))
	l.do(v.encS.Forward(l.b, h, v.sRaw, n, nn.Scratch{}))
	l.do(ops.Clamp(l.b, v.sRaw, v.s, n*c.Dz, c.LvMin, c.LvMax))
}

// decode runs the decoder on z (n, Dz) and leaves log p(x|z) of every row in v.ll.
func (v *vade) decode(l *launcher, x, z *engine.Buf, n int) {
	c := v.cfg
	l.do(v.decTrunk.Forward(l.b, z, n, v.dec, nn.Train))
	hd := v.dec.Output()
	l.do(v.decOut.Forward(l.b, hd, v.out, n, nn.Scratch{}))
	if c.Likelihood == Gaussian {
		l.do(v.decLv.Forward(l.b, hd, v.xlvRaw, n, nn.Scratch{}))
		l.do(ops.Clamp(l.b, v.xlvRaw, v.xlv, n*c.D, c.LvMin, c.LvMax))
		l.do(ops.GaussianLoglik(l.b, x, v.out, v.xlv, v.ll, n, c.D))
	} else {
		l.do(ops.BernoulliLoglik(l.b, x, v.out, v.ll, n, c.D))
	}
}

// mixture computes, for z (n, Dz), L = logits + log N(z; mu_c, lv_c) (n, K), gamma
// (n, K) and pi, lse(logits) (in sc[4]).
func (v *vade) mixture(l *launcher, z *engine.Buf, n int) {
	c := v.cfg
	logits, mu, lvRaw := v.Prior()
	l.do(ops.Clamp(l.b, lvRaw.P, v.lv, c.K*c.Dz, c.LvMin, c.LvMax))
	l.do(ops.LseSoftmax(l.b, 1, c.K, logits.P, v.sc[4], v.pi))
	l.do(ops.MixtureLoglik(l.b, n, c.K, c.Dz, z, mu.P, v.lv, 0, logits.P, 0, v.L, nil, v.resp))
}

// forward runs the sampled forward pass on x (n, D) for step and leaves the batch
// means in v.scalars (see terms).
func (v *vade) forward(l *launcher, x *engine.Buf, n int, step uint64) {
	c := v.cfg
	K, Dz := c.K, c.Dz
	inv := float32(1) / float32(n)
	v.encode(l, x, n)
	if c.Pretrain {
		v.decode(l, x, v.m, n)
		l.do(ops.SumAll(l.b, v.ll, v.sc[0], n, -inv))
		return
	}
	l.do(ops.Reparam(l.b, v.m, v.s, v.eps, v.z, n*Dz, c.Seed, kernels.StreamID(step, streamVaDE)))
	v.mixture(l, v.z, n)
	_, mu, _ := v.Prior()
	l.do(ops.KlMixture(l.b, n, K, Dz, v.m, v.s, mu.P, v.lv, 0, v.kl))
	l.do(ops.RowDot(l.b, v.resp, v.kl, v.cp, n, K))
	l.do(ops.XlogxRows(l.b, v.resp, v.ent, n, K))
	logits, _, _ := v.Prior()
	l.do(ops.GemmNN(l.b, v.resp, logits.P, nil, v.dot, n, 1, K, kernels.ActNone, false))
	v.decode(l, x, v.z, n)
	l.do(ops.SumAll(l.b, v.ll, v.sc[0], n, -inv))
	l.do(ops.SumAll(l.b, v.cp, v.sc[1], n, inv))
	l.do(ops.SumAll(l.b, v.ent, v.sc[2], n, inv))
	l.do(ops.SumAll(l.b, v.dot, v.sc[3], n, inv))
}

// terms downloads the batch means and assembles Terms.
func (v *vade) terms(l *launcher) Terms {
	var t Terms
	if l.err != nil {
		return t
	}
	host, src := v.host[:], v.scalars
	if v.cfg.Pretrain {
		host, src = v.host[:1], v.sc[0] // the only term written
	}
	if err := v.b.Download(host, src); err != nil {
		l.do(err)
		return t
	}
	t.Recon = float64(v.host[0])
	if !v.cfg.Pretrain {
		t.KLz = float64(v.host[1])
		// sum_c gamma (log gamma - log pi) = sum gamma log gamma - gamma·logits + lse.
		t.KLy = float64(v.host[2]) - float64(v.host[3]) + float64(v.host[4])
	}
	t.Loss = t.Recon + t.KLz + t.KLy
	t.ELBO = -t.Loss
	return t
}

// TrainBatch implements Model.
func (v *vade) TrainBatch(x *engine.Buf, n int, step uint64) (Terms, error) {
	if err := v.checkBatch("train", x, n, step); err != nil {
		return Terms{}, err
	}
	l := newLauncher(v.b, "vade")
	v.forward(l, x, n, step)
	t := v.terms(l)
	v.backward(l, x, n)
	return t, l.err
}

// backward adds the gradient of the batch mean of the loss to the parameters'
// gradients.
func (v *vade) backward(l *launcher, x *engine.Buf, n int) {
	c := v.cfg
	K, Dz, D := c.K, c.Dz, c.D
	inv := float32(1) / float32(n)
	// Decoder: d out, then the trunk into dz (overwritten).
	l.do(ops.EwFill(l.b, v.gll, n, -inv))
	if c.Likelihood == Gaussian {
		l.do(ops.GaussianLoglikBwd(l.b, x, v.out, v.xlv, v.gll, v.dout, v.dxlv, n, D, false))
	} else {
		l.do(ops.BernoulliLoglikBwd(l.b, x, v.out, v.gll, v.dout, n, D, false))
		// The logits are not read again in this step: flushTiny's scratch.
		l.flushTiny(v.dout, v.out, n*D)
	}
	hd := v.dec.Output()
	l.do(v.decOut.Backward(l.b, hd, v.out, v.dout, v.ddec, n, nn.Scratch{}, false))
	if c.Likelihood == Gaussian {
		l.do(ops.ClampBwd(l.b, v.xlvRaw, v.dxlv, v.dxlvRaw, n*D, c.LvMin, c.LvMax, false))
		l.do(v.decLv.Backward(l.b, hd, v.xlvRaw, v.dxlvRaw, v.ddec, n, nn.Scratch{}, true))
	}
	z := v.z
	if c.Pretrain {
		z = v.m
	}
	l.do(v.decTrunk.Backward(l.b, z, v.ddec, v.dz, n, v.dec, false))
	h := v.enc.Output()
	if c.Pretrain {
		// z = m: the decoder's dz is dm.
		l.do(v.encM.Backward(l.b, h, v.m, v.dz, v.dh, n, nn.Scratch{}, false))
		l.do(v.encTrunk.Backward(l.b, x, v.dh, nil, n, v.enc, false))
		return
	}
	logits, mu, lvRaw := v.Prior()
	// d/dKL = w gamma (negligible pairs dropped).
	l.do(ops.EwScale(l.b, v.resp, v.gKL, n*K, inv))
	l.do(ops.ClampBwd(l.b, v.resp, v.gKL, v.gKL, n*K, pNegligible, float32(2), false))
	// d/dgamma = w (log gamma + 1) + w KL - w logits (broadcast over the rows by a
	// product with the column of -w).
	l.do(ops.EwFill(l.b, v.gy, n, inv))
	l.do(ops.EwFill(l.b, v.negw, n, -inv))
	l.do(ops.XlogxRowsBwd(l.b, v.resp, v.gy, v.gresp, n, K, false))
	l.do(ops.EwAxpby(l.b, v.kl, v.gresp, n*K, inv, float32(1)))
	l.do(ops.GemmNN(l.b, v.negw, logits.P, nil, v.gresp, n, K, 1, kernels.ActNone, true))
	// Through the softmax into L, then into z (added to the decoder's dz), mu and lv
	// (written into the scratch dmu, dlv), and the logits.
	l.do(ops.LseSoftmaxBwd(l.b, n, K, v.resp, nil, v.gresp, v.gL, false))
	l.do(ops.ClampBwd(l.b, v.resp, v.gL, v.gL, n*K, pNegligible, float32(2), false))
	l.do(ops.MixtureBwdZ(l.b, n, K, Dz, v.z, mu.P, v.lv, 0, v.gL, v.dz, true))
	l.do(ops.MixtureBwdParams(l.b, n, K, Dz, v.z, mu.P, v.lv, 0, v.gL, v.dmu, v.dlv, false))
	// d/dlogits = colsum(gL - w gamma) + pi.
	l.do(ops.EwScale(l.b, v.gL, v.tmp, n*K, float32(1)))
	l.do(ops.EwAxpby(l.b, v.resp, v.tmp, n*K, -inv, float32(1)))
	l.do(ops.Colsum(l.b, v.tmp, logits.G, n, K, true))
	l.do(ops.EwAxpby(l.b, v.pi, logits.G, K, float32(1), float32(1)))
	// The KL to each component: into m, s (written) and dmu, dlv (added); then into
	// the prior's gradients.
	l.do(ops.KlMixtureBwd(l.b, n, K, Dz, v.m, v.s, mu.P, v.lv, 0, v.gKL, v.dm, v.ds, false, v.dmu, v.dlv, true))
	l.do(ops.EwAxpby(l.b, v.dmu, mu.G, K*Dz, float32(1), float32(1)))
	l.do(ops.ClampBwd(l.b, lvRaw.P, v.dlv, lvRaw.G, K*Dz, c.LvMin, c.LvMax, true))
	// The sample z = m + exp(s/2) eps, the clamp of s, the heads and the trunk.
	l.do(ops.ReparamBwd(l.b, v.s, v.eps, v.dz, v.dm, v.ds, n*Dz, true))
	l.do(ops.ClampBwd(l.b, v.sRaw, v.ds, v.dsRaw, n*Dz, c.LvMin, c.LvMax, false))
	l.do(v.encM.Backward(l.b, h, v.m, v.dm, v.dh, n, nn.Scratch{}, false))
	l.do(v.encS.Backward(l.b, h, v.sRaw, v.dsRaw, v.dh, n, nn.Scratch{}, true))
	l.do(v.encTrunk.Backward(l.b, x, v.dh, nil, n, v.enc, false))
}

// Infer implements Model: the loss terms from the sampled forward pass of step, then
// post = gamma at z = m (n, K), its logits (n, K) and zmean = m (n, Dz).
func (v *vade) Infer(x *engine.Buf, n int, post, logits, zmean *engine.Buf, step uint64) (Terms, error) {
	if err := v.checkBatch("infer", x, n, step); err != nil {
		return Terms{}, err
	}
	c := v.cfg
	if err := checkInferOutputs("vade", c, n, post, logits, zmean); err != nil {
		return Terms{}, err
	}
	l := newLauncher(v.b, "vade")
	v.forward(l, x, n, step)
	t := v.terms(l)
	// The encoder's outputs of x are still in place: gamma at z = m.
	v.mixture(l, v.m, n)
	l.do(ops.EwScale(l.b, v.resp, post, n*c.K, float32(1)))
	if logits != nil {
		l.do(ops.EwScale(l.b, v.L, logits, n*c.K, float32(1)))
	}
	l.do(ops.EwScale(l.b, v.m, zmean, n*c.Dz, float32(1)))
	return t, l.err
}

// Decode implements Model: the decoder on z (n, Dz), sigmoid of the logits (Bernoulli)
// or the mean head (Gaussian) into xmean (n, D).
func (v *vade) Decode(z *engine.Buf, n int, xmean *engine.Buf) error {
	return decodeMean(v.b, "vade", v.cfg, v.decTrunk, v.dec, v.decOut, z, n, xmean)
}

// SampleCluster implements Model: z (n, Dz) ~ N(mu_k, exp(lv_k)) (lv clamped).
func (v *vade) SampleCluster(k, n int, z *engine.Buf, seed uint64) error {
	c := v.cfg
	if err := checkSample("vade", c, k, n, z); err != nil {
		return err
	}
	Dz := c.Dz
	if v.ones == nil {
		var err error
		for _, p := range []struct {
			dst **engine.Buf
			n   int
		}{{&v.ones, c.MaxBatch}, {&v.genMu, c.MaxBatch * Dz}, {&v.genLv, c.MaxBatch * Dz}} {
			if *p.dst, err = v.b.New(p.n, "vade sample"); err != nil {
				return err
			}
			v.all = append(v.all, *p.dst)
		}
	}
	_, mu, lvRaw := v.Prior()
	l := newLauncher(v.b, "vade")
	l.do(ops.Clamp(l.b, lvRaw.P, v.lv, c.K*Dz, c.LvMin, c.LvMax))
	l.do(ops.EwFill(l.b, v.ones, n, 1))
	l.do(ops.GemmNN(l.b, v.ones, mu.P.Slice(k*Dz, Dz), nil, v.genMu, n, Dz, 1, kernels.ActNone, false))
	l.do(ops.GemmNN(l.b, v.ones, v.lv.Slice(k*Dz, Dz), nil, v.genLv, n, Dz, 1, kernels.ActNone, false))
	l.do(ops.Reparam(l.b, v.genMu, v.genLv, v.eps, z, n*Dz, seed, kernels.StreamID(uint64(k), streamVaDEGen)))
	return l.err
}

// SetPrior sets the prior of a vade model from a Gaussian mixture: weights (K, positive,
// any scale: the logits become their logs), means (K*Dz) and variances (K*Dz, positive;
// their logs are stored). Other models return an error.
func SetPrior(m Model, weights, means, variances []float32) error {
	v, ok := m.(*vade)
	if !ok {
		return fmt.Errorf("gmvae: SetPrior: model %s has no learned mixture prior", m.Config().Model)
	}
	c := v.cfg
	if len(weights) != c.K || len(means) != c.K*c.Dz || len(variances) != c.K*c.Dz {
		return fmt.Errorf("gmvae: SetPrior: %d weights, %d means, %d variances; model vade has K = %d, Dz = %d", len(weights), len(means), len(variances), c.K, c.Dz)
	}
	lg := make([]float32, c.K)
	for i, w := range weights {
		if !(w > 0) || math.IsInf(float64(w), 0) {
			return fmt.Errorf("gmvae: SetPrior: weight %d is %g, want a positive number", i, w)
		}
		lg[i] = float32(math.Log(float64(w)))
	}
	lv := make([]float32, len(variances))
	for i, s := range variances {
		if !(s > 0) || math.IsInf(float64(s), 0) {
			return fmt.Errorf("gmvae: SetPrior: variance %d is %g, want a positive number", i, s)
		}
		lv[i] = float32(math.Log(float64(s)))
	}
	for i, x := range means {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("gmvae: SetPrior: mean %d is %g", i, x)
		}
	}
	logits, mu, lvRaw := v.Prior()
	for _, p := range []struct {
		dst *engine.Buf
		src []float32
	}{{logits.P, lg}, {mu.P, means}, {lvRaw.P, lv}} {
		if err := v.b.Upload(p.dst, p.src); err != nil {
			return err
		}
	}
	return nil
}

// SetPosteriorVariance makes a vade model's encoder start from q(z|x) of the given
// variances (Dz, positive) for every x: the log-variance head's weights become zero and
// its biases the logs. The recipe calls it after the pretraining, whose autoencoder
// never trained that head: left at its random initial values, q(z|x) would have
// variances near 1 whatever the scale of the pretrained latent space, and noise of
// that size drowns an embedding whose clusters are a tenth apart.
func SetPosteriorVariance(m Model, variances []float32) error {
	v, ok := m.(*vade)
	if !ok {
		return fmt.Errorf("gmvae: SetPosteriorVariance: model %s is not vade", m.Config().Model)
	}
	if len(variances) != v.cfg.Dz {
		return fmt.Errorf("gmvae: SetPosteriorVariance: %d variances for Dz = %d", len(variances), v.cfg.Dz)
	}
	lv := make([]float32, len(variances))
	for i, s := range variances {
		if !(s > 0) || math.IsInf(float64(s), 0) {
			return fmt.Errorf("gmvae: SetPosteriorVariance: variance %d is %g, want a positive number", i, s)
		}
		lv[i] = float32(math.Log(float64(s)))
	}
	if err := v.b.Upload(v.encS.W().P, make([]float32, v.encS.In*v.encS.Out)); err != nil {
		return err
	}
	return v.b.Upload(v.encS.B().P, lv)
}
