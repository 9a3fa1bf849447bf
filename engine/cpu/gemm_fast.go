package cpu

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gmvae/gmvae/kernels"
)

// The fast path of the gemm twins: the AVX2+FMA (and AVX-512) microkernels of
// gemm_amd64.s driven over packed panels, cache blocks and worker goroutines. It computes the same bits as
// the scalar path (TestGemmAsmMatchesScalar): the microkernel's lanes are float32 fmas
// with one rounding applied with k ascending, partial chains are stored and reloaded
// exactly, and nothing ever splits or reorders an element's chain.

// Blocking of the fast path. Any values give the same bits; these suit a 48 KiB L1 and
// a 2 MiB L2 per core.
const (
	gemmMR = 6   // rows of the microkernel's tile
	gemmNR = 16  // columns of the microkernel's tile (two AVX registers)
	gemmKC = 256 // longest k-block: a packed kc x 16 panel of Y (16 KiB) stays in L1
	gemmMC = 120 // most rows of P per task (multiple of gemmMR)
	gemmNC = 512 // most columns of P per task (multiple of gemmNR)
	// A transposed element costs about this many flops' time when packing (used to
	// choose which operand of gemm_nt to transpose).
	gemmPackFlops = 16
	// Products whose X has at most this many rows read a row-major Y in place instead
	// of packing it: each element of Y is used by only ceil(R/6) tiles, too few to
	// repay a copy (the last, partial panel is still packed, zero-padded).
	gemmDirectRows = 128
)

// Flags of gemmKernel6x16 and gemmKernel6x32 (internal/gemmgen).
const (
	gemmFlagLoad   = 1 // start the chains from the src tile, not +0
	gemmFlagBias   = 2 // then acc = acc + bias[j]
	gemmFlagOldDst = 4 // then acc = dst_old + acc
)

// gemmSpec is one product on the fast path: P(R,S) = X(R,K)·Y(K,S) followed by the
// epilogue, with C = P, or C = Pᵀ (transOut). X is read in place, one broadcast
// element at a time; Y is packed into panels of 16 columns.
type gemmSpec struct {
	R, S, K  int
	x        []float32 // X[r,k] = x[r*xrs + k*xcs]
	xrs, xcs int
	y        []float32 // Y[k,s] = y[k*ldy + s], or y[s*ldy + k] when yCols
	ldy      int
	yCols    bool
	transOut bool // P is Cᵀ: P[r,s] is C[s,r]
	direct   bool // read Y's full panels in place (row-major Y only), not packed
	c, bias  []float32
	ldc      int // C's row length (its n)
	act      kernels.Act
	acc      bool
	wide     bool // use the AVX-512 kernel on pairs of panels
}

// gemmPlan is a gemmSpec with the state of its run.
type gemmPlan struct {
	gemmSpec
	panels, rowPans int            // 16-column panels of Y, 6-row panels of X
	nrb, ncb        int            // tasks: nrb row blocks x ncb column blocks
	ypack           []float32      // panel q holds Y[k, 16q+j] at ypack[16Kq + 16k + j]
	xrem            []float32      // the last, partial row panel: X[r0+i, k] at xrem[6k + i]
	next            atomic.Int64   // the next task
	packed          []atomic.Int32 // per panel of Y: gemmUnpacked, gemmPacking, gemmPacked
	active          atomic.Int64   // participants still working; 0 once finished
	done            chan struct{}  // the last helper to leave sends here
}

var gemmPlans = sync.Pool{New: func() any { return new(gemmPlan) }}

