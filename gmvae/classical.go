package gmvae

// The classical models, "kmeans" and "gmm": k-means and a diagonal Gaussian mixture
// fitted to the data itself (package cluster), behind the same Model interface as the
// GMM-VAEs, so that they train into the same run folder (config, metrics, summary,
// checkpoint, pictures) and assign and predict the same way. They are fitted in one
// call on the whole training set (Fitter), not by gradient steps.
//
// Parameters (checkpoint tensors): kmeans: "centers" (K, D); gmm: "log_weights" (K),
// "means" (K, D), "log_vars" (K, D); gmm with full (or auto) covariances:
// "log_weights", "means", "chol" (K, D, D: L_k, Sigma_k = L_k L_kᵀ, lower triangular),
// "prec_chol" (K, D, D: W_k = L_k⁻¹), "center" (D), "shift" (K, D: -W_k (mu_k -
// center)) and "log_norm" (K: log pi_k + log |W_k|), as package cluster's GMM holds
// them. The logs are taken with the engine's float32 log (kernels/fmath), so a
// checkpoint is the same bits on every machine.
//
// The latent space is the data space: Dz = D, zmean = x, Decode is the identity.
//
// Infer: gmm: post = p(k|x) and logits = log pi_k + log N(x; mu_k, Sigma_k) (the
// mixture kernel; full: on y = W_k (x - center) + ... as cluster.GMM describes); kmeans: logits = -||x - c_k||²/2 (the mixture kernel with unit variances
// and no weights, up to a constant per row), post their softmax, whose argmax is the
// nearest center. Terms: gmm: ELBO = the mean log-likelihood per row, Loss its
// negative; kmeans: Recon = the mean squared distance to the nearest center (the
// inertia per row), Loss = Recon.
//
// SampleCluster: gmm: z ~ N(mu_k, Sigma_k) (diag: mu + sigma·eps; full: mu + L_k eps)
// on the stream kernels.StreamID(k, streamClassicalGen); kmeans: the center c_k in
// every row (nothing to draw).

import (
	"context"
	"fmt"
	"math"

	"github.com/gmvae/gmvae/cluster"
	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/kernels"
	"github.com/gmvae/gmvae/kernels/fmath"
	"github.com/gmvae/gmvae/nn"
	"github.com/gmvae/gmvae/ops"
)

// streamClassicalGen is the random tensor id of a gmm's SampleCluster.
const streamClassicalGen = 0x5A3E_0D00

// CovAuto is model gmm's covariance choice made from the data: both diagonal and full
// covariances are fitted and the one of lower BIC kept (Config.Covariance).
const CovAuto = "auto"

// Fitter is a model fitted in one call on the whole training set (the classical
// models) instead of by gradient steps; trainer.Train calls Fit in place of epochs.
type Fitter interface {
	// Fit fits the model to the n rows of x (n, D) on the model's backend and returns
	// a report of the fit (restarts and the criterion that chose among them).
	Fit(ctx context.Context, x *engine.Buf, n int) (FitReport, error)
}

// FitReport describes a classical model's fit.
type FitReport struct {
	// Objective names the criterion restarts are chosen by: "inertia" (lower is
	// better, k-means) or "log_likelihood" (higher, the mixture).
	Objective string    `json:"objective"`
	Restarts  []float64 `json:"restarts"` // every restart's value
	Kept      int       `json:"kept"`     // the restart kept
	Iters     int       `json:"iters"`    // its iterations
	Converged bool      `json:"converged"`
	// Covariance is the gmm's covariance type kept ("diag" or "full"); BIC holds each
	// fitted type's BIC on the training rows when Config.Covariance is "auto", which
	// keeps the lower of the eligible ones (empty otherwise); Note says why the full
	// fit was not eligible, if it was not.
	Covariance string             `json:"covariance,omitempty"`
	BIC        map[string]float64 `json:"bic,omitempty"`
	Note       string             `json:"note,omitempty"`
}

