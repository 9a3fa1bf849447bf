package gmvae

// Model B, "shu": Rui Shu's GMVAE (blog post of 2016-12-25, repo RuiShu/vae-clustering),
// see shared/design/GMVAE.md. Forward and backward passes are written out as kernel
// launches over buffers laid out once for cfg.MaxBatch rows.
//
// Networks (Hidden = [h_0, ..., h_{L-1}], at least one layer; parameters declared in
// this order, which fixes their initial draws):
//
//	q(y|x)    x (n, D) -> h_0 -> ... -> h_{L-1} (relu) -> K logits; q = softmax
//	q(z|x,y)  first layer relu(x·Wx + y·Wy), Wx (D, h_0), Wy (K, h_0) (the concatenation
//	          [x, y] times one matrix, without a bias: with a one-hot y the row Wy[k]
//	          is the per-cluster bias); then h_0 -> ... -> h_{L-1} (relu); heads m and
//	          s (n, Dz), linear, s clamped to [LvMin, LvMax]
//	p(z|y)    per-cluster means MU (K, Dz) and log-variances LV (K, Dz) (zero), LV
//	          clamped to [LvMin, LvMax]. MU is drawn Glorot (K, Dz) (std about 0.16 for
//	          K=10, Dz=64), like the weights of Rui Shu's dense layer y -> mean: with
//	          N(0, 1) means the clusters' squared norms differ by about 11 nats at
//	          initialisation (chi-square, 64 degrees of freedom), the cluster nearest
//	          the origin wins every example's q(y|x) in the first few hundred steps,
//	          and training never leaves that single cluster (measured on MNIST: after
//	          one epoch every test example in one cluster, kl_y = log 10)
//	p(x|z)    z (., Dz) -> h_{L-1} -> ... -> h_0 (relu) -> head D logits (Bernoulli),
//	          or heads D means and D log-variances clamped to [LvMin, LvMax] (Gaussian)
//
// Exact marginal over y (default). The K branches are laid out cluster-major: rows
// k*n + i (i < n) of the (K*n)-row buffers hold observation i with y = k, so the
// z-encoder above its first layer, the heads, the decoder and the row log-densities
// each run as ONE launch over K*n rows (bigger GEMMs than K passes of n rows, the
// same math). The first layer computes P = x·Wx once (n, h_0), copies it into the K
// blocks and adds the rows of Wy with one GEMM, relu(C_old + E·Wy), where E (K*n, K)
// is the constant block indicator (E[k*n+i, k] = 1): each element's chain is
// +0 + ... + 1*Wy[k,j] + 0*... = Wy[k,j] exactly, so block k holds relu(P + Wy[k])
// (the bits of relu(x·Wx + Wy[k]) with Wy[k] as the GEMM bias). The same E broadcasts
// MU and clamp(LV) to (K*n, Dz) for gaussian_loglik, and Eᵀ sums their row gradients
// back per cluster (gemm_tn). q (n, K) is transposed to (K, n) (and the per-row loss
// back to (n, K)) by GEMMs with the constant identity I_K (gemm_nt I_K·qᵀ, gemm_tn
// lᵀ·I_K): exact for finite values. I_K is uploaded once, E whenever the batch size
// changes. (The brief's alternative, the
// GEMM x·Wx with bias Wy[k] per cluster, gives the same bits but recomputes x·Wx K
// times.) Only the pieces that read the batch x (n, D) itself, the log-likelihood of
// x and its backward, and the samples (one stream per cluster) launch once per block.
//
//	loss_i = sum_k q_ik [ -log p(x_i|z_ik) + log q(z_ik|x_i,k) - log p(z_ik|k) + log K ]
//	         + sum_k q_ik log q_ik,      z_ik = m_ik + exp(s_ik/2) eps_ik
//
// Terms: Recon = mean_i sum_k q_ik (-log p(x_i|z_ik)); KLz = mean_i sum_k q_ik (log q -
// log p)(z_ik); KLy = mean_i sum_k q_ik log q_ik + log K = KL(q(y|x) || Cat(1/K));
// Loss = Recon + KLz + KLy = -ELBO.
//
// Gumbel-softmax (cfg.Gumbel, temperature tau: cfg.Tau until SetTemperature changes
// it, as Train's annealing schedule does every epoch), as the popular PyTorch port:
// y = softmax((logits + g)/tau) with standard Gumbel noise g (n, K), the first layer
// relu(x·Wx + y·Wy), one sample z ~ q(z|x,y), p(z|y) = N(y·MU, y·clamp(LV)),
//
//	loss_i = -log p(x_i|z_i) + log q(z_i|x_i,y_i) - log p(z_i|y_i) + KL(q(y|x_i) || Cat(1/K))
//
// with Recon, KLz and KLy the three parts. One decoder pass: 1/K of the exact mode.
// The same code runs both modes: Gumbel mode is the z path over n rows (one block)
// with the soft y (n, K) in the place of E.
//
// Infer: post = q(y|x); zmean = m(x, y = onehot(argmax_k q)) (first maximum; a NaN
// row picks cluster 0), the argmax taken on the host. Exact mode selects the block of
// m (row_scale by the one-hot, summed over k: exact); Gumbel mode reruns the first
// layer, the upper z-encoder and the m head with the one-hot y (the same bits as the
// exact mode's block). The Terms are those of the step's draws, as in training.
//
// Gradient of the y-posterior (exact mode): dLoss/dq_ik = (l_ik + log q_ik + 1)/n with
// l_ik the bracket above without its log K: a per-row constant has zero gradient
// through the softmax (lse_softmax_bwd subtracts sum_j g_j q_j), so it is left out.
//
// Random streams (seed cfg.Seed): exact mode, eps of cluster k is the stream
// kernels.StreamID(step, streamShu+k) (row i's noise does not depend on n); Gumbel mode,
// the Gumbel noise is kernels.StreamID(step, streamShu) and eps kernels.StreamID(step,
// streamShu+1). Ids start at 0x100, clear of the small ids a trainer may use.
//
// Generation (SampleCluster(k, n, z, seed)): z = MU_k + exp(clamp(LV_k)/2) eps, the
// reparameterisation sample of p(z|y=k), with eps the stream kernels.StreamID(k,
// streamShuGen) keyed by the caller's seed. The tensor id streamShuGen lies above every
// id of a training step (streamShu+k < streamShuGen: newShu refuses larger K), so no
// seed makes a generated draw repeat a training draw. MU_k and clamp(LV_k) are
// broadcast to the n rows by a GEMM with a column of ones (1*v + 0: exact).
//
// Decode: the decoder trunk and head over n rows (the exact mode's buffers hold K*n),
// then sigmoid (Bernoulli) in place; Gaussian: the mean head.

