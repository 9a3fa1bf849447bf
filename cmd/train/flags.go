package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gmvae/gmvae/data"
	"github.com/gmvae/gmvae/gmvae"
	"github.com/gmvae/gmvae/internal/cli"
	"github.com/gmvae/gmvae/internal/field"
	"github.com/gmvae/gmvae/nn"
	"github.com/gmvae/gmvae/trainer"
)

// The Gumbel-softmax temperature schedule of the popular PyTorch port of model shu
// (jariasf/GMVAE): from 1 down to 0.5 by exp(-0.013862944) per epoch, the floor reached
// at epoch 50 (0.013862944 = ln 2 / 50).
const (
	portTauDecay = 0.013862944
	portTauMin   = 0.5
)

// DefaultEpochs is the command's default: a run that finishes in minutes on a small
// machine. The papers train for 100+ epochs (-epochs 100).
const DefaultEpochs = 2

// options are the command's flags that are not settings of the run.
type options struct {
	device, out, configFile, resume                       string
	dataDir, trainPath, testPath, trainLabels, testLabels string
	labelCol                                              string
	seeds, restarts                                       int
	noPictures, overwrite                                 bool
	// resumeDir: -resume named a run folder (its config.json holds the settings).
	resumeDir bool
}

// setter is a flag that changes a setting: applied, in the order given, on top of the
// base settings (a checkpoint's, a config file's, or the command's defaults) once all
// flags are parsed.
type setter struct {
	flag, value string
	apply       func(s *trainer.Settings, v string) error
}

// flags is the parsed command line.
type flags struct {
	o       options
	set     []setter        // the setting flags given, in order
	given   map[string]bool // every flag given
	keyFlag map[string]string
	fresh   bool // neither -resume nor -config: the command's defaults are the base
}