// classical is a kmeans or gmm model on one backend.
type classical struct {
	b   engine.Backend
	cfg Config
	ps  *nn.Params
	// Tensor indices in ps: kmeans uses mu only; a full gmm has no lv.
	logw, mu, lv int
	// full: the gmm has full covariances (Config.Covariance full or auto), with the
	// tensors chol, prec, center, shift and lnorm, and Infer's scratch: the centered
	// rows xcen (N, D), the transformed rows y (N, K·D), ones (N), onesD and zerosD (D).
	full                             bool
	chol, prec, center, shift, lnorm int
	xcen, y, ones1, onesD, zerosD    *engine.Buf

	all                        []*engine.Buf
	unit, L, lse, rows         *engine.Buf // unit: (K, D) log-variances of kmeans; L (N, K); lse, rows (N)
	sum                        *engine.Buf
	host                       []float32
	ones, genMu, genLv, genEps *engine.Buf // SampleCluster's (nil until used)
}

// newClassical builds a kmeans or gmm model for cfg (defaults filled in and validated).
func newClassical(b engine.Backend, cfg Config) (Model, error) {
	ps := nn.NewParams(b)
	c := &classical{b: b, cfg: cfg, ps: ps, logw: -1, lv: -1}
	K, D := cfg.K, cfg.D
	c.full = cfg.Model == "gmm" && (cfg.Covariance == cluster.CovFull || cfg.Covariance == CovAuto)
	switch {
	case cfg.Model == "kmeans":
		c.mu = ps.Add("centers", K*D, nn.Init{})
	case c.full:
		c.logw = ps.Add("log_weights", K, nn.Init{Const: float32(-math.Log(float64(K)))})
		c.mu = ps.Add("means", K*D, nn.Init{})
		c.chol = ps.Add("chol", K*D*D, nn.Init{})
		c.prec = ps.Add("prec_chol", K*D*D, nn.Init{})
		c.center = ps.Add("center", D, nn.Init{})
		c.shift = ps.Add("shift", K*D, nn.Init{})
		c.lnorm = ps.Add("log_norm", K, nn.Init{})
	default:
		c.logw = ps.Add("log_weights", K, nn.Init{Const: float32(-math.Log(float64(K)))})
		c.mu = ps.Add("means", K*D, nn.Init{})
		c.lv = ps.Add("log_vars", K*D, nn.Init{})
	}
	if err := checkExpected(cfg, ps); err != nil {
		return nil, err
	}
	if err := ps.Alloc(cfg.Seed); err != nil {
		return nil, err
	}
	if err := c.alloc(); err != nil {
		c.Release()
		return nil, err
	}
	return c, nil
}

func (c *classical) alloc() error {
	N, K, D := c.cfg.MaxBatch, c.cfg.K, c.cfg.D
	var err error
	nb := func(n int, tag string) *engine.Buf {
		if err != nil {
			return nil
		}
		var x *engine.Buf
		x, err = c.b.New(n, c.cfg.Model+" "+tag)
		if err == nil {
			c.all = append(c.all, x)
		}
		return x
	}
	c.L, c.lse, c.rows, c.sum = nb(N*K, "log-densities"), nb(N, "log-sum-exp"), nb(N, "row terms"), nb(1, "sum")
	if c.cfg.Model == "kmeans" {
		c.unit = nb(K*D, "unit log-variances")
	}
	if c.full {
		c.xcen, c.y, c.ones1 = nb(N*D, "centered rows"), nb(N*K*D, "transformed rows"), nb(N, "ones")
		c.onesD, c.zerosD = nb(D, "ones"), nb(D, "zeros")
	}
	if err != nil {
		return err
	}
	c.host = make([]float32, 1)
	if c.full {
		for _, f := range []struct {
			b *engine.Buf
			n int
			v float32
		}{{c.ones1, N, 1}, {c.onesD, D, 1}, {c.zerosD, D, 0}} {
			if err := ops.EwFill(c.b, f.b, f.n, f.v); err != nil {
				return err
			}
		}
	}
	if c.unit != nil {
		return ops.EwFill(c.b, c.unit, K*D, 0)
	}
	return nil
}

// Config implements Model.
func (c *classical) Config() Config { return c.cfg }

// Params implements Model.
func (c *classical) Params() *nn.Params { return c.ps }

