//go:build cuda

package driver

import (
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/gmvae/gmvae/cuda"
	"github.com/gmvae/gmvae/cuda/preflight"
	"github.com/gmvae/gmvae/kernels"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorgonia.org/cu"
)

// TestPreflightRanBeforeCuInit checks the init order from inside the process:
// gorgonia.org/cu's init called cuInit (through the shim) after preflight's init had
// run its check, and the shim kept it from exiting. Runs without a GPU.
func TestPreflightRanBeforeCuInit(t *testing.T) {
	calls, result, first := cuInitTrace()
	require.GreaterOrEqual(t, calls, 1, "gorgonia.org/cu's init did not call cuInit through the shim")
	assert.Equal(t, 1, first, "gorgonia.org/cu's init ran before preflight's")
	var pe *preflight.Error
	if errors.As(preflight.Err(), &pe) && pe.Call == "cuInit(0)" {
		assert.Equal(t, pe.Code, int(result), "the shim and preflight saw different cuInit results")
		assert.Equal(t, pe.Name, result.Name())
	} else if preflight.Err() == nil {
		assert.Zero(t, result)
	}
}

func TestOpenWithoutGPU(t *testing.T) {
	perr := preflight.Err()
	if perr == nil {
		t.Skip("a GPU answers here")
	}
	d, err := Open(0)
	require.Error(t, err)
	assert.Nil(t, d)
	assert.True(t, errors.Is(err, preflight.ErrUnavailable))
	assert.Equal(t, "cuda: Open(0): "+perr.Error(), err.Error())
	_, err = Count()
	assert.True(t, errors.Is(err, preflight.ErrUnavailable))
}

// TestErrorText: errors name the call and the CUDA error (cuGetErrorName works
// without a GPU).
func TestErrorText(t *testing.T) {
	err := wrap("cuMemAlloc(1048576 bytes)", cu.OutOfMemory)
	assert.Equal(t, "cuda: cuMemAlloc(1048576 bytes): CUDA_ERROR_OUT_OF_MEMORY", err.Error())
	assert.True(t, errors.Is(err, ErrOutOfMemory))
	assert.False(t, errors.Is(err, ErrInvalidValue))
	assert.Equal(t, "CUDA_ERROR_ILLEGAL_ADDRESS", ErrIllegalAddress.Error())
	assert.Equal(t, "CUDA_ERROR_NO_DEVICE", wrap("x", cu.NoDevice).(interface{ Unwrap() error }).Unwrap().Error())
	assert.Equal(t, "out of memory", ErrOutOfMemory.Description())
	assert.Equal(t, "CUresult(123456)", Result(123456).Name())
	assert.Nil(t, wrap("x", nil))
	// An error that already names its call is kept.
	inner := wrap("inner", ErrInvalidValue)
	assert.Same(t, inner, wrap("outer", inner))
	jit := wrap("cuModuleLoadDataEx(m)", &JITError{Result: ErrInvalidPTX, Log: "ptxas application ptx input, line 7; error   : Unknown symbol 'x'"})
	assert.Equal(t, "cuda: cuModuleLoadDataEx(m): CUDA_ERROR_INVALID_PTX:\nptxas application ptx input, line 7; error   : Unknown symbol 'x'", jit.Error())
	assert.True(t, errors.Is(jit, ErrInvalidPTX))
}

