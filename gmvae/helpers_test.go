package gmvae

import (
	"testing"

	"github.com/gmvae/gmvae/engine"
)

// Test helpers shared by the models' tests.

func tMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// tUpload returns a new buffer on b holding v.
func tUpload(t *testing.T, b engine.Backend, v []float32, tag string) *engine.Buf {
	t.Helper()
	x, err := b.New(len(v), tag)
	tMust(t, err)
	tMust(t, b.Upload(x, v))
	return x
}

// tDownload returns x's contents.
func tDownload(t *testing.T, b engine.Backend, x *engine.Buf) []float32 {
	t.Helper()
	v := make([]float32, x.Len())
	tMust(t, b.Download(v, x))
	return v
}
