package engine

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/gmvae/gmvae/engine/cpu"
	"github.com/gmvae/gmvae/kernels"
)

// CPU is the backend that runs every op as its Go twin (engine/cpu) on host memory.
// Its results equal a GPU's bit for bit (shared/design/DETERMINISM.md).
type CPU struct {
	args cpu.KernelArgs // reused across launches: a step allocates no argument slices
	// The memory this backend may hold (90% of the memory available when it made its
	// first buffer; 0: unknown, no limit) and holds.
	budget, used int64
	budgeted     bool
	limited      bool // the budget was set by SetMemoryLimit
}

// NewCPU returns the CPU backend.
func NewCPU() *CPU { return &CPU{} }

// SetMemoryLimit caps the bytes of buffers this backend holds at once (instead of 90 %
// of the memory available when it makes its first buffer); a buffer that would pass
// it is refused with an error matching ErrOutOfMemory. Tests use it to see a refusal
// without taking the machine's memory first.
func (c *CPU) SetMemoryLimit(bytes int64) {
	c.budget, c.budgeted, c.limited = bytes, true, true
}

// Name implements Backend.
func (c *CPU) Name() string { return fmt.Sprintf("cpu (%d threads)", runtime.GOMAXPROCS(0)) }

// New implements Backend.
func (c *CPU) New(n int, tag string) (*Buf, error) {
	if n < 0 {
		return nil, fmt.Errorf("engine: cpu: buffer %q of negative length %d", tag, n)
	}
	if !c.budgeted {
		c.budgeted = true
		if avail := memAvailable(); avail > 0 {
			c.budget = avail / 10 * 9
		}
	}
	bytes := 4 * int64(n)
	if c.budget > 0 && c.used+bytes > c.budget {
		why := "90 % of what the machine had available"
		if c.limited {
			why = "its memory limit"
		}
		return nil, fmt.Errorf("engine: cpu: %w: buffer %q of %d floats (%s) would bring this backend's memory to %s, more than the %s it may hold (%s)",
			ErrOutOfMemory, tag, n, FormatBytes(bytes), FormatBytes(c.used+bytes), FormatBytes(c.budget), why)
	}
	c.used += bytes
	return &Buf{n: n, host: make([]float32, n), owner: c, root: true}, nil
}

// memAvailable returns the memory the kernel reports available (Linux's MemAvailable
// in /proc/meminfo), or 0 when it cannot tell.
func memAvailable() int64 {
	raw, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					return kb * 1024
				}
			}
		}
	}
	return 0
}

// FormatBytes formats a byte count for messages: "1.5 GB", "300 MB", "12 KB".
func FormatBytes(b int64) string {
	switch {
	case b >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(b)/1e9)
	case b >= 1e6:
		return fmt.Sprintf("%.0f MB", float64(b)/1e6)
	}
	return fmt.Sprintf("%.0f KB", float64(b)/1e3)
}

// Release implements Backend.
func (c *CPU) Release(b *Buf) error {
	if b.owner != c || !b.root {
		return fmt.Errorf("engine: cpu: release of a buffer not made by this backend's New")
	}
	c.used -= 4 * int64(b.n)
	b.host, b.root = nil, false
	return nil
}

// Upload implements Backend.
func (c *CPU) Upload(dst *Buf, src []float32) error {
	if err := checkLen("upload", len(src), dst.n); err != nil {
		return err
	}
	copy(dst.host, src)
	return nil
}

// Download implements Backend.
func (c *CPU) Download(dst []float32, src *Buf) error {
	if err := checkLen("download", len(dst), src.n); err != nil {
		return err
	}
	copy(dst, src.host)
	return nil
}

// Launch implements Backend: it converts the arguments to the twin's conventions and
// calls the twin.
func (c *CPU) Launch(k *kernels.Kernel, threads int, args ...any) error {
	kernel := k.Name
	twin, err := cpu.TwinOf(kernel)
	if err != nil {
		return err
	}
	if len(args) != len(k.Params) {
		return fmt.Errorf("engine: %s: %d arguments, the kernel has %d parameters", kernel, len(args), len(k.Params))
	}
	c.args = c.args[:0]
	for i, a := range args {
		p := k.Params[i]
		v, err := twinArg(kernel, p, a)
		if err != nil {
			return err
		}
		c.args = append(c.args, v)
	}
	twin(c.args)
	return nil
}

// twinArg converts one Launch argument to the twin's form.
func twinArg(kernel string, p kernels.Param, a any) (any, error) {
	bad := func() error {
		return fmt.Errorf("engine: %s: argument %s is %T, want %s", kernel, p.Name, a, p.Kind)
	}
	switch p.Kind {
	case kernels.PtrF32:
		switch b := a.(type) {
		case nil:
			return nil, nil
		case *Buf:
			if b == nil {
				return nil, nil
			}
			if b.host == nil && b.n > 0 {
				return nil, fmt.Errorf("engine: %s: argument %s is not a CPU buffer (or was released)", kernel, p.Name)
			}
			return b.host, nil
		}
		return nil, bad()
	case kernels.I64:
		if v, ok := a.(int); ok {
			return int64(v), nil
		}
		return nil, bad()
	case kernels.U64:
		if v, ok := a.(uint64); ok {
			return v, nil
		}
		return nil, bad()
	case kernels.F32:
		if v, ok := a.(float32); ok {
			return v, nil
		}
		return nil, bad()
	case kernels.Bool:
		if v, ok := a.(bool); ok {
			if v {
				return int64(1), nil
			}
			return int64(0), nil
		}
		return nil, bad()
	case kernels.ActCode:
		if v, ok := a.(kernels.Act); ok {
			return int64(v), nil
		}
		return nil, bad()
	}
	return nil, fmt.Errorf("engine: %s: argument %s has kind %s, which the CPU backend does not pass", kernel, p.Name, p.Kind)
}

// Sync implements Backend; the CPU backend runs synchronously.
func (c *CPU) Sync() error { return nil }
