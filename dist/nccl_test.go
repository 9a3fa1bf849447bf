//go:build cuda

package dist

import (
	"strings"
	"testing"
)

// TestNCCLLoad: on a machine without libnccl.so.2 (this project's CI) loading fails
// with a message naming the library, "nccl" is refused with it and "auto" falls back
// to the host path (TestNewGradSyncChoice); where NCCL is installed, it loads and has
// a version, and the emulator backend is still refused (not a CUDA device).
func TestNCCLLoad(t *testing.T) {
	err := loadNCCL()
	if err != nil {
		if !strings.Contains(err.Error(), "libnccl.so.2") {
			t.Fatalf("the error does not name the library: %v", err)
		}
		if err2 := probeNCCL(emuGPUs(1)[0]); err2 != err {
			t.Fatalf("probe: %v, want the load error", err2)
		}
		t.Logf("no NCCL here: %v", err)
		return
	}
	if ncclLib.version == "" {
		t.Fatal("NCCL loaded without a version")
	}
	t.Logf("NCCL %s loaded", ncclLib.version)
	if err := probeNCCL(emuGPUs(1)[0]); err == nil || !strings.Contains(err.Error(), "not a CUDA driver device") {
		t.Fatalf("the emulator accepted as an NCCL device: %v", err)
	}
}
