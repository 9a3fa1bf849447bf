package dist

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/data"
	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/kernels"
	"github.com/gmvae/gmvae/kernels/philox"
	"github.com/gmvae/gmvae/nn"
	"github.com/gmvae/gmvae/ops"
)

// The data-parallel loop of these tests: a two-layer Bernoulli autoencoder (nn)
// trained with Adam on a fixed binary data set. Every epoch's order is
// data.Permutation(rows, seed, epoch), cut into global batches of dpBatch rows; rank r
// of P takes block r of each global batch (Shard), so the ranks together see exactly
// a one-process run's batches. Each rank's loss is its rows' negative log-likelihoods
// weighted by -1/(global batch size), so that the rank-order sum of the ranks'
// gradients is the gradient of the global batch mean: no rescaling after the sum.
const (
	dpRows, dpD, dpH = 96, 24, 19
	dpBatch          = 32 // global batch; 16 per rank with 2 ranks, 8 with 4
	dpSteps          = 8  // 3 epochs minus one step
	dpSeed           = 5
)

func dpData() []float32 {
	x := make([]float32, dpRows*dpD)
	u := make([]float32, dpRows*dpD)
	philox.Uniforms(u, 7, 1)
	for i := range x {
		// Structured: the first half of each row copies a per-row coin.
		if u[i] < 0.5 || (i%dpD < dpD/2 && u[i-i%dpD] < 0.5) {
			x[i] = 1
		}
	}
	return x
}

// dpResult is what a run ends with on one rank.
type dpResult struct {
	params []float32 // the parameters after the last step
	grad0  []float32 // the summed gradient of the first step
	losses []float64 // the global batch mean loss of each step (reduced across ranks)
	digest []uint64  // the parameters' digest after each step
	sizes  []int     // the global batch sizes
}

