package main

import (
	"fmt"
	"time"

	"github.com/gmvae/gmvae/data"
	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/gmvae"
	"github.com/gmvae/gmvae/nn"
)

// epochBench times one training epoch of model B in its Gumbel-softmax mode with the
// reference architecture of the popular PyTorch port (512-512 MLPs for q(y|x), q(z|x,y)
// and the decoder, D_z = 64, K = 10, batch 64, Adam 1e-3), evaluation excluded: the Go
// side of bench/peer/run.sh. Batches come through engine.Loader, so the gathering of the
// next batch overlaps the current step as in training. It returns the seconds taken.
func epochBench(b engine.Backend, dataDir string, limit int) (float64, error) {
	train, _, err := data.LoadMNIST(dataDir)
	if err != nil {
		return 0, err
	}
	n := train.N
	if limit > 0 && limit < n {
		n = limit
	}
	const batch = 64
	cfg := gmvae.Config{Model: "shu", D: train.D, K: 10, Dz: 64, Hidden: []int{512, 512},
		Gumbel: true, Tau: 1, MaxBatch: batch, Seed: 1}
	secs, loss, err := timeEpoch(b, cfg, train, n, batch, 1e-3)
	if err != nil {
		return 0, err
	}
	steps := (n + batch - 1) / batch
	fmt.Printf("go epoch: %.2f s, %d examples, %d steps (%.2f ms/step), mean loss %.2f, backend %s\n",
		secs, n, steps, 1000*secs/float64(steps), loss, b.Name())
	return secs, nil
}

// timeEpoch times one epoch over the first n rows of train of model cfg (Adam at lr,
// batches of batch rows through engine.Loader as in training, so that gathering the
// next batch overlaps the current step), evaluation excluded, and returns the seconds
// and the mean training loss per example.
func timeEpoch(b engine.Backend, cfg gmvae.Config, train *data.Dataset, n, batch int, lr float32) (float64, float64, error) {
	m, err := gmvae.New(b, cfg)
	if err != nil {
		return 0, 0, err
	}
	defer m.Release()
	batcher, err := data.NewBatcher(n, batch, 1, false)
	if err != nil {
		return 0, 0, err
	}
	batches := batcher.Batches(0)
	loader, err := engine.NewLoader(b, batch, train.D, len(batches), func(i int, x []float32) (int, error) {
		idx := batches[i]
		train.Gather(idx, x[:len(idx)*train.D], nil)
		return len(idx), nil
	})
	if err != nil {
		return 0, 0, err
	}
	defer loader.Close()
	opt := nn.DefaultAdam(lr)
	t0 := time.Now()
	var loss float64
	for step := 0; ; step++ {
		x, rows, ok, err := loader.Next()
		if err != nil {
			return 0, 0, err
		}
		if !ok {
			break
		}
		if err := m.Params().ZeroGrad(); err != nil {
			return 0, 0, err
		}
		terms, err := m.TrainBatch(x, rows, uint64(step))
		if err != nil {
			return 0, 0, err
		}
		if err := m.Params().Step(opt); err != nil {
			return 0, 0, err
		}
		loss += terms.Loss * float64(rows)
	}
	if err := b.Sync(); err != nil {
		return 0, 0, err
	}
	return time.Since(t0).Seconds(), loss / float64(n), nil
}

// stepBench times full training steps (zero gradients, forward, backward, Adam) of a
// model at its batch size on synthetic binary data and returns the median.
func stepBench(b engine.Backend, cfg gmvae.Config, batch, reps int) (time.Duration, error) {
	m, err := gmvae.New(b, cfg)
	if err != nil {
		return 0, err
	}
	defer m.Release()
	d := m.Config().D
	host := make([]float32, batch*d)
	for i := range host {
		if (i*7919)%13 < 5 {
			host[i] = 1
		}
	}
	x, err := b.New(len(host), "step bench batch")
	if err != nil {
		return 0, err
	}
	defer b.Release(x)
	if err := b.Upload(x, host); err != nil {
		return 0, err
	}
	step := uint64(0)
	opt := nn.DefaultAdam(1e-3)
	return timeIt(b, reps, func() error {
		step++
		if err := m.Params().ZeroGrad(); err != nil {
			return err
		}
		if _, err := m.TrainBatch(x, batch, step); err != nil {
			return err
		}
		return m.Params().Step(opt)
	})
}
