//go:build !cuda

package dist

import (
	"errors"

	"github.com/gmvae/gmvae/engine"
)

// errNCCLNotBuilt: the NCCL transport is in nccl.go, built only with the cuda tag.
var errNCCLNotBuilt = errors.New("this binary is built without the cuda tag (go build -tags cuda)")

func probeNCCL(*engine.GPU) error { return errNCCLNotBuilt }

func openNCCL(Comm, *engine.GPU) (DeviceTransport, error) { return nil, errNCCLNotBuilt }
