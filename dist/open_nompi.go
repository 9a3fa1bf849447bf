//go:build !mpi

package dist

const mpiBuilt = false

// open without MPI: one process, unless the launcher says there are several.
func open(l Launch) (Comm, error) { return openSingle(l) }
