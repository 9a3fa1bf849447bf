// Package predict assigns new observations to the clusters of a trained model: a
// Predictor rebuilds the model of a checkpoint on a backend and runs it over rows
// given as slices or as gorgonia.org/tensor tensors.
package predict

import (
	"errors"
	"fmt"
	"math"

	"github.com/gmvae/gmvae/checkpoint"
	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/gmvae"
	"github.com/gmvae/gmvae/metrics"
)

// Predictor assigns new observations to the clusters of a trained model: it holds the
// model rebuilt from a checkpoint on one backend and buffers for MaxBatch rows (the
// checkpoint's model config), and runs Model.Infer batch by batch.
//
// The inputs are used as given: a model trained with binarisation (TrainConfig.Binarize)
// sees the raw values in [0,1] here, not a random binarisation of them. The outputs do
// not depend on any random draw (model A's posterior is p(y|z=m_z(x), w=m_w(x)), model
// B's is q(y|x)), so the same rows give the same bits in any batch and on any backend.
//
// A Predictor is not safe for concurrent use.
type Predictor struct {
	b                   engine.Backend
	m                   gmvae.Model
	cfg                 gmvae.Config
	x, post, logits, zm *engine.Buf
	xhost               []float32 // a batch's rows after the model's input map
}

// Prediction is what a Predictor computes for n rows, row-major.
type Prediction struct {
	Clusters []int     // (n) the first index of each row's largest posterior (NaN entries skipped, as metrics.Argmax)
	Post     []float32 // (n, K) cluster posteriors
	Logits   []float32 // (n, K) their logits: each row of Post is the softmax of its row here
	ZMean    []float32 // (n, Dz) latent means
}

// Load reads the checkpoint at checkpointPath (written by trainer.Train), rebuilds its model on
// b from the checkpoint's model config and uploads its parameters. Batches of Predict
// are cut at the config's MaxBatch rows.
func Load(b engine.Backend, checkpointPath string) (*Predictor, error) {
	ck, err := checkpoint.Load(checkpointPath)
	if err != nil {
		return nil, err
	}
	mc, err := gmvae.DecodeConfig(ck.Model)
	if err != nil {
		return nil, fmt.Errorf("predict %s: model_config: %w", checkpointPath, err)
	}
	mc.ExpectParams = len(ck.P)
	m, err := gmvae.New(b, mc)
	if err != nil {
		return nil, fmt.Errorf("predict %s: the checkpoint's model (model_config: model %s, d = %d, k = %d, dz = %d, hidden %v) cannot be built here: %w",
			checkpointPath, mc.Model, mc.D, mc.K, mc.Dz, mc.Hidden, err)
	}
	p := &Predictor{b: b, m: m, cfg: m.Config()}
	if err := p.init(checkpointPath, ck); err != nil {
		_ = p.Close()
		return nil, err
	}
	return p, nil
}

func (p *Predictor) init(path string, ck *checkpoint.Checkpoint) error {
	if err := ck.Matches(p.m.Params()); err != nil {
		return fmt.Errorf("predict %s: %w (not the model the checkpoint's config describes)", path, err)
	}
	if err := p.b.Upload(p.m.Params().P, ck.P); err != nil {
		return fmt.Errorf("predict %s: %w", path, err)
	}
	if s := p.m.Params().S; s != nil {
		if err := p.b.Upload(s, ck.S); err != nil {
			return fmt.Errorf("predict %s: %w", path, err)
		}
	}
	c := p.cfg
	var err error
	if p.x, err = p.b.New(c.MaxBatch*c.D, "predict.x"); err != nil {
		return err
	}
	if p.post, err = p.b.New(c.MaxBatch*c.K, "predict.post"); err != nil {
		return err
	}
	if p.logits, err = p.b.New(c.MaxBatch*c.K, "predict.logits"); err != nil {
		return err
	}
	if p.zm, err = p.b.New(c.MaxBatch*c.Dz, "predict.zmean"); err != nil {
		return err
	}
	return nil
}

// Config returns the model's configuration (D, K, Dz, MaxBatch, ...).
func (p *Predictor) Config() gmvae.Config { return p.cfg }

// Model returns the underlying model (its parameters are the checkpoint's).
func (p *Predictor) Model() gmvae.Model { return p.m }

