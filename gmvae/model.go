// Package gmvae holds the two published Gaussian-mixture VAEs (shared/design/GMVAE.md),
// their losses and the training loop, on any engine.Backend.
//
// A model lays out its buffers once for the largest batch it will see; a training step
// then only launches kernels (one forward and one hand-written backward pass, llm.c
// style) and brings back the handful of scalars in Terms.
package gmvae

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/gmvae/gmvae/cluster"
	"github.com/gmvae/gmvae/data"
	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/internal/field"
	"github.com/gmvae/gmvae/kernels"
	"github.com/gmvae/gmvae/nn"
	"github.com/gmvae/gmvae/ops"
)

// Likelihood is the observation model p(x|z).
type Likelihood string

const (
	// Bernoulli: x in [0,1], the decoder outputs logits.
	Bernoulli Likelihood = "bernoulli"
	// Gaussian: real-valued x, the decoder outputs a mean and a log-variance.
	Gaussian Likelihood = "gaussian"
)

// PGrad says how model A's training gradient treats p(y|z,w) inside the conditional-prior
// term sum_k p_k KL(q(z|x) || p(z|w,y=k)) (dilokthanakul.go, "Responsibilities").
type PGrad string

const (
	// PGradStop holds p constant in that term (the default): EM-style responsibilities.
	PGradStop PGrad = "stop"
	// PGradAuthors is what the authors' Torch code computes: the term's gradient into p
	// reversed while the y-prior term is above the free-bits threshold lambda, and as
	// it is while below.
	PGradAuthors PGrad = "authors"
	// PGradExact is the ELBO's own gradient (one component tends to take every
	// observation at the authors' settings).
	PGradExact PGrad = "exact"
)

// Config describes a model. Zero values are filled by Defaults.
type Config struct {
	Model      string     `json:"model"`      // "dilokthanakul", "shu" or "vade"
	D          int        `json:"d"`          // observation dimensions (784 for MNIST)
	K          int        `json:"k"`          // clusters
	Dz         int        `json:"dz"`         // z dimensions
	Dw         int        `json:"dw"`         // w dimensions (model A)
	Hidden     []int      `json:"hidden"`     // hidden widths of every MLP
	BatchNorm  bool       `json:"batch_norm"` // model A: batch normalisation in the encoder trunk (nn.BatchNorm)
	PGrad      PGrad      `json:"p_grad"`     // model A: the conditional-prior term's gradient into p(y|z,w)
	M          int        `json:"m"`          // Monte Carlo samples of (z, w) (model A)
	Lambda     float32    `json:"lambda"`     // free-bits threshold on the y-prior term (model A); 0: off
	Likelihood Likelihood `json:"likelihood"` // bernoulli or gaussian
	Gumbel     bool       `json:"gumbel"`     // model B: draw y by Gumbel-softmax instead of the exact K-way sum
	Tau        float32    `json:"tau"`        // Gumbel-softmax temperature (model B with Gumbel): the first epoch's (TrainConfig.TauDecay anneals it)
	LvMin      float32    `json:"lv_min"`     // log-variances are clamped to [LvMin, LvMax]
	LvMax      float32    `json:"lv_max"`
	MaxBatch   int        `json:"max_batch"` // largest batch the buffers are laid out for
	Seed       uint64     `json:"seed"`      // parameter initialisation and sampling
	// Input is the map every input row goes through before the model (data-aware
	// scaling; nil: none), stored with the model so that assign and predict scale new
	// rows as the training rows were. The trainer and the predictor apply it.
	Input *data.Affine `json:"input,omitempty"`
	// Restarts: models kmeans and gmm: initialisations, the best kept by the fit's own
	// criterion (inertia, log-likelihood); 0: 10 for kmeans, 1 for gmm (scikit-learn's).
	Restarts int `json:"restarts,omitempty"`
	// Covariance: model gmm's covariances: "diag" ("" too: a variance per component
	// and feature), "full" (a covariance matrix per component; D <= cluster.MaxFullD)
	// or "auto" (both fitted, the lower BIC kept: a choice made without labels).
	Covariance string `json:"covariance,omitempty"`
	// Pretrain: model vade's autoencoder pretraining phase (the mean path trained as a
	// deterministic autoencoder; see vade.go).
	Pretrain bool `json:"pretrain,omitempty"`
	// Init is how the layers' parameters are drawn: nn.SchemeGlorot ("" too: Glorot
	// normal weights, zero biases) or, for model A, nn.SchemeTorch (Torch7's defaults,
	// which its authors' code ran with).
	Init nn.Scheme `json:"init,omitempty"`
	// ExpectParams, when > 0, is the parameter count the configuration must give:
	// New refuses another before allocating anything (a checkpoint's model_config
	// checked against its tensors, so that a damaged k of 10^6 fails at once instead
	// of building a model of gigabytes first). Never stored.
	ExpectParams int `json:"-"`
}

