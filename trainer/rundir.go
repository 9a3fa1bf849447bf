package trainer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gmvae/gmvae/checkpoint"
	"github.com/gmvae/gmvae/data"
	"github.com/gmvae/gmvae/dist"
	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/gmvae"
	"github.com/gmvae/gmvae/internal/atomicfile"
	"github.com/gmvae/gmvae/metrics"
)

// trajectoryKeys are the Config fields a resumed run must share with its
// checkpoint (they decide the steps' bits). Epochs and max_steps may change unless
// the schedule depends on the run's length (cosine).
var trajectoryKeys = []string{"batch_size", "lr", "schedule", "lr_min", "lr_decay", "clip", "binarize", "drop_last", "seed", "train_subset"}

func (t *trainer) resume(path string) error {
	ck, err := checkpoint.Load(path)
	if err != nil {
		return err
	}
	ckModel, err := gmvae.DecodeConfig(ck.Model)
	if err != nil {
		return fmt.Errorf("resume %s: model_config: %w", path, err)
	}
	// The model must be the same (max_batch aside: it only sizes buffers).
	a, b := ckModel, t.mc
	a.MaxBatch, b.MaxBatch = 0, 0
	if ja, jb := mustJSON(a), mustJSON(b); !bytes.Equal(ja, jb) {
		return fmt.Errorf("resume %s: the checkpoint's model %s differs from this run's %s", path, ja, jb)
	}
	keys := trajectoryKeys
	if t.cfg.Schedule == ScheduleCosine {
		keys = append(keys[:len(keys):len(keys)], "epochs", "max_steps")
	}
	var ma, mb map[string]any
	// Through Config, so that a key an older checkpoint lacks reads as its zero value.
	var ckTrain Config
	if err := json.Unmarshal(ck.Train, &ckTrain); err != nil {
		return fmt.Errorf("resume %s: train_config: %w", path, err)
	}
	_ = json.Unmarshal(mustJSON(ckTrain), &ma)
	_ = json.Unmarshal(mustJSON(t.cfg), &mb)
	for _, key := range keys {
		if fmt.Sprint(ma[key]) != fmt.Sprint(mb[key]) {
			return fmt.Errorf("resume %s: %s is %v in this run but %v in the checkpoint (a resumed run must keep the settings that decide its steps)", path, key, mb[key], ma[key])
		}
	}
	if err := ck.Matches(t.ps); err != nil {
		return fmt.Errorf("resume %s: %w", path, err)
	}
	if ck.State.WorldSize != t.world {
		return fmt.Errorf("resume %s: the checkpoint was written by a run on %d rank(s), this run has %d: a data-parallel run resumes only with the same number of ranks (each step's shards and random streams depend on it); restart it with %d ranks", path, ck.State.WorldSize, t.world, ck.State.WorldSize)
	}
	if ck.State.Epoch > t.cfg.Epochs || (ck.State.Batch > t.nb) {
		return fmt.Errorf("resume %s: the checkpoint is at epoch %d, batch %d, beyond this run (%d epochs of %d batches)", path, ck.State.Epoch, ck.State.Batch, t.cfg.Epochs, t.nb)
	}
	for _, c := range []struct {
		dst *engine.Buf
		src []float32
	}{{t.ps.P, ck.P}, {t.ps.M, ck.M}, {t.ps.V, ck.V}, {t.ps.S, ck.S}} {
		if c.dst == nil {
			continue // no state
		}
		if err := t.b.Upload(c.dst, c.src); err != nil {
			return err
		}
	}
	t.st = ck.State
	t.wall0 = ck.State.WallS
	if t.st.Step > 0 { // the last step's rate, for an evaluation before the next step
		t.lr = LearningRate(t.cfg, t.st.Step-1, t.total, t.nb)
	}
	t.lastCkpt = path
	t.logf("resumed from %s at step %d (epoch %d, batch %d of %d)", path, t.st.Step, t.st.Epoch+1, t.st.Batch, t.nb)
	return nil
}

