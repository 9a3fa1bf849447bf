package trainer

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/gmvae/gmvae/checkpoint"
	"github.com/gmvae/gmvae/data"
	"github.com/gmvae/gmvae/dist"
	"github.com/gmvae/gmvae/kernels"
	"github.com/gmvae/gmvae/metrics"
	"github.com/gmvae/gmvae/ops"
)

// evaluate runs the model over the evaluation set and records the result. In a
// data-parallel run every rank evaluates the whole set: the same parameters, data and
// draws give the same bits on every rank, with no gathering; rank 0 writes.
func (t *trainer) evaluate() error {
	if err := t.syncModelState(); err != nil {
		return err
	}
	// The temperature of the epoch that made the parameters: the current one while
	// it is under way (or just finished), the previous one once the next has been
	// entered with no step taken.
	trained := t.st.Epoch
	if t.st.Batch == 0 && trained > 0 {
		trained--
	}
	if err := t.setTemperature(trained); err != nil {
		return dist.Everyone(err)
	}
	d, k := t.mc.D, t.mc.K
	var sums checkpoint.EpochSums
	for bi, idx := range data.SequentialBatches(t.test.Info().N, t.cfg.EvalBatch) {
		// A signal stops a long evaluation between its batches (one process; ranks
		// learn of a stop in their next step's reduction). The checkpoint is of the
		// parameters evaluated, so a resume evaluates them again.
		if err := t.ctx.Err(); err != nil && t.world == 1 {
			return t.interrupted(err)
		}
		n := len(idx)
		t.test.Gather(idx, t.xhost[:n*d], nil)
		x := t.x.Slice(0, n*d)
		step := evalStepBase + uint64(bi)
		if t.cfg.Binarize {
			raw := t.xraw.Slice(0, n*d)
			if err := t.b.Upload(raw, t.xhost[:n*d]); err != nil {
				return err
			}
			if err := ops.Binarize(t.b, raw, x, n*d, t.cfg.Seed, kernels.StreamID(step, binarizeTensor)); err != nil {
				return err
			}
		} else if err := t.b.Upload(x, t.xhost[:n*d]); err != nil {
			return err
		}
		post, logits := t.post.Slice(0, n*k), t.logits.Slice(0, n*k)
		terms, err := t.m.Infer(x, n, post, logits, t.zmean.Slice(0, n*t.mc.Dz), step)
		if err != nil {
			return fmt.Errorf("evaluation batch %d: %w", bi, err)
		}
		lo := idx[0]
		if err := t.b.Download(t.posthost[lo*k:(lo+n)*k], post); err != nil {
			return err
		}
		if err := t.b.Download(t.logithost[lo*k:(lo+n)*k], logits); err != nil {
			return err
		}
		dz := t.mc.Dz
		if err := t.b.Download(t.zhost[lo*dz:(lo+n)*dz], t.zmean.Slice(0, n*dz)); err != nil {
			return err
		}
		addTerms(&sums, terms, n, 0)
	}
	pred := metrics.Argmax(t.posthost, k)
	rec := EvalRecord{
		Epoch:    float64(t.st.Epoch) + float64(t.st.Batch)/float64(t.nb),
		Step:     t.st.Step,
		LR:       float64(t.lr),
		Tau:      float64(Temperature(t.mc, t.cfg, trained)),
		Train:    trainRecord(t.st.Sums),
		Test:     termsRecord(meanTerms(sums)),
		EvalSet:  t.test.Info().Name,
		ACCPaper: Float(math.NaN()), ACCPaperF32: Float(math.NaN()), ACCPurity: Float(math.NaN()), ACCHungarian: Float(math.NaN()),
		NMI: Float(math.NaN()), ARI: Float(math.NaN()),
		GradNorm: Float(math.NaN()), FreeBitsShare: Float(math.NaN()),
	}
	if s := t.st.Sums; s.Steps > 0 {
		rec.GradNorm = Float(s.GradNorm / float64(s.Steps))
		rec.FreeBitsShare = Float(float64(s.FreeBits) / float64(s.Steps))
	}
	if sec := t.epochDur.Seconds(); sec > 0 {
		rec.ExamplesPerS = float64(t.epochEx) / sec
	}
	var err error
	if rec.Usage, err = metrics.Usage(pred, k); err != nil {
		return dist.Everyone(err) // the same outputs on every rank
	}
	largest := 0
	for _, u := range rec.Usage {
		if u > 0 {
			rec.UsedClusters++
		}
		largest = max(largest, u)
	}
	rec.LargestShare = float64(largest) / float64(len(pred))
	t.hasScore = false
	if t.test.HasLabels() {
		var lp, ll []int
		var llogits, lpost []float32
		for i, p := range pred {
			if l := t.test.Label(i); l >= 0 {
				lp = append(lp, p)
				ll = append(ll, l)
				llogits = append(llogits, t.logithost[i*k:(i+1)*k]...)
				lpost = append(lpost, t.posthost[i*k:(i+1)*k]...)
			}
		}
		// The paper protocol as defined ranks examples by their log-odds, which
		// float32 posteriors lose where they round to 1 (metrics.PaperMapping).
		score, err := metrics.LogOdds(llogits, k)
		if err != nil {
			return dist.Everyone(fmt.Errorf("evaluation: %w", err))
		}
		s, err := metrics.Evaluate(lp, ll, metrics.Ranking{LogOdds: score, Post: lpost}, k)
		if err != nil {
			return dist.Everyone(fmt.Errorf("evaluation: %w", err))
		}
		rec.ACCPaper, rec.ACCPaperF32 = Float(s.ACCPaper), Float(s.ACCPaperF32)
		rec.ACCPurity, rec.ACCHungarian = Float(s.ACCPurity), Float(s.ACCHungarian)
		rec.NMI, rec.ARI, rec.Labelled = Float(s.NMI), Float(s.ARI), s.N
		t.lastScore, t.hasScore = s, true
	}
	rec.WallS = t.wall0 + time.Since(t.start).Seconds()
	t.lastEval = &rec
	if t.cfg.RunDir != "" {
		var werr error
		if t.metricsF != nil { // rank 0
			t.wrote(MetricsFile)
			line, err := json.Marshal(rec)
			if err == nil {
				_, err = t.metricsF.Write(append(line, '\n'))
			}
			if err != nil {
				werr = fmt.Errorf("%s: %w", MetricsFile, err)
			}
		}
		if err := dist.Agree(t.c, werr); err != nil {
			return err
		}
	}
	if t.hooks.Eval != nil {
		t.hooks.Eval(rec)
	}
	return nil
}
