package emu

import (
	"math"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/cuda"
)

// Tests on kernels compiled by nvcc from testdata/fixtures.cu. Expected values follow
// the CUDA Programming Guide's definitions of the intrinsics, not the PTX semantics the
// emulator implements, so they check the emulator against an independent statement.

func TestShflModes(t *testing.T) {
	d, m := fixtures(t)
	f := fn(t, m, "fx_shfl")
	const nt = 64 // two warps
	in := make([]uint32, nt)
	for i := range in {
		in[i] = uint32(1000 + i)
	}
	pin := upload(t, d, in)
	pout := zeros[uint32](t, d, nt)
	for mode := 0; mode < 4; mode++ {
		for _, width := range []int{32, 16, 8, 4, 2} {
			for _, arg := range []int{0, 1, 2, 3, 5, 8, 13, 16, 31} {
				mustLaunch(t, d, f, d1(1), d1(nt), 0, cuda.Ptr(pin), cuda.Ptr(pout), cuda.I64(int64(mode)), cuda.I64(int64(arg)), cuda.I64(int64(width)))
				got := download[uint32](t, d, pout, nt)
				for i := 0; i < nt; i++ {
					lane := i % 32
					base := i - lane // first thread of the warp
					seg := lane &^ (width - 1)
					src := lane
					switch mode {
					case 0: // __shfl_sync: lane srcLane % width of the segment
						src = seg + arg%width
					case 1: // __shfl_up_sync: lane - delta unless it leaves the segment
						if lane-arg >= seg {
							src = lane - arg
						}
					case 2: // __shfl_down_sync
						if lane+arg < seg+width {
							src = lane + arg
						}
					case 3: // __shfl_xor_sync: later segments are out of reach
						if lane^arg < seg+width {
							src = lane ^ arg
						}
					}
					require.Equal(t, in[base+src], got[i], "mode %d width %d arg %d thread %d", mode, width, arg, i)
				}
			}
		}
	}
}

func TestShflLane(t *testing.T) {
	d, m := fixtures(t)
	f := fn(t, m, "fx_shfl_lane")
	r := rand.New(rand.NewSource(1))
	const nt = 96
	in := make([]uint32, nt)
	src := make([]int32, nt)
	for i := range in {
		in[i] = r.Uint32()
		src[i] = int32(r.Intn(80) - 8)
	}
	pout := zeros[uint32](t, d, nt)
	mustLaunch(t, d, f, d1(1), d1(nt), 0, cuda.Ptr(upload(t, d, in)), cuda.Ptr(upload(t, d, src)), cuda.Ptr(pout))
	got := download[uint32](t, d, pout, nt)
	for i := range got {
		require.Equal(t, in[i-i%32+int(src[i]&31)], got[i], "thread %d src %d", i, src[i])
	}
}

func TestVote(t *testing.T) {
	d, m := fixtures(t)
	f := fn(t, m, "fx_vote")
	const nt = 128
	in := make([]uint32, nt)
	// warp 0 all set, warp 1 none, warp 2 some, warp 3 one
	for i := 0; i < 32; i++ {
		in[i] = 1
	}
	for i := 64; i < 96; i += 3 {
		in[i] = 7
	}
	in[127] = 1
	pout := zeros[uint32](t, d, 3*nt)
	mustLaunch(t, d, f, d1(1), d1(nt), 0, cuda.Ptr(upload(t, d, in)), cuda.Ptr(pout))
	got := download[uint32](t, d, pout, 3*nt)
	for w := 0; w < 4; w++ {
		var ballot uint32
		for l := 0; l < 32; l++ {
			if in[32*w+l] != 0 {
				ballot |= 1 << l
			}
		}
		for l := 0; l < 32; l++ {
			i := 32*w + l
			all, any := uint32(0), uint32(0)
			if ballot == 0xffffffff {
				all = 1
			}
			if ballot != 0 {
				any = 1
			}
			require.Equal(t, [3]uint32{all, any, ballot}, [3]uint32{got[3*i], got[3*i+1], got[3*i+2]}, "thread %d: all, any, ballot", i)
		}
	}
}

