// Package checkpoint is the format of a training run's checkpoint: a safetensors file
// (package checkpoint/safetensors) holding the parameters, Adam's moments, the model's
// untrained state and, as metadata, where the run stands and its configurations.
package checkpoint

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/gmvae/gmvae/checkpoint/safetensors"
	"github.com/gmvae/gmvae/internal/atomicfile"
)

// A checkpoint is a safetensors file (package checkpoint/safetensors) that holds
// everything a run needs to continue as if it had never stopped:
//
//   - one F32 tensor per parameter tensor, named as the model names it (e.g.
//     "enc.0.w"), shape [size], in the order of the model's flat parameter buffer;
//   - Adam's moments of each, named "adam.m/<name>" and "adam.v/<name>", in the same
//     order;
//   - the model's state tensors (parts of the model that are not trained: batch
//     normalisation's running mean and variance), named "state/<name>" (e.g.
//     "state/enc.0.bn.running_mean"), in the order of the state buffer; none for a
//     model without batch normalisation;
//   - "__metadata__", strings:
//     format          "gmvae-checkpoint-v1"
//     step            optimizer steps taken (the next step's number; random streams
//     are drawn from it)
//     epoch           the epoch in progress, from 0
//     batch           batches of that epoch already done (its order comes from
//     (seed, epoch), so the rest of the epoch is known)
//     adam_steps      Adam's step count t (bias corrections 1 - beta^t)
//     seed            the run's seed (batch order, binarisation)
//     world_size      the number of data-parallel ranks of the run (a resume must
//     have as many: the shards and random streams depend on it);
//     absent in older checkpoints, read as 1
//     epoch_sums      JSON: running sums of the epoch's training terms
//     sha256          the SHA-256 of the data section (every tensor's bytes, in file
//     order), hex; Load recomputes it and refuses a file whose bytes changed
//     (absent in older checkpoints, which load unchecked)
//     model_config    JSON of the model's configuration (gmvae.Config)
//     train_config    JSON of the training configuration (trainer.Config; run_dir
//     and resume left out: they say where the file is, not how the run goes)
//
// A checkpoint holds nothing that depends on the clock or the folder it is written
// to, so two runs that compute the same bits (on the CPU and on a GPU, say) write
// the same bytes. The training time so far, which a resumed run adds to, goes to the
// side file TimingPath(path) ("checkpoint.timing.json": {"step": N, "wall_s": S}),
// written after the checkpoint; Load takes it when its step is the
// checkpoint's (else the time starts from 0), and reads a "wall_s" key of older
// checkpoints.
//
// The gradients are not stored: every step starts by zeroing them. Files are written
// atomically (a temporary file in the same folder, fsync, rename, fsync of the folder):
// a crash leaves the previous checkpoint or the new one, never a truncated file.

// File is the name of a run folder's latest checkpoint.
const File = "checkpoint.safetensors"

// TimingFile is the name of the run folder's checkpoint timing file (TimingPath of
// File).
const TimingFile = "checkpoint.timing.json"

// checkpointFormat is the value of the "format" metadata key.
const checkpointFormat = "gmvae-checkpoint-v1"

// State is where a run stands: what a checkpoint stores besides the tensors and the
// configurations.
type State struct {
	Step      uint64    `json:"step"`       // optimizer steps taken = the next step's number
	Epoch     int       `json:"epoch"`      // epoch in progress, from 0
	Batch     int       `json:"batch"`      // batches of Epoch already done
	AdamSteps int       `json:"adam_steps"` // Adam's t
	Seed      uint64    `json:"seed"`
	WorldSize int       `json:"world_size"` // data-parallel ranks (1: one process)
	WallS     float64   `json:"wall_s"`     // training seconds so far
	Sums      EpochSums `json:"epoch_sums"`
}

