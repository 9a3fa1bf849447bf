package trainer_test

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/data"
	"github.com/gmvae/gmvae/dist"
	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/gmvae"
	"github.com/gmvae/gmvae/kernels/philox"
	"github.com/gmvae/gmvae/nn"
	"github.com/gmvae/gmvae/ops"
	"github.com/gmvae/gmvae/trainer"
)

// The real models under data parallelism: a small model A and model B trained on 2
// ranks with the recipe of docs/distributed.md (Shard, RankStep, SumMean, Adam) end
// bit-equal to one process running the two shards as micro-batches numbered the same
// way, and every rank holds the same parameters.

const (
	mD, mRows, mBatch, mSteps = 12, 40, 8, 4
)

func modelData() []float32 {
	x := make([]float32, mRows*mD)
	u := make([]float32, mRows*mD)
	philox.Uniforms(u, 21, 0)
	for i := range x {
		if u[i] < 0.4 {
			x[i] = 1
		}
	}
	return x
}

func modelConfig(name string) gmvae.Config {
	return gmvae.Config{Model: name, D: mD, K: 3, Dz: 4, Dw: 3, Hidden: []int{7}, MaxBatch: mBatch, Seed: 9}
}

// trainModel runs mSteps steps of model name on rank c.Rank() of c's world; micro > 1
// runs micro blocks of each rank's shard one after the other in one process (the
// reference), each numbered as the rank it stands for.
func trainModel(c dist.Comm, name string, micro int) ([]float32, error) {
	b := engine.NewCPU()
	m, err := gmvae.New(b, modelConfig(name))
	if err != nil {
		return nil, err
	}
	defer m.Release()
	ps := m.Params()
	if err := dist.BcastBufs(c, b, 0, ps.P); err != nil {
		return nil, err
	}
	gs, err := dist.NewGradSync(c, b, ps.Len(), dist.GradSyncOptions{})
	if err != nil {
		return nil, err
	}
	defer gs.Close()
	x, err := b.New(mBatch*mD, "x")
	if err != nil {
		return nil, err
	}
	defer b.Release(x)
	all := modelData()
	host := make([]float32, mBatch*mD)
	acc := make([]float32, ps.Len())
	part := make([]float32, ps.Len())
	world := c.Size() * micro // the ranks a P-rank run has
	for step := 0; step < mSteps; step++ {
		lo := (step * mBatch) % mRows
		batch := make([]int, mBatch)
		for i := range batch {
			batch[i] = (lo + i) % mRows
		}
		for k := 0; k < micro; k++ {
			rank := c.Rank()*micro + k
			rows := dist.Shard(batch, rank, world)
			for i, r := range rows {
				copy(host[i*mD:(i+1)*mD], all[r*mD:(r+1)*mD])
			}
			if err := b.Upload(x.Slice(0, len(rows)*mD), host[:len(rows)*mD]); err != nil {
				return nil, err
			}
			if err := ps.ZeroGrad(); err != nil {
				return nil, err
			}
			if _, err := m.TrainBatch(x, len(rows), dist.RankStep(uint64(step), rank, world)); err != nil {
				return nil, err
			}
			if micro == 1 {
				if err := dist.SumMean(gs, b, ps.G, len(rows), len(batch)); err != nil {
					return nil, err
				}
				continue
			}
			// The reference: scale as SumMean does, add in block order.
			n := ps.Len()
			if err := ops.EwScale(b, ps.G, ps.G, n, float32(len(rows))/float32(len(batch))); err != nil {
				return nil, err
			}
			if err := b.Download(part, ps.G); err != nil {
				return nil, err
			}
			for i := range acc {
				if k == 0 {
					acc[i] = part[i]
				} else {
					acc[i] += part[i]
				}
			}
		}
		if micro > 1 {
			if err := b.Upload(ps.G, acc); err != nil {
				return nil, err
			}
		}
		if err := ps.Step(nn.DefaultAdam(1e-2)); err != nil {
			return nil, err
		}
		if err := dist.CheckSame(c, b, ps.P); err != nil {
			return nil, err
		}
	}
	out := make([]float32, ps.Len())
	return out, b.Download(out, ps.P)
}

