package cluster

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/kernels"
	"github.com/gmvae/gmvae/kernels/fmath"
	"github.com/gmvae/gmvae/ops"
)

// The GMM's initialisations (GMMConfig.Init).
const (
	InitKMeans = "kmeans" // responsibilities one-hot at the labels of one k-means run
	InitRandom = "random" // uniform random responsibilities, normalised per row
)

// The GMM's covariance types (GMMConfig.Covariance).
const (
	CovDiag = "diag" // a variance per component and feature
	CovFull = "full" // a covariance matrix per component
)

// MaxFullD bounds the features of a full-covariance fit: its E-step transforms every
// row by K (d, d) matrices and its M-step sums d(d+1)/2 products per row, so the cost
// grows with d²; above this, the diagonal model is the practical one.
const MaxFullD = 64

// nkEps is what scikit-learn adds to every component's total responsibility N_k,
// 10 × the float64 machine epsilon; a component with N_k below it counts as empty.
const nkEps = 10 * 2.220446049250313e-16

// GMMConfig configures FitGMM. A zero field takes its default (Defaults).
type GMMConfig struct {
	// K is the number of components, 1 <= K <= n.
	K int
	// Restarts is the number of initialisations, each followed by EM; the one of
	// highest final log-likelihood is kept (scikit-learn's n_init). Default 1.
	Restarts int
	// MaxIter bounds the EM iterations of one restart. Default 100.
	MaxIter int
	// Tol stops EM when the mean log-likelihood per row changes by less than Tol
	// between iterations (scikit-learn's tol). Default 1e-3; 0 means the default.
	Tol float64
	// RegCovar is added to every variance, a floor that keeps a component from
	// collapsing onto a point (scikit-learn's reg_covar). Default 1e-6; must be > 0.
	RegCovar float64
	// Init is InitKMeans (default, as scikit-learn) or InitRandom.
	Init string
	// Covariance is CovDiag (default) or CovFull (d <= MaxFullD).
	Covariance string
	// Seed keys the random numbers: restart r's k-means run seeds as restart r of
	// FitKMeans with this Seed; InitRandom draws restart r's responsibilities.
	Seed uint64
}

// Defaults returns c with every zero field set to its default: Restarts 1, MaxIter 100,
// Tol 1e-3, RegCovar 1e-6, Init InitKMeans, Covariance CovDiag (K and Seed have none).
func (c GMMConfig) Defaults() GMMConfig {
	if c.Restarts == 0 {
		c.Restarts = 1
	}
	if c.MaxIter == 0 {
		c.MaxIter = 100
	}
	if c.Tol == 0 {
		c.Tol = 1e-3
	}
	if c.RegCovar == 0 {
		c.RegCovar = 1e-6
	}
	if c.Init == "" {
		c.Init = InitKMeans
	}
	if c.Covariance == "" {
		c.Covariance = CovDiag
	}
	return c
}

// Validate reports the first field out of range, naming it. Call it on Defaults().
func (c GMMConfig) Validate() error {
	switch {
	case c.K < 1 || c.K > maxK:
		return fmt.Errorf("cluster: GMMConfig.K = %d: want 1 <= K <= %d", c.K, maxK)
	case c.Restarts < 1:
		return fmt.Errorf("cluster: GMMConfig.Restarts = %d: want >= 1", c.Restarts)
	case c.MaxIter < 1:
		return fmt.Errorf("cluster: GMMConfig.MaxIter = %d: want >= 1", c.MaxIter)
	case !(c.Tol >= 0) || math.IsInf(c.Tol, 0):
		return fmt.Errorf("cluster: GMMConfig.Tol = %g: want a finite value >= 0", c.Tol)
	case !(c.RegCovar > 0) || math.IsInf(c.RegCovar, 0):
		return fmt.Errorf("cluster: GMMConfig.RegCovar = %g: want a finite value > 0", c.RegCovar)
	case c.Init != InitKMeans && c.Init != InitRandom:
		return fmt.Errorf("cluster: GMMConfig.Init = %q: want %q or %q", c.Init, InitKMeans, InitRandom)
	case c.Covariance != CovDiag && c.Covariance != CovFull:
		return fmt.Errorf("cluster: GMMConfig.Covariance = %q: want %q or %q", c.Covariance, CovDiag, CovFull)
	}
	return nil
}

