package dist

import (
	"fmt"
	"sync"
	"unsafe"
)

// comm implements Comm over a raw data mover: type checks, the fixed-order sum, and a
// grow-only scratch buffer so that a training step's all-reduce allocates nothing.
type comm struct {
	mu      sync.Mutex
	r       raw
	closed  bool
	align   int // chunk boundaries of AllReduceSum fall on multiples of align elements
	scratch []byte
	sendOff []int
	recvOff []int
}

func newComm(r raw) *comm {
	return &comm{r: r, align: 16}
}

func (c *comm) Rank() int      { return c.r.rank() }
func (c *comm) Size() int      { return c.r.size() }
func (c *comm) LocalRank() int { return c.r.localRank() }
func (c *comm) LocalSize() int { return c.r.localSize() }

func (c *comm) String() string {
	return fmt.Sprintf("rank %d of %d (local %d of %d)", c.Rank(), c.Size(), c.LocalRank(), c.LocalSize())
}

func (c *comm) Barrier() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	return rankErr(c.r, "barrier", c.r.barrier())
}

func (c *comm) Bcast(buf any, root int) error {
	b, _, err := bytesOf(buf)
	if err != nil {
		return err
	}
	if root < 0 || root >= c.Size() {
		return fmt.Errorf("dist: bcast from root %d in a world of %d", root, c.Size())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if c.Size() == 1 {
		return nil
	}
	return rankErr(c.r, "bcast", c.r.bcast(b, root))
}

func (c *comm) AllGather(send, recv any) error {
	s, ks, err := bytesOf(send)
	if err != nil {
		return err
	}
	r, kr, err := bytesOf(recv)
	if err != nil {
		return err
	}
	if ks != kr {
		return fmt.Errorf("dist: allgather from %T into %T", send, recv)
	}
	if len(r) != c.Size()*len(s) {
		return fmt.Errorf("dist: allgather of %d bytes per rank into %d bytes (world of %d)", len(s), len(r), c.Size())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if c.Size() == 1 {
		copy(r, s)
		return nil
	}
	return rankErr(c.r, "allgather", c.r.allgather(s, r))
}

func (c *comm) AllReduceSum(buf any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	var err error
	switch v := buf.(type) {
	case []float32:
		err = allReduce(c, v)
	case []float64:
		err = allReduce(c, v)
	case []int64:
		err = allReduce(c, v)
	default:
		return typeErr(buf)
	}
	return rankErr(c.r, "allreduce", err)
}

func (c *comm) Abort(code int) { c.r.abort(code) }

func (c *comm) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	return c.r.close()
}

// elem is the element types of the collectives.
type elem interface{ float32 | float64 | int64 }

// bytesOf returns the bytes of a []float32, []float64 or []int64 and its type code.
func bytesOf(buf any) ([]byte, int, error) {
	switch v := buf.(type) {
	case []float32:
		return asBytes(v), 1, nil
	case []float64:
		return asBytes(v), 2, nil
	case []int64:
		return asBytes(v), 3, nil
	}
	return nil, 0, typeErr(buf)
}

func typeErr(buf any) error {
	return fmt.Errorf("dist: buffer of type %T, want []float32, []float64 or []int64", buf)
}

func asBytes[T elem](v []T) []byte {
	if len(v) == 0 {
		return []byte{}
	}
	var z T
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), len(v)*int(unsafe.Sizeof(z)))
}

func fromBytes[T elem](b []byte) []T {
	var z T
	n := len(b) / int(unsafe.Sizeof(z))
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&b[0])), n)
}

// ChunkBounds returns the P+1 element offsets that cut n elements into P contiguous
// chunks for the reduce-scatter of AllReduceSum: as even as multiples of align
// allow, chunk r = [b[r], b[r+1]). The result of the sum does not depend on them.
func ChunkBounds(n, p, align int) []int {
	if align < 1 {
		align = 1
	}
	units := (n + align - 1) / align
	b := make([]int, p+1)
	for r := 0; r <= p; r++ {
		e := (units * r / p) * align
		if e > n {
			e = n
		}
		b[r] = e
	}
	b[p] = n
	return b
}

// allReduce is the fixed-order sum: an all-to-all brings chunk r of every rank to
// rank r, which sums it in rank order starting from rank 0's value, and an in-place
// all-gather returns the summed chunks to every rank.
func allReduce[T elem](c *comm, buf []T) error {
	p, me := c.Size(), c.Rank()
	if p == 1 || len(buf) == 0 {
		return nil
	}
	var z T
	es := int(unsafe.Sizeof(z))
	bounds := ChunkBounds(len(buf), p, c.align)
	mine := bounds[me+1] - bounds[me]
	need := p * mine * es
	if cap(c.scratch) < need {
		// Allocated as []float64 so any element type is aligned.
		c.scratch = asBytes(make([]float64, (need+7)/8))
	}
	recv := c.scratch[:need]
	if len(c.sendOff) != p+1 {
		c.sendOff, c.recvOff = make([]int, p+1), make([]int, p+1)
	}
	for k := 0; k <= p; k++ {
		c.sendOff[k] = bounds[k] * es
		c.recvOff[k] = k * mine * es
	}
	if err := c.r.alltoallv(asBytes(buf), c.sendOff, recv, c.recvOff); err != nil {
		return err
	}
	parts := fromBytes[T](recv)
	out := buf[bounds[me]:bounds[me+1]]
	SumRankOrder(out, parts, p)
	// sendOff still holds the chunks' byte offsets: each rank's summed chunk to all.
	return c.r.allgatherv(asBytes(buf), c.sendOff)
}

// SumRankOrder sets out[i] = ((parts[0][i] + parts[1][i]) + ...) + parts[p-1][i], where
// parts holds p blocks of len(out) elements, rank k's block at k*len(out): the
// reduction order of AllReduceSum (plain adds in T, left to right, starting from rank
// 0's value). A device implementation (an NCCL path's sum kernel) must mirror it.
func SumRankOrder[T elem](out, parts []T, p int) {
	m := len(out)
	if m == 0 {
		return
	}
	copy(out, parts[:m])
	for k := 1; k < p; k++ {
		src := parts[k*m : (k+1)*m]
		for i := range out {
			out[i] += src[i]
		}
	}
}
