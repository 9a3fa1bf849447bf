package engine

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/kernels"
)

func TestOpenBackend(t *testing.T) {
	for _, name := range []string{"cpu", "emu", "auto", ""} {
		b, closer, err := OpenBackend(name)
		require.NoError(t, err, "%q", name)
		buf, err := b.New(3, "t")
		require.NoError(t, err)
		require.NoError(t, b.Upload(buf, []float32{1, 2, 3}))
		require.NoError(t, b.Launch(kernels.MustLookup("ew_scale"), 3, buf, buf, 3, float32(2)), "%q", name)
		got := make([]float32, 3)
		require.NoError(t, b.Download(got, buf))
		require.Equal(t, float32(6), got[2], "%q: got %v", name, got)
		require.NoError(t, b.Release(buf))
		require.NoError(t, closer(), "%q: close", name)
	}
	_, _, err := OpenBackend("tpu")
	require.ErrorContains(t, err, `unknown device "tpu"`, "tpu")
	if !CUDABuilt() {
		_, _, err := OpenBackend("cuda")
		require.ErrorIs(t, err, ErrNoCUDA, "cuda without the tag")
		require.ErrorContains(t, err, "rebuild with -tags cuda", "cuda without the tag")
	}
}