// gemmFast maps the product onto a plan and runs it on up to workers goroutines.
func gemmFast(ta, tb bool, a, b, bias, c []float32, m, n, k int, act kernels.Act, accumulate bool, cfg gemmConfig) {
	s := gemmSpec{K: k, c: c, bias: bias, ldc: n, act: act, acc: accumulate, wide: cfg.wide && gemmHaveAsm512}
	switch {
	case !ta && !tb: // X = A (m,k), Y = B (k,n) by rows
		s.R, s.S, s.x, s.xrs, s.xcs, s.y, s.ldy = m, n, a, k, 1, b, n
	case ta && !tb: // X = Aᵀ with A (k,m); Y = B (k,n) by rows
		s.R, s.S, s.x, s.xrs, s.xcs, s.y, s.ldy = m, n, a, 1, m, b, n
	default: // NT: one operand must be transposed into panels; take the cheaper.
		cost := func(r, s int) int {
			return 2*k*((r+gemmMR-1)/gemmMR*gemmMR)*((s+gemmNR-1)/gemmNR*gemmNR) + gemmPackFlops*k*s
		}
		if cost(n, m) < cost(m, n) {
			// Cᵀ = B·Aᵀ: X = B (n,k), Y[k,s] = A[s,k].
			s.R, s.S, s.x, s.xrs, s.xcs, s.y, s.ldy, s.yCols, s.transOut = n, m, b, k, 1, a, k, true, true
		} else {
			// X = A (m,k), Y[k,s] = B[s,k].
			s.R, s.S, s.x, s.xrs, s.xcs, s.y, s.ldy, s.yCols = m, n, a, k, 1, b, k, true
		}
	}
	s.direct = !s.yCols && s.R <= cfg.directRows
	s.run(cfg.workers)
}

// run runs the product on up to workers goroutines.
func (s *gemmSpec) run(workers int) {
	p := gemmPlans.Get().(*gemmPlan)
	p.gemmSpec = *s
	p.run(workers)
	p.gemmSpec = gemmSpec{} // drop references to the caller's slices
	p.ypack, p.xrem = nil, nil
	gemmPlans.Put(p)
}

// run runs the product: the caller and up to workers-1 helpers of the pool take
// tasks from a shared counter until none is left. A task packs its column block of Y
// first if no one has (the first tasks cover distinct column blocks, so packing runs
// in parallel too). Helpers that wake up late simply find fewer tasks; the caller
// never waits for one that has not joined.
func (p *gemmPlan) run(workers int) {
	R, S, K := p.R, p.S, p.K
	p.panels = (S + gemmNR - 1) / gemmNR
	p.rowPans = (R + gemmMR - 1) / gemmMR

	p.ypack = gemmGetBuf(p.panels * gemmNR * K)
	defer gemmPutBuf(p.ypack)
	p.xrem = nil
	if R%gemmMR != 0 {
		// The last row panel reads a zero-padded copy of its rows, so the microkernel
		// never reads past X.
		p.xrem = gemmGetBuf(gemmMR * K)
		defer gemmPutBuf(p.xrem)
		clear(p.xrem)
		r0 := R / gemmMR * gemmMR
		for r := r0; r < R; r++ {
			for kk := 0; kk < K; kk++ {
				p.xrem[kk*gemmMR+r-r0] = p.x[r*p.xrs+kk*p.xcs]
			}
		}
	}

	// Tasks: a grid of row blocks x column blocks, at most gemmMC x gemmNC, split
	// further until there are a few tasks per worker (taken dynamically, so uneven
	// tasks still balance).
	nrb := (R + gemmMC - 1) / gemmMC
	ncb := (S + gemmNC - 1) / gemmNC
split:
	for workers > 1 && nrb*ncb < 4*workers {
		rowsPer, colsPer := R/nrb, S/ncb
		switch {
		case colsPer >= 2*64 && colsPer >= rowsPer:
			ncb++
		case rowsPer >= 2*24:
			nrb++
		case colsPer >= 2*32:
			ncb++
		default:
			break split
		}
	}
	p.nrb, p.ncb = min(nrb, p.rowPans), min(ncb, p.panels)
	if cap(p.packed) < p.panels {
		p.packed = make([]atomic.Int32, p.panels)
	}
	p.packed = p.packed[:p.panels]
	for i := range p.packed {
		st := int32(gemmUnpacked)
		if p.direct && i < S/gemmNR {
			st = gemmPacked // read in place
		}
		p.packed[i].Store(st)
	}
	p.next.Store(0)
	if p.done == nil {
		p.done = make(chan struct{}, 1)
	}

	p.active.Store(1) // the caller; from here on helpers may join
	if helpers := min(workers, p.nrb*p.ncb) - 1; helpers > 0 {
		gemmStartHelpers(helpers)
	send:
		for i := 0; i < helpers; i++ {
			select {
			case gemmQueue <- p:
			default:
				break send // every helper is busy elsewhere: go on without
			}
		}
	}
	p.work()
	if p.active.Add(-1) != 0 {
		<-p.done // the last helper to leave signals
	}
}

