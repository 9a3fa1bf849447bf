package engine

import (
	"errors"
	"strings"
	"testing"

	"github.com/gmvae/gmvae/kernels"
)

func TestOpenBackend(t *testing.T) {
	for _, name := range []string{"cpu", "emu", "auto", ""} {
		b, closer, err := OpenBackend(name)
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		buf, err := b.New(3, "t")
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Upload(buf, []float32{1, 2, 3}); err != nil {
			t.Fatal(err)
		}
		if err := b.Launch(kernels.MustLookup("ew_scale"), 3, buf, buf, 3, float32(2)); err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		got := make([]float32, 3)
		if err := b.Download(got, buf); err != nil {
			t.Fatal(err)
		}
		if got[2] != 6 {
			t.Fatalf("%q: got %v", name, got)
		}
		if err := b.Release(buf); err != nil {
			t.Fatal(err)
		}
		if err := closer(); err != nil {
			t.Fatalf("%q: close: %v", name, err)
		}
	}
	if _, _, err := OpenBackend("tpu"); err == nil || !strings.Contains(err.Error(), `unknown device "tpu"`) {
		t.Fatalf("tpu: %v", err)
	}
	if !CUDABuilt() {
		_, _, err := OpenBackend("cuda")
		if !errors.Is(err, ErrNoCUDA) || !strings.Contains(err.Error(), "rebuild with -tags cuda") {
			t.Fatalf("cuda without the tag: %v", err)
		}
	}
}
