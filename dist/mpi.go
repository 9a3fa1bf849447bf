//go:build mpi

package dist

// The MPI binding: a thin cgo layer over Open MPI's C API (4.1, Debian's
// libopenmpi-dev). Only data movement is used (MPI_Bcast, MPI_Allgather,
// MPI_Alltoallv, MPI_Allgatherv on MPI_BYTE, MPI_Barrier): never MPI_SUM, whose order
// is unspecified. Errors come back as Go errors (MPI_ERRORS_RETURN on the world
// communicator), named by MPI_Error_string.

/*
#cgo pkg-config: mpi-c
#include <mpi.h>
#include <stdlib.h>

// Open MPI may install handlers for SIGSEGV, SIGBUS, SIGFPE and SIGILL (its
// opal_signal parameter) to print stack traces; the Go runtime owns those signals (a
// nil dereference is a panic through SIGSEGV), so opal_signal is set empty unless the
// user set it. TestMPIGoSignals checks that Go's signals still work after MPI_Init.
static int gm_init(int *provided, int *already) {
	int flag = 0;
	MPI_Initialized(&flag);
	*already = flag;
	if (!flag) {
		setenv("OMPI_MCA_opal_signal", "", 0);
		int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, provided);
		if (rc != MPI_SUCCESS) return rc;
	} else {
		MPI_Query_thread(provided);
	}
	return MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
}

static int gm_thread_serialized(void) { return MPI_THREAD_SERIALIZED; }

static int gm_ranks(int *rank, int *size, int *lrank, int *lsize) {
	int rc = MPI_Comm_rank(MPI_COMM_WORLD, rank);
	if (rc != MPI_SUCCESS) return rc;
	rc = MPI_Comm_size(MPI_COMM_WORLD, size);
	if (rc != MPI_SUCCESS) return rc;
	MPI_Comm node;
	rc = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
	if (rc != MPI_SUCCESS) return rc;
	MPI_Comm_rank(node, lrank);
	MPI_Comm_size(node, lsize);
	return MPI_Comm_free(&node);
}

static int gm_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD); }

static int gm_bcast(void *buf, int n, int root) {
	return MPI_Bcast(buf, n, MPI_BYTE, root, MPI_COMM_WORLD);
}

static int gm_allgather(void *send, void *recv, int n) {
	return MPI_Allgather(send, n, MPI_BYTE, recv, n, MPI_BYTE, MPI_COMM_WORLD);
}

static int gm_alltoallv(void *send, int *sc, int *sd, void *recv, int *rc, int *rd) {
	return MPI_Alltoallv(send, sc, sd, MPI_BYTE, recv, rc, rd, MPI_BYTE, MPI_COMM_WORLD);
}

static int gm_allgatherv(void *buf, int *c, int *d) {
	return MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, c, d, MPI_BYTE, MPI_COMM_WORLD);
}

static int gm_finalize(void) {
	int f = 0;
	MPI_Finalized(&f);
	if (f) return MPI_SUCCESS;
	return MPI_Finalize();
}

static void gm_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

static void gm_error_string(int code, char *buf, int cap) {
	char s[MPI_MAX_ERROR_STRING];
	int len = 0;
	if (MPI_Error_string(code, s, &len) != MPI_SUCCESS) len = 0;
	if (len >= cap) len = cap - 1;
	for (int i = 0; i < len; i++) buf[i] = s[i];
	buf[len] = 0;
}

static void gm_version(char *buf, int cap) {
	char s[MPI_MAX_LIBRARY_VERSION_STRING];
	int len = 0;
	if (MPI_Get_library_version(s, &len) != MPI_SUCCESS) len = 0;
	if (len >= cap) len = cap - 1;
	for (int i = 0; i < len; i++) buf[i] = s[i];
	buf[len] = 0;
}
*/
import "C"

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"unsafe"
)

const mpiBuilt = true

// open under the mpi tag: MPI when a launcher started the process, else one process
// with no MPI at all (no singleton MPI_Init, which would start an orted).
func open(l Launch) (Comm, error) {
	if l.Launcher == NoLauncher || l.Launcher == SlurmNoMPI {
		return openSingle(l)
	}
	m, err := initMPI()
	if err != nil {
		return nil, err
	}
	if err := l.SingleRankTrap(m.sz, allowSingle()); err != nil {
		m.close()
		return nil, err
	}
	return newComm(m), nil
}

// OpenMPI initialises MPI whatever the environment says (a singleton world of one
// rank without a launcher) and returns its communicator. Open is what a trainer calls.
func OpenMPI() (Comm, error) {
	m, err := initMPI()
	if err != nil {
		return nil, err
	}
	return newComm(m), nil
}

// LibraryVersion returns MPI_Get_library_version's string (first line).
func LibraryVersion() string {
	buf := make([]byte, 512)
	C.gm_version((*C.char)(unsafe.Pointer(&buf[0])), C.int(len(buf)))
	s := C.GoString((*C.char)(unsafe.Pointer(&buf[0])))
	s, _, _ = strings.Cut(s, "\n")
	return strings.TrimSpace(s)
}

type mpiComm struct {
	rk, sz, lrk, lsz int
	fin              chan chan C.int // to the thread that initialised MPI: finalize
	// counts and displacements for the v-collectives, reused.
	sc, sd, rc, rd []C.int
}

