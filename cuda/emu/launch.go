package emu

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gmvae/gmvae/cuda"
)

// Threads of a block run one at a time, each until it exits or reaches a
// synchronisation point (shfl.sync, vote.sync, bar.warp.sync, bar.sync); the
// scheduler then completes every warp operation whose member lanes have all arrived
// and every barrier all threads have reached, and resumes the released threads. This
// is one legal interleaving of the block's threads; since the contract forbids races,
// it gives the GPU's results. When no thread can run and some have not exited, the
// block is deadlocked (a divergent barrier, a shuffle waiting for a lane that exited
// or waits elsewhere): the launch ends with an error naming the waiting threads.
// Blocks run in parallel, one goroutine per core.

// launchState is one kernel launch.
type launchState struct {
	dev        *Device
	fn         *Function
	mem        *memory
	params     []byte
	grid       cuda.Dim3
	block      cuda.Dim3
	dynShared  int
	sharedSize int
	limit      uint64
	atomMu     sync.Mutex
	insts      atomic.Uint64
}

// blockRun is the state of one block (reused for the blocks a worker runs).
type blockRun struct {
	l       *launchState
	fn      *Function
	threads []thread
	regs    []uint64
	shared  []byte
	sinit   []byte
	sinit0  []byte // the shadow at block start: 1 on variable bytes, 0 in gaps
	local   []byte
	linit   []byte
	ctaid   [3]int
	nwarps  int
}

func newBlockRun(l *launchState) *blockRun {
	fn := l.fn
	nt := l.block.Count()
	b := &blockRun{l: l, fn: fn, threads: make([]thread, nt), nwarps: (nt + 31) / 32}
	b.regs = make([]uint64, nt*fn.nslots)
	b.shared = make([]byte, l.sharedSize)
	b.sinit = make([]byte, l.sharedSize)
	b.sinit0 = make([]byte, l.sharedSize)
	for _, v := range fn.sharedVars {
		for i := v.off; i < v.off+v.size; i++ {
			b.sinit0[i] = 1
		}
	}
	if fn.hasDyn {
		for i := fn.dynOff; i < fn.dynOff+l.dynShared; i++ {
			b.sinit0[i] = 1
		}
	}
	b.local = make([]byte, nt*fn.localBytes)
	b.linit = make([]byte, nt*fn.localBytes)
	bd := l.block
	for i := range b.threads {
		t := &b.threads[i]
		t.lin = i
		t.tid = [3]int{i % bd.X, (i / bd.X) % bd.Y, i / (bd.X * bd.Y)}
		t.regs = b.regs[i*fn.nslots : (i+1)*fn.nslots : (i+1)*fn.nslots]
		t.local = b.local[i*fn.localBytes : (i+1)*fn.localBytes]
		t.linit = b.linit[i*fn.localBytes : (i+1)*fn.localBytes]
	}
	return b
}

// reset prepares the block state for block ctaid.
func (b *blockRun) reset(ctaid [3]int) {
	b.ctaid = ctaid
	copy(b.sinit, b.sinit0)
	clear(b.shared)
	clear(b.linit)
	l := b.l
	nt := len(b.threads)
	for i := range b.threads {
		t := &b.threads[i]
		clear(t.regs[:b.fn.nregs])
		copy(t.regs[b.fn.nregs:], b.fn.template[b.fn.nregs:]) // constants
		r := t.regs
		r[sTidX], r[sTidY], r[sTidZ] = uint64(t.tid[0]), uint64(t.tid[1]), uint64(t.tid[2])
		r[sNtidX], r[sNtidY], r[sNtidZ] = uint64(l.block.X), uint64(l.block.Y), uint64(l.block.Z)
		r[sCtaidX], r[sCtaidY], r[sCtaidZ] = uint64(ctaid[0]), uint64(ctaid[1]), uint64(ctaid[2])
		r[sNctaidX], r[sNctaidY], r[sNctaidZ] = uint64(l.grid.X), uint64(l.grid.Y), uint64(l.grid.Z)
		r[sLaneid], r[sWarpid], r[sNwarpid] = uint64(i%32), uint64(i/32), uint64((nt+31)/32)
		r[sWarpSize] = 32
		t.pc, t.state, t.count = 0, stReady, 0
		t.cache, t.cnext = [4]*allocation{}, 0
	}
}