// EpochSums are the running sums of an epoch's training terms, each weighted by its
// batch's rows (the trainer adds to them after every step).
type EpochSums struct {
	N        int     `json:"n"`     // rows trained this epoch
	Steps    int     `json:"steps"` // steps taken this epoch
	Loss     float64 `json:"loss"`
	ELBO     float64 `json:"elbo"`
	Recon    float64 `json:"recon"`
	KLz      float64 `json:"kl_z"`
	KLw      float64 `json:"kl_w"`
	KLy      float64 `json:"kl_y"`
	GradNorm float64 `json:"grad_norm"`       // sum over steps
	FreeBits int     `json:"free_bits_steps"` // steps with free bits active
}

// Checkpoint is the content of a checkpoint file.
type Checkpoint struct {
	State State
	// Model and Train are the JSON of the model's and the training's configurations
	// (the metadata's model_config and train_config), decoded by their packages.
	Model, Train json.RawMessage
	Names        []string // parameter tensors, in buffer order
	Sizes        []int
	P, M, V      []float32 // flat parameters and Adam moments

	StateNames []string // state tensors (the model's untrained state), in buffer order
	StateSizes []int
	S          []float32 // flat state
}

// Layout is a model's tensors: names and sizes in buffer order (nn.Params.Layout and
// StateLayout are ones).
type Layout interface {
	Layout() (names []string, sizes []int)
	StateLayout() (names []string, sizes []int)
}

// Matches reports whether the checkpoint's parameter and state tensors are those of
// the model ps (names and sizes, in order), with an error naming the first difference.
func (ck *Checkpoint) Matches(ps Layout) error {
	names, sizes := ps.Layout()
	if err := matchLayout("parameter", ck.Names, ck.Sizes, names, sizes); err != nil {
		return err
	}
	names, sizes = ps.StateLayout()
	return matchLayout("state", ck.StateNames, ck.StateSizes, names, sizes)
}

func matchLayout(kind string, ckNames []string, ckSizes []int, names []string, sizes []int) error {
	if len(ckNames) != len(names) {
		return fmt.Errorf("%d %s tensors in the checkpoint, %d in the model", len(ckNames), kind, len(names))
	}
	for i := range names {
		if ckNames[i] != names[i] || ckSizes[i] != sizes[i] {
			return fmt.Errorf("%s tensor %d is %s (%d values) in the checkpoint, %s (%d) in the model", kind, i, ckNames[i], ckSizes[i], names[i], sizes[i])
		}
	}
	return nil
}

// statePrefix starts the name of a state tensor in a checkpoint file.
const statePrefix = "state/"

// Save writes ck to path atomically.
func Save(path string, ck *Checkpoint) error {
	if err := ck.check(); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	meta, err := ck.metadata()
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	var ts []safetensors.Tensor
	for _, part := range []struct {
		prefix string
		v      []float32
	}{{"", ck.P}, {"adam.m/", ck.M}, {"adam.v/", ck.V}} {
		off := 0
		for i, name := range ck.Names {
			ts = append(ts, safetensors.Tensor{Name: part.prefix + name, Shape: []int{ck.Sizes[i]}, Data: part.v[off : off+ck.Sizes[i]]})
			off += ck.Sizes[i]
		}
	}
	off := 0
	for i, name := range ck.StateNames {
		ts = append(ts, safetensors.Tensor{Name: statePrefix + name, Shape: []int{ck.StateSizes[i]}, Data: ck.S[off : off+ck.StateSizes[i]]})
		off += ck.StateSizes[i]
	}
	meta[shaKey] = dataSHA256(ts)
	if err := atomicfile.Write(path, func(w io.Writer) error { return safetensors.Write(w, ts, meta) }); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	tm, err := json.Marshal(timing{Step: ck.State.Step, WallS: ck.State.WallS})
	if err != nil {
		return fmt.Errorf("checkpoint %s: timing: %w", path, err)
	}
	if err := atomicfile.WriteBytes(TimingPath(path), append(tm, '\n')); err != nil {
		return fmt.Errorf("checkpoint %s: timing: %w", path, err)
	}
	return nil
}

// TimingPath is the side file of the checkpoint at path that holds the training
// time so far: path without its ".safetensors" extension, plus ".timing.json".
func TimingPath(path string) string {
	return strings.TrimSuffix(path, ".safetensors") + ".timing.json"
}

