package dist

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/kernels/philox"
)

// rankData returns rank r's test vector of n float32s: normals scaled by powers of two
// from 2^-20 to 2^20 (so that the order of a sum shows in its bits), with -0, +0, NaN,
// +Inf and -Inf at a few fixed places on some ranks.
func rankData(n, r int) []float32 {
	x := make([]float32, n)
	if n == 0 {
		return x
	}
	philox.Normals(x[:n], 11, uint64(r))
	u := make([]float32, n)
	philox.Uniforms(u[:n], 12, uint64(r))
	for i := range x {
		e := int(u[i]*41) - 20
		x[i] = float32(math.Ldexp(float64(x[i]), e))
	}
	set := func(i int, v float32) {
		if i < n {
			x[i] = v
		}
	}
	set(0, float32(math.Copysign(0, -1))) // -0 on every rank: the sum keeps -0
	if r == 1 {
		set(1, float32(math.NaN()))
	}
	if r == 2 {
		set(2, float32(math.Inf(1)))
		set(3, float32(math.Inf(-1)))
	}
	if r == 0 {
		set(3, float32(math.Inf(1))) // +Inf + -Inf on rank 2: NaN
	}
	return x
}

// seqSum is the reference: x_0 + x_1 + ... + x_{p-1}, left to right, in float32.
func seqSum(n, p int) []float32 {
	s := rankData(n, 0)
	for k := 1; k < p; k++ {
		x := rankData(n, k)
		for i := range s {
			s[i] += x[i]
		}
	}
	return s
}

func sameBits32(a, b []float32) error {
	if len(a) != len(b) {
		return fmt.Errorf("lengths %d and %d", len(a), len(b))
	}
	for i := range a {
		if math.IsNaN(float64(a[i])) && math.IsNaN(float64(b[i])) {
			continue
		}
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return fmt.Errorf("element %d of %d: %g (%08x), want %g (%08x)", i, len(a), a[i], math.Float32bits(a[i]), b[i], math.Float32bits(b[i]))
		}
	}
	return nil
}

// collectiveSuite runs every collective of c against the sequential references; every
// rank runs it. It returns the first mismatch.
func collectiveSuite(c Comm) error {
	p, r := c.Size(), c.Rank()
	cc := c.(*comm)
	defer func(a int) { cc.align = a }(cc.align)
	// AllReduceSum of float32: sizes below, at and above the world size, odd sizes,
	// a gradient-like size; every chunking gives the sequential rank-order sum.
	for _, n := range []int{0, 1, 2, 3, 5, 31, 33, 1000, 65537} {
		want := seqSum(n, p)
		for _, align := range []int{1, 3, 16, 1024, n + 7} {
			cc.align = align
			x := rankData(n, r)
			if err := c.AllReduceSum(x); err != nil {
				return err
			}
			if err := sameBits32(x, want); err != nil {
				return fmt.Errorf("allreduce float32 n=%d align=%d: %w", n, align, err)
			}
		}
	}
	cc.align = 16
	// float64 and int64.
	{
		const n = 777
		x := make([]float64, n)
		want := make([]float64, n)
		for k := 0; k < p; k++ {
			v := rankData(n, k)
			for i := range v {
				f := float64(v[i]) * (1 + 1e-9*float64(i))
				if k == r {
					x[i] = f
				}
				if k == 0 {
					want[i] = f
				} else {
					want[i] += f
				}
			}
		}
		if err := c.AllReduceSum(x); err != nil {
			return err
		}
		for i := range x {
			if !(math.IsNaN(x[i]) && math.IsNaN(want[i])) && math.Float64bits(x[i]) != math.Float64bits(want[i]) {
				return fmt.Errorf("allreduce float64 element %d: %g, want %g", i, x[i], want[i])
			}
		}
		xi := make([]int64, n)
		wi := make([]int64, n)
		for i := range xi {
			xi[i] = int64(r+1)*int64(i) - 1<<40
			for k := 0; k < p; k++ {
				wi[i] += int64(k+1)*int64(i) - 1<<40
			}
		}
		if err := c.AllReduceSum(xi); err != nil {
			return err
		}
		for i := range xi {
			if xi[i] != wi[i] {
				return fmt.Errorf("allreduce int64 element %d: %d, want %d", i, xi[i], wi[i])
			}
		}
	}
	// Bcast from every root, each type.
	for root := 0; root < p; root++ {
		f := rankData(100, r)
		if err := c.Bcast(f, root); err != nil {
			return err
		}
		if err := sameBits32(f, rankData(100, root)); err != nil {
			return fmt.Errorf("bcast float32 from %d: %w", root, err)
		}
		d := []float64{float64(r), math.Pi * float64(r)}
		if err := c.Bcast(d, root); err != nil {
			return err
		}
		if d[0] != float64(root) || d[1] != math.Pi*float64(root) {
			return fmt.Errorf("bcast float64 from %d: got %v", root, d)
		}
		i := []int64{int64(r), -int64(r) << 50}
		if err := c.Bcast(i, root); err != nil {
			return err
		}
		if i[0] != int64(root) || i[1] != -int64(root)<<50 {
			return fmt.Errorf("bcast int64 from %d: got %v", root, i)
		}
	}
	// AllGather.
	{
		send := rankData(37, r)
		recv := make([]float32, 37*p)
		if err := c.AllGather(send, recv); err != nil {
			return err
		}
		for k := 0; k < p; k++ {
			if err := sameBits32(recv[37*k:37*(k+1)], rankData(37, k)); err != nil {
				return fmt.Errorf("allgather float32 block %d: %w", k, err)
			}
		}
		ri := make([]int64, 2*p)
		if err := c.AllGather([]int64{int64(r), int64(r) << 40}, ri); err != nil {
			return err
		}
		rd := make([]float64, p)
		if err := c.AllGather([]float64{float64(r) / 3}, rd); err != nil {
			return err
		}
		for k := 0; k < p; k++ {
			if ri[2*k] != int64(k) || ri[2*k+1] != int64(k)<<40 || rd[k] != float64(k)/3 {
				return fmt.Errorf("allgather int64/float64 block %d: %v %v", k, ri, rd)
			}
		}
	}
	// Errors are errors, not crashes.
	if err := c.AllReduceSum([]int32{1}); err == nil {
		return errors.New("allreduce of []int32: no error")
	}
	if err := c.AllGather([]float32{1}, make([]float32, p+1)); err == nil {
		return errors.New("allgather into a wrong-sized buffer: no error")
	}
	if err := c.Bcast([]float32{1}, p); err == nil {
		return errors.New("bcast from a rank beyond the world: no error")
	}
	return c.Barrier()
}