// join is a helper's entry: it takes part in p's product unless that has finished
// (active = 0: then p may already be reused, and join returns at once).
func (p *gemmPlan) join() {
	for {
		a := p.active.Load()
		if a == 0 {
			return
		}
		if p.active.CompareAndSwap(a, a+1) {
			break
		}
	}
	p.work()
	if p.active.Add(-1) == 0 {
		p.done <- struct{}{}
	}
}

// work runs tasks from the shared counter until none is left.
func (p *gemmPlan) work() {
	maxRows := (p.rowPans + p.nrb - 1) / p.nrb * gemmMR
	maxCols := (p.panels + p.ncb - 1) / p.ncb * gemmNR
	var scratch []float32
	tasks := p.nrb * p.ncb
	for {
		t := int(p.next.Add(1)) - 1
		if t >= tasks {
			break
		}
		if scratch == nil {
			scratch = gemmGetBuf(maxRows * maxCols)
		}
		rb, cb := t/p.ncb, t%p.ncb
		c0, c1 := cb*p.panels/p.ncb, (cb+1)*p.panels/p.ncb
		p.ensurePacked(cb, c0, c1)
		p.task(rb*p.rowPans/p.nrb, (rb+1)*p.rowPans/p.nrb, c0, c1, scratch)
	}
	if scratch != nil {
		gemmPutBuf(scratch)
	}
}

// ensurePacked polls a panel's state gemmSpinLoads times, then sleeps gemmWaitSleep
// between polls.
const (
	gemmSpinLoads = 1 << 14
	gemmWaitSleep = 20 * time.Microsecond
)

// States of a panel's packing.
const (
	gemmUnpacked = iota
	gemmPacking
	gemmPacked
)

// ensurePacked returns once column block cb (panels [c0, c1)) of Y is packed. Panels
// are claimed one at a time: it packs every panel of the block that no one has
// started, then waits for those that others are packing (at most one each), so two
// workers that need the same block share its packing instead of one waiting for the
// other.
func (p *gemmPlan) ensurePacked(cb, c0, c1 int) {
	for q := c0; q < c1; q++ {
		st := &p.packed[q]
		if st.Load() == gemmUnpacked && st.CompareAndSwap(gemmUnpacked, gemmPacking) {
			p.pack(q, q+1)
			st.Store(gemmPacked)
		}
	}
	for q := c0; q < c1; q++ {
		// A panel takes microseconds: spin on its flag first. If that is not enough,
		// its packer is not running (the OS descheduled its thread on a busy
		// machine): sleep, so that this thread gives the core back instead of
		// competing with it (runtime.Gosched kept the thread spinning through the
		// scheduler and cost a third of the CPU time on a loaded 2-core machine).
		st := &p.packed[q]
		for i := 0; st.Load() != gemmPacked; i++ {
			if i >= gemmSpinLoads {
				time.Sleep(gemmWaitSleep)
			}
		}
	}
}

// The helper pool: long-lived goroutines that wait on gemmQueue, so that a product
// starts no goroutine and allocates nothing in steady state. It grows to the largest
// number of helpers any product has asked for.
var (
	gemmQueue   = make(chan *gemmPlan)
	gemmPoolMu  sync.Mutex
	gemmHelpers int
)

func gemmStartHelpers(n int) {
	gemmPoolMu.Lock()
	defer gemmPoolMu.Unlock()
	for ; gemmHelpers < n; gemmHelpers++ {
		go func() {
			for p := range gemmQueue {
				p.join()
			}
		}()
	}
}

// pack packs Y's panels [lo, hi).
func (p *gemmPlan) pack(lo, hi int) {
	S, K := p.S, p.K
	if lo >= hi {
		return
	}
	if !p.yCols {
		// A few whole rows at a time: every source row is read once, in order, and
		// every panel gets contiguous 8*64 bytes.
		if full := min(hi, S/gemmNR) - lo; full > 0 {
			for k0 := 0; k0 < K; k0 += 8 {
				gemmPackRows16(min(8, K-k0), &p.y[k0*p.ldy+lo*gemmNR], p.ldy*4,
					&p.ypack[lo*gemmNR*K+k0*gemmNR], full, gemmNR*K*4)
			}
		}
		if hi*gemmNR > S {
			p.packPanel(hi - 1)
		}
		return
	}
	for q := lo; q < hi; q++ {
		p.packPanel(q)
	}
}

