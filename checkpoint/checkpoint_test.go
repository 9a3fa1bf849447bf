package checkpoint

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/checkpoint/safetensors"
	"github.com/gmvae/gmvae/internal/atomicfile"
)

func testCheckpoint() *Checkpoint {
	return &Checkpoint{
		State: State{Step: 1234, Epoch: 2, Batch: 17, AdamSteps: 1234, Seed: 1<<63 + 5, WorldSize: 4, WallS: 12.5,
			Sums: EpochSums{N: 850, Steps: 17, Loss: 1e5 / 3, KLy: math.SmallestNonzeroFloat64, FreeBits: 3}},
		Model: json.RawMessage(`{"model":"shu","d":4,"k":2,"dz":2,"hidden":[3],"lambda":0.5}`),
		Train: json.RawMessage(`{"epochs":5,"batch_size":50,"lr":0.0001,"schedule":"cosine","seed":9223372036854775813}`),
		Names: []string{"enc.W", "enc.b"},
		Sizes: []int{3, 2},
		P:     []float32{1, -2, math.MaxFloat32, 0.5, float32(math.Copysign(0, -1))},
		M:     []float32{0.1, 0.2, 0.3, 0.4, 0.5},
		V:     []float32{1e-30, 2, 3, 4, 5},
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ck.safetensors")
	ck := testCheckpoint()
	require.NoError(t, Save(path, ck))
	got, err := Load(path)
	require.NoError(t, err)
	assert.Equal(t, ck.State, got.State, "state")
	assert.Equal(t, string(ck.Model), string(got.Model), "model config")
	assert.Equal(t, string(ck.Train), string(got.Train), "training config")
	assert.Equal(t, []string{"enc.W", "enc.b"}, got.Names, "layout: names")
	assert.Equal(t, []int{3, 2}, got.Sizes, "layout: sizes")
	for i, pair := range [][2][]float32{{got.P, ck.P}, {got.M, ck.M}, {got.V, ck.V}} {
		assert.Equal(t, -1, sameBits(pair[0], pair[1]), "buffer %d differs (first index shown): %v vs %v", i, pair[0], pair[1])
	}
	// The layout is plain safetensors: 8-byte length, JSON header, data in order.
	raw, _ := os.ReadFile(path)
	hlen := binary.LittleEndian.Uint64(raw)
	hdr := string(raw[8 : 8+hlen])
	for _, w := range []string{`"enc.W":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}`, `"adam.v/enc.b":{"dtype":"F32","shape":[2],"data_offsets":[52,60]}`, `"format":"gmvae-checkpoint-v1"`, `"step":"1234"`} {
		assert.Contains(t, hdr, w, "header")
	}
	assert.Zero(t, hlen%8, "header %d bytes: not a multiple of 8", hlen)
	assert.Equal(t, 8+hlen+60, uint64(len(raw)), "file bytes (header %d bytes)", hlen)
}

// TestCheckpointCorrupt: truncated and damaged files are errors naming the file.
func TestCheckpointCorrupt(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.safetensors")
	require.NoError(t, Save(good, testCheckpoint()))
	raw, _ := os.ReadFile(good)
	hlen := int(binary.LittleEndian.Uint64(raw))
	setLen := func(b []byte, n uint64) []byte {
		c := append([]byte(nil), b...)
		binary.LittleEndian.PutUint64(c, n)
		return c
	}
	replace := func(old, new string) []byte {
		h := strings.Replace(string(raw[8:8+hlen]), old, new, 1)
		for len(h)%8 != 0 {
			h += " "
		}
		out := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
		return append(append(out, h...), raw[8+hlen:]...)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "truncated"},
		{"short", raw[:5], "truncated"},
		{"header cut", raw[:8+hlen/2], "truncated: header of"},
		{"data cut", raw[:len(raw)-3], "truncated: tensor"},
		{"data extra", append(append([]byte(nil), raw...), 0, 0, 0, 0), "bytes of data after the last tensor"},
		{"huge header", setLen(raw, 1<<40), "over the limit"},
		{"bad json", replace(`{`, `[`), "not a JSON object"},
		{"f16", replace(`"dtype":"F32"`, `"dtype":"F16"`), `dtype "F16"`},
		{"shape", replace(`"shape":[3]`, `"shape":[4]`), "needs 16 bytes"},
		{"format", replace(`gmvae-checkpoint-v1`, `gmvae-checkpoint-v9`), `format "gmvae-checkpoint-v9"`},
		{"step", replace(`"step":"1234"`, `"step":"x234"`), `step = "x234"`},
		{"no moments", replace(`"adam.m/enc.b"`, `"adam.x/enc.b"`), "has no Adam moments"},
	} {
		path := filepath.Join(dir, tc.name+".safetensors")
		require.NoError(t, os.WriteFile(path, tc.data, 0o644))
		_, err := Load(path)
		assert.ErrorContains(t, err, path, "%s: want an error naming the file", tc.name)
		assert.ErrorContains(t, err, tc.want, tc.name)
	}
	_, err := Load(filepath.Join(dir, "missing"))
	assert.ErrorContains(t, err, "missing", "missing file")
}