// PredictSlice is Predict on plain slices: x holds n rows of D float32 values,
// row-major. It returns each row's cluster (the first index of the largest posterior;
// NaN entries are skipped as in metrics.Argmax), the posteriors (n, K) and the latent
// means (n, Dz), row-major. n = 0 is valid and gives empty (non-nil) results.
func (p *Predictor) PredictSlice(x []float32, n int) (clusters []int, post, zmean []float32, err error) {
	r, err := p.Run(x, n)
	if err != nil {
		return nil, nil, nil, err
	}
	return r.Clusters, r.Post, r.ZMean, nil
}

// Run is PredictSlice with the posteriors' logits as well: x holds n rows of D
// float32 values, row-major. The logits keep the order of confident rows whose float32
// posteriors have rounded to 1 (rank by metrics.LogOdds of them, not by Post). n = 0
// is valid and gives empty (non-nil) results.
func (p *Predictor) Run(x []float32, n int) (*Prediction, error) {
	if p.m == nil {
		return nil, errors.New("predict: the predictor is closed")
	}
	c := p.cfg
	if n < 0 {
		return nil, fmt.Errorf("predict: n = %d rows, want >= 0", n)
	}
	if len(x) != n*c.D {
		return nil, fmt.Errorf("predict: x has %d values, expected n*D = %d*%d = %d (the model's D is %d)", len(x), n, c.D, n*c.D, c.D)
	}
	if err := p.checkRows(x, n); err != nil {
		return nil, err
	}
	r := &Prediction{Post: make([]float32, n*c.K), Logits: make([]float32, n*c.K), ZMean: make([]float32, n*c.Dz)}
	for lo := 0; lo < n; lo += c.MaxBatch {
		nb := min(c.MaxBatch, n-lo)
		xb := p.x.Slice(0, nb*c.D)
		rows := x[lo*c.D : (lo+nb)*c.D]
		if c.Input != nil { // the model's input map, on a copy
			p.xhost = append(p.xhost[:0], rows...)
			c.Input.Apply(p.xhost, c.D)
			rows = p.xhost
		}
		if err := p.b.Upload(xb, rows); err != nil {
			return nil, err
		}
		pb, lb, zb := p.post.Slice(0, nb*c.K), p.logits.Slice(0, nb*c.K), p.zm.Slice(0, nb*c.Dz)
		if _, err := p.m.Infer(xb, nb, pb, lb, zb, 0); err != nil {
			return nil, fmt.Errorf("predict: rows %d..%d: %w", lo, lo+nb-1, err)
		}
		for _, d := range []struct {
			host []float32
			buf  *engine.Buf
		}{{r.Post[lo*c.K : (lo+nb)*c.K], pb}, {r.Logits[lo*c.K : (lo+nb)*c.K], lb}, {r.ZMean[lo*c.Dz : (lo+nb)*c.Dz], zb}} {
			if err := p.b.Download(d.host, d.buf); err != nil {
				return nil, err
			}
		}
	}
	r.Clusters = metrics.Argmax(r.Post, c.K)
	if r.Clusters == nil {
		r.Clusters = []int{}
	}
	return r, nil
}

// Close releases the model's buffers and the predictor's own; the backend stays
// open (its owner closes it). Close is idempotent.
func (p *Predictor) Close() error {
	var first error
	for _, buf := range []*engine.Buf{p.x, p.post, p.logits, p.zm} {
		if buf != nil {
			if err := p.b.Release(buf); err != nil && first == nil {
				first = err
			}
		}
	}
	p.x, p.post, p.logits, p.zm = nil, nil, nil, nil
	if p.m != nil {
		if err := p.m.Release(); err != nil && first == nil {
			first = err
		}
		p.m = nil
	}
	return first
}

// checkRows applies the checks the trainer applies to its data: every value finite, and
// in [0, 1] for a model of the Bernoulli likelihood that reads its inputs as they are.
func (p *Predictor) checkRows(x []float32, n int) error {
	c := p.cfg
	unit := c.Likelihood == gmvae.Bernoulli && c.Input == nil && c.Model != "kmeans" && c.Model != "gmm"
	for i, v := range x[:n*c.D] {
		f := float64(v)
		switch {
		case math.IsNaN(f) || math.IsInf(f, 0):
			return fmt.Errorf("predict: row %d column %d is %v: every value must be finite", i/c.D, i%c.D, v)
		case unit && (f < 0 || f > 1):
			return fmt.Errorf("predict: row %d column %d is %v: model %s (Bernoulli likelihood) was trained on data in [0, 1], as every row it assigns must be", i/c.D, i%c.D, v, c.Model)
		}
	}
	return nil
}