// GMM is a fitted mixture of K Gaussians with diagonal or full covariances:
//
//	p(x) = sum_k pi_k N(x; mu_k, Sigma_k),
//	diag: log N(x; mu, var) = -1/2 sum_d [log 2π + log var_d + (x_d - mu_d)²/var_d],
//	full: log N(x; mu, Sigma) = -1/2 [d log 2π + ||W (x - mu)||²] + log |W|,
//
// with W = L⁻¹ lower triangular, Sigma = L Lᵀ (Cholesky), so Sigma⁻¹ = Wᵀ W.
// Diagonal log-densities are the mixture kernel's (ops.MixtureLoglik) with log pi_k =
// fmath.Log(Weights[k]) and log-variances fmath.Log(Vars); full ones are the same
// kernel's unit-variance log-density of y = W_k (x - c) + Shift_k (a GEMM), plus LogNorm_k:
// every backend evaluates the same float32 model.
type GMM struct {
	K, D int
	// Covariance is CovDiag or CovFull.
	Covariance string
	// Weights holds pi (K), summing to 1 within rounding.
	Weights []float32
	// Means and Vars hold mu and var, (K, D) row-major; every variance >= RegCovar
	// (full: the diagonal of Sigma_k).
	Means, Vars []float32
	// Center c (D) is the training data's column means, rounded to float32: the point
	// the fit centered the data at, and from which a full model's E-step measures.
	Center []float32
	// Full covariances only (nil for CovDiag): Chol holds L_k and PrecChol W_k = L_k⁻¹,
	// (K, D, D) row-major, lower triangular; Shift (K, D) = -W_k (mu_k - c) and
	// LogNorm (K) = log pi_k + sum_d log W_k[d,d], all as the E-step uses them.
	Chol, PrecChol, Shift, LogNorm []float32
	// LogLik is the mean over the training rows of log p(x_i) under these
	// parameters (float64 sum of the kernel's float32 log-sum-exps, row order).
	LogLik float64
	// Iters is the number of EM iterations of the kept restart.
	Iters int
	// Converged says whether the kept restart stopped on Tol rather than on MaxIter.
	Converged bool
	// Restart is the index of the kept restart: the highest LogLik, the first on ties.
	Restart int
	// LogLiks holds every restart's final LogLik.
	LogLiks []float64
	// History holds, for the kept restart, the mean log-likelihood computed by each
	// EM iteration's E-step, i.e. of the parameters before that iteration's M-step
	// (what scikit-learn compares with Tol); EM makes it non-decreasing, up to float32
	// rounding. LogLik, that of the final parameters, comes after its last entry.
	History []float64
}