// runWorld runs f on every rank of an in-process world of p ranks and returns the
// ranks' errors joined.
func runWorld(p int, f func(c Comm) error) error {
	cs := NewLocalWorld(p)
	errs := make([]error, p)
	var wg sync.WaitGroup
	for r := range cs {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			if err := f(cs[r]); err != nil {
				errs[r] = fmt.Errorf("rank %d: %w", r, err)
			}
		}(r)
	}
	wg.Wait()
	return errors.Join(errs...)
}

// TestCollectivesLocalWorld runs the collective suite on in-process worlds of 1 to 5
// ranks: the fixed-order sum equals the sequential rank-order sum bit for bit for every
// chunking (NaN, ±Inf, -0 included), broadcasts and gathers move the exact bytes.
func TestCollectivesLocalWorld(t *testing.T) {
	for p := 1; p <= 5; p++ {
		require.NoError(t, runWorld(p, collectiveSuite), "world of %d", p)
	}
}

// TestSingle runs the suite on the one-process communicator and checks its identity.
func TestSingle(t *testing.T) {
	c := Single()
	require.Equal(t, [4]int{0, 1, 0, 1}, [4]int{c.Rank(), c.Size(), c.LocalRank(), c.LocalSize()},
		"single %v: rank, size, local rank, local size", c)
	require.NoError(t, collectiveSuite(c))
	require.NoError(t, c.Close())
	require.ErrorIs(t, c.Barrier(), ErrClosed, "barrier after close")
}

// TestRankOrderMatters shows the test data has teeth: for 3 or more ranks, summing in
// another order changes bits that the fixed order keeps.
func TestRankOrderMatters(t *testing.T) {
	const n, p = 4096, 4
	want := seqSum(n, p)
	rev := rankData(n, p-1)
	for k := p - 2; k >= 0; k-- {
		x := rankData(n, k)
		for i := range rev {
			rev[i] += x[i]
		}
	}
	require.Error(t, sameBits32(rev, want), "the reverse-order sum has the same bits: the data cannot tell orders apart")
}

