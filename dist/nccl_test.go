//go:build cuda

package dist

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestNCCLLoad: on a machine without libnccl.so.2 (this project's CI) loading fails
// with a message naming the library, "nccl" is refused with it and "auto" falls back
// to the host path (TestNewGradSyncChoice); where NCCL is installed, it loads and has
// a version, and the emulator backend is still refused (not a CUDA device).
func TestNCCLLoad(t *testing.T) {
	err := loadNCCL()
	if err != nil {
		require.ErrorContains(t, err, "libnccl.so.2", "the error does not name the library")
		err2 := probeNCCL(emuGPUs(1)[0])
		require.True(t, err2 == err, "probe: %v, want the load error (the same value)", err2)
		t.Logf("no NCCL here: %v", err)
		return
	}
	require.NotEmpty(t, ncclLib.version, "NCCL loaded without a version")
	t.Logf("NCCL %s loaded", ncclLib.version)
	require.ErrorContains(t, probeNCCL(emuGPUs(1)[0]), "not a CUDA driver device", "the emulator accepted as an NCCL device")
}