// checkExpected refuses a parameter layout that does not have cfg.ExpectParams
// values (see Config.ExpectParams); called by each model before ps.Alloc.
func checkExpected(cfg Config, ps *nn.Params) error {
	if cfg.ExpectParams > 0 && ps.Len() != cfg.ExpectParams {
		return fmt.Errorf("model %s with k = %d, d = %d, dz = %d, hidden %v has %d parameters, the checkpoint holds %d: its model_config does not describe its tensors",
			cfg.Model, cfg.K, cfg.D, cfg.Dz, cfg.Hidden, ps.Len(), cfg.ExpectParams)
	}
	return nil
}

// Terms are a batch's loss terms in nats per observation (batch means). The loss is
// minus the ELBO (plus the free-bits adjustment when it is active). Model A's gradient
// treats p(y|z,w) as a constant inside the conditional-prior term (dilokthanakul.go,
// "Responsibilities"): the value is the loss, one path of its gradient is left out.
type Terms struct {
	Loss           float64 `json:"loss"`                       // what the gradient minimises
	ELBO           float64 `json:"elbo"`                       // evidence lower bound (higher is better)
	Recon          float64 `json:"recon"`                      // -E log p(x|z)
	KLz            float64 `json:"kl_z"`                       // model A: the conditional prior term; model B: E_q[log q(z|x,y) - log p(z|y)]
	KLw            float64 `json:"kl_w"`                       // model A: KL(q(w|x) || N(0,I)); model B: 0
	KLy            float64 `json:"kl_y"`                       // KL of the cluster posterior to the uniform prior
	FreeBitsActive bool    `json:"free_bits_active,omitempty"` // model A: the y term was below lambda, its gradient dropped
}

// Finite reports the first term that is NaN or infinite, or "" when all are finite.
func (t Terms) Finite() string {
	for _, f := range []struct {
		name string
		v    float64
	}{{"loss", t.Loss}, {"recon", t.Recon}, {"kl_z", t.KLz}, {"kl_w", t.KLw}, {"kl_y", t.KLy}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return f.name
		}
	}
	return ""
}

// Tempered is implemented by a model whose draws take a temperature that may change
// between epochs: model B with Gumbel-softmax (Config.Gumbel). Train sets it from
// TrainConfig's schedule (TauDecay, TauMin) before every epoch and evaluation.
type Tempered interface {
	// SetTemperature sets the Gumbel-softmax temperature of the TrainBatch and Infer
	// calls that follow (it starts at Config.Tau). tau must be positive and finite; a
	// model without Gumbel-softmax returns an error.
	SetTemperature(tau float32) error
	// Temperature returns the temperature in use.
	Temperature() float32
}

