package engine

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/gmvae/gmvae/cuda"
	"github.com/gmvae/gmvae/kernels"
)

// GPU is the backend that runs every op as a launch of the shipped PTX on a
// cuda.Device: the real driver (build tag cuda) or the PTX emulator. Buffers come from
// a caching Pool, so a training step makes no driver allocation in steady state.
type GPU struct {
	dev  cuda.Device
	pool *Pool

	mu      sync.Mutex
	modules map[string]cuda.Module   // by module name, loaded on first use
	funcs   map[string]cuda.Function // by kernel name
	slots   []cuda.Arg               // reused argument slots
	stream  cuda.Stream              // nil: the default stream
}

// GPUOptions configure a GPU backend.
type GPUOptions struct {
	// MemLimit caps the pool's device memory in bytes (0: no cap).
	MemLimit int64
}

// NewGPU returns a backend over dev. Kernel modules load on first use.
func NewGPU(dev cuda.Device, opts GPUOptions) *GPU {
	return &GPU{
		dev: dev, pool: NewPool(dev, opts.MemLimit),
		modules: map[string]cuda.Module{}, funcs: map[string]cuda.Function{},
	}
}

// Name implements Backend.
func (g *GPU) Name() string { return g.dev.Name() }

// Device returns the device the backend launches on.
func (g *GPU) Device() cuda.Device { return g.dev }

// Pool returns the backend's memory pool (its statistics, Release, CheckLeaks).
func (g *GPU) Pool() *Pool { return g.pool }

// New implements Backend.
func (g *GPU) New(n int, tag string) (*Buf, error) {
	if n < 0 {
		return nil, fmt.Errorf("engine: %s: buffer %q of negative length %d", g.Name(), tag, n)
	}
	p, err := g.pool.Alloc(int64(n)*4, tag)
	if err != nil {
		return nil, err
	}
	return &Buf{n: n, ptr: p, owner: g, root: true}, nil
}

// Release implements Backend: the block goes back to the pool's cache.
func (g *GPU) Release(b *Buf) error {
	if b.owner != g || !b.root {
		return fmt.Errorf("engine: %s: release of a buffer not made by this backend's New", g.Name())
	}
	b.root = false
	return g.pool.Free(b.ptr)
}

// Upload implements Backend.
func (g *GPU) Upload(dst *Buf, src []float32) error {
	if err := checkLen("upload", len(src), dst.n); err != nil {
		return err
	}
	if len(src) == 0 {
		return nil
	}
	return g.dev.MemcpyHtoD(dst.ptr, f32Bytes(src))
}

// Download implements Backend.
func (g *GPU) Download(dst []float32, src *Buf) error {
	if err := checkLen("download", len(dst), src.n); err != nil {
		return err
	}
	if len(dst) == 0 {
		return nil
	}
	return g.dev.MemcpyDtoH(f32Bytes(dst), src.ptr)
}

// f32Bytes views a float32 slice as its bytes (little-endian, as the device stores it).
func f32Bytes(s []float32) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*4)
}

// function returns the loaded kernel named name, loading its module on first use.
func (g *GPU) function(k *kernels.Kernel) (cuda.Function, error) {
	if f, ok := g.funcs[k.Name]; ok {
		return f, nil
	}
	m, ok := g.modules[k.Module]
	if !ok {
		src, err := kernels.Module(k.Module)
		if err != nil {
			return nil, err
		}
		m, err = g.dev.LoadModule(k.Module, src)
		if err != nil {
			return nil, err
		}
		g.modules[k.Module] = m
	}
	f, err := m.Function(k.Name)
	if err != nil {
		return nil, err
	}
	g.funcs[k.Name] = f
	return f, nil
}

// defaultBlock is the block size for kernels that accept any multiple of 32.
const defaultBlock = 256

// maxGrid caps the blocks of one launch; kernels loop with a grid stride beyond it.
const maxGrid = 65535