import (
	"fmt"
	"math"

	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/kernels"
	"github.com/gmvae/gmvae/nn"
	"github.com/gmvae/gmvae/ops"
)

// streamShu is the first random tensor id of model B's steps (see the file comment).
const streamShu = 0x100

// streamShuGen is the random tensor id of SampleCluster's noise (see the file comment).
const streamShuGen = 0x5A3E_0000

// shuActivation is the activation of every hidden layer (Rui Shu's networks: relu).
const shuActivation = kernels.ActRelu

// shu is model B on one backend.
type shu struct {
	b   engine.Backend
	cfg Config
	ps  *nn.Params
	tau float32 // the Gumbel-softmax temperature (SetTemperature)

	qy         *nn.MLP    // x -> hidden -> K logits
	wx, wy     int        // z-encoder first layer: relu(x·Wx + y·Wy)
	qzUp       *nn.MLP    // h_0 -> ... -> h_{L-1}; nil with one hidden layer
	qzM, qzLv  *nn.Linear // heads
	pMu, pLv   int        // p(z|y): (K, Dz) each
	px         *nn.MLP    // decoder trunk: z -> hidden reversed (relu)
	pxOut      *nn.Linear // decoder head: D logits (Bernoulli) or means (Gaussian)
	pxLv       *nn.Linear // Gaussian only: D log-variances (clamped)
	h0, hTop   int        // first and last hidden widths
	rows       int        // rows of the z and decoder path: K*MaxBatch (exact) or MaxBatch
	qyB        *nn.MLPBufs
	qzUpB, pxB *nn.MLPBufs

	all []*engine.Buf // every buffer below, for Release

	// q(y|x), (MaxBatch, K) unless stated.
	lse, q, gq, dlog *engine.Buf
	xl, invN, negN   *engine.Buf // (MaxBatch)
	// z-encoder first layer: p1 = x·Wx (MaxBatch, h0) (exact), dp1 its gradient;
	// h1 (rows, h0) the layer's output, dh1, dpre1 gradients.
	p1, dp1, h1, dh1, dpre1 *engine.Buf
	dtop                    *engine.Buf // (rows, hTop) gradient of the z-encoder's top
	// Heads and samples, (rows, Dz).
	m, spre, s, eps, z, dm, ds, dspre, dz *engine.Buf
	// Prior: broadcast/mixed parameters (rows, Dz), clamped LV (K, Dz).
	mub, lvb, dmub, dlvb, lvc, dlvc *engine.Buf
	lx, dlx                         *engine.Buf // (rows, D) decoder logits or means, and their gradient
	xlvRaw, xlv, dxlv, dxlvRaw      *engine.Buf // Gaussian: (rows, D) log-variances (raw, clamped) and gradients
	dhd                             *engine.Buf // (rows, h_0) gradient of the decoder trunk's output
	llx, qll, pll                   *engine.Buf // (rows) row log-densities; qll becomes the KL row, then the loss row
	qT, w, negw                     *engine.Buf // exact: q transposed (K, n) and -+q/n
	E, eye                          *engine.Buf // exact: block indicator (K*MaxBatch, K), identity I_K (K, K)
	ohT                             *engine.Buf // exact Infer: one-hot argmax transposed (K, MaxBatch)
	gn, u, y, du, dy                *engine.Buf // Gumbel: noise, scaled logits, soft y, gradients (MaxBatch, K)
	scal                            *engine.Buf // (3) batch sums brought back
	ones                            *engine.Buf // (MaxBatch) ones, SampleCluster's broadcast; nil until its first call

	constN        int       // batch size E is laid out for (0: none yet)
	hostE         []float32 // staging for E
	hostQ, hostOh []float32 // Infer staging
	hostScal      []float32
}

