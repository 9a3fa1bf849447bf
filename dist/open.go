package dist

import "fmt"

// Open returns the communicator of this process's job, as the launcher set it up:
//
//   - no launcher variables (DetectLaunch): Single, with no MPI at all, whether or not
//     the binary was built with the mpi tag;
//   - a launcher, in a binary built with `-tags mpi`: MPI_Init_thread and the MPI
//     communicator over MPI_COMM_WORLD;
//   - a launcher that says several ranks, in a binary built without the tag: an error
//     (every rank would run alone);
//   - the silent single-rank trap (Launch.SingleRankTrap): an error.
//
// It also returns what DetectLaunch saw, for the run's log.
func Open() (Comm, Launch, error) {
	l := DetectLaunch()
	c, err := open(l)
	return c, l, err
}

// MPIBuilt reports whether the binary was built with the mpi tag.
func MPIBuilt() bool { return mpiBuilt }

func openSingle(l Launch) (Comm, error) {
	if err := l.SingleRankTrap(1, allowSingle()); err != nil {
		if !mpiBuilt {
			return nil, fmt.Errorf("%w\n(this binary was built without -tags mpi: build it with `go build -tags mpi`, which needs libopenmpi-dev)", err)
		}
		return nil, err
	}
	return Single(), nil
}
