package dist

import (
	"fmt"
	"hash/fnv"
	"log"
	"unsafe"

	"github.com/gmvae/gmvae/cuda"
	"github.com/gmvae/gmvae/engine"
	"github.com/gmvae/gmvae/ops"
)

// GradSync sums a gradient buffer (nn.Params.G) across the ranks of a Comm, in rank
// order, on whatever backend the buffer lives on. Every rank calls Sum once per
// optimizer step, after its backward pass and before the optimizer, with the same
// buffer length, even a rank whose shard of the batch is empty (its gradient is then
// zero).
//
// Two ways fit behind it:
//   - host (NewHostGradSync, done): Download to a host buffer (page-locked when the
//     backend's device offers cuda.PinnedAllocator), Comm.AllReduceSum, Upload.
//   - device (NewDeviceGradSync; over NCCL with -tags cuda): device buffers
//     throughout, moved by a DeviceTransport. To keep the bits of the host path it
//     never calls ncclAllReduce (whose order depends on NCCL's ring/tree choice): a
//     grouped ncclSend/ncclRecv all-to-all of the ChunkBounds chunks into a device
//     scratch, P−1 ew_add launches summing the P blocks in rank order exactly as
//     SumRankOrder does, and ncclAllGather of the summed chunks. libnccl is loaded
//     at run time (dlopen), its unique id broadcast with Comm.Bcast. Tested on the
//     PTX emulator over an in-process transport; see docs/distributed.md.
type GradSync interface {
	// Sum replaces g, on every rank, by the rank-order sum of every rank's g.
	Sum(g *engine.Buf) error
	// Name says which path sums, e.g. "host (pinned), 4 ranks".
	Name() string
	// Close releases the staging memory and, on the device path, the transport (the
	// NCCL communicator); not the Comm.
	Close() error
}

// GradSyncOptions chooses the path of NewGradSync.
type GradSyncOptions struct {
	// Method: "auto" or "" (NCCL when the binary is built with the cuda tag, the
	// backend is a GPU of the CUDA driver, there are several ranks and libnccl.so.2
	// loads on every rank; else the host path; the choice and its reason are logged
	// and in Name), "host", or "nccl" (the NCCL path or an error saying why not).
	Method string
}

// The device path's transport, in two steps so that the ranks agree before any of
// them enters a collective NCCL call: probeDevice checks, on this rank alone, that
// the transport can work (the library loads, the backend is a CUDA device);
// openDevice then makes it, collectively. NCCL's (nccl.go with -tags cuda, else
// nccl_stub.go); tests put an in-process world in their place.
var (
	probeDevice = probeNCCL
	openDevice  = openNCCL
)

// NewGradSync returns the gradient sum for buffers of up to n elements on backend b.
// Every rank must call it, with the same options: the choice of path is agreed on
// (a collective).
func NewGradSync(c Comm, b engine.Backend, n int, opt GradSyncOptions) (GradSync, error) {
	switch opt.Method {
	case "host":
		return NewHostGradSync(c, b, n)
	case "", "auto", "nccl":
	default:
		return nil, fmt.Errorf("dist: gradient sync method %q, want auto, host or nccl", opt.Method)
	}
	explicit := opt.Method == "nccl"
	g, isGPU := b.(*engine.GPU)
	if !explicit && c.Size() == 1 {
		// Nothing to sum: the host path (which does nothing), no NCCL.
		return NewHostGradSync(c, b, n)
	}
	var probeErr error
	if !isGPU {
		probeErr = fmt.Errorf("the backend %s is not a GPU", b.Name())
	} else {
		probeErr = probeDevice(g)
	}
	// Every rank must take the same path (even in a world that mixes CPU and GPU
	// ranks): gather who can.
	failed := make([]int64, c.Size())
	flag := int64(0)
	if probeErr != nil {
		flag = 1
	}
	if err := c.AllGather([]int64{flag}, failed); err != nil {
		return nil, err
	}
	var bad []int
	for r, f := range failed {
		if f != 0 {
			bad = append(bad, r)
		}
	}
	if len(bad) > 0 {
		why := probeErr
		if why == nil {
			why = fmt.Errorf("rank(s) %v cannot use it", bad)
		}
		if explicit {
			return nil, fmt.Errorf("dist: rank %d of %d: the NCCL gradient path: %w", c.Rank(), c.Size(), why)
		}
		h, err := NewHostGradSync(c, b, n)
		if err != nil {
			return nil, err
		}
		if isGPU {
			// Said only where NCCL could have served: a CPU rank has nothing to report.
			log.Printf("dist: rank %d: gradient sum on the host path: NCCL unavailable: %v", c.Rank(), why)
			h.(*hostGradSync).note = "NCCL unavailable: " + why.Error()
		}
		return h, nil
	}
	t, err := openDevice(c, g)
	if err != nil {
		return nil, fmt.Errorf("dist: rank %d of %d: the NCCL gradient path: %w", c.Rank(), c.Size(), err)
	}
	d, err := NewDeviceGradSync(c, g, n, t)
	if err != nil {
		t.Close()
		return nil, err
	}
	if !explicit {
		d.(*deviceGradSync).note = "auto"
		log.Printf("dist: rank %d: gradient sum on the device path: %s", c.Rank(), d.Name())
	}
	return d, nil
}