// packPanel packs panel q alone: ypack[16Kq + 16k + j] = Y[k, 16q+j], zeros past S.
func (p *gemmPlan) packPanel(q int) {
	K := p.K
	s0 := q * gemmNR
	dst := p.ypack[s0*K : (s0+gemmNR)*K]
	w := min(gemmNR, p.S-s0)
	if w < gemmNR {
		clear(dst)
	}
	if !p.yCols {
		if w == gemmNR {
			gemmPackRows16(K, &p.y[s0], p.ldy*4, &dst[0], 1, 0)
			return
		}
		for kk := 0; kk < K; kk++ {
			copy(dst[kk*gemmNR:kk*gemmNR+w], p.y[kk*p.ldy+s0:kk*p.ldy+s0+w])
		}
		return
	}
	k8 := 0
	if w == gemmNR {
		k8 = K &^ 7
		if k8 > 0 {
			gemmPackCols16(k8, &p.y[s0*p.ldy], p.ldy*4, &dst[0])
		}
	}
	for j := 0; j < w; j++ {
		row := p.y[(s0+j)*p.ldy : (s0+j)*p.ldy+K]
		for kk := k8; kk < K; kk++ {
			dst[kk*gemmNR+j] = row[kk]
		}
	}
}

// task computes the rows of row panels [q0, q1) and the columns of column panels
// [c0, c1) of P. Every k-block advances every chain of the block: the first from +0,
// later ones from the partial chains stored in scratch. A tile that lies wholly inside
// C (not transposed) is finished by the microkernel on the last k-block (bias, then
// C_old, as the contract orders them) and written to C; the activation then runs over
// those elements in place. Tiles on C's edges, and all tiles of a transposed P, end in
// scratch and are finished in Go.
func (p *gemmPlan) task(q0, q1, c0, c1 int, scratch []float32) {
	R, S, K := p.R, p.S, p.K
	yFull := S / gemmNR // panels of Y with no padding (read in place when direct)
	lds := (c1 - c0) * gemmNR
	nkb := (K + gemmKC - 1) / gemmKC
	kc := (K + nkb - 1) / nkb
	fullR, fullS := R/gemmMR, S/gemmNR // row and column panels with no padding
	if p.transOut {
		fullR, fullS = 0, 0 // nothing goes to C directly
	}
	var fin int // flags of a direct tile's last k-block
	if p.bias != nil {
		fin |= gemmFlagBias
	}
	if p.acc {
		fin |= gemmFlagOldDst
	}
	for k0 := 0; k0 < K; k0 += kc {
		kb := min(kc, K-k0)
		flags := 0
		if k0 > 0 {
			flags = gemmFlagLoad
		}
		last := k0+kb == K
		for cq := c0; cq < c1; {
			// Two panels at a time with the AVX-512 kernel when both go the same way
			// (both to C, or both to scratch).
			pair := p.wide && cq+1 < c1 && (cq+1 < fullS) == (cq < fullS) &&
				(!p.direct || (cq+1 < yFull) == (cq < yFull))
			// The panel's rows: packed (16 floats apart, its second panel 16K floats
			// on) or, direct, Y's own rows (ldy apart, the next 16 columns beside).
			bp, ldb, pstride := &p.ypack[cq*gemmNR*K+k0*gemmNR], gemmNR*4, gemmNR*K*4
			if p.direct && cq < yFull {
				bp, ldb, pstride = &p.y[k0*p.ldy+cq*gemmNR], p.ldy*4, gemmNR*4
			}
			var bias *float32
			if p.bias != nil && cq < fullS {
				bias = &p.bias[cq*gemmNR]
			}
			for q := q0; q < q1; q++ {
				r := q * gemmMR
				var xp *float32
				rs, cs := 4, gemmMR*4
				if r+gemmMR <= R {
					xp, rs, cs = &p.x[r*p.xrs+k0*p.xcs], p.xrs*4, p.xcs*4
				} else {
					xp = &p.xrem[k0*gemmMR]
				}
				sp := &scratch[(q-q0)*gemmMR*lds+(cq-c0)*gemmNR]
				dp, ldd, bp2, fl := sp, lds*4, (*float32)(nil), flags
				if last && q < fullR && cq < fullS {
					dp, ldd, bp2, fl = &p.c[r*p.ldc+cq*gemmNR], p.ldc*4, bias, flags|fin
				}
				if pair {
					gemmKernel6x32(kb, xp, rs, cs, bp, ldb, pstride, sp, lds*4, dp, ldd, bp2, fl)
				} else {
					gemmKernel6x16(kb, xp, rs, cs, bp, ldb, sp, lds*4, dp, ldd, bp2, fl)
				}
			}
			if pair {
				cq += 2
			} else {
				cq++
			}
		}
	}
	s0, s1 := c0*gemmNR, min(c1*gemmNR, S)
	sd := min(max(fullS*gemmNR, s0), s1) // columns [s0, sd) of full rows went to C
	if p.transOut {
		// C = Pᵀ: finish C's rows s0..s1-1 one contiguous stretch [r0, r1) at a time
		// (the same epilogue per element as gemmEpilogue: bias[r], then C_old, then
		// the activation), reading the scratch tile down its columns.
		r0, r1 := q0*gemmMR, min(q1*gemmMR, R)
		for s := s0; s < s1; s++ {
			crow := p.c[s*p.ldc+r0 : s*p.ldc+r1]
			for i := range crow {
				v := scratch[i*lds+s-s0]
				if p.bias != nil {
					v = v + p.bias[r0+i]
				}
				if p.acc {
					v = crow[i] + v
				}
				crow[i] = v
			}
			if p.act != kernels.ActNone {
				activateSlice(p.act, crow, crow) // fmath.Activate per element
			}
		}
		return
	}
	for r := q0 * gemmMR; r < min(q1*gemmMR, R); r++ {
		row := scratch[(r-q0*gemmMR)*lds:]
		switch {
		case r >= fullR*gemmMR:
			gemmEpilogue(row, p.c, r*p.ldc+s0, 1, p.bias, s0, 1, s1-s0, p.act, p.acc)
		default:
			if sd < s1 {
				gemmEpilogue(row[sd-s0:], p.c, r*p.ldc+sd, 1, p.bias, sd, 1, s1-sd, p.act, p.acc)
			}
			if p.act != kernels.ActNone {
				crow := p.c[r*p.ldc+s0 : r*p.ldc+sd]
				activateSlice(p.act, crow, crow) // fmath.Activate per element
			}
		}
	}
}