// FitGMM fits a Gaussian mixture of cfg.K components (diagonal covariances unless
// cfg.Covariance says full) to the n rows of x (n, d) on backend b by EM, as
// scikit-learn's GaussianMixture(n_components=K, covariance_type="diag", tol=Tol, reg_covar=RegCovar, max_iter=MaxIter,
// n_init=Restarts, init_params=Init) does:
//
//   - initialisation, per restart r: responsibilities one-hot at the labels of one
//     k-means run (restart r of FitKMeans with Seed, MaxIter 300, Tol 1e-4), or
//     uniform random per row and normalised; then an M-step;
//   - E-step: the mixture kernel gives L[i,k] = log pi_k + log N(x_i; mu_k, var_k),
//     lse_i = log sum_k exp L[i,k] and r_ik = exp(L[i,k] - lse_i); the iteration's
//     log-likelihood is mean_i lse_i;
//   - M-step, from N_k = sum_i r_ik (Colsum), S1_k = sum_i r_ik x̃_i and
//     S2_k = sum_i r_ik x̃_i² (GemmTN) on centered data x̃ = x - mean(x) (float32
//     per chunk, float64 across chunks): with n_k = N_k + 10·eps64 (scikit-learn's),
//     pi_k = n_k / sum_j n_k, m_k = S1_k/n_k, mu_k = mean(x) + m_k and
//     var_k = max(S2_k/n_k - m_k², 0) + RegCovar, in float64, rounded to float32
//     once. Centering keeps the float32 second moments from cancelling against
//     large means. A component with N_k < 10·eps64 is empty: it keeps its mean, its
//     variances become RegCovar and its weight the tiny n_k/sum — no NaN;
//   - full covariances (Covariance CovFull, d <= MaxFullD, scikit-learn's
//     covariance_type="full"): S2_k = sum_i r_ik x̃_i x̃_iᵀ (the lower triangle: the
//     rows' products x̃_a·x̃_b, one float32 multiplication each on the host, then
//     GemmTN), Sigma_k = S2_k/n_k - m_k m_kᵀ + RegCovar·I; its Cholesky factor L_k and
//     W_k = L_k⁻¹ in float64, rounded to float32 once (a Sigma_k that is not positive
//     definite is an error); the E-step transforms each centered row by every W_k
//     (one GemmNT) and takes the mixture kernel's unit-variance log-density (see GMM);
//   - stop when the log-likelihood changes by less than Tol or after MaxIter
//     iterations; a last E-step gives LogLik of the final parameters;
//   - the restart of highest LogLik is kept (scikit-learn keeps the highest
//     log-likelihood too, but that of the parameters before the last M-step).
//
// n < K, K < 1, d < 1, a NaN or an infinity in x and bad config fields are errors.
// The same inputs give the same bits on every backend.
func FitGMM(ctx context.Context, b engine.Backend, x *engine.Buf, n, d int, cfg GMMConfig) (*GMM, error) {
	cfg = cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s, err := newSession(ctx, b, x, n, d)
	if err != nil {
		return nil, err
	}
	if n < cfg.K {
		return nil, fmt.Errorf("cluster: n = %d rows < K = %d components", n, cfg.K)
	}
	if cfg.Covariance == CovFull && d > MaxFullD {
		return nil, fmt.Errorf("cluster: full covariances of d = %d features: want d <= %d (use %q)", d, MaxFullD, CovDiag)
	}
	g, err := fitGMM(s, cfg)
	if cerr := s.close(); err == nil && cerr != nil {
		return nil, cerr
	}
	return g, err
}

// emWork holds the device buffers of EM on one session.
type emWork struct {
	s          *session
	k          int
	reg        float64
	full       bool
	t          int // full: d(d+1)/2, the products of a row's lower triangle
	st         *stats
	mu, lv, lp *engine.Buf // diag: (K, d), (K, d), (K): the E-step's parameters
	l, resp    *engine.Buf // (rows, K)
	lse        *engine.Buf // (rows)
	nk         *engine.Buf // (K)
	s1, s2     *engine.Buf // (K, d); s2 full: (K, t)
	// Full covariances: the E-step's W (K·d, d), shift (K·d) and log-norms (K); zeros
	// (d) for the unit-variance kernel; y (rows, K·d) = the transformed rows; ones
	// (rows); prod (rows, t) the rows' products x̃_a·x̃_b (a >= b).
	prec, shift, lnorm, zeros, y, ones, prod *engine.Buf
	hostLse, hostNk, hostS, hostResp         []float32
	hostX, hostProd                          []float32
}

// gmmParams are a mixture's parameters as the E-step uses them; chol, prec (K, d, d),
// shift (K, d) and lnorm (K) are set for full covariances only.
type gmmParams struct {
	weights, means, vars     []float32
	chol, prec, shift, lnorm []float32
}

// moments are the M-step's sums over all rows: N_k, S1_k and S2_k (centered data;
// full: S2_k holds the t products x̃_a·x̃_b, a >= b, of tri(a, b)).
type moments struct {
	nk, s1, s2 []float64
}

// tri is the index of the product x_a·x_b (a >= b) in a row of d(d+1)/2.
func tri(a, b int) int { return a*(a+1)/2 + b }