// openRunDir creates the run folder, writes config.json and opens metrics.jsonl:
// truncated for a new run; for a resumed one, kept up to the checkpoint's step.
func (t *trainer) openRunDir() error {
	dir := t.cfg.RunDir
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("run folder: %w", err)
	}
	// A process killed while writing leaves its temporary files: only this run writes
	// here, so they are garbage.
	if removed, err := atomicfile.RemoveStale(dir); err != nil {
		return fmt.Errorf("run folder: %w", err)
	} else if len(removed) > 0 {
		t.logf("removed %d temporary file(s) of an interrupted write: %v", len(removed), removed)
	}
	cfgJSON, err := json.MarshalIndent(map[string]any{
		"model":      t.mc,
		"train":      t.cfg,
		"backend":    t.b.Name(),
		"world_size": t.world,
		"data": map[string]any{
			"train": dataJSON(t.train),
			"test":  dataJSON(t.test),
		},
	}, "", "  ")
	if err != nil {
		return err
	}
	t.wrote(ConfigFile)
	t.wrote(MetricsFile)
	if err := atomicfile.WriteBytes(filepath.Join(dir, ConfigFile), append(cfgJSON, '\n')); err != nil {
		return fmt.Errorf("%w", err)
	}
	mpath := filepath.Join(dir, MetricsFile)
	var keep []byte
	if t.cfg.Resume != "" {
		// Keep the evaluations up to the checkpoint; one at its very step is redone
		// (so dropped) only when the run is already complete and ends with it.
		complete := t.st.Epoch >= t.cfg.Epochs || t.st.Step >= t.total
		if old, err := os.ReadFile(mpath); err == nil {
			sc := bufio.NewScanner(bytes.NewReader(old))
			sc.Buffer(nil, 1<<24)
			for sc.Scan() {
				var r struct {
					Step uint64 `json:"step"`
				}
				if json.Unmarshal(sc.Bytes(), &r) == nil && (r.Step < t.st.Step || r.Step == t.st.Step && !complete) {
					keep = append(keep, sc.Bytes()...)
					keep = append(keep, '\n')
				}
			}
		}
	}
	// Replace the file atomically (a crash keeps the old lines), then append to it.
	if err := atomicfile.WriteBytes(mpath, keep); err != nil {
		return fmt.Errorf("%w", err)
	}
	f, err := os.OpenFile(mpath, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("%w", err)
	}
	t.metricsF = f
	return nil
}

// checkpoint writes the run's state to RunDir/checkpoint.safetensors (rank 0); every
// rank waits until it is written and learns whether that worked.
func (t *trainer) checkpoint() error {
	if t.cfg.RunDir == "" {
		return nil
	}
	if err := t.syncModelState(); err != nil {
		return err
	}
	var err error
	if t.rank == 0 {
		err = t.writeCheckpoint()
	}
	if err := dist.Agree(t.c, err); err != nil {
		return err
	}
	t.lastCkpt = filepath.Join(t.cfg.RunDir, checkpoint.File)
	return nil
}

func (t *trainer) writeCheckpoint() error {
	t.wrote(checkpoint.File)
	n := t.ps.Len()
	train := t.cfg
	train.Resume, train.RunDir = "", "" // locations, not settings (package checkpoint)
	ck := &checkpoint.Checkpoint{Model: mustJSON(t.mc), Train: mustJSON(train), Names: t.names, Sizes: t.sizes,
		P: make([]float32, n), M: make([]float32, n), V: make([]float32, n),
		StateNames: t.stateNames, StateSizes: t.stateSizes, S: make([]float32, t.ps.StateLen())}
	for _, c := range []struct {
		dst []float32
		src *engine.Buf
	}{{ck.P, t.ps.P}, {ck.M, t.ps.M}, {ck.V, t.ps.V}, {ck.S, t.ps.S}} {
		if c.src == nil {
			continue // no state
		}
		if err := t.b.Download(c.dst, c.src); err != nil {
			return err
		}
	}
	ck.State = t.st
	ck.State.WorldSize = t.world
	ck.State.WallS = t.wall0 + time.Since(t.start).Seconds()
	return checkpoint.Save(filepath.Join(t.cfg.RunDir, checkpoint.File), ck)
}