func TestParseEntries(t *testing.T) {
	cases := []struct {
		name string
		ptx  string
		want map[string][]int
		err  string
	}{
		{"nvcc", `
.version 7.0
.target sm_70
.address_size 64

	// .globl	k1
.visible .entry k1(
	.param .u64 k1_param_0,
	.param .f32 k1_param_1,
	.param .u64 k1_param_2
)
.maxntid 256, 1, 1
{
	ret;
}
.visible .entry k2()
{ ret; }
`, map[string][]int{"k1": {8, 4, 8}, "k2": nil}, ""},
		{"forms", `.entry a ( .param .align 8 .b8 s[16], .param .u64 .ptr.global.align 16 p, .param .u32 n /* c */ , .param .s16 h ) { ret; }
.entry b { ret; }
// .entry commented(.param .u64 x)
/* .entry also(
   .param .u64 y) */
.func (.param .b32 r) helper(.param .b64 z) { ret; }
.weak .entry c(.param .f64 d,.param .b8 e) { ret; }`,
			map[string][]int{"a": {16, 8, 4, 2}, "b": nil, "c": {8, 1}}, ""},
		{"no type", `.entry a(.param p) {}`, nil, "parameter"},
		{"bad array", `.entry a(.param .b8 p[x]) {}`, nil, "unreadable"},
		{"unterminated", `.entry a(.param .u64 p {}`, nil, "unterminated"},
		{"duplicate", `.entry a() {} .entry a() {}`, nil, "duplicate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseEntries(c.ptx)
			if c.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), c.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
}

// TestParseShippedPTX reads every committed module and compares the parameter
// sizes with kernels.Entries and with each kernel's description.
func TestParseShippedPTX(t *testing.T) {
	n := 0
	for _, mod := range kernels.Modules() {
		ptx, err := kernels.Module(mod)
		require.NoError(t, err)
		got, err := parseEntries(ptx)
		require.NoError(t, err, mod)
		ents, err := kernels.Entries(ptx)
		require.NoError(t, err, mod)
		require.Len(t, got, len(ents), mod)
		for _, e := range ents {
			sizes, ok := got[e.Name]
			require.True(t, ok, "%s: entry %s not found", mod, e.Name)
			require.Len(t, sizes, len(e.ParamTypes), e.Name)
			for i, pt := range e.ParamTypes {
				assert.Equal(t, ptxTypeSize[pt], sizes[i], "%s param %d (%s)", e.Name, i, pt)
			}
			if k, err := kernels.Lookup(e.Name); err == nil {
				require.Len(t, sizes, len(k.Params), e.Name)
				for i, p := range k.Params {
					want := 8
					if p.Kind == kernels.F32 {
						want = 4
					}
					assert.Equal(t, want, sizes[i], "%s param %d (%s %s)", e.Name, i, p.Kind, p.Name)
				}
			}
			n++
		}
	}
	t.Logf("%d entries in %d modules", n, len(kernels.Modules()))
}

func TestStripComments(t *testing.T) {
	assert.Equal(t, "a   b\nc", stripComments("a /* x \n y */ b// z\nc"))
	assert.Equal(t, "a ", stripComments("a /* never closed"))
	assert.Equal(t, 2, indexDirective("x .entry y", ".entry"))
	assert.Equal(t, -1, indexDirective("x .entryy .entry.z", ".entry"))
}

// newFakeDevice is a Device with a running context goroutine but no CUDA context,
// for measuring and testing the forwarding machinery without a GPU.
func newFakeDevice() *Device {
	d := &Device{work: make(chan func()), exited: make(chan struct{})}
	go func() {
		runtime.LockOSThread() // as the real one: handing work to a locked thread costs more
		defer close(d.exited)
		for f := range d.work {
			f()
		}
	}()
	return d
}

func TestDoForwarding(t *testing.T) {
	d := newFakeDevice()
	defer func() { d.closed = true; close(d.work); <-d.exited }()
	var mu sync.Mutex
	count := 0
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				require.NoError(t, d.do("noop", func() error { mu.Lock(); count++; mu.Unlock(); return nil }))
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, 8000, count)
	err := d.do("cuMemAlloc(8 bytes)", func() error { return cu.OutOfMemory })
	assert.Equal(t, "cuda: cuMemAlloc(8 bytes): CUDA_ERROR_OUT_OF_MEMORY", err.Error())
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	err = d.do("cuMemGetInfo", func() error { return nil })
	assert.True(t, strings.Contains(err.Error(), "device is closed"), err)
	d.closed = false
}

// BenchmarkDoRoundTrip measures the cost of forwarding one call to the context's
// goroutine (what every queued driver call pays on top of the driver itself).
func BenchmarkDoRoundTrip(b *testing.B) {
	d := newFakeDevice()
	defer func() { close(d.work); <-d.exited }()
	f := func() error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		d.do("noop", f)
	}
}

// BenchmarkCallerThread measures the other way to run a call: on the caller's
// goroutine, locked to its thread, with the context made current and unset (two
// cgo calls; without a GPU cuCtxSetCurrent fails fast, so this is the floor).
func BenchmarkCallerThread(b *testing.B) {
	f := func() error { return nil }
	for b.Loop() {
		runtime.LockOSThread()
		cu.SetCurrentContext(cu.CUContext{})
		f()
		cu.SetCurrentContext(cu.CUContext{})
		runtime.UnlockOSThread()
	}
}

// TestCallsWithoutContext drives the cgo paths of module loading (C log buffers
// behind gorgonia.org/cu's JIT options), launching (8-byte slots) and pinned memory
// on a Device without a CUDA context: the driver refuses each call, and what is
// checked is that the calls are well-formed for cgo's pointer checks and that the
// errors name the call. Runs without a GPU (a GPU machine refuses too: no context).
func TestCallsWithoutContext(t *testing.T) {
	d := newFakeDevice()
	defer func() { close(d.work); <-d.exited }()
	d.props.MaxGrid = [3]int{1 << 30, 65535, 65535}
	d.props.MaxBlock = [3]int{1024, 1024, 64}
	d.props.MaxThreadsPerBlock, d.props.SharedPerBlock = 1024, 48<<10

	_, err := d.LoadModule("tiny", "//\n.version 7.0\n.target sm_70\n.address_size 64\n.visible .entry k(.param .u64 a) { ret; }\n")
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "cuda: cuModuleLoadDataEx(tiny): CUDA_ERROR_"), err.Error())

	f := &Function{mod: &Module{d: d, name: "m"}, name: "k", params: []int{8, 4, 8}, attrs: FuncAttributes{MaxThreads: 1024}}
	err = d.Launch(f, cuda.Dim3{X: 1}, cuda.Dim3{X: 32}, 0, nil, cuda.Ptr(0), cuda.F32(1), cuda.I64(3))
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "cuda: cuLaunchKernel(k): CUDA_ERROR_"), err.Error())
	err = d.Launch(f, cuda.Dim3{X: 1}, cuda.Dim3{X: 32}, 0, nil, cuda.Ptr(0))
	assert.EqualError(t, err, "cuda: cuLaunchKernel(k): 1 arguments for 3 parameters")
	err = d.Launch(f, cuda.Dim3{X: 1}, cuda.Dim3{X: 32}, 48<<10+1, nil, cuda.Ptr(0), cuda.F32(1), cuda.I64(3))
	assert.ErrorContains(t, err, "shared memory exceed")

	_, err = d.AllocPinned(4096)
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "cuda: cuMemAllocHost(4096 bytes): CUDA_ERROR_"), err.Error())
	_, err = d.Alloc(1 << 20)
	assert.True(t, strings.HasPrefix(err.Error(), "cuda: cuMemAlloc(1048576 bytes): CUDA_ERROR_"), err.Error())
	t.Log(err)
}
