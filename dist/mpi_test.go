//go:build mpi

package dist

// The MPI tests: the same suites as the in-process world, on the MPI communicator.
// ci/mpi-test.sh runs this test binary under `mpirun -np 2` and `-np 4`; started
// without a launcher it runs them on a single process (no MPI_Init).

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"

	"github.com/gmvae/gmvae/engine"
)

var world Comm

// MPIWorld gives the external tests (model_mpi_test.go) the job's communicator.
func MPIWorld() Comm { return world }

func TestMain(m *testing.M) {
	c, l, err := Open()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	world = c
	if c.Rank() == 0 {
		fmt.Printf("dist: %s; launch: %s; %s\n", LibraryVersion(), l, c)
	}
	code := m.Run()
	// Every rank learns whether any rank failed, so that all exit alike.
	fails := []int64{int64(code)}
	if err := c.AllReduceSum(fails); err != nil {
		fmt.Fprintln(os.Stderr, err)
		c.Abort(3)
	}
	if err := c.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	if fails[0] != 0 {
		code = 1
	}
	os.Exit(code)
}

// must stops the whole job on an error: a rank that returned from a test while the
// others wait in a collective would hang them.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		fmt.Fprintf(os.Stderr, "rank %d of %d: %s: %v\n", world.Rank(), world.Size(), t.Name(), err)
		world.Abort(1)
	}
}

func TestMPICollectives(t *testing.T) {
	must(t, collectiveSuite(world))
}

// TestMPILaunch checks what the launcher said against what MPI says.
func TestMPILaunch(t *testing.T) {
	l := DetectLaunch()
	if l.Launcher == NoLauncher {
		if world.Size() != 1 {
			must(t, fmt.Errorf("no launcher but a world of %d", world.Size()))
		}
		return
	}
	if l.Size != world.Size() || l.Rank != world.Rank() {
		must(t, fmt.Errorf("launcher says rank %d of %d, MPI rank %d of %d", l.Rank, l.Size, world.Rank(), world.Size()))
	}
	if l.LocalRank >= 0 && l.LocalRank != world.LocalRank() {
		must(t, fmt.Errorf("launcher says local rank %d, MPI %d", l.LocalRank, world.LocalRank()))
	}
	// One node here: the node communicator is the world.
	lr := make([]int64, world.Size())
	must(t, world.AllGather([]int64{int64(world.LocalRank())}, lr))
	seen := map[int64]bool{}
	for _, x := range lr {
		if x < 0 || x >= int64(world.LocalSize()) || seen[x] {
			must(t, fmt.Errorf("local ranks %v (local size %d)", lr, world.LocalSize()))
		}
		seen[x] = true
	}
}

// TestMPIGoSignals: after MPI_Init the Go runtime still owns its signals: a nil
// dereference is a recoverable panic (SIGSEGV), and goroutine preemption (SIGURG)
// works while collectives run.
func TestMPIGoSignals(t *testing.T) {
	func() {
		defer func() {
			if recover() == nil {
				must(t, fmt.Errorf("nil dereference did not panic"))
			}
		}()
		var p *int
		_ = *p
	}()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := 0; i < runtime.GOMAXPROCS(0)+1; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := 0
			for {
				select {
				case <-stop:
					return
				default:
					x++
				}
			}
		}()
	}
	for i := 0; i < 20; i++ {
		must(t, world.Barrier())
		buf := rankData(4096, world.Rank())
		must(t, world.AllReduceSum(buf))
	}
	close(stop)
	wg.Wait()
}

// TestMPIDataParallel trains the data-parallel loop on the MPI world: (a) twice, with
// identical parameter bytes after every step; (b) bit-equal to the in-process world of
// the same size and to one process with the same micro-batches, within dpTol of one
// process with the whole batch; (c) identical parameters and Adam moments on every
// rank after every step (CheckSame inside trainDP).
func TestMPIDataParallel(t *testing.T) {
	p := world.Size()
	a, err := trainDP(world, engine.NewCPU(), 1)
	must(t, err)
	b, err := trainDP(world, engine.NewCPU(), 1)
	must(t, err)
	for i := range a.digest {
		if a.digest[i] != b.digest[i] {
			must(t, fmt.Errorf("%d ranks: two runs differ after step %d", p, i+1))
		}
	}
	// The references, computed by every rank on its own.
	local, err := trainWorld(p, 1)
	must(t, err)
	if err := sameBits32(a.params, local.params); err != nil {
		must(t, fmt.Errorf("MPI world and in-process world of %d differ: %w", p, err))
	}
	micro, err := trainDP(Single(), engine.NewCPU(), p)
	must(t, err)
	whole, err := trainDP(Single(), engine.NewCPU(), 1)
	must(t, err)
	sum, err := compareDP(a, micro, whole)
	must(t, err)
	if world.Rank() == 0 {
		t.Logf("%d MPI ranks x batch %d: same bits twice, as the in-process world, as 1 process x %d micro-batches; %s",
			p, dpBatch/p, p, sum)
	}
}