func TestBarrierBlockSum(t *testing.T) {
	d, m := fixtures(t)
	f := fn(t, m, "fx_block_sum")
	r := rand.New(rand.NewSource(2))
	for _, bs := range []int{32, 64, 256, 1024} {
		const nb = 5
		x := make([]float32, nb*bs)
		for i := range x {
			x[i] = float32(r.NormFloat64()) * float32(math.Ldexp(1, r.Intn(20)-10))
		}
		pout := zeros[float32](t, d, nb)
		mustLaunch(t, d, f, d1(nb), d1(bs), 4*bs, cuda.Ptr(upload(t, d, x)), cuda.Ptr(pout))
		got := download[float32](t, d, pout, nb)
		for b := 0; b < nb; b++ {
			s := append([]float32(nil), x[b*bs:(b+1)*bs]...)
			for h := bs / 2; h > 0; h /= 2 {
				for i := 0; i < h; i++ {
					s[i] = s[i] + s[i+h]
				}
			}
			require.Equal(t, math.Float32bits(s[0]), math.Float32bits(got[b]), "block %d of %d threads: got %g want %g (bits)", b, bs, got[b], s[0])
		}
	}
}

func TestSpecialRegisters2D(t *testing.T) {
	d, m := fixtures(t)
	f := fn(t, m, "fx_block2d")
	grid, block := cuda.Dim3{X: 3, Y: 2}, cuda.Dim3{X: 8, Y: 4}
	w, h := 24, 8
	pout := zeros[uint32](t, d, w*h)
	mustLaunch(t, d, f, grid, block, 0, cuda.Ptr(pout))
	got := download[uint32](t, d, pout, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			want := uint32(y/4)<<16 | uint32(y%4)<<8 | uint32(x%8)
			require.Equal(t, want, got[y*w+x], "(%d,%d)", x, y)
		}
	}
}

func TestLocalMemory(t *testing.T) {
	d, m := fixtures(t)
	f := fn(t, m, "fx_local")
	const n = 64
	x := make([]float32, n)
	idx := make([]int32, n)
	for i := range x {
		x[i] = float32(i) + 0.5
		idx[i] = int32(i*7) % 16
	}
	py := zeros[float32](t, d, n)
	mustLaunch(t, d, f, d1(2), d1(32), 0, cuda.Ptr(upload(t, d, x)), cuda.Ptr(upload(t, d, idx)), cuda.Ptr(py))
	got := download[float32](t, d, py, n)
	for i := range got {
		require.Equal(t, x[i]*float32(idx[i]), got[i], "y[%d]", i)
	}
}

func TestGenericAddressing(t *testing.T) {
	d, m := fixtures(t)
	f := fn(t, m, "fx_generic")
	for _, useShared := range []int64{0, 1} {
		pg := zeros[float32](t, d, 64)
		mustLaunch(t, d, f, d1(1), d1(64), 0, cuda.Ptr(pg), cuda.I64(useShared))
		got := download[float32](t, d, pg, 64)
		if useShared == 0 {
			// Through global memory thread t reads g[t+1] while its owner may be writing
			// it (a race in the fixture): the launch only has to run, the values are
			// not checked (as before).
			continue
		}
		for i := range got {
			require.Equal(t, float32((i+1)&63)*2+1, got[i], "shared: g[%d]", i)
		}
	}
}

func TestVectorAccess(t *testing.T) {
	d, m := fixtures(t)
	f := fn(t, m, "fx_vec")
	x := make([]float32, 4*64)
	for i := range x {
		x[i] = float32(i)
	}
	py := zeros[float32](t, d, 4*64)
	mustLaunch(t, d, f, d1(1), d1(64), 0, cuda.Ptr(upload(t, d, x)), cuda.Ptr(py))
	got := download[float32](t, d, py, 4*64)
	for i := 0; i < 64; i++ {
		j := 63 - i
		want := []float32{x[4*j] + x[4*j+1], x[4*j+2] + x[4*j+3], x[4*i], x[4*i+3]}
		for k := 0; k < 4; k++ {
			require.Equal(t, want[k], got[4*i+k], "y[%d].%d", i, k)
		}
	}
}