// SumMean turns every rank's gradient of its own batch mean (what Model.TrainBatch
// adds: rows rows weighted 1/rows) into the gradient of the global batch mean over
// total rows on every rank: each rank scales its g by rows/total (one ew_scale; exact
// when rows/total is a power of two, as with equal shards over 1, 2, 4, 8 ranks) and
// gs sums in rank order. One rank (rows = total) leaves g untouched, so a one-process
// run keeps its bits. A rank with no rows passes a zeroed g and rows 0.
func SumMean(gs GradSync, b engine.Backend, g *engine.Buf, rows, total int) error {
	if rows == total {
		return gs.Sum(g)
	}
	if total <= 0 || rows < 0 || rows > total {
		return fmt.Errorf("dist: SumMean of %d rows out of %d", rows, total)
	}
	if err := ops.EwScale(b, g, g, g.Len(), float32(rows)/float32(total)); err != nil {
		return err
	}
	return gs.Sum(g)
}

type hostGradSync struct {
	c      Comm
	b      engine.Backend
	host   []float32
	raw    []byte // pinned memory backing host, if any
	pinned cuda.PinnedAllocator
	note   string // why this path, when NewGradSync chose it over NCCL
}

// NewHostGradSync returns the host-memory path: Download, AllReduceSum, Upload. On a
// GPU backend whose device can allocate page-locked memory the staging buffer is
// pinned, so the copies run at full PCIe/NVLink-C2C speed. With one rank Sum does
// nothing (no copy).
func NewHostGradSync(c Comm, b engine.Backend, n int) (GradSync, error) {
	h := &hostGradSync{c: c, b: b}
	if c.Size() == 1 {
		return h, nil
	}
	if g, ok := b.(*engine.GPU); ok {
		if p, ok := g.Device().(cuda.PinnedAllocator); ok {
			raw, err := p.AllocPinned(n * 4)
			if err == nil {
				h.raw, h.pinned = raw, p
				h.host = unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(raw))), n)
			}
		}
	}
	if h.host == nil {
		h.host = make([]float32, n)
	}
	return h, nil
}

func (h *hostGradSync) Name() string {
	kind := "host"
	if h.pinned != nil {
		kind = "host (pinned)"
	}
	s := fmt.Sprintf("%s, %d ranks", kind, h.c.Size())
	if h.note != "" {
		s += "; " + h.note
	}
	return s
}

func (h *hostGradSync) Sum(g *engine.Buf) error {
	if h.c.Size() == 1 {
		return nil
	}
	if g.Len() > len(h.host) {
		return fmt.Errorf("dist: gradient of %d elements, the sync was made for %d", g.Len(), len(h.host))
	}
	host := h.host[:g.Len()]
	if err := h.b.Download(host, g); err != nil {
		return err
	}
	if err := h.c.AllReduceSum(host); err != nil {
		return err
	}
	return h.b.Upload(g, host)
}

