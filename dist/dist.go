// Package dist is data-parallel training's process layer: a communicator (Comm) over
// the ranks of a job, the fixed-order gradient sum that keeps a multi-rank run
// bit-reproducible, the detection of the launcher that started the process (mpirun,
// Slurm's srun, the Kubernetes MPI Operator), and GradSync, which sums a parameter
// gradient buffer of any engine.Backend across the ranks.
//
// Three communicators implement Comm:
//   - Single: one process, no MPI (always built). What Open returns when no launcher
//     started the process.
//   - the MPI communicator, a thin cgo binding of Open MPI's C API (`pkg-config mpi-c`),
//     built only with the `mpi` tag (mpi.go). Open returns it under a launcher.
//   - NewLocalWorld: P ranks as goroutines of one process, sharing memory (always
//     built). It runs the same algorithms over the same data movement as MPI, so the
//     tests of the reduction order and of data-parallel training run in plain `go test`,
//     and an MPI run must give the same bits as it.
//
// # The reduction order
//
// AllReduceSum never uses MPI_SUM (whose order MPI leaves unspecified; Open MPI's
// depends on the algorithm it picks for the message size and world size). Every element
// is summed left to right in rank order, starting from rank 0's value:
//
//	sum_i = (((x_i[0] + x_i[1]) + x_i[2]) + ...) + x_i[P-1]
//
// in the buffer's own type with plain IEEE adds (float32 adds for []float32). The work
// is spread as a reduce-scatter by data movement only: the buffer is cut into P
// contiguous chunks, rank r gathers chunk r of every rank (one all-to-all), sums it in
// rank order, and the summed chunks are all-gathered. Which rank sums which element
// does not enter the result, so it is independent of the chunking and equal, bit for
// bit, to the sequential rank-order sum (tested). The same world size, seed and data
// therefore give the same bits on every run; see docs/distributed.md for what a P-rank
// run does and does not share bits with a one-process run.
package dist

import (
	"errors"
	"fmt"
)

// Comm is a communicator over the ranks of a job. Every collective must be called by
// every rank, in the same order, with buffers of the same length (AllGather: recv of
// Size() times the length of send). Buffers are []float32, []float64 or []int64; the
// collectives block until the rank's part is done and keep no reference to the
// buffers. A Comm may be used from several goroutines (calls are serialized).
type Comm interface {
	// Rank is this process's rank in 0..Size()-1.
	Rank() int
	// Size is the number of ranks.
	Size() int
	// LocalRank is this process's rank among the ranks on its node (it chooses the
	// GPU); LocalSize is the number of ranks on its node.
	LocalRank() int
	LocalSize() int
	// Barrier returns once every rank has entered it.
	Barrier() error
	// Bcast copies root's buf into every other rank's buf.
	Bcast(buf any, root int) error
	// AllReduceSum replaces buf on every rank by the element-wise sum over the ranks,
	// in rank order 0..Size()-1 (see the package comment): the same bits on every
	// rank and on every run.
	AllReduceSum(buf any) error
	// AllGather sets recv (Size()*len(send) elements) to the concatenation of every
	// rank's send, in rank order.
	AllGather(send, recv any) error
	// Abort ends every rank of the job with status code (for an error on one rank that
	// would otherwise leave the others waiting in a collective). It does not return.
	Abort(code int)
	// Close ends the communicator (MPI_Finalize). Every rank must call it.
	Close() error
}

// ErrClosed is returned by a collective of a closed Comm.
var ErrClosed = errors.New("dist: communicator closed")

// raw is the data movement a communicator provides: collectives on byte buffers, no
// arithmetic. comm builds Comm's typed collectives and the fixed-order sum on it.
// Offsets are in bytes, off[k]..off[k+1] being rank k's block (len Size()+1).
type raw interface {
	rank() int
	size() int
	localRank() int
	localSize() int
	barrier() error
	bcast(buf []byte, root int) error
	// allgather: recv = concatenation of every rank's send (equal lengths).
	allgather(send, recv []byte) error
	// alltoallv: rank r's send[sendOff[k]:sendOff[k+1]] goes to rank k, which receives
	// it into recv[recvOff[r]:recvOff[r+1]].
	alltoallv(send []byte, sendOff []int, recv []byte, recvOff []int) error
	// allgatherv in place: every rank's buf[off[k]:off[k+1]] becomes rank k's.
	allgatherv(buf []byte, off []int) error
	abort(code int)
	close() error
}

// rankErr prefixes an error with the rank that saw it.
func rankErr(r raw, op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("dist: rank %d of %d: %s: %w", r.rank(), r.size(), op, err)
}