// Release implements Model.
func (c *classical) Release() error {
	err := releaseModel(c.b, c.all, nil, c.ps)
	c.all = nil
	return err
}

// Fit implements Fitter: cluster.FitKMeans or cluster.FitGMM with cfg.Restarts
// restarts (default: 10 for kmeans, as scikit-learn's n_init; 1 for gmm) keyed by
// cfg.Seed; the fitted parameters become the model's. Covariance auto fits the
// diagonal and the full mixture and keeps the lower BIC, the full one only when each of
// its components holds more rows than there are features (a diagonal winner is written
// in the full tensors, cluster.GMM.AsFull).
func (c *classical) Fit(ctx context.Context, x *engine.Buf, n int) (FitReport, error) {
	cfg := c.cfg
	if cfg.Model == "kmeans" {
		km, err := cluster.FitKMeans(ctx, c.b, x, n, cfg.D, cluster.KMeansConfig{K: cfg.K, Restarts: cfg.Restarts, Seed: cfg.Seed})
		if err != nil {
			return FitReport{}, err
		}
		if err := c.b.Upload(c.ps.Tensor(c.mu).P, km.Centers); err != nil {
			return FitReport{}, err
		}
		return FitReport{Objective: "inertia", Restarts: km.Inertias, Kept: km.Restart, Iters: km.Iters, Converged: km.Converged}, nil
	}
	fit := func(cov string) (*cluster.GMM, error) {
		return cluster.FitGMM(ctx, c.b, x, n, cfg.D, cluster.GMMConfig{K: cfg.K, Restarts: cfg.Restarts, Seed: cfg.Seed, Covariance: cov})
	}
	var g *cluster.GMM
	var bic map[string]float64
	var note string
	switch cfg.Covariance {
	case "", cluster.CovDiag, cluster.CovFull:
		cov := cfg.Covariance
		if cov == "" {
			cov = cluster.CovDiag
		}
		var err error
		if g, err = fit(cov); err != nil {
			return FitReport{}, err
		}
	case CovAuto:
		diag, err := fit(cluster.CovDiag)
		if err != nil {
			return FitReport{}, err
		}
		g, bic = diag, map[string]float64{cluster.CovDiag: diag.BIC(n)}
		// The full fit is eligible when every component holds more rows than there
		// are features: a covariance estimated from fewer is singular (held up by the
		// variance floor alone), and its density, so its likelihood and BIC, grow
		// without meaning (wine, 13 features: a component of 7 rows won the BIC with
		// a clustering 35 points worse). A full fit that fails (a covariance not
		// positive definite) leaves the diagonal one too.
		full, err := fit(cluster.CovFull)
		switch {
		case err != nil && ctx.Err() != nil:
			return FitReport{}, err
		case err != nil:
			note = fmt.Sprintf("the full fit failed: %v", err)
		default:
			bic[cluster.CovFull] = full.BIC(n)
			if note = fullIneligible(full, n); note == "" && bic[cluster.CovFull] < bic[cluster.CovDiag] {
				g = full
			}
		}
	}
	rep := FitReport{Objective: "log_likelihood", Restarts: g.LogLiks, Kept: g.Restart, Iters: g.Iters, Converged: g.Converged,
		Covariance: g.Covariance, BIC: bic, Note: note}
	logw := make([]float32, len(g.Weights))
	for i, w := range g.Weights {
		logw[i] = fmath.Log(w)
	}
	type tensor struct {
		i int
		v []float32
	}
	var ts []tensor
	if c.full {
		f, err := g.AsFull()
		if err != nil {
			return FitReport{}, err
		}
		ts = []tensor{{c.logw, logw}, {c.mu, f.Means}, {c.chol, f.Chol}, {c.prec, f.PrecChol}, {c.center, f.Center}, {c.shift, f.Shift}, {c.lnorm, f.LogNorm}}
	} else {
		lv := make([]float32, len(g.Vars))
		for i, v := range g.Vars {
			lv[i] = fmath.Log(v)
		}
		ts = []tensor{{c.logw, logw}, {c.mu, g.Means}, {c.lv, lv}}
	}
	for _, p := range ts {
		if err := c.b.Upload(c.ps.Tensor(p.i).P, p.v); err != nil {
			return FitReport{}, err
		}
	}
	return rep, nil
}