// trainDP runs the loop on rank c.Rank() of c's world over backend b. micro > 1 splits
// the rank's shard again into micro blocks whose gradients are computed separately
// and added in block order (float32, left to right, as SumRankOrder): a one-process
// run with micro = P does exactly what P ranks do.
func trainDP(c Comm, b engine.Backend, micro int) (*dpResult, error) {
	ps := nn.NewParams(b)
	enc := nn.NewLinear(ps, "enc", dpD, dpH, kernels.ActTanh)
	dec := nn.NewLinear(ps, "dec", dpH, dpD, kernels.ActNone)
	// Rank 0's initial parameters for everybody: every rank draws from a different
	// seed, and the broadcast must make them equal.
	if err := ps.Alloc(uint64(42 + 1000*c.Rank())); err != nil {
		return nil, err
	}
	defer ps.Release()
	if err := BcastBufs(c, b, 0, ps.P); err != nil {
		return nil, err
	}
	gs, err := NewGradSync(c, b, ps.Len(), GradSyncOptions{})
	if err != nil {
		return nil, err
	}
	defer gs.Close()

	maxRows := dpBatch
	bufs := map[string]*engine.Buf{}
	for name, n := range map[string]int{"x": maxRows * dpD, "hid": maxRows * dpH, "logits": maxRows * dpD,
		"ll": maxRows, "loss": 1, "g": maxRows, "dlogits": maxRows * dpD, "dhid": maxRows * dpH} {
		buf, err := b.New(n, name)
		if err != nil {
			return nil, err
		}
		defer b.Release(buf)
		bufs[name] = buf
	}
	es, err := enc.NewScratch(b, maxRows, "enc")
	if err != nil {
		return nil, err
	}
	ds, err := dec.NewScratch(b, maxRows, "dec")
	if err != nil {
		return nil, err
	}

	all := dpData()
	batches := [][]int{}
	for e := 0; len(batches) < dpSteps; e++ {
		p := data.Permutation(dpRows, dpSeed, e)
		for lo := 0; lo < dpRows && len(batches) < dpSteps; lo += dpBatch {
			batches = append(batches, p[lo:min(lo+dpBatch, dpRows)])
		}
	}
	opt := nn.DefaultAdam(0.01)
	res := &dpResult{}
	host := make([]float32, maxRows*dpD)
	acc := make([]float32, ps.Len())
	part := make([]float32, ps.Len())
	lossHost := make([]float32, 1)
	for _, batch := range batches {
		global := len(batch)
		mine := Shard(batch, c.Rank(), c.Size())
		w := float32(-1) / float32(global)
		lossSum := 0.0
		for m := 0; m < micro; m++ {
			rows := Shard(mine, m, micro)
			n := len(rows)
			if err := ps.ZeroGrad(); err != nil {
				return nil, err
			}
			if n > 0 {
				for i, row := range rows {
					copy(host[i*dpD:(i+1)*dpD], all[row*dpD:(row+1)*dpD])
				}
				x := bufs["x"].Slice(0, n*dpD)
				steps := []error{
					b.Upload(x, host[:n*dpD]),
					enc.Forward(b, x, bufs["hid"], n, es),
					dec.Forward(b, bufs["hid"], bufs["logits"], n, ds),
					ops.BernoulliLoglik(b, x, bufs["logits"], bufs["ll"], n, dpD),
					ops.SumAll(b, bufs["ll"], bufs["loss"], n, w),
					nn.Fill(b, bufs["g"], w),
					ops.BernoulliLoglikBwd(b, x, bufs["logits"], bufs["g"], bufs["dlogits"], n, dpD, false),
					dec.Backward(b, bufs["hid"], bufs["logits"], bufs["dlogits"], bufs["dhid"], n, ds, false),
					enc.Backward(b, x, bufs["hid"], bufs["dhid"], nil, n, es, false),
					b.Download(lossHost, bufs["loss"]),
				}
				for _, err := range steps {
					if err != nil {
						return nil, err
					}
				}
				lossSum += float64(lossHost[0])
			}
			if micro > 1 {
				if err := b.Download(part, ps.G); err != nil {
					return nil, err
				}
				if m == 0 {
					copy(acc, part)
				} else {
					for i := range acc {
						acc[i] += part[i]
					}
				}
			}
		}
		if micro > 1 {
			if err := b.Upload(ps.G, acc); err != nil {
				return nil, err
			}
		}
		if err := gs.Sum(ps.G); err != nil {
			return nil, err
		}
		if res.grad0 == nil {
			res.grad0 = make([]float32, ps.Len())
			if err := b.Download(res.grad0, ps.G); err != nil {
				return nil, err
			}
		}
		if err := ps.Step(opt); err != nil {
			return nil, err
		}
		loss, err := SumFloat64(c, lossSum)
		if err != nil {
			return nil, err
		}
		res.losses = append(res.losses, loss[0])
		res.sizes = append(res.sizes, global)
		// (c): every rank holds the same parameters after every step.
		if err := CheckSame(c, b, ps.P, ps.M, ps.V); err != nil {
			return nil, fmt.Errorf("after step %d: %w", len(res.losses), err)
		}
		d, err := Digest(b, ps.P)
		if err != nil {
			return nil, err
		}
		res.digest = append(res.digest, d)
	}
	res.params = make([]float32, ps.Len())
	if err := b.Download(res.params, ps.P); err != nil {
		return nil, err
	}
	return res, nil
}

// trainWorld runs trainDP on every rank of an in-process world and returns rank 0's
// result.
func trainWorld(p, micro int) (*dpResult, error) {
	results := make([]*dpResult, p)
	err := runWorld(p, func(c Comm) error {
		r, err := trainDP(c, engine.NewCPU(), micro)
		results[c.Rank()] = r
		return err
	})
	return results[0], err
}

// dpTolerance is the bound of a P-rank run against the one-process run with the whole
// global batch. They are not bit-equal: the weight gradient dW = Xᵀ·dY (gemm_tn) and
// the bias gradient (colsum) each reduce over the batch rows in one fma/add chain
// 0..N-1 on one process, but as P chains over each rank's rows added in rank order in
// a P-rank run, so the first step's gradients differ by a few float32 roundings of
// the sum of the terms' magnitudes; everything per row (activations, dX, per-row
// log-likelihoods) is bit-equal. The loss metric differs the same way (sum_all over
// the rows, then a float64 sum over ranks). Adam then turns gradient differences into
// parameter differences of at most about lr per step for elements whose gradient is
// near 0 (m/sqrt(v) of a tiny, noisy gradient is ±1), so parameters are compared with
// an absolute bound of lr/10 and a root-mean-square bound far tighter. (Measured on this
// loop: first-gradient difference 1.6e-7·max|g|, parameters 6e-8 max, loss 1.1e-7
// relative.)
type dpTolerance struct {
	gradRel  float64 // |g_P - g_1| <= gradRel * max|g_1|, first step
	paramMax float64 // max |p_P - p_1| after the last step
	paramRMS float64 // root mean square of p_P - p_1
	lossRel  float64 // |loss_P - loss_1| <= lossRel * |loss_1| every step
}