// newShu returns model B for cfg (defaults filled, validated) on b, its parameters
// drawn from cfg.Seed and its buffers laid out for cfg.MaxBatch rows.
func newShu(b engine.Backend, cfg Config) (Model, error) {
	if len(cfg.Hidden) < 1 {
		return nil, fmt.Errorf("gmvae: shu needs at least one hidden layer (hidden = %v)", cfg.Hidden)
	}
	if cfg.Likelihood != Bernoulli && cfg.Likelihood != Gaussian {
		return nil, fmt.Errorf("gmvae: likelihood %q, want bernoulli or gaussian", cfg.Likelihood)
	}
	if !(cfg.LvMin > -80 && cfg.LvMax < 80) {
		return nil, fmt.Errorf("gmvae: log-variance bounds [%g, %g] must lie inside (-80, 80) (exp of them must stay finite)", cfg.LvMin, cfg.LvMax)
	}
	if uint64(cfg.K) > streamShuGen-streamShu {
		return nil, fmt.Errorf("gmvae: k = %d clusters is too many", cfg.K)
	}
	D, K, Dz, H := cfg.D, cfg.K, cfg.Dz, cfg.Hidden
	L := len(H)
	s := &shu{b: b, cfg: cfg, ps: nn.NewParams(b), h0: H[0], hTop: H[L-1], tau: cfg.Tau}
	ps := s.ps
	s.qy = nn.NewMLP(ps, "qy", append(append([]int{D}, H...), K), shuActivation, kernels.ActNone)
	s.wx = ps.Add("qz.0.Wx", D*H[0], nn.Glorot(D+K, H[0]))
	s.wy = ps.Add("qz.0.Wy", K*H[0], nn.Glorot(D+K, H[0]))
	if L > 1 {
		s.qzUp = nn.NewMLP(ps, "qz.up", H, shuActivation, shuActivation)
	}
	s.qzM = nn.NewLinear(ps, "qz.m", H[L-1], Dz, kernels.ActNone)
	s.qzLv = nn.NewLinear(ps, "qz.lv", H[L-1], Dz, kernels.ActNone)
	s.pMu = ps.Add("pz.mu", K*Dz, nn.Glorot(K, Dz))
	s.pLv = ps.Add("pz.lv", K*Dz, nn.Init{})
	dec := []int{Dz}
	for i := L - 1; i >= 0; i-- {
		dec = append(dec, H[i])
	}
	s.px = nn.NewMLP(ps, "px", dec, shuActivation, shuActivation)
	s.pxOut = nn.NewLinear(ps, "px.out", H[0], D, kernels.ActNone)
	if cfg.Likelihood == Gaussian {
		s.pxLv = nn.NewLinear(ps, "px.lv", H[0], D, kernels.ActNone)
	}
	if err := checkExpected(cfg, ps); err != nil {
		return nil, err
	}
	if err := ps.Alloc(cfg.Seed); err != nil {
		ps.Release()
		return nil, err
	}
	if err := s.alloc(); err != nil {
		s.Release()
		return nil, err
	}
	return s, nil
}

// alloc lays out every buffer for cfg.MaxBatch rows.
func (s *shu) alloc() error {
	c := s.cfg
	N, K, Dz, D := c.MaxBatch, c.K, c.Dz, c.D
	s.rows = N
	if !c.Gumbel {
		s.rows = K * N
	}
	R := s.rows
	var err error
	nb := func(n int, tag string) *engine.Buf {
		if err != nil {
			return nil
		}
		var buf *engine.Buf
		buf, err = s.b.New(n, "shu "+tag)
		if err == nil {
			s.all = append(s.all, buf)
		}
		return buf
	}
	s.lse, s.q, s.gq, s.dlog = nb(N, "lse"), nb(N*K, "q(y|x)"), nb(N*K, "dq"), nb(N*K, "dlogits y")
	s.xl, s.invN, s.negN = nb(N, "sum q log q"), nb(N, "1/n"), nb(N, "-1/n")
	s.h1, s.dh1, s.dpre1 = nb(R*s.h0, "qz.0 output"), nb(R*s.h0, "qz.0 output gradient"), nb(R*s.h0, "qz.0 pre-activation gradient")
	if s.qzUp != nil {
		s.dtop = nb(R*s.hTop, "qz top gradient")
	} else {
		s.dtop = s.dh1
	}
	s.m, s.spre, s.s = nb(R*Dz, "m"), nb(R*Dz, "s unclamped"), nb(R*Dz, "s")
	s.eps, s.z = nb(R*Dz, "eps"), nb(R*Dz, "z")
	s.dm, s.ds, s.dspre, s.dz = nb(R*Dz, "dm"), nb(R*Dz, "ds"), nb(R*Dz, "ds unclamped"), nb(R*Dz, "dz")
	s.mub, s.lvb, s.dmub, s.dlvb = nb(R*Dz, "prior mu"), nb(R*Dz, "prior lv"), nb(R*Dz, "prior dmu"), nb(R*Dz, "prior dlv")
	s.lvc, s.dlvc = nb(K*Dz, "prior lv clamped"), nb(K*Dz, "prior dlv clamped")
	s.lx, s.dlx, s.dhd = nb(R*D, "decoder output"), nb(R*D, "decoder output gradient"), nb(R*s.h0, "decoder trunk gradient")
	if c.Likelihood == Gaussian {
		s.xlvRaw, s.xlv = nb(R*D, "decoder lv unclamped"), nb(R*D, "decoder lv")
		s.dxlv, s.dxlvRaw = nb(R*D, "decoder dlv"), nb(R*D, "decoder dlv unclamped")
	}
	s.llx, s.qll, s.pll = nb(R, "log p(x|z)"), nb(R, "log q(z|x,y)"), nb(R, "log p(z|y)")
	s.scal = nb(3, "batch sums")
	if c.Gumbel {
		s.gn, s.u, s.y, s.du, s.dy = nb(N*K, "gumbel noise"), nb(N*K, "gumbel logits"), nb(N*K, "y"), nb(N*K, "du"), nb(N*K, "dy")
	} else {
		s.p1, s.dp1 = nb(N*s.h0, "x·Wx"), nb(N*s.h0, "d x·Wx")
		s.qT, s.w, s.negw = nb(K*N, "q transposed"), nb(K*N, "q/n"), nb(K*N, "-q/n")
		s.E, s.eye, s.ohT = nb(K*N*K, "block indicator"), nb(K*K, "identity"), nb(K*N, "argmax one-hot")
	}
	if err != nil {
		// Before the host copies below: their sizes follow the buffers the backend
		// just refused for lack of memory (a host make would end the process).
		return err
	}
	if !c.Gumbel {
		s.hostE = make([]float32, K*N*K)
	}
	s.hostQ, s.hostOh, s.hostScal = make([]float32, N*K), make([]float32, N*K), make([]float32, 3)
	if s.qyB, err = s.qy.NewBufs(s.b, N, "shu qy"); err != nil {
		return err
	}
	if s.qzUp != nil {
		if s.qzUpB, err = s.qzUp.NewBufs(s.b, R, "shu qz"); err != nil {
			return err
		}
	}
	if s.pxB, err = s.px.NewBufs(s.b, R, "shu px"); err != nil {
		return err
	}
	if !c.Gumbel {
		id := make([]float32, K*K)
		for k := 0; k < K; k++ {
			id[k*K+k] = 1
		}
		err = s.b.Upload(s.eye, id)
	}
	return err
}