// interrupted checkpoints (with a run folder) and returns the interruption error; in
// a data-parallel run every rank comes here at the same step.
func (t *trainer) interrupted(cause error) error {
	if t.cfg.RunDir == "" {
		return dist.Everyone(fmt.Errorf("interrupted at step %d: %w", t.st.Step, cause))
	}
	if err := t.checkpoint(); err != nil {
		e := fmt.Errorf("interrupted at step %d (%w); writing the checkpoint failed: %v", t.st.Step, cause, err)
		return dist.AgreedLike(e, err)
	}
	return dist.Everyone(fmt.Errorf("interrupted at step %d (%w); continue with -resume %s", t.st.Step, cause, t.lastCkpt))
}

func (t *trainer) finish() (*Result, error) {
	res := &Result{
		RunDir: t.cfg.RunDir, Checkpoint: t.lastCkpt, Final: *t.lastEval, Summary: t.lastScore,
		HasScores: t.hasScore, Steps: t.st.Step, WallS: t.wall0 + time.Since(t.start).Seconds(),
		Backend: t.b.Name(), WorldSize: t.world,
		EvalSource: t.test, Pred: metrics.Argmax(t.posthost, t.mc.K), ZMean: t.zhost,
	}
	if ds, ok := t.test.(*data.Dataset); ok {
		res.EvalSet = ds
	}
	if t.cfg.RunDir == "" {
		return res, nil
	}
	sum := map[string]any{
		"model":      t.mc,
		"train":      t.cfg,
		"backend":    res.Backend,
		"steps":      res.Steps,
		"epochs":     t.lastEval.Epoch,
		"wall_s":     res.WallS,
		"final":      res.Final,
		"checkpoint": res.Checkpoint,
		"params":     t.ps.Len(),
		"world_size": t.world,
	}
	if t.fitReport != nil {
		sum["fit"] = t.fitReport
	}
	if t.hasScore {
		// Rows: clusters; columns: classes (metrics.Summary.Contingency).
		sum["contingency"] = t.lastScore.Contingency
	}
	var werr error
	if t.rank == 0 {
		t.wrote(SummaryFile)
		j, err := json.MarshalIndent(sum, "", "  ")
		if err == nil {
			err = atomicfile.WriteBytes(filepath.Join(t.cfg.RunDir, SummaryFile), append(j, '\n'))
		}
		if err != nil {
			werr = fmt.Errorf("%w", err)
		}
	}
	if err := dist.Agree(t.c, werr); err != nil {
		return nil, err
	}
	return res, nil
}

// LoadCheckpoint reads the checkpoint at path (package checkpoint) and decodes its
// model and training configurations.
func LoadCheckpoint(path string) (*checkpoint.Checkpoint, gmvae.Config, Config, error) {
	ck, err := checkpoint.Load(path)
	if err != nil {
		return nil, gmvae.Config{}, Config{}, err
	}
	mc, err := gmvae.DecodeConfig(ck.Model)
	if err != nil {
		return nil, gmvae.Config{}, Config{}, fmt.Errorf("checkpoint %s: model_config: %w", path, err)
	}
	mc.ExpectParams = len(ck.P)
	var tc Config
	if err := json.Unmarshal(ck.Train, &tc); err != nil {
		return nil, gmvae.Config{}, Config{}, fmt.Errorf("checkpoint %s: train_config: %w", path, err)
	}
	return ck, mc, tc, nil
}

// SaveModel writes m's parameters and state (on b) as a checkpoint at path, as at step
// 0 of a run with the default training settings (Adam's moments zero), so that a model
// built outside Train can be loaded by predict.Load or resumed.
func SaveModel(path string, b engine.Backend, m gmvae.Model) error {
	ps := m.Params()
	names, sizes := ps.Layout()
	n := ps.Len()
	mc := m.Config()
	ck := &checkpoint.Checkpoint{Model: mustJSON(mc), Train: mustJSON(Config{}.Defaults(mc)), Names: names, Sizes: sizes,
		P: make([]float32, n), M: make([]float32, n), V: make([]float32, n)}
	ck.StateNames, ck.StateSizes = ps.StateLayout()
	ck.S = make([]float32, ps.StateLen())
	ck.State.WorldSize = 1
	if err := b.Download(ck.P, ps.P); err != nil {
		return err
	}
	if ps.S != nil {
		if err := b.Download(ck.S, ps.S); err != nil {
			return err
		}
	}
	return checkpoint.Save(path, ck)
}
