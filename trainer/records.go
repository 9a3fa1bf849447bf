package trainer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/gmvae/gmvae/checkpoint"
	"github.com/gmvae/gmvae/data"
	"github.com/gmvae/gmvae/gmvae"
	"github.com/gmvae/gmvae/metrics"
)

// Run-folder files.
const (
	ConfigFile  = "config.json"
	MetricsFile = "metrics.jsonl"
	SummaryFile = "summary.json"
)

// Float is a float64 that JSON-encodes NaN and infinities as null (encoding/json
// refuses them) and decodes null as NaN.
type Float float64

// MarshalJSON implements json.Marshaler.
func (f Float) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(f))
}

// UnmarshalJSON implements json.Unmarshaler.
func (f *Float) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = Float(math.NaN())
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = Float(v)
	return nil
}

// TermsRecord is gmvae.Terms as the run folder's JSON writes them (non-finite values null).
type TermsRecord struct {
	Loss  Float `json:"loss"`
	ELBO  Float `json:"elbo"`
	Recon Float `json:"recon"`
	KLz   Float `json:"kl_z"`
	KLw   Float `json:"kl_w"`
	KLy   Float `json:"kl_y"`
}

func termsRecord(t gmvae.Terms) TermsRecord {
	return TermsRecord{Float(t.Loss), Float(t.ELBO), Float(t.Recon), Float(t.KLz), Float(t.KLw), Float(t.KLy)}
}

// EvalRecord is one evaluation: one line of metrics.jsonl.
type EvalRecord struct {
	Epoch        float64 `json:"epoch"`          // epochs done (fractional when a run stops mid-epoch)
	Step         uint64  `json:"step"`           // optimizer steps done
	WallS        float64 `json:"wall_s"`         // seconds since the run started (evaluations included)
	ExamplesPerS float64 `json:"examples_per_s"` // training examples per second over the epoch's steps
	LR           float64 `json:"lr"`             // the learning rate of the last step
	Tau          float64 `json:"tau,omitempty"`  // the Gumbel-softmax temperature (model B with gumbel)

	Train         TermsRecord `json:"train"`           // means over the epoch's training batches
	GradNorm      Float       `json:"grad_norm"`       // mean gradient norm (before clipping) over the epoch
	FreeBitsShare Float       `json:"free_bits_share"` // share of the epoch's steps with free bits active
	Test          TermsRecord `json:"test"`            // means over the held-out set

	EvalSet string `json:"eval_set"` // the data set evaluated
	// Clustering scores on the held-out set (null when it has no labels). The paper
	// protocol twice: as defined (each cluster's most confident example, by log-odds)
	// and as the GMVAE authors' code computes it (float32 posteriors, the first example
	// among ties); see metrics.Ranking.
	ACCPaper     Float `json:"acc_paper"`
	ACCPaperF32  Float `json:"acc_paper_f32"`
	ACCPurity    Float `json:"acc_purity"`
	ACCHungarian Float `json:"acc_hungarian"`
	NMI          Float `json:"nmi"`
	ARI          Float `json:"ari"`
	Labelled     int   `json:"labelled"` // examples the scores are computed on

	Usage        []int   `json:"usage"`         // examples per cluster (argmax of the posterior)
	UsedClusters int     `json:"used_clusters"` // clusters holding at least one example
	LargestShare float64 `json:"largest_share"` // the largest cluster's share (1: collapsed)
}

// Progress is what the Start and Step hooks see.
type Progress struct {
	Step, TotalSteps uint64      // steps done, steps the run will take
	Epoch, Epochs    int         // epoch in progress (from 0), epochs in all
	Batch, Batches   int         // batches of this epoch done, batches per epoch
	Terms            gmvae.Terms // the last step's terms (zero in Start)
	GradNorm         float64
	LR               float64
	ExamplesPerS     float64 // over this process's steps so far
	Elapsed          time.Duration
}

// Hooks let the caller follow a run; any may be nil. They run on the training
// goroutine: keep them short.
type Hooks struct {
	Start func(Progress)   // once, before the first step
	Step  func(Progress)   // after every step
	Eval  func(EvalRecord) // after every evaluation
	Log   func(msg string) // notes: checkpoints written, a resumed run
}

