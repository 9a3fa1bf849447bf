package checkpoint

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime/metrics"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/checkpoint/safetensors"
	"github.com/gmvae/gmvae/internal/testutil"
)

// allocated returns the bytes the Go heap has allocated so far (runtime/metrics, which
// does not stop the world).
func allocated() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// FuzzLoad: any bytes as a checkpoint file load or fail with an error naming the file;
// never a panic, and never an allocation beyond a bound proportional to the file
// (a header may not announce more than the file holds). Seeds: a valid checkpoint,
// with state, and damaged variants of it.
//
// fuzz-execs: 1500 (ci/fuzz.sh's budget: about 5 s on 2 cores)
func FuzzLoad(f *testing.F) {
	dir := f.TempDir()
	for i, ck := range []*Checkpoint{testCheckpoint(), func() *Checkpoint {
		c := testCheckpoint()
		c.StateNames, c.StateSizes, c.S = []string{"bn.running_mean"}, []int{2}, []float32{1, 2}
		return c
	}()} {
		path := filepath.Join(dir, "seed.safetensors")
		require.NoError(f, Save(path, ck))
		raw, err := os.ReadFile(path)
		require.NoError(f, err)
		f.Add(raw)
		f.Add(raw[:len(raw)/2])
		bad := bytes.Clone(raw)
		bad[8+i] ^= 0xff
		f.Add(bad)
	}
	f.Add([]byte{})
	f.Add([]byte("\x10\x00\x00\x00\x00\x00\x00\x00{\"__metadata__\":{}}"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		path := filepath.Join(t.TempDir(), "ck.safetensors")
		require.NoError(t, os.WriteFile(path, raw, 0o644))
		before := allocated()
		ck, err := Load(path)
		require.LessOrEqual(t, allocated()-before, 8<<20+64*uint64(len(raw)), "Load of %d bytes: bytes allocated", len(raw))
		if err != nil {
			require.ErrorContains(t, err, "ck.safetensors", "the error names the file")
			return
		}
		// A checkpoint that loads saves back and loads to the same content.
		again := filepath.Join(t.TempDir(), "again.safetensors")
		require.NoError(t, Save(again, ck), "a loaded checkpoint saves")
		back, err := Load(again)
		require.NoError(t, err, "a saved checkpoint loads")
		require.Equal(t, ck.Names, back.Names, "tensor names")
		require.Equal(t, ck.State, back.State, "training state")
		for _, pair := range [][2][]float32{{ck.P, back.P}, {ck.M, back.M}, {ck.V, back.V}, {ck.S, back.S}} {
			require.Equal(t, -1, testutil.SameBits(pair[0], pair[1]), "the first value that changed in the round trip")
		}
	})
}

// FuzzDecode: the safetensors container, any bytes: tensors or an error, no panic,
// bounded allocation.
//
// fuzz-execs: 100000 (ci/fuzz.sh's budget: about 5 s on 2 cores)
func FuzzDecode(f *testing.F) {
	var buf bytes.Buffer
	require.NoError(f, safetensors.Write(&buf, []safetensors.Tensor{{Name: "a", Shape: []int{2, 2}, Data: []float32{1, 2, 3, 4}}}, map[string]string{"k": "v"}))
	f.Add(buf.Bytes())
	f.Add([]byte("\xff\xff\xff\xff\xff\xff\xff\x7f{}"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		before := allocated()
		ts, _, err := safetensors.Decode(raw, "fuzz")
		require.LessOrEqual(t, allocated()-before, 8<<20+64*uint64(len(raw)), "Decode of %d bytes: bytes allocated", len(raw))
		if err == nil {
			n := 0
			for _, x := range ts {
				n += 4 * len(x.Data)
			}
			require.LessOrEqual(t, n, len(raw), "bytes of tensors from a file of %d", len(raw))
		}
	})
}