func (s *shu) Config() Config         { return s.cfg }
func (s *shu) Params() *nn.Params     { return s.ps }
func (s *shu) tensor(i int) nn.Tensor { return s.ps.Tensor(i) }

// Temperature implements Tempered.
func (s *shu) Temperature() float32 { return s.tau }

// SetTemperature implements Tempered.
func (s *shu) SetTemperature(tau float32) error {
	if !s.cfg.Gumbel {
		return fmt.Errorf("gmvae: shu: a temperature needs gumbel (the exact marginal has none)")
	}
	if !(tau > 0) || math.IsInf(float64(tau), 0) {
		return fmt.Errorf("gmvae: shu: temperature %g, want a positive finite number", tau)
	}
	s.tau = tau
	return nil
}

// Release gives every buffer back to the backend.
func (s *shu) Release() error {
	err := releaseModel(s.b, s.all, []*nn.MLPBufs{s.qyB, s.qzUpB, s.pxB}, s.ps)
	s.all, s.qyB, s.qzUpB, s.pxB = nil, nil, nil, nil
	return err
}

func (s *shu) check(x *engine.Buf, n int) error {
	if n < 1 || n > s.cfg.MaxBatch {
		return fmt.Errorf("gmvae: shu: batch of %d rows, want 1..%d (max_batch)", n, s.cfg.MaxBatch)
	}
	if x.Len() < n*s.cfg.D {
		return fmt.Errorf("gmvae: shu: batch of %d rows of %d needs %d values, x has %d", n, s.cfg.D, n*s.cfg.D, x.Len())
	}
	return nil
}

// setConsts uploads the block indicator E (K*n, K) for batches of n rows (exact mode).
func (s *shu) setConsts(n int) error {
	if s.constN == n {
		return nil
	}
	K := s.cfg.K
	e := s.hostE[:K*n*K]
	for i := range e {
		e[i] = 0
	}
	for k := 0; k < K; k++ {
		for i := 0; i < n; i++ {
			e[(k*n+i)*K+k] = 1
		}
	}
	if err := s.b.Upload(s.E.Slice(0, len(e)), e); err != nil {
		return err
	}
	s.constN = n
	return nil
}

// blk returns block k of a cluster-major buffer whose blocks are size elements.
func shuBlk(buf *engine.Buf, k, size int) *engine.Buf { return buf.Slice(k*size, size) }

