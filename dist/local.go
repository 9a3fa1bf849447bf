package dist

import (
	"fmt"
	"sync"
)

// NewLocalWorld returns the p communicators of a world whose ranks are goroutines of
// this process (rank k is element k; local rank = rank). Every rank must be driven by
// its own goroutine, as every collective blocks until all ranks have called it. The
// data movement is the MPI communicator's (all-to-all, all-gather, broadcast of raw
// bytes), and the arithmetic is shared code, so an MPI run with p ranks gives the
// same bits as this world: the tests of the reduction order and of data-parallel
// training run on it without mpirun.
func NewLocalWorld(p int) []Comm {
	if p < 1 {
		panic(fmt.Sprintf("dist: NewLocalWorld(%d)", p))
	}
	w := &localWorld{p: p, slots: make([][]byte, p), offs: make([][]int, p)}
	w.cond = sync.NewCond(&w.mu)
	cs := make([]Comm, p)
	for r := range cs {
		cs[r] = newComm(&localRank{w: w, r: r})
	}
	return cs
}

type localWorld struct {
	p       int
	mu      sync.Mutex
	cond    *sync.Cond
	arrived int
	gen     int
	slots   [][]byte // the buffer each rank posted for the current collective
	offs    [][]int  // and its offsets
	closed  int
}

type localRank struct {
	w *localWorld
	r int
}

// wait is a reusable barrier (generation counting).
func (w *localWorld) wait() {
	w.mu.Lock()
	g := w.gen
	w.arrived++
	if w.arrived == w.p {
		w.arrived = 0
		w.gen++
		w.cond.Broadcast()
	} else {
		for g == w.gen {
			w.cond.Wait()
		}
	}
	w.mu.Unlock()
}

// post publishes this rank's buffer and waits until every rank has posted; done waits
// until every rank has read what it needs, so the buffers may be reused.
func (l *localRank) post(b []byte, off []int) {
	l.w.mu.Lock()
	l.w.slots[l.r], l.w.offs[l.r] = b, off
	l.w.mu.Unlock()
	l.w.wait()
}
func (l *localRank) done() { l.w.wait() }

func (l *localRank) rank() int      { return l.r }
func (l *localRank) size() int      { return l.w.p }
func (l *localRank) localRank() int { return l.r }
func (l *localRank) localSize() int { return l.w.p }
func (l *localRank) barrier() error { l.w.wait(); return nil }

func (l *localRank) bcast(buf []byte, root int) error {
	l.post(buf, nil)
	src := l.w.slots[root]
	var err error
	if len(src) != len(buf) {
		err = fmt.Errorf("bcast of %d bytes, root has %d", len(buf), len(src))
	} else if l.r != root {
		copy(buf, src)
	}
	l.done()
	return err
}

func (l *localRank) allgather(send, recv []byte) error {
	l.post(send, nil)
	var err error
	for k := 0; k < l.w.p; k++ {
		s := l.w.slots[k]
		if len(s) != len(send) {
			err = fmt.Errorf("allgather of %d bytes, rank %d sends %d", len(send), k, len(s))
			break
		}
		copy(recv[k*len(send):], s)
	}
	l.done()
	return err
}

func (l *localRank) alltoallv(send []byte, sendOff []int, recv []byte, recvOff []int) error {
	l.post(send, sendOff)
	var err error
	for k := 0; k < l.w.p; k++ {
		s, so := l.w.slots[k], l.w.offs[k]
		part := s[so[l.r]:so[l.r+1]]
		if len(part) != recvOff[k+1]-recvOff[k] {
			err = fmt.Errorf("alltoallv: rank %d sends %d bytes, %d expected", k, len(part), recvOff[k+1]-recvOff[k])
			break
		}
		copy(recv[recvOff[k]:recvOff[k+1]], part)
	}
	l.done()
	return err
}

func (l *localRank) allgatherv(buf []byte, off []int) error {
	l.post(buf, off)
	for k := 0; k < l.w.p; k++ {
		if k != l.r {
			copy(buf[off[k]:off[k+1]], l.w.slots[k][off[k]:off[k+1]])
		}
	}
	l.done()
	return nil
}

func (l *localRank) abort(code int) {
	panic(fmt.Sprintf("dist: local world rank %d: abort (status %d)", l.r, code))
}

func (l *localRank) close() error { return nil }