// fault builds a KernelError for thread t at instruction pc.
func (b *blockRun) fault(t *thread, pc int32, addr uint64, format string, a ...any) error {
	e := &KernelError{
		Kernel: b.fn.name,
		Module: b.fn.module.name,
		Block:  b.ctaid,
		Thread: t.tid,
		Addr:   addr,
		Msg:    fmt.Sprintf(format, a...),
	}
	if pc >= 0 && int(pc) < len(b.fn.code) {
		if s := b.fn.code[pc].src; s >= 0 {
			ri := &b.fn.raws[s]
			e.PTXLine = ri.line
			e.Inst = ri.text
			e.Source = b.fn.module.srcPosition(ri)
		}
	}
	return e
}

// runBlock runs one block to completion.
func (b *blockRun) runBlock(ctaid [3]int) error {
	b.reset(ctaid)
	ths := b.threads
	nt := len(ths)
	exited := 0
	for {
		progress := false
		for w := 0; w < b.nwarps; w++ {
			lo, hi := w*32, min(w*32+32, nt)
			for {
				ran := false
				for i := lo; i < hi; i++ {
					t := &ths[i]
					if t.state != stReady {
						continue
					}
					if err := b.run(t); err != nil {
						b.account()
						return err
					}
					if t.state == stExit {
						exited++
					}
					ran = true
				}
				resolved, err := b.resolveWarp(lo, hi)
				if err != nil {
					b.account()
					return err
				}
				if ran || resolved {
					progress = true
				}
				if !resolved {
					break
				}
			}
		}
		if exited == nt {
			b.account()
			return nil
		}
		released, err := b.resolveBarriers(exited)
		if err != nil {
			b.account()
			return err
		}
		if released {
			continue
		}
		if !progress {
			b.account()
			return b.deadlock()
		}
	}
}

func (b *blockRun) account() {
	var n uint64
	for i := range b.threads {
		n += b.threads[i].count
	}
	b.l.insts.Add(n)
}

// resolveWarp completes the warp-synchronous operations of lanes [lo, hi) whose
// member lanes have all arrived. It reports whether any completed.
func (b *blockRun) resolveWarp(lo, hi int) (bool, error) {
	ths := b.threads
	resolved := false
	var done uint32
	for i := lo; i < hi; i++ {
		t := &ths[i]
		lane := uint(i - lo)
		if t.state != stWarp || done&(1<<lane) != 0 {
			continue
		}
		in := &b.fn.code[t.pc]
		mask := uint32(t.regs[in.e])
		if mask&(1<<lane) == 0 {
			return false, b.fault(t, t.pc, 0, "membermask %#08x does not include the executing lane %d", mask, lane)
		}
		ready := true
		for l := uint(0); l < 32; l++ {
			if mask&(1<<l) == 0 {
				continue
			}
			j := lo + int(l)
			if j >= hi {
				return false, b.fault(t, t.pc, 0, "membermask %#08x names lane %d, which does not exist (the block has %d threads)", mask, l, len(ths))
			}
			u := &ths[j]
			switch u.state {
			case stExit:
				return false, b.fault(t, t.pc, 0, "membermask %#08x names lane %d, which has exited", mask, l)
			case stWarp:
				uin := &b.fn.code[u.pc]
				if uin.op != in.op || uin.mod != in.mod {
					return false, b.fault(t, t.pc, 0, "lane %d waits at a different warp-synchronous instruction (%s) than lane %d (%s)", l, b.instText(u.pc), lane, b.instText(t.pc))
				}
				if m := uint32(u.regs[uin.e]); m != mask {
					return false, b.fault(t, t.pc, 0, "lanes %d and %d use different membermasks (%#08x and %#08x)", lane, l, mask, m)
				}
			default:
				ready = false
			}
		}
		if !ready {
			continue
		}
		if err := b.warpOp(lo, mask, in.op); err != nil {
			return false, err
		}
		done |= mask
		resolved = true
	}
	return resolved, nil
}