func (h *hostGradSync) Close() error {
	var err error
	if h.pinned != nil {
		err = h.pinned.FreePinned(h.raw)
	}
	h.host, h.raw, h.pinned = nil, nil, nil
	return err
}

// BcastBufs copies root's contents of every buffer to the other ranks (rank 0's
// initial parameters, or a resumed run's parameters and Adam moments).
func BcastBufs(c Comm, b engine.Backend, root int, bufs ...*engine.Buf) error {
	if c.Size() == 1 {
		return nil
	}
	var host []float32
	for _, buf := range bufs {
		if cap(host) < buf.Len() {
			host = make([]float32, buf.Len())
		}
		h := host[:buf.Len()]
		if c.Rank() == root {
			if err := b.Download(h, buf); err != nil {
				return err
			}
		}
		if err := c.Bcast(h, root); err != nil {
			return err
		}
		if c.Rank() != root {
			if err := b.Upload(buf, h); err != nil {
				return err
			}
		}
	}
	return nil
}

// Digest returns a 64-bit FNV-1a hash of the buffers' bytes.
func Digest(b engine.Backend, bufs ...*engine.Buf) (uint64, error) {
	hs := fnv.New64a()
	var host []float32
	for _, buf := range bufs {
		if cap(host) < buf.Len() {
			host = make([]float32, buf.Len())
		}
		h := host[:buf.Len()]
		if err := b.Download(h, buf); err != nil {
			return 0, err
		}
		hs.Write(asBytes(h))
	}
	return hs.Sum64(), nil
}

// CheckSame returns an error unless every rank's buffers hold the same bytes (their
// Digests are all-gathered and compared): the parameters of a data-parallel run must
// stay identical on every rank.
func CheckSame(c Comm, b engine.Backend, bufs ...*engine.Buf) error {
	d, err := Digest(b, bufs...)
	if err != nil {
		return err
	}
	all := make([]int64, c.Size())
	if err := c.AllGather([]int64{int64(d)}, all); err != nil {
		return err
	}
	for r, x := range all {
		if x != all[0] {
			return fmt.Errorf("dist: rank %d's buffers differ from rank 0's (digest %016x, rank 0 %016x)", r, uint64(x), uint64(all[0]))
		}
	}
	return nil
}

// ShardRange returns rank's contiguous share [lo, hi) of n items cut into size parts
// as evenly as possible (the first n mod size ranks get one more). A global batch of
// size*B indices gives every rank B of them, rank r the r-th block, so that the
// ranks together see exactly the batch a one-process run with batch size*B sees.
func ShardRange(n, rank, size int) (lo, hi int) {
	q, r := n/size, n%size
	lo = rank*q + min(rank, r)
	hi = lo + q
	if rank < r {
		hi++
	}
	return lo, hi
}

// Shard returns rank's block of a global batch (ShardRange of its indices).
func Shard(batch []int, rank, size int) []int {
	lo, hi := ShardRange(len(batch), rank, size)
	return batch[lo:hi]
}

// RankStep returns the step number that numbers rank's random draws at optimizer step
// step: step*size + rank (step itself in a one-process run). The models' random
// streams are kernels.StreamID(step, tensor) and count elements from 0 within a launch, so
// ranks passing the same step would draw the same noise for their local row i; with
// RankStep every (step, rank) has its own streams, a P-rank run is reproducible, and a
// one-process run of P micro-batches numbered k = 0..P-1 the same way reproduces it.
// (It does not reproduce the noise of a one-process run with the whole batch: see
// docs/distributed.md.)
func RankStep(step uint64, rank, size int) uint64 {
	return step*uint64(size) + uint64(rank)
}

// SumFloat64 all-reduces a few metrics (for example a loss sum and a row count) in
// rank order and returns them, leaving vals as they were.
func SumFloat64(c Comm, vals ...float64) ([]float64, error) {
	out := append([]float64(nil), vals...)
	if err := c.AllReduceSum(out); err != nil {
		return nil, err
	}
	return out, nil
}