// Result is what Train returns.
type Result struct {
	RunDir     string
	Checkpoint string          // the last checkpoint written ("" without a run folder)
	Final      EvalRecord      // the last evaluation
	Summary    metrics.Summary // its scores (zero when the evaluation set has no labels)
	HasScores  bool
	Steps      uint64
	WallS      float64
	Backend    string
	WorldSize  int // data-parallel ranks (1: one process)

	// The last evaluation's per-example outputs, for pictures: the evaluation set
	// (after any subset), the cluster of every example (argmax of the posterior) and
	// the latent means (N, Dz). EvalSet is nil when the evaluation set is not an
	// in-memory *data.Dataset (a sharded one); EvalSource is always set.
	EvalSet    *data.Dataset
	EvalSource data.Source
	Pred       []int
	ZMean      []float32

	// Model is the trained model when the run built it itself (TrainVaDE; nil from
	// Train, whose caller has the model): the caller releases it.
	Model gmvae.Model `json:"-"`
}

// LoadMetrics reads a run folder's metrics.jsonl.
func LoadMetrics(path string) ([]EvalRecord, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []EvalRecord
	for i, line := range bytes.Split(raw, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var r EvalRecord
		if err := json.Unmarshal(line, &r); err != nil {
			return nil, fmt.Errorf("%s: line %d: %w", path, i+1, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// trainRecord is the record of an epoch's training terms: their means, or null when
// no row was trained (a fitted model; a run resumed at the end of its epoch).
func trainRecord(s checkpoint.EpochSums) TermsRecord {
	if s.N == 0 {
		n := Float(math.NaN())
		return TermsRecord{n, n, n, n, n, n}
	}
	return termsRecord(meanTerms(s))
}

// addTerms adds a step's terms, weighted by its n rows, and its gradient norm to an
// epoch's sums.
func addTerms(s *checkpoint.EpochSums, t gmvae.Terms, n int, gnorm float64) {
	w := float64(n)
	s.N += n
	s.Steps++
	s.Loss += w * t.Loss
	s.ELBO += w * t.ELBO
	s.Recon += w * t.Recon
	s.KLz += w * t.KLz
	s.KLw += w * t.KLw
	s.KLy += w * t.KLy
	s.GradNorm += gnorm
	if t.FreeBitsActive {
		s.FreeBits++
	}
}

// meanTerms returns the epoch's mean terms per row (zero when no row was trained).
func meanTerms(s checkpoint.EpochSums) gmvae.Terms {
	if s.N == 0 {
		return gmvae.Terms{}
	}
	w := float64(s.N)
	return gmvae.Terms{Loss: s.Loss / w, ELBO: s.ELBO / w, Recon: s.Recon / w, KLz: s.KLz / w, KLw: s.KLw / w, KLy: s.KLy / w}
}

// SelectRestart returns the index of the run to keep among candidates of the same
// settings and data (whole runs from different seeds): the highest ELBO on the training
// data in the last epoch (EvalRecord.Train), a criterion that never sees a label; the
// first on ties; runs whose ELBO is not finite come last.
func SelectRestart(cands []*Result) int {
	best := -1
	for i, r := range cands {
		e := float64(r.Final.Train.ELBO)
		if math.IsNaN(e) || math.IsInf(e, 0) {
			continue
		}
		if best < 0 || e > float64(cands[best].Final.Train.ELBO) {
			best = i
		}
	}
	return max(best, 0)
}

// LoadResult reads a finished run's result from its folder (summary.json): its final
// evaluation and scores, as Train returned them (the per-example outputs are not kept).
func LoadResult(dir string) (*Result, error) {
	raw, err := os.ReadFile(filepath.Join(dir, SummaryFile))
	if err != nil {
		return nil, err
	}
	var s struct {
		Final       EvalRecord `json:"final"`
		Steps       uint64     `json:"steps"`
		WallS       float64    `json:"wall_s"`
		Backend     string     `json:"backend"`
		Checkpoint  string     `json:"checkpoint"`
		WorldSize   int        `json:"world_size"`
		Contingency [][]int    `json:"contingency"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, SummaryFile), err)
	}
	res := &Result{RunDir: dir, Checkpoint: s.Checkpoint, Final: s.Final, Steps: s.Steps, WallS: s.WallS,
		Backend: s.Backend, WorldSize: s.WorldSize}
	if s.Final.Labelled > 0 {
		res.HasScores = true
		res.Summary = metrics.Summary{N: s.Final.Labelled, ACCPaper: float64(s.Final.ACCPaper), ACCPaperF32: float64(s.Final.ACCPaperF32),
			ACCPurity: float64(s.Final.ACCPurity), ACCHungarian: float64(s.Final.ACCHungarian), NMI: float64(s.Final.NMI),
			ARI: float64(s.Final.ARI), Contingency: s.Contingency}
	}
	return res, nil
}