func (b *blockRun) instText(pc int32) string {
	in := &b.fn.code[pc]
	if in.src < 0 {
		return "exit"
	}
	ri := &b.fn.raws[in.src]
	return fmt.Sprintf("PTX line %d: %s", ri.line, ri.text)
}

// warpOp performs one shfl/vote/bar.warp.sync for the lanes of mask (all arrived).
func (b *blockRun) warpOp(lo int, mask uint32, op opcode) error {
	ths := b.threads
	var vals [32]uint64
	switch op {
	case opShfl:
		for l := 0; l < 32; l++ {
			if mask&(1<<l) != 0 {
				t := &ths[lo+l]
				vals[l] = t.regs[b.fn.code[t.pc].a]
			}
		}
		for l := 0; l < 32; l++ {
			if mask&(1<<l) == 0 {
				continue
			}
			t := &ths[lo+l]
			in := &b.fn.code[t.pc]
			bval := int(uint32(t.regs[in.b]) & 31)
			cv := uint32(t.regs[in.c])
			cval := int(cv & 31)
			seg := int((cv >> 8) & 31)
			maxLane := (l & seg) | (cval &^ seg)
			minLane := l & seg
			var j int
			var pval bool
			switch in.mod {
			case shflUp:
				j = l - bval
				pval = j >= maxLane
			case shflDown:
				j = l + bval
				pval = j <= maxLane
			case shflBfly:
				j = l ^ bval
				pval = j <= maxLane
			case shflIdx:
				j = minLane | (bval &^ seg)
				pval = j <= maxLane
			}
			if !pval {
				j = l
			}
			if mask&(1<<j) == 0 {
				return b.fault(t, t.pc, 0, "shfl.sync reads lane %d, which is not in membermask %#08x (its value is undefined)", j, mask)
			}
			t.regs[in.d] = vals[j]
			if in.flags&fPredDest != 0 {
				t.regs[in.d2] = b2u(pval)
			}
		}
	case opVote:
		var ballot uint32
		for l := 0; l < 32; l++ {
			if mask&(1<<l) == 0 {
				continue
			}
			t := &ths[lo+l]
			in := &b.fn.code[t.pc]
			p := t.regs[in.a] != 0
			if in.flags&fNegC != 0 {
				p = !p
			}
			if p {
				ballot |= 1 << l
			}
		}
		for l := 0; l < 32; l++ {
			if mask&(1<<l) == 0 {
				continue
			}
			t := &ths[lo+l]
			in := &b.fn.code[t.pc]
			var v uint64
			switch in.mod {
			case voteAll:
				v = b2u(ballot == mask)
			case voteAny:
				v = b2u(ballot != 0)
			case voteUni:
				v = b2u(ballot == mask || ballot == 0)
			case voteBallot:
				v = uint64(ballot)
			}
			t.regs[in.d] = v
		}
	}
	for l := 0; l < 32; l++ {
		if mask&(1<<l) != 0 {
			t := &ths[lo+l]
			t.pc++
			t.state = stReady
		}
	}
	return nil
}