// forward runs the forward pass of the batch x (n rows) with the draws of step and
// launches the batch sums into s.scal: [0] sum of q-weighted log p(x|z) (Gumbel: of
// log p(x|z)), [1] the same of log q(z|x,y) - log p(z|y), [2] sum_i sum_k q log q.
func (s *shu) forward(x *engine.Buf, n int, step uint64, mode nn.Mode) error {
	c := s.cfg
	K, Dz, D, H0 := c.K, c.Dz, c.D, s.h0
	l := newLauncher(s.b, "shu")
	// q(y|x): logits (n, K), lse (n), q (n, K).
	l.do(s.qy.Forward(l.b, x, n, s.qyB, mode))
	logits := s.qyB.Output()
	l.do(ops.LseSoftmax(l.b, n, K, logits, s.lse, s.q))
	wx, wy := s.tensor(s.wx), s.tensor(s.wy)
	mu, lv := s.tensor(s.pMu), s.tensor(s.pLv)
	var R int // rows of the z path
	var yw *engine.Buf
	if c.Gumbel {
		R = n
		// y = softmax((logits + g) / tau), g standard Gumbel (n, K).
		l.do(ops.Gumbel(l.b, s.gn, n*K, c.Seed, kernels.StreamID(step, streamShu)))
		l.do(ops.EwAdd(l.b, logits, s.gn, s.u, n*K))
		l.do(ops.EwScale(l.b, s.u, s.u, n*K, 1/s.tau))
		l.do(ops.LseSoftmax(l.b, n, K, s.u, nil, s.y))
		// h1 (n, h0) = relu(x·Wx + y·Wy).
		l.do(ops.GemmNN(l.b, x, wx.P, nil, s.h1, n, H0, D, kernels.ActNone, false))
		l.do(ops.GemmNN(l.b, s.y, wy.P, nil, s.h1, n, H0, K, shuActivation, true))
		yw = s.y
	} else {
		R = K * n
		l.do(s.setConsts(n))
		// qT (K, n) = qᵀ = I_K·qᵀ.
		l.do(ops.GemmNT(l.b, s.eye, s.q, nil, s.qT, K, n, K, kernels.ActNone, false))
		// h1 block k (n, h0) = relu(x·Wx + Wy[k]).
		l.do(ops.GemmNN(l.b, x, wx.P, nil, s.p1, n, H0, D, kernels.ActNone, false))
		for k := 0; k < K; k++ {
			l.do(ops.EwScale(l.b, s.p1, shuBlk(s.h1, k, n*H0), n*H0, float32(1)))
		}
		l.do(ops.GemmNN(l.b, s.E, wy.P, nil, s.h1, R, H0, K, shuActivation, true))
		yw = s.E
	}
	// The rest of the z-encoder over R rows, the heads, the samples.
	top := s.h1
	if s.qzUp != nil {
		l.do(s.qzUp.Forward(l.b, s.h1, R, s.qzUpB, mode))
		top = s.qzUpB.Output()
	}
	l.do(s.qzM.Forward(l.b, top, s.m, R, nn.Scratch{}))
	l.do(s.qzLv.Forward(l.b, top, s.spre, R, nn.Scratch{}))
	l.do(ops.Clamp(l.b, s.spre, s.s, R*Dz, c.LvMin, c.LvMax))
	if c.Gumbel {
		l.do(ops.Reparam(l.b, s.m, s.s, s.eps, s.z, R*Dz, c.Seed, kernels.StreamID(step, streamShu+1)))
	} else {
		for k := 0; k < K; k++ {
			l.do(ops.Reparam(l.b, shuBlk(s.m, k, n*Dz), shuBlk(s.s, k, n*Dz), shuBlk(s.eps, k, n*Dz), shuBlk(s.z, k, n*Dz), n*Dz, c.Seed, kernels.StreamID(step, uint32(streamShu+k))))
		}
	}
	// Decoder and log p(x|z) (R).
	l.do(s.px.Forward(l.b, s.z, R, s.pxB, mode))
	hd := s.pxB.Output()
	l.do(s.pxOut.Forward(l.b, hd, s.lx, R, nn.Scratch{}))
	if c.Likelihood == Gaussian {
		l.do(s.pxLv.Forward(l.b, hd, s.xlvRaw, R, nn.Scratch{}))
		l.do(ops.Clamp(l.b, s.xlvRaw, s.xlv, R*D, c.LvMin, c.LvMax))
	}
	// One launch per block of n rows (each reads the batch x (n, D)).
	for k := 0; k < R/n; k++ {
		if c.Likelihood == Gaussian {
			l.do(ops.GaussianLoglik(l.b, x, shuBlk(s.lx, k, n*D), shuBlk(s.xlv, k, n*D), shuBlk(s.llx, k, n), n, D))
		} else {
			l.do(ops.BernoulliLoglik(l.b, x, shuBlk(s.lx, k, n*D), shuBlk(s.llx, k, n), n, D))
		}
	}
	// p(z|y): mub, lvb (R, Dz) = yw·MU, yw·clamp(LV) (yw: soft y or the indicator E).
	l.do(ops.Clamp(l.b, lv.P, s.lvc, K*Dz, c.LvMin, c.LvMax))
	l.do(ops.GemmNN(l.b, yw, mu.P, nil, s.mub, R, Dz, K, kernels.ActNone, false))
	l.do(ops.GemmNN(l.b, yw, s.lvc, nil, s.lvb, R, Dz, K, kernels.ActNone, false))
	l.do(ops.GaussianLoglik(l.b, s.z, s.m, s.s, s.qll, R, Dz))
	l.do(ops.GaussianLoglik(l.b, s.z, s.mub, s.lvb, s.pll, R, Dz))
	// qll := log q(z|x,y) - log p(z|y).
	l.do(ops.EwAxpby(l.b, s.pll, s.qll, R, float32(-1), float32(1)))
	// Batch sums.
	if c.Gumbel {
		l.do(ops.SumAll(l.b, s.llx, s.scal.Slice(0, 1), R, float32(1)))
		l.do(ops.SumAll(l.b, s.qll, s.scal.Slice(1, 1), R, float32(1)))
	} else {
		l.do(ops.RowDot(l.b, s.qT, s.llx, s.scal.Slice(0, 1), 1, R))
		l.do(ops.RowDot(l.b, s.qT, s.qll, s.scal.Slice(1, 1), 1, R))
	}
	l.do(ops.XlogxRows(l.b, s.q, s.xl, n, K))
	l.do(ops.SumAll(l.b, s.xl, s.scal.Slice(2, 1), n, float32(1)))
	return l.err
}