// Model is a GMVAE on one backend.
type Model interface {
	// Config returns the model's configuration (with defaults filled in).
	Config() Config
	// Params returns the trainable parameters, their gradients and Adam state.
	Params() *nn.Params
	// TrainBatch runs the forward and backward passes on the batch x (n rows of D,
	// on the model's backend) and adds the gradients to Params().G; it does not zero
	// them and does not step the optimizer. step numbers the random draws: the same
	// (seed, step, batch) gives the same bits on any backend.
	TrainBatch(x *engine.Buf, n int, step uint64) (Terms, error)
	// Infer computes, without gradients, the cluster posteriors post (n, K) (model A:
	// p(y|z=m_z(x), w=m_w(x)); model B: q(y|x)), their logits (n, K) (the unnormalised
	// log-posteriors post is the row softmax of; nil: not wanted) and the latent means
	// zmean (n, Dz), and returns the batch's loss terms estimated with the samples of
	// step (as in training, so held-out ELBOs are comparable with training ones). The
	// logits keep the order of confident examples that float32 posteriors round to 1.
	// Infer evaluates: batch normalisation (model A's BatchNorm) uses its running
	// estimates and leaves them as they are, while TrainBatch normalises with the
	// batch's statistics and updates the estimates.
	Infer(x *engine.Buf, n int, post, logits, zmean *engine.Buf, step uint64) (Terms, error)
	// Decode computes the mean of p(x|z) for the n latent rows z (n, Dz) into xmean
	// (n, D): the sigmoid of the decoder's logits (Bernoulli) or its mean head
	// (Gaussian). n is 1..MaxBatch. It changes no gradient and overwrites the model's
	// scratch buffers (call it between steps, not inside one). A reconstruction is
	// Infer's zmean followed by Decode.
	Decode(z *engine.Buf, n int, xmean *engine.Buf) error
	// SampleCluster writes into z (n, Dz) n draws of z from the generative model given
	// cluster k (0 <= k < K, 1 <= n <= MaxBatch): model A draws w ~ N(0, I) and then
	// z ~ p(z|w, y=k); model B draws z ~ p(z|y=k) = N(MU_k, exp(clamped LV_k)). The
	// draws come from Philox keyed by seed on streams of their own (never a training
	// step's, whatever the seed; see each model's file comment), so the same (seed, k)
	// gives the same bits on every backend, and the n rows are the first n of the
	// MaxBatch rows (seed, k) would give. Like Decode it changes no gradient and
	// overwrites scratch buffers.
	SampleCluster(k, n int, z *engine.Buf, seed uint64) error
	// Release gives every buffer back to the backend.
	Release() error
}

// New returns the model named by cfg.Model on backend b, its parameters drawn from
// cfg.Seed.
func New(b engine.Backend, cfg Config) (Model, error) {
	cfg = cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch cfg.Model {
	case "shu":
		return newShu(b, cfg)
	case "vade":
		return newVaDE(b, cfg)
	case "kmeans", "gmm":
		return newClassical(b, cfg)
	}
	return newDilokthanakul(b, cfg)
}

// Defaults fills zero fields with the papers' settings for the model (GMVAE.md).
func (c Config) Defaults() Config {
	if c.Model == "" {
		c.Model = "dilokthanakul"
	}
	if c.D == 0 {
		c.D = 784
	}
	if c.K == 0 {
		c.K = 10
	}
	if c.Likelihood == "" {
		c.Likelihood = Bernoulli
	}
	if c.LvMin == 0 && c.LvMax == 0 {
		c.LvMin, c.LvMax = -12, 12
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = 100
	}
	switch c.Model {
	case "dilokthanakul":
		if c.Dz == 0 {
			c.Dz = 200
		}
		if c.Dw == 0 {
			c.Dw = 150
		}
		if c.Hidden == nil {
			c.Hidden = []int{500}
		}
		if c.M == 0 {
			c.M = 1
		}
		if c.PGrad == "" {
			c.PGrad = PGradStop
		}
	case "shu":
		if c.Dz == 0 {
			c.Dz = 64
		}
		if c.Hidden == nil {
			c.Hidden = []int{512, 512}
		}
		if c.Tau == 0 {
			c.Tau = 1
		}
	case "kmeans", "gmm":
		c.Dz = c.D // the latent space is the data space
	case "vade":
		if c.Dz == 0 {
			c.Dz = 10
		}
		if c.Hidden == nil {
			c.Hidden = []int{500, 500, 2000}
		}
	}
	return c
}