func TestIntegerAtomics(t *testing.T) {
	d, m := fixtures(t)
	f := fn(t, m, "fx_atomic")
	acc := upload(t, d, []uint32{0, 0})
	mx := upload(t, d, []int32{-100})
	old := zeros[uint32](t, d, 4*96)
	mustLaunch(t, d, f, d1(4), d1(96), 0, cuda.Ptr(acc), cuda.Ptr(mx), cuda.Ptr(old))
	a := download[uint32](t, d, acc, 2)
	n := uint32(4 * 96)
	assert.Equal(t, n*(n-1)/2, a[0], "atomicAdd sum")
	assert.Equal(t, int32(6), download[int32](t, d, mx, 1)[0], "atomicMax")
	ones := 0
	for _, v := range download[uint32](t, d, old, int(n)) {
		ones += int(v)
	}
	assert.Equal(t, 1, ones, "threads that won the atomicCAS")
}

// ---- planted bugs -------------------------------------------------------------------

func TestCheckerOutOfBoundsGlobal(t *testing.T) {
	d, m := fixtures(t)
	x := upload(t, d, make([]float32, 40))
	y := zeros[float32](t, d, 40)
	err := d.Launch(fn(t, m, "fx_bug_oob"), d1(1), d1(32), 0, nil, cuda.Ptr(x), cuda.Ptr(y), cuda.I64(40))
	ke := wantKernelError(t, err, "out-of-bounds global read", "fx_bug_oob", "past the end")
	assert.Equal(t, [3]int{7, 0, 0}, ke.Thread, "faulting thread") // thread 7 reads x[39+1] in its second iteration
	assert.Equal(t, uint64(x)+160, ke.Addr, "fault address")
}

func TestCheckerMisaligned(t *testing.T) {
	d, m := fixtures(t)
	x := upload(t, d, make([]float32, 64))
	y := zeros[float32](t, d, 32)
	err := d.Launch(fn(t, m, "fx_bug_misaligned"), d1(1), d1(32), 0, nil, cuda.Ptr(x), cuda.Ptr(y))
	wantKernelError(t, err, "misaligned global read", "thread (0,0,0)")
}

func TestCheckerUninitialisedRead(t *testing.T) {
	d, m := fixtures(t)
	x, err := d.Alloc(4 * 32)
	require.NoError(t, err)
	// Write all but element 17.
	part := make([]float32, 17)
	require.NoError(t, d.MemcpyHtoD(x, bytesOf(part)))
	require.NoError(t, d.MemcpyHtoD(x.Offset(18*4), bytesOf(make([]float32, 14))))
	y := zeros[float32](t, d, 32)
	err = d.Launch(fn(t, m, "fx_copy"), d1(1), d1(32), 0, nil, cuda.Ptr(x), cuda.Ptr(y), cuda.I64(32))
	ke := wantKernelError(t, err, "uninitialised global memory", "thread (17,0,0)")
	assert.Equal(t, uint64(x)+17*4, ke.Addr, "fault address")
	// Copying never-written bytes back is an error too.
	z, _ := d.Alloc(16)
	assert.Error(t, d.MemcpyDtoH(make([]byte, 16), z), "MemcpyDtoH of never-written memory succeeded")
}

func TestCheckerUseAfterFree(t *testing.T) {
	d, m := fixtures(t)
	x := upload(t, d, make([]float32, 32))
	y := zeros[float32](t, d, 32)
	require.NoError(t, d.Free(x))
	err := d.Launch(fn(t, m, "fx_copy"), d1(1), d1(32), 0, nil, cuda.Ptr(x), cuda.Ptr(y), cuda.I64(32))
	wantKernelError(t, err, "use after free", "freed", "fx_copy")
	assert.Error(t, d.Free(x), "double free succeeded")
	_, err = d.Alloc(64) // a new allocation never reuses freed addresses
	require.NoError(t, err)
	err = d.Launch(fn(t, m, "fx_copy"), d1(1), d1(32), 0, nil, cuda.Ptr(x), cuda.Ptr(y), cuda.I64(32))
	wantKernelError(t, err, "freed")
}

