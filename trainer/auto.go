package trainer

import (
	"fmt"
	"math"

	"github.com/gmvae/gmvae/cluster"
	"github.com/gmvae/gmvae/data"
	"github.com/gmvae/gmvae/gmvae"
)

// Data-aware defaults: what a run on the user's data gets when the user sets nothing
// but the data (and K). Each rule says why; the run prints the choices (Choice).
//
//   - The likelihood: data in [0, 1] (binary, or grey levels) gets the Bernoulli
//     likelihood as it is; anything else the Gaussian likelihood on scaled values,
//     stored with the model (gmvae.Config.Input) and applied by assign and predict.
//   - The scale: one common scale when the features share a unit (an image shape, or
//     integer features in [0, 255] as pixels are, or spreads within a factor of
//     SpreadRatio of each other), else one per feature (standardisation). Standardising
//     the pixels of small grey images one by one loses their relative contrast and cost
//     k-means 16 points of ACC; standardising features of different units is what
//     makes a distance between rows mean anything.
//   - The model (when no setting names or shapes one): with enough rows and features for a network (DeepMinRows rows,
//     DeepMinDims features), model vade, whose networks are sized to the data (Widths);
//     else the Gaussian mixture (model gmm, 10 restarts chosen by log-likelihood): on
//     a few hundred rows of a few features a deep model has too little to learn from,
//     and a mixture of Gaussians on well-scaled features is what works. Its
//     covariances (up to cluster.MaxFullD features): diagonal or full, whichever has
//     the lower BIC (gmvae.CovAuto); tilted clusters and correlated features need full
//     ones (a diagonal mixture lost to k-means on the benchmark's anisotropic blobs).
//   - Epochs (vade): enough passes that pretraining and training each take about the
//     steps of the paper's MNIST schedule at batch 100, within bounds.
//   - Augmentation (vade on images, a data set whose examples have a 2-D shape): every
//     pretraining batch shifted and turned a little at random (DEC-DA, Guo et al. 2018:
//     3 pixels and 10 degrees on MNIST). An autoencoder that must give a digit and its
//     slightly moved copy the same code learns an embedding in which the classes
//     separate better (docs/clustering.md); the clustering stage trains on the images
//     as they are (Config.AugmentShift).

// Thresholds of the data-aware defaults.
const (
	DeepMinRows = 1000
	DeepMinDims = 32
	SpreadRatio = 10.0
)

// Choice is one data-aware default and why it was taken.
type Choice struct{ Setting, Value, Why string }

// String formats the choice for the run's first lines.
func (c Choice) String() string { return fmt.Sprintf("%s %s (%s)", c.Setting, c.Value, c.Why) }