// Validate reports the first invalid field as a *field.Error naming it as the JSON
// configuration does (section "model").
func (c Config) Validate() error {
	bad := func(key string, value any, want string, a ...any) error {
		return field.New("model", key, value, want, a...)
	}
	switch {
	case c.Model != "dilokthanakul" && c.Model != "shu" && c.Model != "vade" && c.Model != "kmeans" && c.Model != "gmm":
		return bad("model", fmt.Sprintf("%q", c.Model), "want dilokthanakul, shu, vade, kmeans or gmm")
	case c.Restarts < 0:
		return bad("restarts", c.Restarts, "want >= 0 (0: the model's default)")
	case c.D < 1:
		return bad("d", c.D, "want at least 1 (the data's features per example)")
	case c.K < 1:
		return bad("k", c.K, "want at least 1 cluster")
	case c.Dz < 1:
		return bad("dz", c.Dz, "want at least 1")
	case c.Model == "dilokthanakul" && c.Dw < 1:
		return bad("dw", c.Dw, "want at least 1")
	case c.Model == "dilokthanakul" && c.M < 1:
		return bad("m", c.M, "want at least 1 sample")
	case c.Model != "dilokthanakul" && c.M > 1:
		return bad("m", c.M, "Monte Carlo samples of (z, w) are model dilokthanakul's, not model %s's", c.Model)
	case !(c.Lambda >= 0) || math.IsInf(float64(c.Lambda), 0):
		return bad("lambda", c.Lambda, "want >= 0 (0 turns free bits off)")
	case c.Model != "dilokthanakul" && c.Lambda != 0:
		return bad("lambda", c.Lambda, "free bits are model dilokthanakul's, not model %s's", c.Model)
	case c.Likelihood != Bernoulli && c.Likelihood != Gaussian:
		return bad("likelihood", fmt.Sprintf("%q", c.Likelihood), "want bernoulli or gaussian")
	case !(c.LvMin < c.LvMax):
		return bad("lv_min", c.LvMin, "must be below lv_max %g", c.LvMax)
	case c.MaxBatch < 1:
		return bad("max_batch", c.MaxBatch, "want at least 1")
	case c.Model == "dilokthanakul" && c.PGrad != PGradStop && c.PGrad != PGradAuthors && c.PGrad != PGradExact:
		return bad("p_grad", fmt.Sprintf("%q", c.PGrad), "want stop, authors or exact")
	case c.Model != "dilokthanakul" && c.PGrad != "":
		return bad("p_grad", fmt.Sprintf("%q", c.PGrad), "model %s has no p(y|z,w) (it is model dilokthanakul's option)", c.Model)
	case c.BatchNorm && c.Model != "dilokthanakul":
		return bad("batch_norm", true, "model %s has no batch normalisation (it is model dilokthanakul's option, its authors' recogniser)", c.Model)
	case !c.Init.Valid():
		return bad("init", fmt.Sprintf("%q", c.Init), "want glorot or torch")
	case c.Init == nn.SchemeTorch && c.Model != "dilokthanakul":
		return bad("init", "torch", "model %s keeps its own initialisation (Torch's defaults are model dilokthanakul's option)", c.Model)
	case c.Gumbel && c.Model != "shu":
		return bad("gumbel", true, "Gumbel-softmax draws are model shu's option, not model %s's", c.Model)
	case c.Covariance != "" && c.Model != "gmm":
		return bad("covariance", fmt.Sprintf("%q", c.Covariance), "covariances are model gmm's option, not model %s's", c.Model)
	case c.Covariance != "" && c.Covariance != cluster.CovDiag && c.Covariance != cluster.CovFull && c.Covariance != CovAuto:
		return bad("covariance", fmt.Sprintf("%q", c.Covariance), "want diag, full or auto")
	case (c.Covariance == cluster.CovFull || c.Covariance == CovAuto) && c.D > cluster.MaxFullD:
		return bad("covariance", c.Covariance, "full covariances need at most %d features; the data has %d (use diag)", cluster.MaxFullD, c.D)
	case c.Pretrain && c.Model != "vade":
		return bad("pretrain", true, "autoencoder pretraining is model vade's phase, not model %s's", c.Model)
	case c.Gumbel && (!(c.Tau > 0) || math.IsInf(float64(c.Tau), 0)):
		return bad("tau", c.Tau, "want a positive temperature")
	}
	if c.Input != nil && c.D > 0 {
		if err := c.Input.Validate(c.D); err != nil {
			return bad("input", "(map)", "%v", err)
		}
	}
	for i, h := range c.Hidden {
		if h < 1 {
			return bad(fmt.Sprintf("hidden[%d]", i), h, "want at least 1")
		}
	}
	return nil
}

// releaseModel gives a model's memory back: its own buffers, its MLPs' buffers (nil
// entries skipped) and its parameters (when allocated); it returns the first error.
func releaseModel(b engine.Backend, bufs []*engine.Buf, mlps []*nn.MLPBufs, ps *nn.Params) error {
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	for _, x := range bufs {
		keep(b.Release(x))
	}
	for _, m := range mlps {
		if m != nil {
			keep(m.Release(b))
		}
	}
	if ps != nil && ps.P != nil {
		keep(ps.Release())
	}
	return first
}