func newEMWork(s *session, st *stats, k int, reg float64, cov string) (*emWork, error) {
	w := &emWork{s: s, k: k, reg: reg, st: st, full: cov == CovFull}
	d, kd := s.d, k*s.d
	s2 := kd
	if w.full {
		w.t = d * (d + 1) / 2
		s2 = k * w.t
	}
	err := s.bufs([]**engine.Buf{&w.mu, &w.lv, &w.lp, &w.l, &w.resp, &w.lse, &w.nk, &w.s1, &w.s2},
		[]int{kd, kd, k, s.rows * k, s.rows * k, s.rows, k, kd, s2},
		[]string{"means", "log-variances", "log-weights", "L", "responsibilities", "lse", "N_k", "S1", "S2"})
	if err != nil {
		return nil, err
	}
	w.hostLse = make([]float32, s.rows)
	w.hostNk = make([]float32, k)
	w.hostS = make([]float32, max(kd, s2))
	w.hostResp = make([]float32, s.rows*k)
	if w.full {
		err := s.bufs([]**engine.Buf{&w.prec, &w.shift, &w.lnorm, &w.zeros, &w.y, &w.ones, &w.prod},
			[]int{kd * d, kd, k, d, s.rows * kd, s.rows, s.rows * w.t},
			[]string{"W", "shift", "log-norms", "zeros", "transformed rows", "ones", "row products"})
		if err != nil {
			return nil, err
		}
		if err := ops.EwFill(s.b, w.zeros, d, 0); err != nil {
			return nil, err
		}
		if err := ops.EwFill(s.b, w.ones, s.rows, 1); err != nil {
			return nil, err
		}
		w.hostX = make([]float32, s.rows*d)
		w.hostProd = make([]float32, s.rows*w.t)
	}
	return w, nil
}

func fitGMM(s *session, cfg GMMConfig) (*GMM, error) {
	st, err := s.columnStats()
	if err != nil {
		return nil, err
	}
	w, err := newEMWork(s, st, cfg.K, cfg.RegCovar, cfg.Covariance)
	if err != nil {
		return nil, err
	}
	var km *kmWork
	if cfg.Init == InitKMeans {
		if km, err = newKMWork(s, cfg.K); err != nil {
			return nil, err
		}
	}
	g := &GMM{K: cfg.K, D: s.d, Covariance: cfg.Covariance, LogLik: math.Inf(-1)}
	for r := 0; r < cfg.Restarts; r++ {
		var mom *moments
		if cfg.Init == InitKMeans {
			run, err := km.single(cfg.Seed, r, 300, 1e-4*st.meanVar())
			if err != nil {
				return nil, err
			}
			mom, err = w.hostMoments(func(i int, resp []float32) { resp[run.labels[i]] = 1 })
			if err != nil {
				return nil, err
			}
		} else {
			k := uint64(cfg.K)
			u := make([]float64, cfg.K)
			mom, err = w.hostMoments(func(i int, resp []float32) {
				sum := 0.0
				for j := range u {
					u[j] = uniform(cfg.Seed, r, tagResp, uint64(i)*k+uint64(j))
					sum += u[j]
				}
				for j, v := range u {
					resp[j] = float32(v / sum)
				}
			})
			if err != nil {
				return nil, err
			}
		}
		p, err := w.mstep(mom, nil)
		if err != nil {
			return nil, fmt.Errorf("cluster: restart %d, initialisation: %w", r, err)
		}
		var hist []float64
		converged := false
		prev := math.Inf(-1)
		for it := 0; it < cfg.MaxIter; it++ {
			ll, mom, err := w.estep(p, true)
			if err != nil {
				return nil, err
			}
			hist = append(hist, ll)
			if p, err = w.mstep(mom, p); err != nil {
				return nil, fmt.Errorf("cluster: restart %d, EM iteration %d: %w", r, it+1, err)
			}
			if math.Abs(ll-prev) < cfg.Tol {
				converged = true
				break
			}
			prev = ll
		}
		ll, _, err := w.estep(p, false)
		if err != nil {
			return nil, err
		}
		g.LogLiks = append(g.LogLiks, ll)
		if r == 0 || ll > g.LogLik {
			g.Weights, g.Means, g.Vars = p.weights, p.means, p.vars
			if w.full {
				g.Chol, g.PrecChol, g.Shift, g.LogNorm = p.chol, p.prec, p.shift, p.lnorm
			}
			g.Center = st.mean32
			g.LogLik, g.Iters, g.Converged, g.Restart, g.History = ll, len(hist), converged, r, hist
		}
	}
	return g, nil
}