// timing is the content of a checkpoint's timing file.
type timing struct {
	Step  uint64  `json:"step"`   // the checkpoint's step
	WallS float64 `json:"wall_s"` // training seconds up to it
}

// readTiming reads a timing file; ok is false when it is missing or unreadable (the
// time is a report, not part of the run's state: a resume without it counts from 0).
func readTiming(path string) (tm timing, ok bool) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return tm, false
	}
	if err := json.Unmarshal(raw, &tm); err != nil {
		return tm, false
	}
	return tm, true
}

func (ck *Checkpoint) check() error {
	if len(ck.Names) != len(ck.Sizes) || len(ck.Names) == 0 {
		return fmt.Errorf("%d tensor names for %d sizes", len(ck.Names), len(ck.Sizes))
	}
	n := 0
	for _, s := range ck.Sizes {
		n += s
	}
	if len(ck.P) != n || len(ck.M) != n || len(ck.V) != n {
		return fmt.Errorf("buffers of %d, %d, %d values for tensors of %d", len(ck.P), len(ck.M), len(ck.V), n)
	}
	if len(ck.StateNames) != len(ck.StateSizes) {
		return fmt.Errorf("%d state tensor names for %d sizes", len(ck.StateNames), len(ck.StateSizes))
	}
	n = 0
	for _, s := range ck.StateSizes {
		n += s
	}
	if len(ck.S) != n {
		return fmt.Errorf("a state buffer of %d values for state tensors of %d", len(ck.S), n)
	}
	return nil
}

func (ck *Checkpoint) metadata() (map[string]string, error) {
	if !json.Valid(ck.Model) || !json.Valid(ck.Train) {
		return nil, fmt.Errorf("the model or training configuration is not valid JSON")
	}
	mc, tc := ck.Model, ck.Train
	sums, err := json.Marshal(ck.State.Sums)
	if err != nil {
		return nil, err
	}
	s := ck.State
	return map[string]string{
		"format":       checkpointFormat,
		"step":         strconv.FormatUint(s.Step, 10),
		"epoch":        strconv.Itoa(s.Epoch),
		"batch":        strconv.Itoa(s.Batch),
		"adam_steps":   strconv.Itoa(s.AdamSteps),
		"seed":         strconv.FormatUint(s.Seed, 10),
		"world_size":   strconv.Itoa(max(s.WorldSize, 1)),
		"epoch_sums":   string(sums),
		"model_config": string(mc),
		"train_config": string(tc),
	}, nil
}