// gemmBufs keeps the fast path's buffers (packed panels, scratch tiles) for reuse, so
// that repeated products of the same shapes allocate nothing. Unlike a sync.Pool it is
// not emptied by the garbage collector: it holds at most gemmMaxBufs buffers, as large
// as the largest recent products needed.
var gemmBufs struct {
	sync.Mutex
	free [][]float32
}

const gemmMaxBufs = 16

// gemmGetBuf returns a buffer of length n (contents undefined): the smallest free one that
// is large enough, else a new one.
func gemmGetBuf(n int) []float32 {
	if gemmPoisonBufs {
		b := make([]float32, n)
		for i := range b {
			b[i] = float32(math.NaN())
		}
		return b
	}
	gemmBufs.Lock()
	defer gemmBufs.Unlock()
	best := -1
	for i, b := range gemmBufs.free {
		if cap(b) >= n && (best < 0 || cap(b) < cap(gemmBufs.free[best])) {
			best = i
		}
	}
	if best < 0 {
		return make([]float32, n)
	}
	b := gemmBufs.free[best]
	last := len(gemmBufs.free) - 1
	gemmBufs.free[best] = gemmBufs.free[last]
	gemmBufs.free[last] = nil
	gemmBufs.free = gemmBufs.free[:last]
	return b[:n]
}

// gemmPoisonBufs makes gemmGetBuf return fresh buffers full of NaN, so that tests
// catch any read of a buffer element the product did not write first (a reused
// buffer would hide it by holding a previous, identical product's values).
var gemmPoisonBufs bool

// gemmPutBuf returns b for reuse; when the list is full the smallest buffer is dropped.
func gemmPutBuf(b []float32) {
	gemmBufs.Lock()
	defer gemmBufs.Unlock()
	if len(gemmBufs.free) < gemmMaxBufs {
		gemmBufs.free = append(gemmBufs.free, b)
		return
	}
	small := 0
	for i, f := range gemmBufs.free {
		if cap(f) < cap(gemmBufs.free[small]) {
			small = i
		}
	}
	if cap(b) > cap(gemmBufs.free[small]) {
		gemmBufs.free[small] = b
	}
}