// AsFull returns a diagonal fit written as a full one (Sigma_k = diag(Vars_k); Chol,
// PrecChol, Shift and LogNorm computed as a full fit's M-step does), so that one
// full-covariance E-step serves both; a full fit is returned as it is. The likelihood
// and its history are the diagonal fit's.
func (g *GMM) AsFull() (*GMM, error) {
	if g.Covariance == CovFull {
		return g, nil
	}
	k, d := g.K, g.D
	if len(g.Center) != d || len(g.Vars) != k*d || len(g.Means) != k*d || len(g.Weights) != k {
		return nil, errors.New("cluster: GMM.AsFull: model is not fitted or has inconsistent shapes")
	}
	w := &emWork{k: k, full: true, s: &session{d: d}, st: &stats{mean32: g.Center}}
	p := &gmmParams{weights: g.Weights, means: g.Means, vars: make([]float32, k*d),
		chol: make([]float32, k*d*d), prec: make([]float32, k*d*d), shift: make([]float32, k*d), lnorm: make([]float32, k)}
	cov := make([]float64, d*d)
	for j := 0; j < k; j++ {
		clear(cov)
		for a := 0; a < d; a++ {
			cov[a*d+a] = float64(g.Vars[j*d+a])
		}
		if err := w.fullParams(p, j, cov); err != nil {
			return nil, fmt.Errorf("cluster: GMM.AsFull: component %d: %w", j, err)
		}
	}
	f := *g
	f.Covariance, f.Vars, f.Chol, f.PrecChol, f.Shift, f.LogNorm = CovFull, p.vars, p.chol, p.prec, p.shift, p.lnorm
	return &f, nil
}

// BIC returns the Bayesian information criterion of the fit on n rows (lower is
// better): -2 n LogLik + p log n, p the free parameters: K-1 weights, K·D means and
// K·D variances (diag) or K·D(D+1)/2 covariances (full), as scikit-learn counts them.
func (g *GMM) BIC(n int) float64 {
	k, d := float64(g.K), float64(g.D)
	cov := k * d
	if g.Covariance == CovFull {
		cov = k * d * (d + 1) / 2
	}
	p := k - 1 + k*d + cov
	return -2*float64(n)*g.LogLik + p*math.Log(float64(n))
}

// upload puts p's E-step parameters on the device: diag: the means, log-variances
// fmath.Log(var) and log-weights fmath.Log(pi); full: W, the shifts and log-norms.
func (w *emWork) upload(p *gmmParams) error {
	type up struct {
		dst *engine.Buf
		src []float32
	}
	var ups []up
	if w.full {
		ups = []up{{w.prec, p.prec}, {w.shift, p.shift}, {w.lnorm, p.lnorm}}
	} else {
		lv := make([]float32, len(p.vars))
		for i, v := range p.vars {
			lv[i] = fmath.Log(v)
		}
		lp := make([]float32, len(p.weights))
		for i, v := range p.weights {
			lp[i] = fmath.Log(v)
		}
		ups = []up{{w.mu, p.means}, {w.lv, lv}, {w.lp, lp}}
	}
	for _, c := range ups {
		if err := w.s.b.Upload(c.dst.Slice(0, len(c.src)), c.src); err != nil {
			return err
		}
	}
	return nil
}