// DataAware fills the settings the user did not give (given reports, by the JSON key of
// trainer.Settings, e.g. "model.model", "model.likelihood", "train.epochs", which ones
// they gave) from the training data's description, and returns what it chose.
func DataAware(s Settings, in data.SourceInfo, st *data.Stats, given func(key string) bool) (Settings, []Choice) {
	var out []Choice
	choose := func(key, value, why string) { out = append(out, Choice{key, value, why}) }
	m, t := s.Model, s.Train
	m.D = in.D
	deep := in.N >= DeepMinRows && in.D >= DeepMinDims
	// A setting that shapes a model says which model the user means: the command's
	// model (or the one they named) stays.
	shaped := false
	for _, k := range []string{"model.model", "model.dz", "model.dw", "model.hidden", "model.m", "model.lambda",
		"model.batch_norm", "model.gumbel", "model.tau", "model.p_grad", "model.init"} {
		shaped = shaped || given(k)
	}
	if !shaped {
		if deep {
			m.Model = "vade"
			choose("model", "vade", fmt.Sprintf("%d rows of %d features: enough for a network", in.N, in.D))
		} else {
			m.Model = "gmm"
			if m.Restarts == 0 {
				m.Restarts = 10
			}
			choose("model", "gmm with 10 restarts", fmt.Sprintf("%d rows of %d features: too few for a network to beat a Gaussian mixture", in.N, in.D))
			if !given("model.covariance") && in.D <= cluster.MaxFullD {
				m.Covariance = gmvae.CovAuto
				choose("covariance", "auto", "diagonal and full covariances both fitted and the lower BIC kept (full only when every cluster has more rows than features), a choice made without labels: clusters may be tilted or their features correlated")
			}
		}
	}
	if !given("model.likelihood") && !given("model.input") {
		switch {
		case st.Unit:
			m.Likelihood = gmvae.Bernoulli
			m.Input = nil
			kind := "grey levels"
			if st.Binary {
				kind = "binary"
			}
			choose("likelihood", "bernoulli", "every value is in [0, 1] ("+kind+")")
		default:
			m.Likelihood = gmvae.Gaussian
			common, why := sharesUnit(in, st)
			if common {
				a := data.StandardizeCommon(st)
				m.Input = &a
				choose("input", fmt.Sprintf("(x - %.4g) * %.4g for every feature", a.Shift[0], a.Scale[0]), why)
			} else {
				a := data.Standardize(st)
				m.Input = &a
				choose("input", "standardised per feature", why)
			}
			choose("likelihood", "gaussian", "values outside [0, 1]")
		}
	}
	if m.Model == "vade" {
		if !given("model.hidden") {
			m.Hidden = Widths(in.D)
			choose("hidden", fmt.Sprint(m.Hidden), fmt.Sprintf("sized to %d features", in.D))
		}
		if !given("model.dz") {
			m.Dz = min(max(m.K, 2), 32)
			if m.K == 0 {
				m.Dz = 10
			}
			choose("dz", fmt.Sprint(m.Dz), "one latent dimension per cluster, as the paper's MNIST network")
		}
		// About 30,000 steps of batch 100 each for pretraining and training (the paper's
		// MNIST schedule: 50 epochs of 60,000 rows), between 20 and 2,000 epochs.
		epochs := int(math.Round(3e6 / float64(max(in.N, 1))))
		epochs = min(max(epochs, 20), 2000)
		if !given("train.epochs") {
			t.Epochs = epochs
			choose("epochs", fmt.Sprint(epochs), fmt.Sprintf("about 30,000 steps on %d rows", in.N))
		}
		if !given("train.pretrain_epochs") {
			t.PretrainEpochs = epochs
			choose("pretrain-epochs", fmt.Sprint(epochs), "as many as the training's")
		}
		if !given("train.eval_every") {
			t.EvalEvery = max(1, epochs/20)
		}
		if h, w, ok := imageDims(in); ok && !given("train.augment_shift") && !given("train.augment_rotate") {
			t.AugmentShift = math.Max(1, math.Round(float64(min(h, w))*3/28))
			t.AugmentRotate = 10
			choose("augment", fmt.Sprintf("shifts of up to %g pixels, turns of up to 10 degrees", t.AugmentShift),
				fmt.Sprintf("images of %d x %d: DEC-DA's augmentation of the pretraining (3 pixels of 28, scaled to the image), which gave vade's pretrained embedding of MNIST a better clustering", h, w))
		}
	}
	return Settings{Model: m, Train: t}, out
}

// sharesUnit reports whether the features share one unit (and why).
func sharesUnit(in data.SourceInfo, st *data.Stats) (bool, string) {
	if len(in.Shape) >= 2 {
		return true, fmt.Sprintf("images of shape %v: one scale for every pixel", in.Shape)
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for j := range st.D {
		lo, hi = math.Min(lo, st.Min[j]), math.Max(hi, st.Max[j])
	}
	if st.Integer && lo >= 0 && hi <= 255 && st.D >= DeepMinDims {
		return true, "integer features in [0, 255], as pixels: one scale for every feature"
	}
	small, large := math.Inf(1), 0.0
	for _, s := range st.Std {
		if s > 0 {
			small, large = math.Min(small, s), math.Max(large, s)
		}
	}
	if large == 0 || large <= SpreadRatio*small {
		return true, fmt.Sprintf("the features' spreads are within a factor of %g: one scale for every feature", SpreadRatio)
	}
	return false, fmt.Sprintf("the features' spreads differ by a factor of %.3g: one scale per feature", large/small)
}

// Widths returns vade's hidden widths for data of d features: the paper's
// 500-500-2000 from 256 features up, narrower for fewer (2d, 2d, 4d, at least 32).
func Widths(d int) []int {
	if d >= 256 {
		return []int{500, 500, 2000}
	}
	w := max(32, 2*d)
	return []int{w, w, 2 * w}
}