// parseFlags parses args. Setting flags are recorded, not applied (see settle).
func parseFlags(args []string, stderr io.Writer) (*flags, error) {
	f := &flags{given: map[string]bool{}, keyFlag: map[string]string{}}
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &f.o
	fs.StringVar(&o.device, "device", "auto", "where to train: auto (cuda when built with it and a GPU answers, else cpu), cpu, cuda, emu (the PTX emulator: slow, for checks)")
	fs.StringVar(&o.out, "out", "", "run folder (default runs/<model>-<date>-<time>; with -resume, the checkpoint's folder)")
	fs.StringVar(&o.configFile, "config", "", "JSON file {\"model\": {...}, \"train\": {...}} (a run folder's config.json works); flags override it")
	fs.StringVar(&o.resume, "resume", "", "continue the run of this checkpoint, or of this run folder (its settings are the defaults; the result is bit-identical to an uninterrupted run)")
	fs.BoolVar(&o.overwrite, "overwrite", false, "start afresh in a run folder that already holds a run, removing it (without this, such a folder is refused: -resume continues it)")
	fs.StringVar(&o.dataDir, "data-dir", "", "folder with the four MNIST files (default: the Go module cache, or $"+data.MNISTDirEnv+")")
	fs.StringVar(&o.trainPath, "train", "", "training data instead of MNIST: .csv, .npy, IDX (anything else, gzip allowed), or a shard folder with manifest.json (made by cmd/convert)")
	fs.StringVar(&o.testPath, "test", "", "held-out data in the same format (default: evaluate on the training data)")
	fs.StringVar(&o.trainLabels, "train-labels", "", "labels of -train (IDX or NPY; CSV files carry theirs in -label-col)")
	fs.StringVar(&o.testLabels, "test-labels", "", "labels of -test (IDX or NPY)")
	fs.StringVar(&o.labelCol, "label-col", "", "CSV label column: a header name or a 0-based index (negative: from the end); default none")
	fs.IntVar(&o.seeds, "seeds", 1, "train this many seeds (seed, seed+1, ...), each in its own subfolder, and report best and mean ± s.d.")
	fs.IntVar(&o.restarts, "restarts", 1, "label-free selection: kmeans and gmm fit this many initialisations and keep the best inertia or log-likelihood; other models train this many whole runs (seeds seed, seed+1000, ...) in subfolders and keep the one of the highest training ELBO (restarts.json says why)")
	fs.BoolVar(&o.noPictures, "no-pictures", false, "do not draw loss.png, accuracy.png, latent.png, samples.png and reconstructions.png")

	// def registers a setting flag: key is the JSON setting it writes (for errors).
	def := func(name, key, usage string, apply func(s *trainer.Settings, v string) error) {
		f.keyFlag[key] = name
		fs.Func(name, usage, func(v string) error {
			f.set = append(f.set, setter{name, v, apply})
			return nil
		})
	}
	defBool := func(name, key, usage string, apply func(s *trainer.Settings, v bool)) {
		f.keyFlag[key] = name
		fs.BoolFunc(name, usage, func(v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("want true or false")
			}
			f.set = append(f.set, setter{name, v, func(s *trainer.Settings, _ string) error { apply(s, b); return nil }})
			return nil
		})
	}
	def("model", "model.model", "dilokthanakul (Dilokthanakul et al. 2016), shu (Rui Shu), vade (Jiang et al. 2017: autoencoder pretraining, a Gaussian-mixture prior, training), kmeans (k-means++ and Lloyd) or gmm (a diagonal Gaussian mixture by EM) (default on MNIST dilokthanakul; with -train FILE chosen from the data: vade for at least 1000 rows of 32 features, else gmm)",
		func(s *trainer.Settings, v string) error { s.Model.Model = v; return nil })
	def("covariance", "model.covariance", "gmm: diag (a variance per cluster and feature; default), full (a covariance matrix per cluster; at most 64 features) or auto (both fitted, the lower BIC kept; what -train FILE gets when it picks gmm)",
		func(s *trainer.Settings, v string) error { s.Model.Covariance = v; return nil })
	def("k", "model.k", "clusters (default 10)", intTo(func(s *trainer.Settings) *int { return &s.Model.K }, 1))
	def("m", "model.m", "Monte Carlo samples of (z, w) per example (dilokthanakul; default 1)", intTo(func(s *trainer.Settings) *int { return &s.Model.M }, 1))
	def("lambda", "model.lambda", "free-bits threshold on the y-prior term (dilokthanakul; 0: off; the authors use 0.5)",
		f32To(func(s *trainer.Settings) *float32 { return &s.Model.Lambda }))
	def("dz", "model.dz", "z dimensions (default 200 for dilokthanakul, 64 for shu)", intTo(func(s *trainer.Settings) *int { return &s.Model.Dz }, 1))
	def("dw", "model.dw", "w dimensions (dilokthanakul; default 150)", intTo(func(s *trainer.Settings) *int { return &s.Model.Dw }, 1))
	def("hidden", "model.hidden", "hidden widths, comma-separated (default 500 for dilokthanakul, 512,512 for shu)", func(s *trainer.Settings, v string) error {
		h, err := parseInts(v)
		s.Model.Hidden = h
		return err
	})
	def("likelihood", "model.likelihood", "bernoulli (data in [0,1]) or gaussian (default bernoulli)",
		func(s *trainer.Settings, v string) error { s.Model.Likelihood = gmvae.Likelihood(v); return nil })
	def("init", "model.init", "dilokthanakul: parameter initialisation: glorot (Glorot normal weights, zero biases; default) or torch (Torch7's defaults, as the authors' code: uniform on ±1/sqrt(fan-in) for weights and biases, batch-norm scales uniform on (0, 1))",
		func(s *trainer.Settings, v string) error { s.Model.Init = nn.Scheme(strings.ToLower(v)); return nil })
	def("p-grad", "model.p_grad", "dilokthanakul: the conditional-prior term's gradient into p(y|z,w): stop (held constant; default), authors (as the authors' code: reversed while the y-prior term is above -lambda) or exact",
		func(s *trainer.Settings, v string) error { s.Model.PGrad = gmvae.PGrad(v); return nil })
	defBool("batch-norm", "model.batch_norm", "dilokthanakul: batch normalisation before every encoder hidden layer's ReLU, as in the authors' code (with -hidden 500,500: their recogniser)",
		func(s *trainer.Settings, v bool) { s.Model.BatchNorm = v })
	defBool("gumbel", "model.gumbel", "shu: sample y by Gumbel-softmax instead of the exact sum over K",
		func(s *trainer.Settings, v bool) { s.Model.Gumbel = v })
	def("tau", "model.tau", "shu with -gumbel: the Gumbel-softmax temperature of the first epoch (default 1)", func(s *trainer.Settings, v string) error {
		x, err := strconv.ParseFloat(v, 32)
		if err != nil || !(x > 0) || math.IsInf(x, 0) {
			return fmt.Errorf("want a positive temperature")
		}
		s.Model.Tau = float32(x)
		return nil
	})
	def("tau-decay", "train.tau_decay", fmt.Sprintf("shu with -gumbel: anneal the temperature to max(tau-min, tau*exp(-tau-decay*epoch)) (the PyTorch port's schedule; 0: constant) (default %g)", portTauDecay),
		f64To(func(s *trainer.Settings) *float64 { return &s.Train.TauDecay }))
	def("tau-min", "train.tau_min", fmt.Sprintf("shu with -gumbel: the temperature's floor (default %g)", portTauMin),
		f64To(func(s *trainer.Settings) *float64 { return &s.Train.TauMin }))
	def("epochs", "train.epochs", fmt.Sprintf("passes over the training data (the papers use 100+) (default %d)", DefaultEpochs),
		intTo(func(s *trainer.Settings) *int { return &s.Train.Epochs }, 1))
	def("batch", "train.batch_size", "examples per step (default 50 for dilokthanakul, 100 for shu)", intTo(func(s *trainer.Settings) *int { return &s.Train.BatchSize }, 1))
	def("lr", "train.lr", "Adam learning rate (default 1e-4 for dilokthanakul, 1e-3 for shu)", positiveTo(func(s *trainer.Settings) *float64 { return &s.Train.LR }))
	def("schedule", "train.schedule", "learning-rate schedule: constant, cosine (to -lr-min), exp (-lr-decay per epoch) or step (-lr-decay every -lr-step epochs down to -lr-min) (default constant; vade step)",
		func(s *trainer.Settings, v string) error { s.Train.Schedule = v; return nil })
	def("lr-min", "train.lr_min", "cosine schedule: the final learning rate; step: the floor (default 0; vade 2e-4)", f64To(func(s *trainer.Settings) *float64 { return &s.Train.LRMin }))
	def("lr-decay", "train.lr_decay", "exp schedule: learning-rate factor per epoch (default 0.97); step: per -lr-step epochs (vade 0.9)", positiveTo(func(s *trainer.Settings) *float64 { return &s.Train.LRDecay }))
	def("lr-step", "train.lr_step", "step schedule: epochs between decays by -lr-decay, down to -lr-min (vade: 10)", intTo(func(s *trainer.Settings) *int { return &s.Train.LRStep }, 1))
	def("adam-eps", "train.adam_eps", "Adam's epsilon (default 1e-8; vade 1e-4)", positiveTo(func(s *trainer.Settings) *float64 { return &s.Train.AdamEps }))
	def("pretrain-epochs", "train.pretrain_epochs", "vade: epochs of autoencoder pretraining (default 50)", intTo(func(s *trainer.Settings) *int { return &s.Train.PretrainEpochs }, 1))
	def("pretrain-lr", "train.pretrain_lr", "vade: the pretraining's learning rate (default 1e-3)", positiveTo(func(s *trainer.Settings) *float64 { return &s.Train.PretrainLR }))
	def("prior-restarts", "train.prior_restarts", "vade: restarts of the Gaussian mixture fitted to the pretrained latent means; the highest log-likelihood initialises the prior (default 10)", intTo(func(s *trainer.Settings) *int { return &s.Train.PriorRestarts }, 1))
	def("augment-shift", "train.augment_shift", "images: shift every training image by up to this many pixels at random (with -augment-rotate: DEC-DA's augmentation, 3 pixels and 10 degrees for MNIST; 0: off)", f64To(func(s *trainer.Settings) *float64 { return &s.Train.AugmentShift }))
	def("augment-rotate", "train.augment_rotate", "images: turn every training image by up to this many degrees at random (0: off)", f64To(func(s *trainer.Settings) *float64 { return &s.Train.AugmentRotate }))
	def("clip", "train.clip", "clip the gradient norm to this (0: off)", f64To(func(s *trainer.Settings) *float64 { return &s.Train.Clip }))
	defBool("binarize", "train.binarize", "dynamic binarisation: resample every pixel as a Bernoulli of its intensity at every step (default on for shu)",
		func(s *trainer.Settings, v bool) { s.Train.Binarize = v })
	def("eval-batch", "train.eval_batch", "evaluation batch size (default: the largest training batch)", intTo(func(s *trainer.Settings) *int { return &s.Train.EvalBatch }, 1))
	def("eval-every", "train.eval_every", "evaluate every N epochs (and at the end) (default 1)", intTo(func(s *trainer.Settings) *int { return &s.Train.EvalEvery }, 1))
	def("checkpoint-every", "train.checkpoint_every", "also checkpoint every N steps (0: at the end of every epoch only)", intTo(func(s *trainer.Settings) *int { return &s.Train.CheckpointEvery }, 0))
	def("max-steps", "train.max_steps", "stop after N steps in all (0: no limit)", intTo(func(s *trainer.Settings) *int { return &s.Train.MaxSteps }, 0))
	def("seed", "train.seed", "random seed (initial parameters, batch order, sampling) (default 1)", func(s *trainer.Settings, v string) error {
		u, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return fmt.Errorf("want an unsigned integer")
		}
		s.Model.Seed, s.Train.Seed = u, u
		return nil
	})
	def("subset", "train.train_subset", "train on the first N training examples only (quick runs; 0: all)", intTo(func(s *trainer.Settings) *int { return &s.Train.TrainSubset }, 0))
	def("test-subset", "train.test_subset", "evaluate on the first N held-out examples only (default: -subset, capped at the set's size)", intTo(func(s *trainer.Settings) *int { return &s.Train.TestSubset }, 0))
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: train [flags]\n\nTrains a Gaussian-mixture VAE (or fits k-means or a Gaussian mixture) and reports its clustering\nof the held-out data. With -train FILE, settings you do not give are chosen from the data\n(likelihood, scaling, model, widths, epochs); the run's first lines say what and why.\nFlags:")
		fs.PrintDefaults()
	}
	if err := cli.Parse(fs, args); err != nil {
		return nil, err
	}
	fs.Visit(func(fl *flag.Flag) { f.given[fl.Name] = true })
	if o.seeds < 1 {
		return nil, cli.Usagef("-seeds %d: want at least 1", o.seeds)
	}
	if o.restarts < 1 {
		return nil, cli.Usagef("-restarts %d: want at least 1", o.restarts)
	}
	if o.resume != "" && o.seeds > 1 {
		return nil, cli.Usage(errors.New("-resume continues one run; it cannot be combined with -seeds"))
	}
	if o.resume != "" && o.configFile != "" {
		return nil, cli.Usage(errors.New("-resume takes the checkpoint's settings; it cannot be combined with -config"))
	}
	if o.resume != "" && o.overwrite {
		return nil, cli.Usage(errors.New("-resume continues a run and -overwrite removes it: give one"))
	}
	if st, err := os.Stat(o.resume); o.resume != "" && err == nil && st.IsDir() {
		// A run folder: its settings are its config.json's; its checkpoint, when there is
		// one, is where training continues (model vade's recipe finds its stages there).
		o.resumeDir = true
		if o.out == "" {
			o.out = o.resume
		}
		if filepath.Clean(o.out) != filepath.Clean(o.resume) {
			return nil, cli.Usagef("-resume %s continues that run folder; -out %s names another", o.resume, o.out)
		}
	}
	return f, nil
}