// terms brings back the batch sums of the last forward.
func (s *shu) terms(n int) (Terms, error) {
	if err := s.b.Download(s.hostScal, s.scal); err != nil {
		return Terms{}, err
	}
	fn := float64(n)
	t := Terms{
		Recon: -float64(s.hostScal[0]) / fn,
		KLz:   float64(s.hostScal[1]) / fn,
		KLy:   float64(s.hostScal[2])/fn + math.Log(float64(s.cfg.K)),
	}
	t.Loss = t.Recon + t.KLz + t.KLy
	t.ELBO = -t.Loss
	return t, nil
}

// backward adds the gradients of the last forward's loss (batch mean) to Params().G.
func (s *shu) backward(x *engine.Buf, n int) error {
	c := s.cfg
	K, Dz, D, H0 := c.K, c.Dz, c.D, s.h0
	l := newLauncher(s.b, "shu")
	inv := 1 / float32(n)
	wx, wy := s.tensor(s.wx), s.tensor(s.wy)
	mu, lv := s.tensor(s.pMu), s.tensor(s.pLv)
	l.do(nn.Fill(l.b, s.invN.Slice(0, n), inv))
	l.do(nn.Fill(l.b, s.negN.Slice(0, n), -inv))
	R := n
	w, negw, yw := s.invN, s.negN, s.y
	if !c.Gumbel {
		R = K * n
		// Row weights w = q/n, negw = -q/n in the (K, n) layout.
		l.do(ops.EwScale(l.b, s.qT, s.w, R, inv))
		l.do(ops.EwScale(l.b, s.qT, s.negw, R, -inv))
		// Branches with q(y=k|x) below 2^-64 get weight 0 (dilokthanakul.go,
		// "Negligible responsibilities"): trained models put most branches there, and
		// their tiny weights made subnormal gradients through the whole decoder.
		l.do(ops.ClampBwd(l.b, s.qT, s.w, s.w, R, pNegligible, float32(2), false))
		l.do(ops.ClampBwd(l.b, s.qT, s.negw, s.negw, R, pNegligible, float32(2), false))
		w, negw, yw = s.w, s.negw, s.E
	}
	// Decoder: d loss / d log p(x|z) = -w.
	for k := 0; k < R/n; k++ {
		if c.Likelihood == Gaussian {
			l.do(ops.GaussianLoglikBwd(l.b, x, shuBlk(s.lx, k, n*D), shuBlk(s.xlv, k, n*D), shuBlk(negw, k, n), shuBlk(s.dlx, k, n*D), shuBlk(s.dxlv, k, n*D), n, D, false))
		} else {
			l.do(ops.BernoulliLoglikBwd(l.b, x, shuBlk(s.lx, k, n*D), shuBlk(negw, k, n), shuBlk(s.dlx, k, n*D), n, D, false))
		}
	}
	if c.Likelihood == Bernoulli {
		// The logits in s.lx are not read again in this step (pxOut has no
		// activation): they serve as flushTiny's scratch.
		l.flushTiny(s.dlx, s.lx, R*D)
	}
	hd := s.pxB.Output()
	l.do(s.pxOut.Backward(l.b, hd, s.lx, s.dlx, s.dhd, R, nn.Scratch{}, false))
	if c.Likelihood == Gaussian {
		l.do(ops.ClampBwd(l.b, s.xlvRaw, s.dxlv, s.dxlvRaw, R*D, c.LvMin, c.LvMax, false))
		l.do(s.pxLv.Backward(l.b, hd, s.xlvRaw, s.dxlvRaw, s.dhd, R, nn.Scratch{}, true))
	}
	l.do(s.px.Backward(l.b, s.z, s.dhd, s.dz, R, s.pxB, false))
	// log q(z|x,y) (weight +w) and log p(z|y) (weight -w): gradients of their means
	// and log-variances; the gradient of z is minus that of the mean.
	l.do(ops.GaussianLoglikBwd(l.b, s.z, s.m, s.s, w, s.dm, s.ds, R, Dz, false))
	l.do(ops.GaussianLoglikBwd(l.b, s.z, s.mub, s.lvb, negw, s.dmub, s.dlvb, R, Dz, false))
	l.do(ops.EwAxpby(l.b, s.dm, s.dz, R*Dz, float32(-1), float32(1)))
	l.do(ops.EwAxpby(l.b, s.dmub, s.dz, R*Dz, float32(-1), float32(1)))
	l.do(ops.ReparamBwd(l.b, s.s, s.eps, s.dz, s.dm, s.ds, R*Dz, true))
	l.do(ops.ClampBwd(l.b, s.spre, s.ds, s.dspre, R*Dz, c.LvMin, c.LvMax, false))
	// Prior parameters: dMU += ywᵀ·dmub, dLV += clamp'(ywᵀ·dlvb).
	l.do(ops.GemmTN(l.b, yw, s.dmub, nil, mu.G, K, Dz, R, kernels.ActNone, true))
	l.do(ops.GemmTN(l.b, yw, s.dlvb, nil, s.dlvc, K, Dz, R, kernels.ActNone, false))
	l.do(ops.ClampBwd(l.b, lv.P, s.dlvc, lv.G, K*Dz, c.LvMin, c.LvMax, true))
	if c.Gumbel {
		// dy (n, K) = dmub·MUᵀ + dlvb·clamp(LV)ᵀ (+ the first layer's below).
		l.do(ops.GemmNT(l.b, s.dmub, mu.P, nil, s.dy, n, K, Dz, kernels.ActNone, false))
		l.do(ops.GemmNT(l.b, s.dlvb, s.lvc, nil, s.dy, n, K, Dz, kernels.ActNone, true))
	}
	// Heads and the z-encoder above its first layer.
	top := s.h1
	if s.qzUp != nil {
		top = s.qzUpB.Output()
	}
	l.do(s.qzM.Backward(l.b, top, s.m, s.dm, s.dtop, R, nn.Scratch{}, false))
	l.do(s.qzLv.Backward(l.b, top, s.spre, s.dspre, s.dtop, R, nn.Scratch{}, true))
	if s.qzUp != nil {
		l.do(s.qzUp.Backward(l.b, s.h1, s.dtop, s.dh1, R, s.qzUpB, false))
	}
	// First layer: dpre1 = relu'(h1) dh1 (R, h0).
	l.do(ops.ActBwd(l.b, s.h1, s.h1, s.dh1, s.dpre1, R*H0, shuActivation, false))
	if c.Gumbel {
		l.do(ops.GemmTN(l.b, x, s.dpre1, nil, wx.G, D, H0, n, kernels.ActNone, true))
		l.do(ops.GemmTN(l.b, s.y, s.dpre1, nil, wy.G, K, H0, n, kernels.ActNone, true))
		l.do(ops.GemmNT(l.b, s.dpre1, wy.P, nil, s.dy, n, K, H0, kernels.ActNone, true))
		// y = softmax(u), u = (logits + g)/tau: dlogits = lse_softmax_bwd(dy)/tau.
		l.do(ops.LseSoftmaxBwd(l.b, n, K, s.y, nil, s.dy, s.du, false))
		l.do(ops.EwScale(l.b, s.du, s.dlog, n*K, 1/s.tau))
		// KL(q || uniform): d/dq = (log q + 1)/n.
		l.do(ops.XlogxRowsBwd(l.b, s.q, s.invN, s.gq, n, K, false))
		l.do(ops.LseSoftmaxBwd(l.b, n, K, s.q, nil, s.gq, s.dlog, true))
	} else {
		// dWy += Eᵀ·dpre1 (per-cluster column sums of the blocks).
		l.do(ops.GemmTN(l.b, s.E, s.dpre1, nil, wy.G, K, H0, R, kernels.ActNone, true))
		// dp1 = sum_k dpre1 block k (k ascending), dWx += xᵀ·dp1.
		dp := s.dpre1
		if K > 1 {
			dp = s.dp1
			l.do(ops.EwAdd(l.b, shuBlk(s.dpre1, 0, n*H0), shuBlk(s.dpre1, 1, n*H0), s.dp1, n*H0))
			for k := 2; k < K; k++ {
				l.do(ops.EwAdd(l.b, s.dp1, shuBlk(s.dpre1, k, n*H0), s.dp1, n*H0))
			}
		}
		l.do(ops.GemmTN(l.b, x, dp, nil, wx.G, D, H0, n, kernels.ActNone, true))
		// d loss / d q (n, K) = (l + log q + 1)/n, l (K, n) the loss row
		// log q(z|x,y) - log p(z|y) - log p(x|z): transposed by I_n.
		l.do(ops.EwAxpby(l.b, s.llx, s.qll, R, float32(-1), float32(1)))
		l.do(ops.GemmTN(l.b, s.qll, s.eye, nil, s.gq, n, K, K, kernels.ActNone, false))
		l.do(ops.EwScale(l.b, s.gq, s.gq, n*K, inv))
		l.do(ops.XlogxRowsBwd(l.b, s.q, s.invN, s.gq, n, K, true))
		l.do(ops.LseSoftmaxBwd(l.b, n, K, s.q, nil, s.gq, s.dlog, false))
	}
	l.do(s.qy.Backward(l.b, x, s.dlog, nil, n, s.qyB, false))
	return l.err
}