func TestCheckerNullPointer(t *testing.T) {
	d, m := fixtures(t)
	y := zeros[float32](t, d, 32)
	err := d.Launch(fn(t, m, "fx_copy"), d1(1), d1(32), 0, nil, cuda.Ptr(0), cuda.Ptr(y), cuda.I64(32))
	wantKernelError(t, err, "null pointer")
}

func TestCheckerSharedOutOfBounds(t *testing.T) {
	d, m := fixtures(t)
	y := zeros[float32](t, d, 32)
	f := fn(t, m, "fx_bug_shared_oob")
	mustLaunch(t, d, f, d1(1), d1(32), 0, cuda.Ptr(y), cuda.I64(0)) // in bounds
	err := d.Launch(f, d1(1), d1(32), 0, nil, cuda.Ptr(y), cuda.I64(1))
	wantKernelError(t, err, "out-of-bounds shared read", "thread (31,0,0)", "past the end of")
}

func TestCheckerSharedUninitialised(t *testing.T) {
	d, m := fixtures(t)
	y := zeros[float32](t, d, 64)
	err := d.Launch(fn(t, m, "fx_bug_shared_uninit"), d1(1), d1(64), 0, nil, cuda.Ptr(y))
	wantKernelError(t, err, "uninitialised shared memory", "thread (16,0,0)")
}

func TestCheckerDivergentBarrier(t *testing.T) {
	d, m := fixtures(t)
	y := zeros[float32](t, d, 64)
	err := d.Launch(fn(t, m, "fx_bug_divergent_barrier"), d1(1), d1(64), 0, nil, cuda.Ptr(y))
	wantKernelError(t, err, "barrier")
}

func TestCheckerExitBeforeBarrier(t *testing.T) {
	d, m := fixtures(t)
	y := zeros[float32](t, d, 64)
	err := d.Launch(fn(t, m, "fx_bug_exit_barrier"), d1(1), d1(64), 0, nil, cuda.Ptr(y))
	wantKernelError(t, err, "divergent barrier", "exited")
}

func TestCheckerShuffleWithExitedLane(t *testing.T) {
	d, m := fixtures(t)
	y := zeros[float32](t, d, 32)
	err := d.Launch(fn(t, m, "fx_bug_shfl_exited"), d1(1), d1(32), 0, nil, cuda.Ptr(y))
	wantKernelError(t, err, "lane 3", "exited")
}

func TestCheckerPartialWarpShuffle(t *testing.T) {
	// A full-mask shuffle in a block of 20 threads names lanes that do not exist.
	d, m := fixtures(t)
	in := upload(t, d, make([]uint32, 20))
	out := zeros[uint32](t, d, 20)
	err := d.Launch(fn(t, m, "fx_shfl"), d1(1), d1(20), 0, nil, cuda.Ptr(in), cuda.Ptr(out), cuda.I64(3), cuda.I64(1), cuda.I64(32))
	wantKernelError(t, err, "does not exist")
}

func TestCheckerEndlessLoop(t *testing.T) {
	d, m := fixtures(t)
	y := zeros[uint32](t, d, 2)
	err := d.Launch(fn(t, m, "fx_bug_endless"), d1(1), d1(1), 0, nil, cuda.Ptr(y))
	wantKernelError(t, err, "more than")
}

func TestLaunchValidation(t *testing.T) {
	d, m := fixtures(t)
	f := fn(t, m, "fx_copy")
	y := zeros[float32](t, d, 32)
	for _, c := range []struct {
		name        string
		grid, block cuda.Dim3
		args        []cuda.Arg
	}{
		{"too few args", d1(1), d1(32), []cuda.Arg{cuda.Ptr(y)}},
		{"block too big", d1(1), d1(2048), []cuda.Arg{cuda.Ptr(y), cuda.Ptr(y), cuda.I64(1)}},
		{"zero grid", cuda.Dim3{X: 0}, d1(32), []cuda.Arg{cuda.Ptr(y), cuda.Ptr(y), cuda.I64(1)}},
	} {
		assert.Error(t, d.Launch(f, c.grid, c.block, 0, nil, c.args...), "%s: launch succeeded", c.name)
	}
}