// intTo parses a flag into the int field at(s), at least min: a value that would mean
// "the default" in a configuration (0) is refused where it is not a valid setting.
func intTo(at func(s *trainer.Settings) *int, min int) func(s *trainer.Settings, v string) error {
	return func(s *trainer.Settings, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("want an integer")
		}
		if n < min {
			return fmt.Errorf("want at least %d", min)
		}
		*at(s) = n
		return nil
	}
}

func f64To(at func(s *trainer.Settings) *float64) func(s *trainer.Settings, v string) error {
	return func(s *trainer.Settings, v string) error {
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("want a number")
		}
		*at(s) = x
		return nil
	}
}

// positiveTo parses a flag into a float64 field that must be positive (0 would mean
// "the default" in a configuration).
func positiveTo(at func(s *trainer.Settings) *float64) func(s *trainer.Settings, v string) error {
	return func(s *trainer.Settings, v string) error {
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || !(x > 0) || math.IsInf(x, 0) {
			return fmt.Errorf("want a positive number")
		}
		*at(s) = x
		return nil
	}
}

func f32To(at func(s *trainer.Settings) *float32) func(s *trainer.Settings, v string) error {
	return func(s *trainer.Settings, v string) error {
		x, err := strconv.ParseFloat(v, 32)
		if err != nil {
			return fmt.Errorf("want a number")
		}
		*at(s) = float32(x)
		return nil
	}
}

