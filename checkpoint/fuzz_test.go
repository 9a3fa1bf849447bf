package checkpoint

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime/metrics"
	"testing"

	"github.com/gmvae/gmvae/checkpoint/safetensors"
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
func FuzzLoad(f *testing.F) {
	dir := f.TempDir()
	for i, ck := range []*Checkpoint{testCheckpoint(), func() *Checkpoint {
		c := testCheckpoint()
		c.StateNames, c.StateSizes, c.S = []string{"bn.running_mean"}, []int{2}, []float32{1, 2}
		return c
	}()} {
		path := filepath.Join(dir, "seed.safetensors")
		if err := Save(path, ck); err != nil {
			f.Fatal(err)
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
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
		if err := os.WriteFile(path, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		before := allocated()
		ck, err := Load(path)
		if used := allocated() - before; used > 8<<20+64*uint64(len(raw)) {
			t.Fatalf("Load of %d bytes allocated %d bytes", len(raw), used)
		}
		if err != nil {
			if !bytes.Contains([]byte(err.Error()), []byte("ck.safetensors")) {
				t.Fatalf("the error does not name the file: %v", err)
			}
			return
		}
		// A checkpoint that loads saves back and loads to the same content.
		again := filepath.Join(t.TempDir(), "again.safetensors")
		if err := Save(again, ck); err != nil {
			t.Fatalf("a loaded checkpoint does not save: %v", err)
		}
		if _, err := Load(again); err != nil {
			t.Fatalf("a saved checkpoint does not load: %v", err)
		}
	})
}

// FuzzDecode: the safetensors container, any bytes: tensors or an error, no panic,
// bounded allocation.
func FuzzDecode(f *testing.F) {
	var buf bytes.Buffer
	if err := safetensors.Write(&buf, []safetensors.Tensor{{Name: "a", Shape: []int{2, 2}, Data: []float32{1, 2, 3, 4}}}, map[string]string{"k": "v"}); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte("\xff\xff\xff\xff\xff\xff\xff\x7f{}"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		before := allocated()
		ts, _, err := safetensors.Decode(raw, "fuzz")
		if used := allocated() - before; used > 8<<20+64*uint64(len(raw)) {
			t.Fatalf("Decode of %d bytes allocated %d bytes", len(raw), used)
		}
		if err == nil {
			n := 0
			for _, x := range ts {
				n += 4 * len(x.Data)
			}
			if n > len(raw) {
				t.Fatalf("%d bytes of tensors from a file of %d", n, len(raw))
			}
		}
	})
}
