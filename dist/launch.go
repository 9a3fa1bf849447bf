package dist

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Launcher names what started the process, as its environment tells.
type Launcher string

const (
	// NoLauncher: started by hand (or by a batch script's own shell): one process.
	NoLauncher Launcher = "none"
	// MPIRun: Open MPI's mpirun/mpiexec (OMPI_COMM_WORLD_*).
	MPIRun Launcher = "mpirun"
	// MPIOperator: mpirun run by the Kubernetes MPI Operator's launcher pod
	// (OMPI_COMM_WORLD_* plus K_MPI_JOB_ROLE, or the operator's hostfile).
	MPIOperator Launcher = "k8s-mpi-operator"
	// Slurm: srun, directly launching MPI ranks through PMIx (srun --mpi=pmix):
	// SLURM_STEP_ID with PMIX_RANK.
	Slurm Launcher = "slurm"
	// SlurmNoMPI: srun or an sbatch script without an MPI plugin: Slurm's own task
	// variables but no PMIx/PMI ones. Several tasks started this way would each run
	// alone (the silent single-rank trap); Open refuses that.
	SlurmNoMPI Launcher = "slurm (no MPI)"
	// OtherPMI: another process manager speaking PMI/PMIx (MPICH's hydra, PRRTE).
	OtherPMI Launcher = "pmi"
)

// Launch is what the environment says about the job: the launcher and, where it
// says them, this process's rank, the world size and the rank and size on this node
// (-1 where the launcher does not say). SlurmTasks is the number of tasks Slurm
// expects in the job step (or, in a batch script, in the allocation); 0 outside Slurm.
type Launch struct {
	Launcher             Launcher
	Rank, Size           int
	LocalRank, LocalSize int
	SlurmTasks           int
	// SlurmStep is the Slurm job step ("" outside a step: a batch script's shell).
	SlurmStep string
	// Vars lists the variables the decision was made from, for messages.
	Vars []string
}

// Multi reports whether the launcher says the job has more than one rank.
func (l Launch) Multi() bool { return l.Size > 1 || l.SlurmTasks > 1 }

// String describes the launch in one line.
func (l Launch) String() string {
	s := string(l.Launcher)
	if l.Size >= 0 {
		s += fmt.Sprintf(": rank %d of %d", l.Rank, l.Size)
	}
	if l.LocalRank >= 0 {
		s += fmt.Sprintf(", local rank %d", l.LocalRank)
		if l.LocalSize >= 0 {
			s += fmt.Sprintf(" of %d", l.LocalSize)
		}
	}
	if l.SlurmTasks > 0 {
		s += fmt.Sprintf(", slurm tasks %d", l.SlurmTasks)
	}
	return s
}

// DetectLaunch reads the launcher's variables from the process environment.
func DetectLaunch() Launch { return DetectLaunchEnv(os.LookupEnv) }