// TestAtomicWrite: a write that fails leaves the old file intact and no temporary
// file behind.
func TestAtomicWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ck.safetensors")
	require.NoError(t, Save(path, testCheckpoint()))
	before, _ := os.ReadFile(path)
	boom := errors.New("disk full")
	err := atomicfile.Write(path, func(w io.Writer) error {
		_, _ = w.Write(bytes.Repeat([]byte{7}, 3<<20)) // more than the buffer: reaches the file
		return boom
	})
	require.ErrorIs(t, err, boom)
	after, _ := os.ReadFile(path)
	require.True(t, bytes.Equal(before, after), "the old checkpoint changed")
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	require.Equal(t, []string{"ck.safetensors", "ck.timing.json"}, names, "files left behind (want the checkpoint and its timing file)")
	_, err = Load(path)
	require.NoError(t, err)
	// A folder that cannot be written: an error, nothing else.
	require.Error(t, Save(filepath.Join(dir, "no", "such", "dir", "ck"), testCheckpoint()), "no error for a missing folder")
}

// TestCheckpointTimingFile: the training time lives beside the checkpoint, not in it.
// Two checkpoints that differ only in their time are the same bytes; a missing timing
// file, or one written for another step, makes the time 0.
func TestCheckpointTimingFile(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.safetensors"), filepath.Join(dir, "b.safetensors")
	ck := testCheckpoint()
	require.NoError(t, Save(a, ck))
	ck.State.WallS = 99
	require.NoError(t, Save(b, ck))
	ra, _ := os.ReadFile(a)
	rb, _ := os.ReadFile(b)
	assert.True(t, bytes.Equal(ra, rb), "checkpoints that differ only in wall time differ in bytes")
	for _, tc := range []struct {
		name  string
		setup func(path string)
		want  float64
	}{
		{"present", func(string) {}, 99},
		{"other step", func(path string) {
			_ = os.WriteFile(TimingPath(path), []byte(`{"step":1,"wall_s":5}`), 0o644)
		}, 0},
		{"corrupt", func(path string) { _ = os.WriteFile(TimingPath(path), []byte(`{`), 0o644) }, 0},
		{"missing", func(path string) { _ = os.Remove(TimingPath(path)) }, 0},
	} {
		tc.setup(b)
		got, err := Load(b)
		require.NoError(t, err, "%s", tc.name)
		assert.Equal(t, tc.want, got.State.WallS, "%s: wall_s", tc.name)
	}
	assert.Equal(t, filepath.Join("run", TimingFile), TimingPath(filepath.Join("run", File)), "TimingPath(run/%s)", File)
}