func TestChunkBounds(t *testing.T) {
	for _, tc := range []struct{ n, p, align int }{{0, 3, 16}, {1, 4, 1}, {10, 3, 1}, {1000, 7, 16}, {5, 8, 16}, {65537, 4, 1024}} {
		b := ChunkBounds(tc.n, tc.p, tc.align)
		require.Len(t, b, tc.p+1, "%+v: %v", tc, b)
		require.Equal(t, 0, b[0], "%+v: %v: first bound", tc, b)
		require.Equal(t, tc.n, b[tc.p], "%+v: %v: last bound", tc, b)
		for r := 0; r < tc.p; r++ {
			require.LessOrEqual(t, b[r], b[r+1], "%+v: %v: bounds %d and %d", tc, b, r, r+1)
			if r+1 < tc.p && b[r+1] != tc.n {
				require.Zero(t, b[r+1]%tc.align, "%+v: %v: bound %d not aligned", tc, b, r+1)
			}
		}
	}
}

func TestShardRange(t *testing.T) {
	for _, n := range []int{0, 1, 7, 16, 100} {
		for p := 1; p <= 5; p++ {
			next := 0
			for r := 0; r < p; r++ {
				lo, hi := ShardRange(n, r, p)
				require.Equal(t, next, lo, "n=%d p=%d rank %d: [%d,%d) starts where the last shard ended", n, p, r, lo, hi)
				require.LessOrEqual(t, lo, hi, "n=%d p=%d rank %d: [%d,%d)", n, p, r, lo, hi)
				require.GreaterOrEqual(t, hi-lo, n/p, "n=%d p=%d rank %d: [%d,%d) rows", n, p, r, lo, hi)
				require.LessOrEqual(t, hi-lo, n/p+1, "n=%d p=%d rank %d: [%d,%d) rows", n, p, r, lo, hi)
				next = hi
			}
			require.Equal(t, n, next, "n=%d p=%d: where the shards end", n, p)
		}
	}
}

func TestRankStep(t *testing.T) {
	seen := map[uint64]bool{}
	for step := uint64(0); step < 10; step++ {
		require.Equal(t, step, RankStep(step, 0, 1), "RankStep(%d, 0, 1)", step)
		for r := 0; r < 4; r++ {
			s := RankStep(step, r, 4)
			require.False(t, seen[s], "RankStep(%d, %d, 4) = %d twice", step, r, s)
			seen[s] = true
		}
	}
}

// BenchmarkAllReduceLocalWorld times the fixed-order sum of model A's gradient size
// (3,315,984 floats) on in-process worlds: the data movement is memcpy between
// goroutines, so this is the floor of the sum's cost on one machine.
func BenchmarkAllReduceLocalWorld(b *testing.B) {
	const n = 3315984
	for _, p := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("ranks=%d", p), func(b *testing.B) {
			cs := NewLocalWorld(p)
			bufs := make([][]float32, p)
			for r := range bufs {
				bufs[r] = rankData(n, r)
			}
			b.SetBytes(n * 4)
			b.ResetTimer()
			var wg sync.WaitGroup
			for r := range cs {
				wg.Add(1)
				go func(r int) {
					defer wg.Done()
					for i := 0; i < b.N; i++ {
						if err := cs[r].AllReduceSum(bufs[r]); err != nil {
							panic(err)
						}
					}
				}(r)
			}
			wg.Wait()
		})
	}
}

// TestSumMean: ranks with 3, 5, 0 and 8 rows of a 16-row global batch; the result is
// the rank-order sum of g_r * (rows_r/16), and one rank is left untouched.
func TestSumMean(t *testing.T) {
	rows := []int{3, 5, 0, 8}
	const n = 1000
	want := make([]float32, n)
	for r, k := range rows {
		g := rankData(n, r+5)
		for i := range g {
			v := float32(g[i] * (float32(k) / 16))
			if r == 0 {
				want[i] = v
			} else {
				want[i] += v
			}
		}
	}
	err := runWorld(len(rows), func(c Comm) error {
		b := engine.NewCPU()
		g, _ := b.New(n, "g")
		if err := b.Upload(g, rankData(n, c.Rank()+5)); err != nil {
			return err
		}
		gs, err := NewGradSync(c, b, n, GradSyncOptions{})
		if err != nil {
			return err
		}
		defer gs.Close()
		if err := SumMean(gs, b, g, rows[c.Rank()], 16); err != nil {
			return err
		}
		got := make([]float32, n)
		if err := b.Download(got, g); err != nil {
			return err
		}
		return sameBits32(got, want)
	})
	require.NoError(t, err)
	// One rank: untouched.
	b := engine.NewCPU()
	g, _ := b.New(n, "g")
	x := rankData(n, 9)
	_ = b.Upload(g, x)
	gs, _ := NewGradSync(Single(), b, n, GradSyncOptions{})
	require.NoError(t, SumMean(gs, b, g, 7, 7))
	got := make([]float32, n)
	_ = b.Download(got, g)
	require.NoError(t, sameBits32(got, x))
}
