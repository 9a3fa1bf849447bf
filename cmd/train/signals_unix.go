//go:build unix

package main

import (
	"os"
	"syscall"
)

// stopSignals end a run at the next step with a checkpoint. SIGUSR1 is there for
// data-parallel runs: mpirun forwards it to every rank (`kill -USR1 <mpirun's pid>`),
// whereas on SIGINT/SIGTERM it kills the ranks itself, before they can checkpoint.
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGUSR1}
