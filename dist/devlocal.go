package dist

import (
	"fmt"
	"sync"

	"github.com/gmvae/gmvae/engine"
)

// NewLocalDeviceWorld returns the DeviceTransports of p ranks that are goroutines of
// this process, rank r moving data between its own GPU backend gpus[r] and the others'
// (for example the PTX emulator on p separate devices): the test stand-in for NCCL,
// with NCCL's semantics (AllToAll a grouped send/recv, AllGather with equal slots).
// Every rank must be driven by its own goroutine, as every operation blocks until all
// ranks have called it. Data moves through host memory (Download from the peer's
// backend, Upload to one's own), so it is slow and exact.
func NewLocalDeviceWorld(gpus []*engine.GPU) []DeviceTransport {
	p := len(gpus)
	if p < 1 {
		panic("dist: NewLocalDeviceWorld of no ranks")
	}
	// The rendezvous of a LocalWorld (its barrier and posting), with byte slots unused.
	w := &localWorld{p: p, slots: make([][]byte, p), offs: make([][]int, p)}
	w.cond = sync.NewCond(&w.mu)
	d := &localDevWorld{w: w, gpus: gpus, posted: make([][]*engine.Buf, p)}
	ts := make([]DeviceTransport, p)
	for r := range ts {
		ts[r] = &localDevRank{d: d, r: r}
	}
	return ts
}

type localDevWorld struct {
	w      *localWorld
	gpus   []*engine.GPU
	posted [][]*engine.Buf // what each rank posted for the current operation
}

type localDevRank struct {
	d    *localDevWorld
	r    int
	host []float32
}

func (l *localDevRank) Rank() int    { return l.r }
func (l *localDevRank) Size() int    { return l.d.w.p }
func (l *localDevRank) Name() string { return "in-process device world" }
func (l *localDevRank) Close() error { return nil }

// post publishes this rank's buffers and waits for every rank's.
func (l *localDevRank) post(bufs []*engine.Buf) {
	l.d.w.mu.Lock()
	l.d.posted[l.r] = bufs
	l.d.w.mu.Unlock()
	l.d.w.wait()
}

// pull copies src, a buffer of rank k's backend, into dst on this rank's backend.
func (l *localDevRank) pull(dst *engine.Buf, k int, src *engine.Buf) error {
	if dst.Len() != src.Len() {
		return fmt.Errorf("rank %d receives %d floats from rank %d, which sends %d", l.r, dst.Len(), k, src.Len())
	}
	if cap(l.host) < src.Len() {
		l.host = make([]float32, src.Len())
	}
	h := l.host[:src.Len()]
	if err := l.d.gpus[k].Download(h, src); err != nil {
		return err
	}
	return l.d.gpus[l.r].Upload(dst, h)
}

func (l *localDevRank) AllToAll(send, recv []*engine.Buf) error {
	p := l.Size()
	if len(send) != p || len(recv) != p {
		return fmt.Errorf("all-to-all with %d sends and %d receives in a world of %d", len(send), len(recv), p)
	}
	l.post(send)
	var err error
	for k := 0; k < p && err == nil; k++ {
		if k != l.r {
			err = l.pull(recv[k], k, l.d.posted[k][l.r])
		}
	}
	l.d.w.wait()
	return err
}

func (l *localDevRank) AllGather(send, recv *engine.Buf) error {
	p := l.Size()
	if recv.Len() != p*send.Len() {
		return fmt.Errorf("all-gather of %d floats per rank into %d (world of %d)", send.Len(), recv.Len(), p)
	}
	l.post([]*engine.Buf{send})
	var err error
	for k := 0; k < p && err == nil; k++ {
		n := send.Len()
		if k == l.r {
			// In place when send is recv's slot; else a device copy of one's own.
			continue
		}
		err = l.pull(recv.Slice(k*n, n), k, l.d.posted[k][0])
	}
	l.d.w.wait()
	own := recv.Slice(l.r*send.Len(), send.Len())
	if err == nil && send.Len() > 0 && own.DevicePtr() != send.DevicePtr() {
		err = l.d.gpus[l.r].CopyBuf(own, send)
	}
	return err
}