// parseInts parses a comma-separated list of positive integers.
func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, v)
	}
	return out, nil
}

// fileConfig is a -config file: a run folder's config.json.
type fileConfig struct {
	trainer.Settings
	Backend json.RawMessage `json:"backend"` // as in a run folder's config.json; ignored
	Data    json.RawMessage `json:"data"`
	// WorldSize: the data-parallel ranks of the run (in a run folder's config.json);
	// ignored: the launcher decides.
	WorldSize json.RawMessage `json:"world_size"`
}

// settings returns the run's settings, settled (trainer.Settings.Settle, the one
// validation): the base (the checkpoint's with -resume, the -config file's, or the
// command's defaults) with every setting flag applied in order. An invalid setting is
// a usage error naming its flag when a flag set it.
func (f *flags) settings() (trainer.Settings, error) {
	var s trainer.Settings
	fresh := false
	switch {
	case f.o.resumeDir:
		raw, err := os.ReadFile(filepath.Join(f.o.resume, trainer.ConfigFile))
		if err != nil {
			return s, cli.Usagef("-resume %s: not a run folder (no %s): %v", f.o.resume, trainer.ConfigFile, err)
		}
		var fc fileConfig
		if err := json.Unmarshal(raw, &fc); err != nil {
			return s, cli.Usagef("-resume %s: %s: %v", f.o.resume, trainer.ConfigFile, err)
		}
		s = fc.Settings
	case f.o.resume != "":
		_, mc, tc, err := trainer.LoadCheckpoint(f.o.resume)
		if err != nil {
			return s, cli.Usage(err)
		}
		s = trainer.Settings{Model: mc, Train: tc}
	case f.o.configFile != "":
		raw, err := os.ReadFile(f.o.configFile)
		if err != nil {
			return s, cli.Usage(err)
		}
		var fc fileConfig
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&fc); err != nil {
			return s, cli.Usagef("config %s: %v", f.o.configFile, err)
		}
		if fc.Model.Model == "" {
			return s, cli.Usagef("config %s: no \"model\" section with a model name (a run folder's config.json has one)", f.o.configFile)
		}
		s = fc.Settings
	default:
		fresh = true
		s = trainer.Settings{
			Model: gmvae.Config{Model: "dilokthanakul", K: 10, Seed: 1},
			Train: trainer.Config{EvalEvery: 1, Seed: 1},
		}
	}
	s.Train.RunDir, s.Train.Resume = "", ""
	baseModel := s.Model.Model
	for _, st := range f.set {
		if err := st.apply(&s, st.value); err != nil {
			return s, cli.Usagef("-%s %s: %v", st.flag, st.value, err)
		}
	}
	if f.o.resume != "" && s.Model.Model != baseModel {
		return s, cli.Usagef("-model %s: the run to resume (%s) is of model %s; a resumed run keeps its model (start a new run with -out for another)", s.Model.Model, f.o.resume, baseModel)
	}
	classical := s.Model.Model == "kmeans" || s.Model.Model == "gmm"
	if classical && f.given["restarts"] {
		s.Model.Restarts = f.o.restarts // initialisations within the fit
		f.o.restarts = 1
	}
	if classical && f.given["epochs"] {
		return s, cli.Usagef("-epochs: model %s is fitted in one call, not trained by epochs", s.Model.Model)
	}
	if fresh {
		// The command's defaults that depend on the model.
		if s.Train.Epochs == 0 && !classical {
			s.Train.Epochs = DefaultEpochs
		}
		if !f.given["binarize"] {
			// Rui Shu's setting, for data in [0, 1] under the Bernoulli likelihood.
			s.Train.Binarize = s.Model.Model == "shu" && s.Model.Likelihood != gmvae.Gaussian
		}
		if s.Model.Gumbel {
			if !f.given["tau-decay"] {
				s.Train.TauDecay = portTauDecay
			}
			if !f.given["tau-min"] {
				s.Train.TauMin = portTauMin
			}
		}
		if !f.given["test-subset"] {
			s.Train.TestSubset = s.Train.TrainSubset
		}
	}
	if !s.Model.Gumbel {
		for _, name := range []string{"tau", "tau-decay", "tau-min"} {
			if f.given[name] {
				return s, cli.Usagef("-%s: the temperature is model shu's with -gumbel only", name)
			}
		}
	}
	// Checked here, before any data is read; settled after the data-aware defaults.
	if _, err := s.Settle(); err != nil {
		return s, cli.Usage(f.flagError(err))
	}
	f.fresh = fresh
	return s, nil
}