// fullIneligible says why a full-covariance fit of n rows may not be kept by "auto"
// ("" when it may): a component holds no more rows (weight × n) than there are
// features, so its covariance is singular.
func fullIneligible(g *cluster.GMM, n int) string {
	k := 0
	for i, w := range g.Weights {
		if w < g.Weights[k] {
			k = i
		}
	}
	if rows := float64(g.Weights[k]) * float64(n); rows <= float64(g.D) {
		return fmt.Sprintf("full not eligible: its component %d holds %.1f rows for %d features (a singular covariance)", k, rows, g.D)
	}
	return ""
}

// TrainBatch implements Model: a classical model is fitted by Fit, not by steps.
func (c *classical) TrainBatch(x *engine.Buf, n int, step uint64) (Terms, error) {
	return Terms{}, fmt.Errorf("gmvae: model %s is fitted in one call (Fit), not by gradient steps", c.cfg.Model)
}

// Infer implements Model (see the file comment); step is not used (nothing is drawn).
func (c *classical) Infer(x *engine.Buf, n int, post, logits, zmean *engine.Buf, step uint64) (Terms, error) {
	cfg := c.cfg
	K, D := cfg.K, cfg.D
	if n < 1 || n > cfg.MaxBatch {
		return Terms{}, fmt.Errorf("gmvae: %s infer: batch of %d rows, want 1..%d (max_batch)", cfg.Model, n, cfg.MaxBatch)
	}
	if x == nil || x.Len() < n*D || post == nil || post.Len() < n*K || zmean == nil || zmean.Len() < n*cfg.Dz ||
		(logits != nil && logits.Len() < n*K) {
		return Terms{}, fmt.Errorf("gmvae: %s infer: buffers too short for %d rows (x n*D, post and logits n*K, zmean n*Dz)", cfg.Model, n)
	}
	l := newLauncher(c.b, cfg.Model)
	mu := c.ps.Tensor(c.mu).P
	inv := float32(1) / float32(n)
	var t Terms
	if cfg.Model == "kmeans" {
		// L = -1/2 (D log 2pi + ||x - c||²); the row's largest L is its nearest center.
		l.do(ops.MixtureLoglik(l.b, n, K, D, x, mu, c.unit, 0, nil, 0, c.L, nil, post))
		// Recon = mean_i min_k ||x_i - c_k||² = mean_i (-2 max_k L - D log 2pi).
		l.do(c.rowMax(l, n))
		l.do(ops.SumAll(l.b, c.rows, c.sum, n, -2*inv))
		if l.err == nil {
			if err := c.b.Download(c.host, c.sum); err != nil {
				l.do(err)
			}
		}
		t.Recon = float64(c.host[0]) - float64(D)*float64(fmath.Log2Pi)
		t.Loss, t.ELBO = t.Recon, -t.Recon
	} else {
		if c.full {
			// y = W_k (x - center) + shift_k for every k, read as n·K rows of D; their
			// unit-variance log-densities plus log_norm_k (a rank-1 accumulation).
			T := func(i int) *engine.Buf { return c.ps.Tensor(i).P }
			l.do(ops.BnFwd(l.b, x, T(c.center), c.onesD, c.onesD, c.zerosD, c.xcen, n, D, kernels.ActNone))
			l.do(ops.GemmNT(l.b, c.xcen, T(c.prec), T(c.shift), c.y, n, K*D, D, kernels.ActNone, false))
			l.do(ops.MixtureLoglik(l.b, n*K, 1, D, c.y, c.zerosD, c.zerosD, 0, nil, 0, c.L, nil, nil))
			l.do(ops.GemmNN(l.b, c.ones1, T(c.lnorm), nil, c.L, n, K, 1, kernels.ActNone, true))
			l.do(ops.LseSoftmax(l.b, n, K, c.L, c.lse, post))
		} else {
			l.do(ops.MixtureLoglik(l.b, n, K, D, x, mu, c.ps.Tensor(c.lv).P, 0, c.ps.Tensor(c.logw).P, 0, c.L, c.lse, post))
		}
		l.do(ops.SumAll(l.b, c.lse, c.sum, n, inv))
		if l.err == nil {
			if err := c.b.Download(c.host, c.sum); err != nil {
				l.do(err)
			}
		}
		t.ELBO = float64(c.host[0])
		t.Loss = -t.ELBO
	}
	if logits != nil {
		l.do(ops.EwScale(l.b, c.L, logits, n*K, float32(1)))
	}
	l.do(ops.EwScale(l.b, x, zmean, n*D, float32(1)))
	return t, l.err
}