// Load reads a checkpoint written by Save. Every defect (a
// truncated or corrupt file, a missing or malformed key, a moment tensor that does not
// match its parameter) is an error naming the file.
func Load(path string) (*Checkpoint, error) {
	ts, meta, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("checkpoint %s: %s", path, fmt.Sprintf(format, a...))
	}
	if f := meta["format"]; f != checkpointFormat {
		return nil, bad("format %q, expected %q (not a checkpoint of this trainer?)", f, checkpointFormat)
	}
	if want, ok := meta[shaKey]; ok {
		if got := dataSHA256(ts); got != want {
			return nil, bad("the tensors' bytes have SHA-256 %s, the metadata says %s: the file is damaged", got, want)
		}
	}
	for _, t := range ts {
		for i, v := range t.Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, bad("tensor %q element %d is %v: a checkpoint holds finite values only (the file is damaged, or was not written by this trainer)", t.Name, i, v)
			}
		}
	}
	ck := &Checkpoint{}
	get := func(key string) (string, error) {
		v, ok := meta[key]
		if !ok {
			return "", bad("metadata key %q is missing", key)
		}
		return v, nil
	}
	for _, u := range []struct {
		key string
		dst *uint64
	}{{"step", &ck.State.Step}, {"seed", &ck.State.Seed}} {
		v, err := get(u.key)
		if err != nil {
			return nil, err
		}
		if *u.dst, err = strconv.ParseUint(v, 10, 64); err != nil {
			return nil, bad("metadata %s = %q is not an unsigned integer", u.key, v)
		}
	}
	for _, u := range []struct {
		key string
		dst *int
	}{{"epoch", &ck.State.Epoch}, {"batch", &ck.State.Batch}, {"adam_steps", &ck.State.AdamSteps}} {
		v, err := get(u.key)
		if err != nil {
			return nil, err
		}
		if *u.dst, err = strconv.Atoi(v); err != nil || *u.dst < 0 {
			return nil, bad("metadata %s = %q is not a non-negative integer", u.key, v)
		}
	}
	ck.State.WorldSize = 1
	if v, ok := meta["world_size"]; ok {
		if ck.State.WorldSize, err = strconv.Atoi(v); err != nil || ck.State.WorldSize < 1 {
			return nil, bad("metadata world_size = %q is not a positive integer", v)
		}
	}
	if v, ok := meta["wall_s"]; ok { // checkpoints written before the timing file
		if ck.State.WallS, err = strconv.ParseFloat(v, 64); err != nil {
			return nil, bad("metadata wall_s = %q is not a number", v)
		}
	} else if tm, ok := readTiming(TimingPath(path)); ok && tm.Step == ck.State.Step {
		ck.State.WallS = tm.WallS
	}
	v, err := get("epoch_sums")
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(v), &ck.State.Sums); err != nil {
		return nil, bad("metadata epoch_sums: %v", err)
	}
	for _, u := range []struct {
		key string
		dst *json.RawMessage
	}{{"model_config", &ck.Model}, {"train_config", &ck.Train}} {
		v, err := get(u.key)
		if err != nil {
			return nil, err
		}
		if !json.Valid([]byte(v)) {
			return nil, bad("metadata %s is not valid JSON", u.key)
		}
		*u.dst = json.RawMessage(v)
	}
	// Tensors: the parameters first, then adam.m/<name>, then adam.v/<name>, then
	// state/<name>.
	byName := map[string]safetensors.Tensor{}
	for _, t := range ts {
		byName[t.Name] = t
	}
	for _, t := range ts {
		if name, ok := strings.CutPrefix(t.Name, statePrefix); ok {
			if name == "" {
				return nil, bad("state tensor %q has no name", t.Name)
			}
			ck.StateNames = append(ck.StateNames, name)
			ck.StateSizes = append(ck.StateSizes, len(t.Data))
			ck.S = append(ck.S, t.Data...)
			continue
		}
		if strings.HasPrefix(t.Name, "adam.m/") || strings.HasPrefix(t.Name, "adam.v/") {
			continue
		}
		m, okm := byName["adam.m/"+t.Name]
		vv, okv := byName["adam.v/"+t.Name]
		if !okm || !okv {
			return nil, bad("tensor %q has no Adam moments adam.m/%s and adam.v/%s", t.Name, t.Name, t.Name)
		}
		if len(m.Data) != len(t.Data) || len(vv.Data) != len(t.Data) {
			return nil, bad("tensor %q: %d values, its Adam moments %d and %d", t.Name, len(t.Data), len(m.Data), len(vv.Data))
		}
		ck.Names = append(ck.Names, t.Name)
		ck.Sizes = append(ck.Sizes, len(t.Data))
		ck.P = append(ck.P, t.Data...)
		ck.M = append(ck.M, m.Data...)
		ck.V = append(ck.V, vv.Data...)
	}
	if len(ck.Names) == 0 {
		return nil, bad("no parameter tensors")
	}
	if 3*len(ck.Names)+len(ck.StateNames) != len(ts) {
		return nil, bad("%d tensors, expected 3 per parameter tensor (%d): stray Adam moments", len(ts), len(ck.Names))
	}
	return ck, nil
}

// shaKey is the metadata key of the data section's SHA-256.
const shaKey = "sha256"

// dataSHA256 returns the hex SHA-256 of the tensors' float32 values, little-endian, in
// order: the data section of the file they are written to.
func dataSHA256(ts []safetensors.Tensor) string {
	h := sha256.New()
	var buf [4 << 10]byte
	for _, t := range ts {
		for i := 0; i < len(t.Data); {
			n := 0
			for ; n+4 <= len(buf) && i < len(t.Data); i++ {
				binary.LittleEndian.PutUint32(buf[n:], math.Float32bits(t.Data[i]))
				n += 4
			}
			h.Write(buf[:n])
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