func TestModelsDataParallel(t *testing.T) {
	for _, name := range []string{"dilokthanakul", "shu"} {
		const p = 2
		ref, err := trainModel(dist.Single(), name, p)
		require.NoError(t, err)
		cs := dist.NewLocalWorld(p)
		got := make([][]float32, p)
		errs := make([]error, p)
		var wg sync.WaitGroup
		for r := range cs {
			wg.Add(1)
			go func(r int) {
				defer wg.Done()
				got[r], errs[r] = trainModel(cs[r], name, 1)
			}(r)
		}
		wg.Wait()
		for r, err := range errs {
			require.NoError(t, err, "%s: rank %d", name, r)
		}
		for i := range ref {
			if math.Float32bits(got[0][i]) != math.Float32bits(ref[i]) {
				require.Equal(t, math.Float32bits(ref[i]), math.Float32bits(got[0][i]), "%s: parameter %d of %d: one process with 2 micro-batches %g, 2 ranks %g (bits)", name, i, len(ref), ref[i], got[0][i])
			}
		}
		whole, err := trainModel(dist.Single(), name, 1)
		require.NoError(t, err)
		d := 0.0
		for i := range ref {
			d = math.Max(d, math.Abs(float64(whole[i])-float64(ref[i])))
		}
		t.Logf("%s: %d parameters; 2 ranks = 1 process x 2 micro-batches bit for bit; vs 1 process x whole batch (other noise draws): max|diff| %s",
			name, len(ref), fmt.Sprintf("%.3g", d))
	}
}

// trainDataParallel trains a small model A or B with trainer.Train on rank c.Rank() of
// c's world and returns its final parameters and result.
func trainDataParallel(c dist.Comm, name, dir string) ([]float32, *trainer.Result, error) {
	b := engine.NewCPU()
	mc := modelConfig(name)
	m, err := gmvae.New(b, mc)
	if err != nil {
		return nil, nil, err
	}
	defer m.Release()
	ds, err := data.New("bits", mRows, mD, modelData(), nil)
	if err != nil {
		return nil, nil, err
	}
	// Global batches of 13 rows: shards of up to 7 <= mBatch rows on 2 ranks, uneven
	// splits; 40 rows make a last batch of 1 row, so every rank but rank 0 has an
	// empty shard then.
	cfg := trainer.Config{Epochs: 2, BatchSize: 13, LR: 0.01, Binarize: true, Clip: 1,
		EvalBatch: mBatch, Seed: 5, RunDir: dir, CheckpointEvery: 2, Comm: c}
	if c.Size() == 1 {
		cfg.BatchSize = mBatch
	}
	res, err := trainer.Train(context.Background(), b, m, ds, nil, cfg, trainer.Hooks{})
	if err != nil {
		return nil, nil, err
	}
	p := make([]float32, m.Params().Len())
	return p, res, b.Download(p, m.Params().P)
}

// TestModelsTrainDataParallel: trainer.Train of models A and B on 2 and 3 in-process
// ranks (uneven shards of 13-row global batches, empty ones in the last): every
// rank ends with the same parameters, and a second run gives the same bits.
func TestModelsTrainDataParallel(t *testing.T) {
	for _, name := range []string{"dilokthanakul", "shu"} {
		for _, p := range []int{2, 3} {
			var first []float32
			for run := range 2 {
				cs := dist.NewLocalWorld(p)
				got := make([][]float32, p)
				errs := make([]error, p)
				var wg sync.WaitGroup
				for r := range cs {
					wg.Add(1)
					go func(r int) {
						defer wg.Done()
						got[r], _, errs[r] = trainDataParallel(cs[r], name, "")
					}(r)
				}
				wg.Wait()
				for r := range cs {
					require.NoError(t, errs[r], "%s on %d ranks: rank %d", name, p, r)
					if first == nil {
						first = got[r]
					}
					for i := range first {
						if math.Float32bits(first[i]) != math.Float32bits(got[r][i]) {
							require.Equal(t, math.Float32bits(first[i]), math.Float32bits(got[r][i]), "%s on %d ranks, run %d: rank %d's parameter %d differs from run 0 rank 0's (bits)", name, p, run, r, i)
						}
					}
				}
			}
		}
	}
}