// dataAware applies the data-aware defaults (trainer.DataAware) to a fresh run on the
// user's data (-train, no -config or -resume) and returns the choices to print.
func (f *flags) dataAware(s trainer.Settings, train data.Source) (trainer.Settings, []trainer.Choice, error) {
	if !f.fresh || f.o.trainPath == "" {
		return s, nil, nil
	}
	st, err := data.Describe(train)
	if err != nil {
		return s, nil, err
	}
	given := func(key string) bool { return f.given[f.keyFlag[key]] }
	s, choices := trainer.DataAware(s, train.Info(), st, given)
	if !given("train.binarize") {
		// Dynamic binarisation (model shu's default) fits data in [0, 1] under the
		// Bernoulli likelihood only.
		s.Train.Binarize = s.Model.Model == "shu" && s.Model.Likelihood != gmvae.Gaussian && st.Unit
	}
	return s, choices, nil
}

// settle settles the final settings (trainer.Settings.Settle), naming the flag of an
// invalid one.
func (f *flags) settle(s trainer.Settings) (trainer.Settings, error) {
	settled, err := s.Settle()
	if err != nil {
		return s, cli.Usage(f.flagError(err))
	}
	return settled, nil
}

// flagError names the flag of a *field.Error when a flag set that setting.
func (f *flags) flagError(err error) error {
	var fe *field.Error
	if !errors.As(err, &fe) {
		return err
	}
	key := fe.Section + "." + fe.Key
	if i := strings.IndexByte(key, '['); i >= 0 {
		key = key[:i] // hidden[2]
	}
	if name, ok := f.keyFlag[key]; ok && f.given[name] {
		for i := len(f.set) - 1; i >= 0; i-- {
			if f.set[i].flag == name {
				return fmt.Errorf("-%s %s: %s", name, f.set[i].value, fe.Want)
			}
		}
	}
	if f.o.configFile != "" {
		return fmt.Errorf("config %s: %w", filepath.Base(f.o.configFile), err)
	}
	if f.o.resume != "" {
		return fmt.Errorf("checkpoint %s: %w", f.o.resume, err)
	}
	return err
}