func mpiErr(op string, code C.int) error {
	if code == 0 { // MPI_SUCCESS
		return nil
	}
	buf := make([]byte, 512)
	C.gm_error_string(code, (*C.char)(unsafe.Pointer(&buf[0])), C.int(len(buf)))
	return fmt.Errorf("%s: MPI error %d: %s", op, int(code), C.GoString((*C.char)(unsafe.Pointer(&buf[0]))))
}

// initMPI initialises MPI on a goroutine locked to its own OS thread, which then
// waits to finalize it: MPI wants MPI_Finalize on the thread that called
// MPI_Init_thread (its "main thread"), and a Go program may call Close from any
// goroutine, on any thread. The other calls may come from any thread (thread level
// SERIALIZED or MULTIPLE; comm serializes them).
func initMPI() (*mpiComm, error) {
	type result struct {
		provided, already C.int
		code              C.int
	}
	started := make(chan result)
	fin := make(chan chan C.int)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		var r result
		r.code = C.gm_init(&r.provided, &r.already)
		ok := r.code == 0 && r.already == 0 && r.provided >= C.gm_thread_serialized()
		if r.code == 0 && r.already == 0 && !ok {
			C.gm_finalize()
		}
		started <- r
		if !ok {
			return
		}
		reply := <-fin
		reply <- C.gm_finalize()
	}()
	r := <-started
	if err := mpiErr("MPI_Init_thread", r.code); err != nil {
		return nil, fmt.Errorf("dist: %w", err)
	}
	if r.provided < C.gm_thread_serialized() {
		return nil, fmt.Errorf("dist: MPI provides thread level %d, below MPI_THREAD_SERIALIZED: "+
			"Go runs a goroutine's calls on any OS thread, so this MPI cannot be used", int(r.provided))
	}
	m := &mpiComm{}
	if r.already == 0 {
		m.fin = fin // we initialised MPI, so we finalize it; otherwise its owner does
	}
	var rk, sz, lrk, lsz C.int
	if err := mpiErr("MPI_Comm_rank/size/split_type", C.gm_ranks(&rk, &sz, &lrk, &lsz)); err != nil {
		m.close()
		return nil, fmt.Errorf("dist: %w", err)
	}
	m.rk, m.sz, m.lrk, m.lsz = int(rk), int(sz), int(lrk), int(lsz)
	m.sc, m.sd = make([]C.int, m.sz), make([]C.int, m.sz)
	m.rc, m.rd = make([]C.int, m.sz), make([]C.int, m.sz)
	return m, nil
}

func (m *mpiComm) rank() int      { return m.rk }
func (m *mpiComm) size() int      { return m.sz }
func (m *mpiComm) localRank() int { return m.lrk }
func (m *mpiComm) localSize() int { return m.lsz }

// ptr returns the address of b's first byte (nil for an empty slice; MPI does not
// read it for a count of 0).
func ptr(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }

func count(op string, n int) (C.int, error) {
	if n < 0 || n > math.MaxInt32 {
		return 0, fmt.Errorf("%s: a message of %d bytes is beyond MPI's int counts", op, n)
	}
	return C.int(n), nil
}

func (m *mpiComm) barrier() error { return mpiErr("MPI_Barrier", C.gm_barrier()) }

func (m *mpiComm) bcast(buf []byte, root int) error {
	n, err := count("MPI_Bcast", len(buf))
	if err != nil {
		return err
	}
	return mpiErr("MPI_Bcast", C.gm_bcast(ptr(buf), n, C.int(root)))
}

func (m *mpiComm) allgather(send, recv []byte) error {
	n, err := count("MPI_Allgather", len(send))
	if err != nil {
		return err
	}
	if _, err := count("MPI_Allgather", len(recv)); err != nil {
		return err
	}
	return mpiErr("MPI_Allgather", C.gm_allgather(ptr(send), ptr(recv), n))
}

// offsets fills counts and displacements from P+1 byte offsets.
func offsets(op string, off []int, c, d []C.int) error {
	for k := range c {
		if _, err := count(op, off[k+1]); err != nil {
			return err
		}
		c[k], d[k] = C.int(off[k+1]-off[k]), C.int(off[k])
	}
	return nil
}

func (m *mpiComm) alltoallv(send []byte, sendOff []int, recv []byte, recvOff []int) error {
	if err := offsets("MPI_Alltoallv", sendOff, m.sc, m.sd); err != nil {
		return err
	}
	if err := offsets("MPI_Alltoallv", recvOff, m.rc, m.rd); err != nil {
		return err
	}
	return mpiErr("MPI_Alltoallv", C.gm_alltoallv(ptr(send), &m.sc[0], &m.sd[0], ptr(recv), &m.rc[0], &m.rd[0]))
}

func (m *mpiComm) allgatherv(buf []byte, off []int) error {
	if err := offsets("MPI_Allgatherv", off, m.rc, m.rd); err != nil {
		return err
	}
	return mpiErr("MPI_Allgatherv", C.gm_allgatherv(ptr(buf), &m.rc[0], &m.rd[0]))
}

func (m *mpiComm) abort(code int) {
	fmt.Fprintf(os.Stderr, "dist: rank %d of %d: MPI_Abort(%d)\n", m.rk, m.sz, code)
	C.gm_abort(C.int(code))
	os.Exit(code)
}

// close finalizes MPI on the thread that initialised it (once; not at all when MPI
// was initialised by someone else).
func (m *mpiComm) close() error {
	if m.fin == nil {
		return nil
	}
	reply := make(chan C.int)
	m.fin <- reply
	m.fin = nil
	return mpiErr("MPI_Finalize", <-reply)
}