// kernel runs the E-step on the chunk xc (m, d): L, lse and resp. Diag: the mixture
// kernel. Full: y = (xc - c) Wᵀ + shift (GemmNT, (m, K·d)), read as m·K rows of d; the
// mixture kernel's unit-variance log-density of each (one component, mean 0,
// log-variance 0) gives L (m, K) = -1/2 (d log 2π + ||y_k||²); the log-norms are added
// to every row (a rank-1 GemmNN, accumulating: one rounding); LseSoftmax.
func (w *emWork) kernel(m int, xc *engine.Buf) error {
	s := w.s
	if !w.full {
		return ops.MixtureLoglik(s.b, m, w.k, s.d, xc, w.mu, w.lv, 0, w.lp, 0, w.l, w.lse, w.resp)
	}
	k, d := w.k, s.d
	if err := w.st.centered(s, m, xc); err != nil {
		return err
	}
	if err := ops.GemmNT(s.b, w.st.xcen, w.prec, w.shift, w.y, m, k*d, d, kernels.ActNone, false); err != nil {
		return err
	}
	if err := ops.MixtureLoglik(s.b, m*k, 1, d, w.y, w.zeros, w.zeros, 0, nil, 0, w.l, nil, nil); err != nil {
		return err
	}
	if err := ops.GemmNN(s.b, w.ones, w.lnorm, nil, w.l, m, k, 1, kernels.ActNone, true); err != nil {
		return err
	}
	return ops.LseSoftmax(s.b, m, k, w.l, w.lse, w.resp)
}

// estep returns the mean log-likelihood of p over all rows and, when withMoments, the
// M-step's moments of the responsibilities.
func (w *emWork) estep(p *gmmParams, withMoments bool) (float64, *moments, error) {
	s := w.s
	if err := w.upload(p); err != nil {
		return 0, nil, err
	}
	var mom *moments
	if withMoments {
		mom = w.newMoments()
	}
	sum := 0.0
	err := s.chunks(func(off, m int, xc *engine.Buf) error {
		if err := w.kernel(m, xc); err != nil {
			return err
		}
		h := w.hostLse[:m]
		if err := s.download(h, w.lse); err != nil {
			return err
		}
		for _, v := range h {
			sum += float64(v)
		}
		if mom == nil {
			return nil
		}
		return w.addMoments(mom, m, xc)
	})
	if err != nil {
		return 0, nil, err
	}
	return sum / float64(s.n), mom, nil
}

// hostMoments computes the moments of responsibilities made on the host: set(i, r)
// fills row i's r (K, zeroed) for every row; each chunk is uploaded.
func (w *emWork) hostMoments(set func(i int, resp []float32)) (*moments, error) {
	s, k := w.s, w.k
	mom := w.newMoments()
	err := s.chunks(func(off, m int, xc *engine.Buf) error {
		h := w.hostResp[:m*k]
		clear(h)
		for i := 0; i < m; i++ {
			set(off+i, h[i*k:i*k+k])
		}
		if err := s.b.Upload(w.resp.Slice(0, m*k), h); err != nil {
			return err
		}
		return w.addMoments(mom, m, xc)
	})
	return mom, err
}

func (w *emWork) newMoments() *moments {
	kd := w.k * w.s.d
	s2 := kd
	if w.full {
		s2 = w.k * w.t
	}
	return &moments{nk: make([]float64, w.k), s1: make([]float64, kd), s2: make([]float64, s2)}
}

// addMoments adds the chunk's N_k = colsum(resp), S1 = respᵀ·x̃ and S2 = respᵀ·x̃²
// (diag) or respᵀ·P (full; P (m, t) the products x̃_a·x̃_b, a >= b, of each row, one
// float32 multiplication each, made on the host) of the chunk xc (m, d) centered, to
// mom, in float64.
func (w *emWork) addMoments(mom *moments, m int, xc *engine.Buf) error {
	s, k, d := w.s, w.k, w.s.d
	if err := ops.Colsum(s.b, w.resp, w.nk, m, k, false); err != nil {
		return err
	}
	if err := s.download(w.hostNk, w.nk); err != nil {
		return err
	}
	for j, v := range w.hostNk {
		mom.nk[j] += float64(v)
	}
	if err := w.st.centered(s, m, xc); err != nil {
		return err
	}
	second, cols := w.st.x2, d
	if w.full {
		if err := w.products(m); err != nil {
			return err
		}
		second, cols = w.prod, w.t
	}
	for _, c := range []struct {
		b    *engine.Buf
		out  *engine.Buf
		cols int
		acc  []float64
	}{{w.st.xcen, w.s1, d, mom.s1}, {second, w.s2, cols, mom.s2}} {
		if err := ops.GemmTN(s.b, w.resp, c.b, nil, c.out, k, c.cols, m, kernels.ActNone, false); err != nil {
			return err
		}
		h := w.hostS[:k*c.cols]
		if err := s.download(h, c.out); err != nil {
			return err
		}
		for j, v := range h {
			c.acc[j] += float64(v)
		}
	}
	return nil
}