// LaunchShape returns the grid and block the GPU backend uses for kernel k when work
// threads are wanted (see Backend.Launch). Results never depend on it (DETERMINISM.md,
// rule 11); only speed does.
func LaunchShape(k *kernels.Kernel, work int) (grid, block cuda.Dim3) {
	block = cuda.Dim3{X: defaultBlock, Y: 1, Z: 1}
	if k.Block.X > 0 {
		block = cuda.Dim3{X: k.Block.X, Y: max(k.Block.Y, 1), Z: 1}
	}
	threads := block.Count()
	blocks := (work + threads - 1) / threads
	return cuda.Dim3{X: min(max(blocks, 1), maxGrid), Y: 1, Z: 1}, block
}

// Launch implements Backend: it packs the arguments into 8-byte slots by the kernel
// table's parameter kinds and launches the kernel.
func (g *GPU) Launch(k *kernels.Kernel, threads int, args ...any) error {
	kernel := k.Name
	if len(args) != len(k.Params) {
		return fmt.Errorf("engine: %s: %d arguments, the kernel has %d parameters", kernel, len(args), len(k.Params))
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	fn, err := g.function(k)
	if err != nil {
		return err
	}
	g.slots = g.slots[:0]
	for i, a := range args {
		s, err := g.slot(kernel, k.Params[i], a)
		if err != nil {
			return err
		}
		g.slots = append(g.slots, s)
	}
	grid, block := LaunchShape(k, threads)
	shared := 0
	if k.SharedBytes != nil {
		shared = k.SharedBytes(kernels.Block{X: block.X, Y: block.Y})
	}
	if err := g.dev.Launch(fn, grid, block, shared, g.stream, g.slots...); err != nil {
		return fmt.Errorf("engine: %s: %w", kernel, err)
	}
	return nil
}

// slot packs one Launch argument.
func (g *GPU) slot(kernel string, p kernels.Param, a any) (cuda.Arg, error) {
	bad := func() error {
		return fmt.Errorf("engine: %s: argument %s is %T, want %s", kernel, p.Name, a, p.Kind)
	}
	switch p.Kind {
	case kernels.PtrF32:
		switch b := a.(type) {
		case nil:
			return cuda.Ptr(0), nil
		case *Buf:
			if b == nil {
				return cuda.Ptr(0), nil
			}
			if b.owner != g {
				return 0, fmt.Errorf("engine: %s: argument %s lives on another backend", kernel, p.Name)
			}
			return cuda.Ptr(b.ptr), nil
		}
		return 0, bad()
	case kernels.I64:
		if v, ok := a.(int); ok {
			return cuda.I64(int64(v)), nil
		}
		return 0, bad()
	case kernels.U64:
		if v, ok := a.(uint64); ok {
			return cuda.U64(v), nil
		}
		return 0, bad()
	case kernels.F32:
		if v, ok := a.(float32); ok {
			return cuda.F32(v), nil
		}
		return 0, bad()
	case kernels.Bool:
		if v, ok := a.(bool); ok {
			if v {
				return cuda.I64(1), nil
			}
			return cuda.I64(0), nil
		}
		return 0, bad()
	case kernels.ActCode:
		if v, ok := a.(kernels.Act); ok {
			return cuda.I64(int64(v)), nil
		}
		return 0, bad()
	}
	return 0, fmt.Errorf("engine: %s: argument %s has kind %s, which the GPU backend does not pass", kernel, p.Name, p.Kind)
}

// Sync implements Backend.
func (g *GPU) Sync() error { return g.dev.Synchronize() }

// Close releases the pool's cached blocks and unloads the modules; the device stays
// open (its owner closes it).
func (g *GPU) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	err := g.pool.Release()
	for name, m := range g.modules {
		if uerr := m.Unload(); uerr != nil && err == nil {
			err = uerr
		}
		delete(g.modules, name)
	}
	g.funcs = map[string]cuda.Function{}
	return err
}

// CopyBuf copies src into dst on the device (same length).
func (g *GPU) CopyBuf(dst, src *Buf) error {
	if err := checkLen("copy", src.n, dst.n); err != nil {
		return err
	}
	return g.dev.MemcpyDtoD(dst.ptr, src.ptr, int64(src.n)*4)
}

// bytesF32 views bytes (a multiple of 4, 4-byte aligned, as pinned memory is) as
// float32s.
func bytesF32(b []byte) []float32 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4)
}
