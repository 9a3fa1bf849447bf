package dist

import (
	"fmt"

	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/ops"
)

// DeviceTransport moves a gradient's chunks between the ranks' GPUs without the host:
// the two NCCL operations the device path needs (nccl.go, `-tags cuda`), or the
// in-process world of the tests (NewLocalDeviceWorld). It does no arithmetic.
//
// Every rank calls each operation with the same shapes, in the same order. The
// operations are ordered on the backend's stream like its kernel launches: a launch
// made after an operation sees its data, and an operation sees every earlier launch's
// results (the in-process transport is synchronous).
type DeviceTransport interface {
	// Rank and Size are this rank and the number of ranks (the Comm's).
	Rank() int
	Size() int
	// AllToAll is one grouped exchange with every other rank (NCCL: ncclGroupStart,
	// ncclSend of send[k] and ncclRecv into recv[k] for every k != Rank(),
	// ncclGroupEnd): send[k] goes to rank k, which receives it into its recv[Rank()],
	// of the same length. The entries at Rank() are ignored; a pair of empty buffers
	// moves nothing.
	AllToAll(send, recv []*engine.Buf) error
	// AllGather sets recv, Size() slots of send.Len() floats, to every rank's send in
	// rank order (ncclAllGather). send may be recv's slot Rank() (in place).
	AllGather(send, recv *engine.Buf) error
	// Name says what moves the data, e.g. "nccl 2.18.3".
	Name() string
	// Close releases the transport (an NCCL communicator), not the backend.
	Close() error
}

// deviceGradSync is the device path of GradSync: the rank-order sum of
// AllReduceSum (the same ChunkBounds chunks, the same order of adds) with the data
// kept on the GPU and moved by a DeviceTransport:
//
//  1. AllToAll: chunk k of g to rank k, which receives the P−1 other ranks' chunks
//     into its scratch (P slots of the longest chunk's length; rank r's block in
//     slot r, its own block read in place from g);
//  2. P−1 ew_add launches into scratch slot Rank(): out = block 0 + block 1, then
//     out = out + block k for k = 2..P−1 — SumRankOrder's order, so the sum has the
//     host path's bits (NaN as a class: the GPU's NaN is canonical);
//  3. AllGather of the summed slots, in place in the scratch;
//  4. P device copies of the summed chunks back into g.
//
// Scratch: P·⌈n/P⌉ floats (rounded up to the chunk alignment), allocated once.
type deviceGradSync struct {
	c          Comm
	g          *engine.GPU
	t          DeviceTransport
	n, align   int
	scratch    *engine.Buf
	send, recv []*engine.Buf
	note       string // why this path (NewGradSync's choice)
}

// NewDeviceGradSync returns the device path of GradSync for gradients of up to n
// elements on GPU backend g, over transport t (whose ranks must be c's). With one rank
// Sum does nothing. NewGradSync makes it over NCCL; tests over NewLocalDeviceWorld.
func NewDeviceGradSync(c Comm, g *engine.GPU, n int, t DeviceTransport) (GradSync, error) {
	if t.Size() != c.Size() || t.Rank() != c.Rank() {
		return nil, fmt.Errorf("dist: device transport of rank %d of %d, communicator rank %d of %d", t.Rank(), t.Size(), c.Rank(), c.Size())
	}
	if n < 0 {
		return nil, fmt.Errorf("dist: device gradient sync for %d elements", n)
	}
	d := &deviceGradSync{c: c, g: g, t: t, n: n, align: 16}
	p := c.Size()
	if p == 1 || n == 0 {
		return d, nil
	}
	slot := maxChunk(ChunkBounds(n, p, d.align))
	s, err := g.New(p*slot, "dist.gradsync.scratch")
	if err != nil {
		return nil, fmt.Errorf("dist: device gradient sync scratch of %d floats: %w", p*slot, err)
	}
	// Zeroed once, so that the unused tail of a short chunk's slot, which the
	// all-gather moves, holds defined bytes.
	if err := ops.EwFill(g, s, s.Len(), float32(0)); err != nil {
		g.Release(s)
		return nil, err
	}
	d.scratch = s
	d.send, d.recv = make([]*engine.Buf, p), make([]*engine.Buf, p)
	return d, nil
}

// maxChunk returns the longest chunk of bounds.
func maxChunk(bounds []int) int {
	m := 0
	for k := 0; k+1 < len(bounds); k++ {
		m = max(m, bounds[k+1]-bounds[k])
	}
	return m
}

func (d *deviceGradSync) Name() string {
	s := fmt.Sprintf("device (%s), %d ranks", d.t.Name(), d.c.Size())
	if d.note != "" {
		s += "; " + d.note
	}
	return s
}

func (d *deviceGradSync) Sum(g *engine.Buf) error {
	p, me := d.c.Size(), d.c.Rank()
	if p == 1 || g.Len() == 0 {
		return nil
	}
	if g.Len() > d.n {
		return fmt.Errorf("dist: gradient of %d elements, the sync was made for %d", g.Len(), d.n)
	}
	if d.scratch == nil {
		return fmt.Errorf("dist: device gradient sync is closed")
	}
	bounds := ChunkBounds(g.Len(), p, d.align)
	slot := maxChunk(bounds)
	m := bounds[me+1] - bounds[me]
	chunk := func(k int) *engine.Buf { return g.Slice(bounds[k], bounds[k+1]-bounds[k]) }
	for k := 0; k < p; k++ {
		d.send[k], d.recv[k] = chunk(k), d.scratch.Slice(k*slot, m)
	}
	d.send[me], d.recv[me] = nil, nil
	if err := d.t.AllToAll(d.send, d.recv); err != nil {
		return fmt.Errorf("dist: rank %d of %d: device all-to-all: %w", me, p, err)
	}
	// Rank k's block of chunk me: in place in g for k == me, else received.
	block := func(k int) *engine.Buf {
		if k == me {
			return chunk(me)
		}
		return d.scratch.Slice(k*slot, m)
	}
	out := d.scratch.Slice(me*slot, m)
	if m > 0 {
		if err := ops.EwAdd(d.g, block(0), block(1), out, m); err != nil {
			return err
		}
		for k := 2; k < p; k++ {
			if err := ops.EwAdd(d.g, out, block(k), out, m); err != nil {
				return err
			}
		}
	}
	if err := d.t.AllGather(d.scratch.Slice(me*slot, slot), d.scratch.Slice(0, p*slot)); err != nil {
		return fmt.Errorf("dist: rank %d of %d: device all-gather: %w", me, p, err)
	}
	for k := 0; k < p; k++ {
		if mk := bounds[k+1] - bounds[k]; mk > 0 {
			if err := d.g.CopyBuf(chunk(k), d.scratch.Slice(k*slot, mk)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (d *deviceGradSync) Close() error {
	var err error
	if d.scratch != nil {
		err = d.g.Release(d.scratch)
		d.scratch = nil
	}
	if d.t != nil {
		if terr := d.t.Close(); terr != nil && err == nil {
			err = terr
		}
		d.t = nil
	}
	return err
}