// TestCheckpointState: state tensors (batch norm's running estimates) round-trip as
// "state/<name>" after the parameters and moments; a state buffer that does not match
// its layout is not written, and a nameless state tensor is not read.
func TestCheckpointState(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ck.safetensors")
	ck := testCheckpoint()
	ck.StateNames = []string{"enc.bn.running_mean", "enc.bn.running_var"}
	ck.StateSizes = []int{2, 1}
	ck.S = []float32{-0.5, math.SmallestNonzeroFloat32, 3}
	require.NoError(t, Save(path, ck))
	got, err := Load(path)
	require.NoError(t, err)
	assert.Equal(t, []string{"enc.bn.running_mean", "enc.bn.running_var"}, got.StateNames, "state layout: names")
	assert.Equal(t, []int{2, 1}, got.StateSizes, "state layout: sizes")
	assert.Equal(t, -1, sameBits(got.S, ck.S), "state %v, want %v (first differing index)", got.S, ck.S)
	assert.Equal(t, -1, sameBits(got.P, ck.P), "parameters %v, want %v (first differing index)", got.P, ck.P)
	raw, _ := os.ReadFile(path)
	assert.True(t, bytes.Contains(raw, []byte(`"state/enc.bn.running_var":{"dtype":"F32","shape":[1]`)),
		"header lacks the state tensor: %s", raw[8:200])

	ck.S = ck.S[:2]
	assert.ErrorContains(t, Save(path, ck), "state buffer of 2 values for state tensors of 3", "short state buffer")

	meta, err := testCheckpoint().metadata()
	require.NoError(t, err)
	var ts []safetensors.Tensor
	for _, prefix := range []string{"", "adam.m/", "adam.v/"} {
		ts = append(ts, safetensors.Tensor{Name: prefix + "w", Shape: []int{1}, Data: []float32{1}})
	}
	ts = append(ts, safetensors.Tensor{Name: "state/", Shape: []int{1}, Data: []float32{1}})
	bad := filepath.Join(dir, "nameless.safetensors")
	require.NoError(t, atomicfile.Write(bad, func(w io.Writer) error { return safetensors.Write(w, ts, meta) }))
	_, err = Load(bad)
	assert.ErrorContains(t, err, "nameless.safetensors", "nameless state tensor")
	assert.ErrorContains(t, err, "has no name", "nameless state tensor")
}

// sameBits returns the first index where a and b differ in bits, or -1 (different
// lengths: 0).
func sameBits(a, b []float32) int {
	if len(a) != len(b) {
		return 0
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

// TestCheckpointRefusesDamage: a tensor value changed in the file (a flipped bit) is
// caught by the data's SHA-256, a non-finite value written by another program by the
// finite check, and an older checkpoint without the checksum still loads.
func TestCheckpointRefusesDamage(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.safetensors")
	require.NoError(t, Save(good, testCheckpoint()))
	raw, err := os.ReadFile(good)
	require.NoError(t, err)
	hlen := int(binary.LittleEndian.Uint64(raw))
	flipped := append([]byte(nil), raw...)
	flipped[8+hlen+5] ^= 0x10 // a bit of the second parameter value
	bad := filepath.Join(dir, "flipped.safetensors")
	require.NoError(t, os.WriteFile(bad, flipped, 0o644))
	_, err = Load(bad)
	require.ErrorContains(t, err, "the file is damaged")
	require.ErrorContains(t, err, "flipped.safetensors")

	// Written without the checksum (as before it existed), with a NaN parameter.
	ck := testCheckpoint()
	meta, err := ck.metadata()
	require.NoError(t, err)
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
	old := filepath.Join(dir, "old.safetensors")
	require.NoError(t, atomicfile.Write(old, func(w io.Writer) error { return safetensors.Write(w, ts, meta) }))
	_, err = Load(old)
	require.NoError(t, err, "a checkpoint without the checksum loads")
	ts[0].Data[1] = float32(math.NaN())
	nan := filepath.Join(dir, "nan.safetensors")
	require.NoError(t, atomicfile.Write(nan, func(w io.Writer) error { return safetensors.Write(w, ts, meta) }))
	_, err = Load(nan)
	require.ErrorContains(t, err, `tensor "enc.W" element 1 is NaN`)
}