// rowMax writes the largest L of every row (n) into c.rows. There is no row-max
// kernel: L is downloaded and the max of each row's K values taken on the host, which
// is exact and the same everywhere; the maxima go back up for the sum.
func (c *classical) rowMax(l *launcher, n int) error {
	if l.err != nil {
		return nil
	}
	K := c.cfg.K
	L := make([]float32, n*K)
	if err := c.b.Download(L, c.L.Slice(0, n*K)); err != nil {
		return err
	}
	mx := make([]float32, n)
	for i := range mx {
		m := L[i*K]
		for _, v := range L[i*K+1 : (i+1)*K] {
			if v > m {
				m = v
			}
		}
		mx[i] = m
	}
	return c.b.Upload(c.rows.Slice(0, n), mx)
}

// Decode implements Model: the latent space is the data space (identity).
func (c *classical) Decode(z *engine.Buf, n int, xmean *engine.Buf) error {
	if err := checkDecode(c.cfg.Model, c.cfg, z, n, xmean); err != nil {
		return err
	}
	return ops.EwScale(c.b, z, xmean, n*c.cfg.D, float32(1))
}

// SampleCluster implements Model: gmm: z ~ N(mu_k, var_k); kmeans: the center c_k.
func (c *classical) SampleCluster(k, n int, z *engine.Buf, seed uint64) error {
	cfg := c.cfg
	if err := checkSample(cfg.Model, cfg, k, n, z); err != nil {
		return err
	}
	D := cfg.D
	if c.ones == nil {
		var err error
		for _, p := range []struct {
			dst **engine.Buf
			n   int
		}{{&c.ones, cfg.MaxBatch}, {&c.genMu, cfg.MaxBatch * D}, {&c.genLv, cfg.MaxBatch * D}, {&c.genEps, cfg.MaxBatch * D}} {
			if *p.dst, err = c.b.New(p.n, cfg.Model+" sample"); err != nil {
				return err
			}
			c.all = append(c.all, *p.dst)
		}
	}
	l := newLauncher(c.b, cfg.Model)
	l.do(ops.EwFill(l.b, c.ones, n, 1))
	mu := c.ps.Tensor(c.mu).P
	if cfg.Model == "kmeans" {
		l.do(ops.GemmNN(l.b, c.ones, mu.Slice(k*D, D), nil, z, n, D, 1, kernels.ActNone, false))
		return l.err
	}
	if c.full {
		// z = mu_k + L_k eps: eps from the same stream as the diagonal model's draws.
		l.do(ops.RandNormal(l.b, c.genEps, n*D, seed, kernels.StreamID(uint64(k), streamClassicalGen)))
		l.do(ops.GemmNT(l.b, c.genEps, c.ps.Tensor(c.chol).P.Slice(k*D*D, D*D), mu.Slice(k*D, D), z, n, D, D, kernels.ActNone, false))
		return l.err
	}
	l.do(ops.GemmNN(l.b, c.ones, mu.Slice(k*D, D), nil, c.genMu, n, D, 1, kernels.ActNone, false))
	l.do(ops.GemmNN(l.b, c.ones, c.ps.Tensor(c.lv).P.Slice(k*D, D), nil, c.genLv, n, D, 1, kernels.ActNone, false))
	l.do(ops.Reparam(l.b, c.genMu, c.genLv, c.genEps, z, n*D, seed, kernels.StreamID(uint64(k), streamClassicalGen)))
	return l.err
}