// DetectLaunchEnv reads the launcher's variables through getenv (os.LookupEnv, or a
// map's lookup in tests). The checks, in order:
//
//   - OMPI_COMM_WORLD_SIZE/RANK/LOCAL_RANK/LOCAL_SIZE: Open MPI's launcher (mpirun,
//     or the orted of a Kubernetes MPI Operator worker, told apart by K_MPI_JOB_ROLE or
//     OMPI_MCA_orte_default_hostfile=/etc/mpi/hostfile);
//   - PMIX_RANK (+ SLURM_STEP_ID: srun --mpi=pmix) or PMI_RANK/PMI_SIZE (hydra);
//   - SLURM_PROCID/SLURM_STEP_NUM_TASKS/SLURM_NTASKS/SLURM_LOCALID: Slurm without
//     MPI variables;
//   - otherwise no launcher.
func DetectLaunchEnv(getenv func(string) (string, bool)) Launch {
	l := Launch{Launcher: NoLauncher, Rank: -1, Size: -1, LocalRank: -1, LocalSize: -1}
	num := func(name string) int {
		v, ok := getenv(name)
		if !ok {
			return -1
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 {
			return -1
		}
		l.note(name, v)
		return n
	}
	str := func(name string) string {
		v, ok := getenv(name)
		if ok {
			l.note(name, v)
		}
		return v
	}
	has := func(name string) bool { _, ok := getenv(name); return ok }

	// Slurm's view, whatever the launcher.
	if has("SLURM_JOB_ID") || has("SLURM_JOBID") {
		l.SlurmStep = str("SLURM_STEP_ID")
		if l.SlurmStep == "" {
			l.SlurmStep = str("SLURM_STEPID")
		}
		if n := num("SLURM_STEP_NUM_TASKS"); n > 0 && l.SlurmStep != "" {
			l.SlurmTasks = n
		} else if n := num("SLURM_NTASKS"); n > 0 {
			l.SlurmTasks = n
		} else if n := num("SLURM_NPROCS"); n > 0 {
			l.SlurmTasks = n
		}
	}

	switch {
	case has("OMPI_COMM_WORLD_SIZE"):
		l.Launcher = MPIRun
		if has("K_MPI_JOB_ROLE") || str("OMPI_MCA_orte_default_hostfile") == "/etc/mpi/hostfile" {
			str("K_MPI_JOB_ROLE")
			l.Launcher = MPIOperator
		}
		l.Size, l.Rank = num("OMPI_COMM_WORLD_SIZE"), num("OMPI_COMM_WORLD_RANK")
		l.LocalRank, l.LocalSize = num("OMPI_COMM_WORLD_LOCAL_RANK"), num("OMPI_COMM_WORLD_LOCAL_SIZE")
		if l.SlurmStep != "" && has("PMIX_RANK") && !has("OMPI_MCA_orte_ess_num_procs") {
			// Open MPI under srun sets OMPI_COMM_WORLD_* itself from PMIx.
			l.Launcher = Slurm
		}
	case has("PMIX_RANK") && l.SlurmStep != "":
		l.Launcher = Slurm
		l.Rank = num("PMIX_RANK")
		l.Size = num("SLURM_STEP_NUM_TASKS")
		l.LocalRank, l.LocalSize = num("SLURM_LOCALID"), num("SLURM_STEP_TASKS_PER_NODE")
	case has("PMIX_RANK") || has("PMI_RANK"):
		l.Launcher = OtherPMI
		l.Rank = num("PMIX_RANK")
		if l.Rank < 0 {
			l.Rank = num("PMI_RANK")
		}
		l.Size = num("PMI_SIZE")
		l.LocalRank = num("MPI_LOCALRANKID")
		l.LocalSize = num("MPI_LOCALNRANKS")
	case l.SlurmTasks > 0:
		l.Launcher = SlurmNoMPI
		l.Rank, l.LocalRank = num("SLURM_PROCID"), num("SLURM_LOCALID")
		l.Size = l.SlurmTasks
	}
	if l.LocalSize < 0 && l.Size == 1 {
		l.LocalSize = 1
	}
	return l
}

// note records a variable once.
func (l *Launch) note(name, v string) {
	kv := name + "=" + v
	for _, x := range l.Vars {
		if x == kv {
			return
		}
	}
	l.Vars = append(l.Vars, kv)
}

// SingleRankTrap returns an error when the launcher says the job has several tasks
// but the communicator has worldSize ranks (1: every task would train alone on the
// whole data and they would overwrite each other's run folder), or when an MPI
// launcher's world size disagrees with the communicator's. Open calls it; the
// variable GMVAE_DIST_ALLOW_SINGLE=1 turns the Slurm check off for a deliberate
// single-process run inside a multi-task allocation.
func (l Launch) SingleRankTrap(worldSize int, allowSingle bool) error {
	if l.Size > 0 && l.Size != worldSize && l.Launcher != SlurmNoMPI {
		return fmt.Errorf("dist: the launcher (%s) says %d ranks but MPI sees %d (%s): "+
			"was the binary started by a different MPI than it was built against?",
			l.Launcher, l.Size, worldSize, strings.Join(l.Vars, " "))
	}
	// Under mpirun (even inside a Slurm allocation) mpirun's count is the job's; Slurm's
	// task count is checked when Slurm started the process.
	slurmStarted := l.Launcher == Slurm || l.Launcher == SlurmNoMPI
	if slurmStarted && l.SlurmTasks > 1 && worldSize != l.SlurmTasks && !allowSingle {
		how := "start it with `srun --mpi=pmix` (check `srun --mpi=list`) inside the allocation, " +
			"or with mpirun"
		return fmt.Errorf("dist: Slurm says %d tasks but this process sees a world of %d rank(s): "+
			"each task would train alone on the whole data set (the silent single-rank trap). "+
			"A binary built with -tags mpi is needed, and %s. For a deliberate single-process "+
			"run set GMVAE_DIST_ALLOW_SINGLE=1. (%s)",
			l.SlurmTasks, worldSize, how, strings.Join(l.Vars, " "))
	}
	return nil
}

// allowSingle reads GMVAE_DIST_ALLOW_SINGLE.
func allowSingle() bool {
	v := os.Getenv("GMVAE_DIST_ALLOW_SINGLE")
	return v == "1" || v == "true"
}