// TrainBatch implements Model.
func (s *shu) TrainBatch(x *engine.Buf, n int, step uint64) (Terms, error) {
	if err := s.check(x, n); err != nil {
		return Terms{}, err
	}
	if err := s.forward(x, n, step, nn.Train); err != nil {
		return Terms{}, err
	}
	if err := s.backward(x, n); err != nil {
		return Terms{}, err
	}
	return s.terms(n)
}

// Infer implements Model: post = q(y|x) (n, K), logits = the q(y|x) network's output
// (n, K), zmean = m(x, y = argmax_k q) (n, Dz) (first maximum; a NaN row picks cluster
// 0), and the Terms of step's draws (see the file comment). It changes no gradient.
func (s *shu) Infer(x *engine.Buf, n int, post, logits, zmean *engine.Buf, step uint64) (Terms, error) {
	if err := s.check(x, n); err != nil {
		return Terms{}, err
	}
	c := s.cfg
	K, Dz, D, H0 := c.K, c.Dz, c.D, s.h0
	if err := checkInferOutputs("shu", c, n, post, logits, zmean); err != nil {
		return Terms{}, err
	}
	if err := s.forward(x, n, step, nn.Eval); err != nil {
		return Terms{}, err
	}
	t, err := s.terms(n)
	if err != nil {
		return Terms{}, err
	}
	l := newLauncher(s.b, "shu")
	l.do(ops.EwScale(l.b, s.q, post, n*K, float32(1)))
	if logits != nil {
		l.do(ops.EwScale(l.b, s.qyB.Output(), logits, n*K, float32(1)))
	}
	q := s.hostQ[:n*K]
	l.do(s.b.Download(q, s.q.Slice(0, n*K)))
	if l.err != nil {
		return Terms{}, l.err
	}
	oh := s.hostOh[:n*K]
	for i := range oh {
		oh[i] = 0
	}
	for i := 0; i < n; i++ {
		best := 0
		for k := 1; k < K; k++ {
			if q[i*K+k] > q[i*K+best] {
				best = k
			}
		}
		if c.Gumbel {
			oh[i*K+best] = 1 // (n, K)
		} else {
			oh[best*n+i] = 1 // transposed (K, n)
		}
	}
	if c.Gumbel {
		// Rerun the z-encoder's mean with the one-hot y.
		wx, wy := s.tensor(s.wx), s.tensor(s.wy)
		l.do(s.b.Upload(s.y.Slice(0, n*K), oh))
		l.do(ops.GemmNN(l.b, x, wx.P, nil, s.h1, n, H0, D, kernels.ActNone, false))
		l.do(ops.GemmNN(l.b, s.y, wy.P, nil, s.h1, n, H0, K, shuActivation, true))
		top := s.h1
		if s.qzUp != nil {
			l.do(s.qzUp.Forward(l.b, s.h1, n, s.qzUpB, nn.Eval))
			top = s.qzUpB.Output()
		}
		l.do(s.qzM.Forward(l.b, top, zmean, n, nn.Scratch{}))
		return t, l.err
	}
	// zmean = sum_k onehot_k * m block k (exact: one term is m, the others +-0).
	l.do(s.b.Upload(s.ohT.Slice(0, n*K), oh))
	l.do(ops.RowScale(l.b, shuBlk(s.m, 0, n*Dz), shuBlk(s.ohT, 0, n), zmean, n, Dz))
	for k := 1; k < K; k++ {
		l.do(ops.RowScale(l.b, shuBlk(s.m, k, n*Dz), shuBlk(s.ohT, k, n), s.dz, n, Dz))
		l.do(ops.EwAdd(l.b, zmean, s.dz, zmean, n*Dz))
	}
	return t, l.err
}