// products fills w.prod (m, t) with the products of the centered chunk's rows.
func (w *emWork) products(m int) error {
	s, d, t := w.s, w.s.d, w.t
	x := w.hostX[:m*d]
	if err := s.download(x, w.st.xcen); err != nil {
		return err
	}
	p := w.hostProd[:m*t]
	for i := 0; i < m; i++ {
		r, o := x[i*d:i*d+d], p[i*t:i*t+t]
		for a := 0; a < d; a++ {
			for b := 0; b <= a; b++ {
				o[tri(a, b)] = r[a] * r[b]
			}
		}
	}
	return s.b.Upload(w.prod.Slice(0, m*t), p)
}

// mstep returns the parameters of the moments mom (see FitGMM); prev gives the means
// an empty component keeps (nil at initialisation: the column means). A full
// covariance that is not positive definite (even with RegCovar added) is an error.
func (w *emWork) mstep(mom *moments, prev *gmmParams) (*gmmParams, error) {
	k, d := w.k, w.s.d
	p := &gmmParams{weights: make([]float32, k), means: make([]float32, k*d), vars: make([]float32, k*d)}
	if w.full {
		p.chol, p.prec = make([]float32, k*d*d), make([]float32, k*d*d)
		p.shift, p.lnorm = make([]float32, k*d), make([]float32, k)
	}
	total := 0.0
	for j := 0; j < k; j++ {
		total += mom.nk[j] + nkEps
	}
	cov := make([]float64, d*d)
	for j := 0; j < k; j++ {
		nk := mom.nk[j] + nkEps
		p.weights[j] = float32(nk / total)
		empty := mom.nk[j] < nkEps
		m := make([]float64, d) // the mean's offset from the column means
		for f := 0; f < d; f++ {
			i := j*d + f
			switch {
			case empty && prev != nil:
				p.means[i] = prev.means[i]
			case empty:
				p.means[i] = float32(w.st.mean[f])
			default:
				m[f] = mom.s1[i] / nk
				p.means[i] = float32(float64(w.st.mean32[f]) + m[f])
			}
			if w.full {
				continue
			}
			if empty {
				p.vars[i] = float32(w.reg)
			} else {
				p.vars[i] = float32(max(mom.s2[i]/nk-float64(m[f]*m[f]), 0) + w.reg)
			}
		}
		if !w.full {
			continue
		}
		for a := 0; a < d; a++ {
			for b := 0; b <= a; b++ {
				v := 0.0
				if !empty {
					v = mom.s2[j*w.t+tri(a, b)]/nk - float64(m[a]*m[b])
				}
				if a == b {
					v = max(v, 0) + w.reg
				}
				cov[a*d+b], cov[b*d+a] = v, v
			}
		}
		if err := w.fullParams(p, j, cov); err != nil {
			return nil, fmt.Errorf("component %d (weight %.3g): %w", j, nk/total, err)
		}
	}
	return p, nil
}