// checkInferOutputs validates the output buffers of Model.Infer for n rows.
func checkInferOutputs(model string, c Config, n int, post, logits, zmean *engine.Buf) error {
	switch {
	case post == nil || post.Len() < n*c.K:
		return fmt.Errorf("gmvae: %s infer: post needs %d values (n*K), has %d", model, n*c.K, bufLen(post))
	case zmean == nil || zmean.Len() < n*c.Dz:
		return fmt.Errorf("gmvae: %s infer: zmean needs %d values (n*Dz), has %d", model, n*c.Dz, bufLen(zmean))
	case logits != nil && logits.Len() < n*c.K:
		return fmt.Errorf("gmvae: %s infer: logits needs %d values (n*K), has %d", model, n*c.K, logits.Len())
	}
	return nil
}

// decodeMean is Model.Decode of the GMM-VAEs: the decoder (trunk, then output head)
// on z (n, Dz) in evaluation mode, the mean of p(x|z) into xmean (n, D): the sigmoid of
// the logits (Bernoulli) or the mean head (Gaussian).
func decodeMean(b engine.Backend, model string, c Config, trunk *nn.MLP, bufs *nn.MLPBufs, head *nn.Linear, z *engine.Buf, n int, xmean *engine.Buf) error {
	if err := checkDecode(model, c, z, n, xmean); err != nil {
		return err
	}
	l := newLauncher(b, model)
	l.do(trunk.Forward(l.b, z, n, bufs, nn.Eval))
	l.do(head.Forward(l.b, bufs.Output(), xmean, n, nn.Scratch{}))
	if c.Likelihood == Bernoulli {
		l.do(ops.ActFwd(l.b, xmean, xmean, n*c.D, kernels.ActSigmoid))
	}
	return l.err
}

// checkDecode validates the arguments of Model.Decode.
func checkDecode(model string, c Config, z *engine.Buf, n int, xmean *engine.Buf) error {
	if n < 1 || n > c.MaxBatch {
		return fmt.Errorf("gmvae: %s decode: %d rows, want 1..%d (max_batch)", model, n, c.MaxBatch)
	}
	if z == nil || z.Len() < n*c.Dz {
		return fmt.Errorf("gmvae: %s decode: %d rows of z need %d values (n*Dz), z has %d", model, n, n*c.Dz, bufLen(z))
	}
	if xmean == nil || xmean.Len() < n*c.D {
		return fmt.Errorf("gmvae: %s decode: %d rows of x need %d values (n*D), xmean has %d", model, n, n*c.D, bufLen(xmean))
	}
	return nil
}

// checkSample validates the arguments of Model.SampleCluster.
func checkSample(model string, c Config, k, n int, z *engine.Buf) error {
	if k < 0 || k >= c.K {
		return fmt.Errorf("gmvae: %s sample: cluster %d, want 0..%d (k = %d)", model, k, c.K-1, c.K)
	}
	if n < 1 || n > c.MaxBatch {
		return fmt.Errorf("gmvae: %s sample: %d draws, want 1..%d (max_batch)", model, n, c.MaxBatch)
	}
	if z == nil || z.Len() < n*c.Dz {
		return fmt.Errorf("gmvae: %s sample: %d draws need %d values (n*Dz), z has %d", model, n, n*c.Dz, bufLen(z))
	}
	return nil
}

func bufLen(b *engine.Buf) int {
	if b == nil {
		return 0
	}
	return b.Len()
}

// DecodeConfig reads a model configuration from its JSON (a checkpoint's model_config,
// the "model" of a run folder's config.json). A field added after the file was
// written reads as its zero value; Defaults then gives it the value such a model had
// (a saved config is a model's Config(), complete when written).
func DecodeConfig(raw []byte) (Config, error) {
	var c Config
	if err := json.Unmarshal(raw, &c); err != nil {
		return Config{}, fmt.Errorf("gmvae: model configuration: %w", err)
	}
	if c.Model == "shu" {
		// Written by a version that accepted (and ignored) model dilokthanakul's
		// options for model shu: they never changed a bit of it.
		c.M, c.Lambda = 0, 0
	}
	return c.Defaults(), nil
}