func TestShflPartialMasks(t *testing.T) {
	d, m := fixtures(t)
	const nt = 64
	in := make([]uint32, nt)
	for i := range in {
		in[i] = uint32(i * 3)
	}
	pout := zeros[uint32](t, d, nt)
	mustLaunch(t, d, fn(t, m, "fx_shfl_partial"), d1(1), d1(nt), 0, cuda.Ptr(upload(t, d, in)), cuda.Ptr(pout))
	got := download[uint32](t, d, pout, nt)
	for i := range got {
		lane, base := i%32, i-i%32
		src := lane ^ 1
		if lane >= 16 {
			src = lane + 2
			if src > 31 {
				src = lane
			}
		}
		require.Equal(t, in[base+src], got[i], "thread %d", i)
	}
}

func TestNamedBarrierWithCount(t *testing.T) {
	d, m := fixtures(t)
	py := zeros[float32](t, d, 64)
	mustLaunch(t, d, fn(t, m, "fx_named_barrier"), d1(2), d1(128), 0, cuda.Ptr(py))
	got := download[float32](t, d, py, 64)
	for i := range got {
		require.Equal(t, float32(63-i), got[i], "y[%d]", i)
	}
}

// TestWorkersDeterministic checks that results and the reported fault do not depend
// on how many blocks run in parallel.
func TestWorkersDeterministic(t *testing.T) {
	var results [][]float32
	var errs []string
	for _, w := range []int{1, 2, 5} {
		d, m := fixtures(t)
		d.opts.Workers = w
		const nb, bs = 37, 64
		x := make([]float32, nb*bs)
		for i := range x {
			x[i] = float32(i%97) * 0.37
		}
		pout := zeros[float32](t, d, nb)
		mustLaunch(t, d, fn(t, m, "fx_block_sum"), d1(nb), d1(bs), 4*bs, cuda.Ptr(upload(t, d, x)), cuda.Ptr(pout))
		results = append(results, download[float32](t, d, pout, nb))
		// fx_bug_oob faults in every block; the lowest block is reported.
		px := upload(t, d, make([]float32, 40))
		py := zeros[float32](t, d, 40)
		err := d.Launch(fn(t, m, "fx_bug_oob"), d1(9), d1(32), 0, nil, cuda.Ptr(px), cuda.Ptr(py), cuda.I64(40))
		require.Error(t, err, "no fault")
		errs = append(errs, err.Error())
	}
	for i := 1; i < len(results); i++ {
		for j := range results[0] {
			require.Equal(t, math.Float32bits(results[0][j]), math.Float32bits(results[i][j]), "workers differ at %d (bits)", j)
		}
		require.Equal(t, errs[0], errs[i], "faults differ")
	}
}

// TestCheckerDeadlock: half of a warp waits at bar.sync, the other half at a
// full-mask shuffle that needs the first half: no thread can proceed, and the launch
// must end with an error naming both waits (never hang).
func TestCheckerDeadlock(t *testing.T) {
	const src = `
.version 7.8
.target sm_70
.address_size 64
.visible .entry dl(.param .u64 p)
{
	.reg .pred %p<3>;
	.reg .b32 %r<8>;
	mov.u32 %r1, %tid.x;
	setp.lt.u32 %p1, %r1, 16;
	@%p1 bra HALF;
	shfl.sync.bfly.b32 %r2|%p2, %r1, 1, 31, -1;
	ret;
HALF:
	bar.sync 0;
	ret;
}
`
	d := New(Options{})
	m, err := d.LoadModule("dl", src)
	require.NoError(t, err)
	f, _ := m.Function("dl")
	err = d.Launch(f, d1(1), d1(32), 0, nil, cuda.Ptr(0))
	require.Error(t, err, "deadlocked launch succeeded")
	for _, frag := range []string{"deadlock", "bar.sync", "shfl.sync", "PTX line 12", "PTX line 15"} {
		assert.ErrorContains(t, err, frag)
	}
	t.Log(err)
}