// fullParams fills component j's full-covariance parameters from its covariance cov
// (d, d), in float64 with every product an explicit conversion (no fused FMA):
// L = cholesky(cov), W = L⁻¹ (forward substitution), rounded to float32 once; then
// from the rounded W and means: shift = -W (mu - c) and the log-norm
// log pi + sum_d log W[d,d] (fmath.Log).
func (w *emWork) fullParams(p *gmmParams, j int, cov []float64) error {
	d := w.s.d
	L := make([]float64, d*d)
	for a := 0; a < d; a++ {
		for b := 0; b <= a; b++ {
			v := cov[a*d+b]
			for c := 0; c < b; c++ {
				v -= float64(L[a*d+c] * L[b*d+c])
			}
			if a == b {
				if !(v > 0) {
					return fmt.Errorf("covariance not positive definite (pivot %d of %d is %.3g): a collapsed component; raise RegCovar (now %g) or scale the data", a+1, d, v, w.reg)
				}
				L[a*d+a] = math.Sqrt(v)
			} else {
				L[a*d+b] = v / L[b*d+b]
			}
		}
	}
	W := make([]float64, d*d)
	for col := 0; col < d; col++ {
		for a := col; a < d; a++ {
			v := 0.0
			if a == col {
				v = 1
			}
			for c := col; c < a; c++ {
				v -= float64(L[a*d+c] * W[c*d+col])
			}
			W[a*d+col] = v / L[a*d+a]
		}
	}
	o := j * d * d
	for i := 0; i < d*d; i++ {
		p.chol[o+i], p.prec[o+i] = float32(L[i]), float32(W[i])
	}
	ln := float64(fmath.Log(p.weights[j]))
	for a := 0; a < d; a++ {
		p.vars[j*d+a] = float32(cov[a*d+a])
		ln += float64(fmath.Log(p.prec[o+a*d+a]))
		v := 0.0
		for b := 0; b <= a; b++ {
			off := float64(p.means[j*d+b]) - float64(w.st.mean32[b])
			v -= float64(float64(p.prec[o+a*d+b]) * off)
		}
		p.shift[j*d+a] = float32(v)
	}
	p.lnorm[j] = float32(ln)
	return nil
}

// Posteriors returns the responsibilities p(k | x_i) (n, K) of every row of x (n, D)
// on backend b, the softmax over k of log pi_k + log N(x_i; mu_k, var_k) as the
// mixture kernel computes it, and each row's label, the first k of the largest
// log pi_k + log N(x_i; mu_k, var_k).
func (g *GMM) Posteriors(b engine.Backend, x *engine.Buf, n int) (resp []float32, labels []int, err error) {
	if g == nil || g.K < 1 || g.D < 1 || len(g.Weights) != g.K || len(g.Means) != g.K*g.D || len(g.Vars) != g.K*g.D {
		return nil, nil, fmt.Errorf("cluster: GMM.Posteriors: model is not fitted or has inconsistent shapes")
	}
	full := g.Covariance == CovFull
	if full && (len(g.PrecChol) != g.K*g.D*g.D || len(g.Center) != g.D || len(g.Shift) != g.K*g.D || len(g.LogNorm) != g.K) {
		return nil, nil, fmt.Errorf("cluster: GMM.Posteriors: full covariances with inconsistent shapes")
	}
	s, err := newSession(context.Background(), b, x, n, g.D)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if cerr := s.close(); err == nil && cerr != nil {
			resp, labels, err = nil, nil, cerr
		}
	}()
	if _, err := s.colSums(); err != nil {
		return nil, nil, err
	}
	var st *stats
	cov := CovDiag
	if full {
		cov = CovFull
		if st, err = s.centering(g.Center); err != nil {
			return nil, nil, err
		}
	}
	w, err := newEMWork(s, st, g.K, 0, cov)
	if err != nil {
		return nil, nil, err
	}
	p := &gmmParams{weights: g.Weights, means: g.Means, vars: g.Vars, prec: g.PrecChol, shift: g.Shift, lnorm: g.LogNorm}
	if err := w.upload(p); err != nil {
		return nil, nil, err
	}
	k := g.K
	resp, labels = make([]float32, n*k), make([]int, n)
	l := make([]float32, s.rows*k)
	err = s.chunks(func(off, m int, xc *engine.Buf) error {
		if err := w.kernel(m, xc); err != nil {
			return err
		}
		if err := s.download(resp[off*k:(off+m)*k], w.resp); err != nil {
			return err
		}
		if err := s.download(l[:m*k], w.l); err != nil {
			return err
		}
		for i := 0; i < m; i++ {
			labels[off+i] = argmaxRow(l[i*k : i*k+k])
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return resp, labels, nil
}
