package main

import (
	"fmt"
	"time"

	"github.com/gmvae/gmvae/data"
	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/gmvae"
	"github.com/gmvae/gmvae/nn"
	"github.com/gmvae/gmvae/trainer"
)

// checkpointBench times steps training steps of a checkpoint's model on the first
// MNIST training batches twice, from the checkpoint's parameters (and state) and from
// a fresh model of the same configuration, and prints both rates. A trained model's
// numbers differ from a fresh one's, and some numbers (subnormal floats on x86) cost
// far more than others: this shows whether training has slowed down for that reason.
// It returns the two rates in examples per second.
func checkpointBench(b engine.Backend, path, dataDir string, steps int) (trained, fresh float64, err error) {
	ck, mc, tc, err := trainer.LoadCheckpoint(path)
	if err != nil {
		return 0, 0, err
	}
	train, _, err := data.LoadMNIST(dataDir)
	if err != nil {
		return 0, 0, err
	}
	batch := tc.BatchSize
	if mc.D != train.D || batch < 1 || steps*batch > train.N {
		return 0, 0, fmt.Errorf("checkpoint %s: a model of %d features with batches of %d does not fit %d steps of MNIST", path, mc.D, batch, steps)
	}
	cfg := mc
	cfg.MaxBatch = batch
	run := func(fromCheckpoint bool) (float64, error) {
		m, err := gmvae.New(b, cfg)
		if err != nil {
			return 0, err
		}
		defer m.Release()
		ps := m.Params()
		if fromCheckpoint {
			if err := b.Upload(ps.P, ck.P); err != nil {
				return 0, err
			}
			if err := b.Upload(ps.M, ck.M); err != nil {
				return 0, err
			}
			if err := b.Upload(ps.V, ck.V); err != nil {
				return 0, err
			}
			if ps.S != nil {
				if err := b.Upload(ps.S, ck.S); err != nil {
					return 0, err
				}
			}
		}
		xb, err := b.New(batch*train.D, "bench batch")
		if err != nil {
			return 0, err
		}
		defer b.Release(xb)
		adam := nn.DefaultAdam(float32(tc.LR))
		var t0 time.Time
		for s := -1; s < steps; s++ { // step -1 warms the buffers up, untimed
			if s == 0 {
				if err := b.Sync(); err != nil {
					return 0, err
				}
				t0 = time.Now()
			}
			i := max(s, 0)
			if err := b.Upload(xb, train.X[i*batch*train.D:(i+1)*batch*train.D]); err != nil {
				return 0, err
			}
			if err := ps.ZeroGrad(); err != nil {
				return 0, err
			}
			if _, err := m.TrainBatch(xb, batch, ck.State.Step+uint64(i)); err != nil {
				return 0, err
			}
			if err := ps.StepAt(adam, ck.State.AdamSteps+i+1); err != nil {
				return 0, err
			}
		}
		if err := b.Sync(); err != nil {
			return 0, err
		}
		return float64(steps*batch) / time.Since(t0).Seconds(), nil
	}
	if trained, err = run(true); err != nil {
		return 0, 0, err
	}
	if fresh, err = run(false); err != nil {
		return 0, 0, err
	}
	fmt.Printf("%d training steps of %d examples, %s model (%s) on %s:\n", steps, batch, cfg.Model, path, b.Name())
	fmt.Printf("  from the checkpoint (step %d): %.0f examples/s\n", ck.State.Step, trained)
	fmt.Printf("  fresh parameters: %.0f examples/s (trained/fresh %.2f)\n", fresh, trained/fresh)
	return trained, fresh, nil
}