// resolveBarriers releases the threads waiting at a barrier all participants have
// reached. A barrier without a thread count needs every thread of the block: a
// thread that exited instead, or threads waiting at a different bar.sync
// instruction, end the launch with an error (compute-sanitizer's synccheck).
func (b *blockRun) resolveBarriers(exited int) (bool, error) {
	ths := b.threads
	var (
		waiting [16]int
		count   [16]int // required threads; 0: all
		first   [16]*thread
		other   [16]*thread // a waiting thread at a different instruction than first
	)
	any := false
	for i := range ths {
		t := &ths[i]
		if t.state != stBar {
			continue
		}
		in := &b.fn.code[t.pc]
		id := uint32(t.regs[in.a])
		if id > 15 {
			return false, b.fault(t, t.pc, 0, "barrier id %d is out of range (0..15)", id)
		}
		cnt := 0
		if in.flags&fCount != 0 {
			cnt = int(uint32(t.regs[in.b]))
			if cnt == 0 || cnt%32 != 0 {
				return false, b.fault(t, t.pc, 0, "barrier thread count %d is not a positive multiple of 32", cnt)
			}
		}
		if waiting[id] > 0 && count[id] != cnt {
			return false, b.fault(t, t.pc, 0, "barrier %d used with different thread counts (%d and %d)", id, count[id], cnt)
		}
		count[id] = cnt
		if waiting[id] == 0 {
			first[id] = t
		} else if t.pc != first[id].pc && other[id] == nil {
			other[id] = t
		}
		waiting[id]++
		any = true
	}
	if !any {
		return false, nil
	}
	released := false
	for id := range waiting {
		if waiting[id] == 0 {
			continue
		}
		t := first[id]
		need := count[id]
		if need == 0 {
			need = len(ths)
			if waiting[id]+exited == len(ths) && exited > 0 {
				var ex *thread
				for i := range ths {
					if ths[i].state == stExit {
						ex = &ths[i]
						break
					}
				}
				return false, b.fault(t, t.pc, 0, "divergent barrier: %d threads wait at bar.sync %d but %d threads of the block exited without reaching it (e.g. thread (%d,%d,%d))",
					waiting[id], id, exited, ex.tid[0], ex.tid[1], ex.tid[2])
			}
		}
		if waiting[id] < need {
			continue
		}
		if waiting[id] > need {
			return false, b.fault(t, t.pc, 0, "%d threads arrived at barrier %d, which expects %d", waiting[id], id, need)
		}
		if o := other[id]; o != nil {
			return false, b.fault(t, t.pc, 0, "divergent barrier: the threads of barrier %d wait at different instructions: thread (%d,%d,%d) at %s, thread (%d,%d,%d) at %s",
				id, t.tid[0], t.tid[1], t.tid[2], b.instText(t.pc), o.tid[0], o.tid[1], o.tid[2], b.instText(o.pc))
		}
		for i := range ths {
			u := &ths[i]
			if u.state == stBar && uint32(u.regs[b.fn.code[u.pc].a]) == uint32(id) {
				u.pc++
				u.state = stReady
			}
		}
		released = true
	}
	return released, nil
}

// deadlock describes a block in which no thread can proceed.
func (b *blockRun) deadlock() error {
	type key struct {
		state uint8
		pc    int32
	}
	counts := map[key]int{}
	first := map[key]*thread{}
	var keys []key
	for i := range b.threads {
		t := &b.threads[i]
		if t.state == stExit {
			continue
		}
		k := key{t.state, t.pc}
		if counts[k] == 0 {
			first[k] = t
			keys = append(keys, k)
		}
		counts[k]++
	}
	var parts []string
	for _, k := range keys {
		t := first[k]
		what := "at"
		if k.state == stBar {
			what = "at barrier"
		}
		parts = append(parts, fmt.Sprintf("%d threads wait %s %s (first: thread (%d,%d,%d))", counts[k], what, b.instText(k.pc), t.tid[0], t.tid[1], t.tid[2]))
	}
	t := first[keys[0]]
	return b.fault(t, t.pc, 0, "deadlock: no thread can proceed: %s", strings.Join(parts, "; "))
}

// runGrid runs every block of the launch, blocks in parallel.
func (l *launchState) runGrid() error {
	g := l.grid
	total := g.Count()
	workers := runtime.GOMAXPROCS(0)
	if l.dev.opts.Workers > 0 {
		workers = l.dev.opts.Workers
	}
	workers = min(workers, total)
	var next atomic.Int64
	var mu sync.Mutex
	errBlock := total // lowest failing block
	var firstErr error
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b *blockRun
			for {
				i := int(next.Add(1) - 1)
				if i >= total {
					return
				}
				mu.Lock()
				stop := i > errBlock
				mu.Unlock()
				if stop {
					return
				}
				if b == nil {
					b = newBlockRun(l)
				}
				ctaid := [3]int{i % g.X, (i / g.X) % g.Y, i / (g.X * g.Y)}
				if err := b.runBlock(ctaid); err != nil {
					mu.Lock()
					if i < errBlock {
						errBlock, firstErr = i, err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}