// Decode implements Model: the decoder on z (n, Dz), sigmoid of the logits (Bernoulli)
// or the mean head (Gaussian) into xmean (n, D).
func (s *shu) Decode(z *engine.Buf, n int, xmean *engine.Buf) error {
	return decodeMean(s.b, "shu", s.cfg, s.px, s.pxB, s.pxOut, z, n, xmean)
}

// SampleCluster implements Model: z (n, Dz) = MU_k + exp(clamp(LV_k)/2) eps, eps the
// normals of (seed, kernels.StreamID(k, streamShuGen)).
func (s *shu) SampleCluster(k, n int, z *engine.Buf, seed uint64) error {
	c := s.cfg
	if err := checkSample("shu", c, k, n, z); err != nil {
		return err
	}
	Dz := c.Dz
	if s.ones == nil {
		ones, err := s.b.New(c.MaxBatch, "shu sample ones")
		if err != nil {
			return err
		}
		s.all = append(s.all, ones)
		if err := nn.Fill(s.b, ones, 1); err != nil {
			return err
		}
		s.ones = ones
	}
	mu, lv := s.tensor(s.pMu), s.tensor(s.pLv)
	l := newLauncher(s.b, "shu")
	// The training buffers mub, lvb, eps (rows >= MaxBatch) and lvc (K, Dz) are free
	// between steps.
	l.do(ops.Clamp(l.b, lv.P.Slice(k*Dz, Dz), s.lvc.Slice(k*Dz, Dz), Dz, c.LvMin, c.LvMax))
	l.do(ops.GemmNN(l.b, s.ones, mu.P.Slice(k*Dz, Dz), nil, s.mub, n, Dz, 1, kernels.ActNone, false))
	l.do(ops.GemmNN(l.b, s.ones, s.lvc.Slice(k*Dz, Dz), nil, s.lvb, n, Dz, 1, kernels.ActNone, false))
	l.do(ops.Reparam(l.b, s.mub, s.lvb, s.eps, z, n*Dz, seed, kernels.StreamID(uint64(k), streamShuGen)))
	return l.err
}