var dpTol = dpTolerance{gradRel: 1e-6, paramMax: 1e-3, paramRMS: 1e-5, lossRel: 1e-5}

// compareDP checks a P-rank result against the one-process results: bit-equal to the
// one-process run with P micro-batches (exact), within dpTol of the one with the
// whole batch. It returns a one-line summary of the measured differences.
func compareDP(got, microRef, wholeRef *dpResult) (string, error) {
	if err := sameBits32(got.params, microRef.params); err != nil {
		return "", fmt.Errorf("parameters differ from the one-process run with the same micro-batches: %w", err)
	}
	if err := sameBits32(got.grad0, microRef.grad0); err != nil {
		return "", fmt.Errorf("first gradient differs from the one-process run with the same micro-batches: %w", err)
	}
	for i := range got.losses {
		if got.losses[i] != microRef.losses[i] {
			return "", fmt.Errorf("step %d: loss %v, one-process micro-batched run %v", i+1, got.losses[i], microRef.losses[i])
		}
	}
	gmax, gdiff := 0.0, 0.0
	for i, g := range wholeRef.grad0 {
		gmax = math.Max(gmax, math.Abs(float64(g)))
		gdiff = math.Max(gdiff, math.Abs(float64(got.grad0[i])-float64(g)))
	}
	pmax, ss := 0.0, 0.0
	for i, p := range wholeRef.params {
		d := float64(got.params[i]) - float64(p)
		pmax = math.Max(pmax, math.Abs(d))
		ss += d * d
	}
	rms := math.Sqrt(ss / float64(len(got.params)))
	lmax := 0.0
	for i, l := range wholeRef.losses {
		lmax = math.Max(lmax, math.Abs(got.losses[i]-l)/math.Abs(l))
	}
	sum := fmt.Sprintf("vs one process, whole batch: grad max|diff|/max|g| %.3g, params max|diff| %.3g rms %.3g, loss max rel %.3g",
		gdiff/gmax, pmax, rms, lmax)
	switch {
	case gdiff > dpTol.gradRel*gmax:
		return sum, fmt.Errorf("first gradient beyond %g·max|g|: %s", dpTol.gradRel, sum)
	case pmax > dpTol.paramMax || rms > dpTol.paramRMS:
		return sum, fmt.Errorf("parameters beyond max %g / rms %g: %s", dpTol.paramMax, dpTol.paramRMS, sum)
	case lmax > dpTol.lossRel:
		return sum, fmt.Errorf("loss beyond %g relative: %s", dpTol.lossRel, sum)
	}
	return sum, nil
}

// TestDataParallelLocalWorld trains on in-process worlds of 2 and 4 ranks:
// (a) two runs with the same world size end with identical parameter bytes at every
// step; (b) a P-rank run is bit-equal to a one-process run that computes the P shard
// gradients separately and adds them in rank order, and within dpTol of the
// one-process run with the whole global batch (not bit-equal: see dpTolerance);
// (c) every rank holds the same parameters and Adam moments after every step
// (checked inside trainDP by CheckSame).
func TestDataParallelLocalWorld(t *testing.T) {
	whole, err := trainWorld(1, 1)
	require.NoError(t, err)
	require.Less(t, whole.losses[len(whole.losses)-1], whole.losses[0], "the loss did not fall: %v", whole.losses)
	for _, p := range []int{2, 4} {
		a, err := trainWorld(p, 1)
		require.NoError(t, err)
		b, err := trainWorld(p, 1)
		require.NoError(t, err)
		for i := range a.digest {
			require.Equal(t, a.digest[i], b.digest[i], "%d ranks: two runs differ after step %d", p, i+1)
		}
		micro, err := trainWorld(1, p)
		require.NoError(t, err)
		sum, err := compareDP(a, micro, whole)
		require.NoError(t, err, "%d ranks", p)
		t.Logf("%d ranks x batch %d: bit-equal to 1 process x %d micro-batches; %s", p, dpBatch/p, p, sum)
	}
}
