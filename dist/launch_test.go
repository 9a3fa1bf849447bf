package dist

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func envOf(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for _, s := range kv {
		k, v, _ := strings.Cut(s, "=")
		m[k] = v
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// TestDetectLaunch reads the environments that mpirun, srun --mpi=pmix, srun without
// an MPI plugin, an sbatch script's shell, the MPI Operator and hydra give a process.
func TestDetectLaunch(t *testing.T) {
	cases := []struct {
		name        string
		env         []string
		launcher    Launcher
		rank, size  int
		local       int
		slurmTasks  int
		trapAtWorld int // a world size that must be refused (0: none)
		okAtWorld   int // a world size that must pass
	}{
		{"nothing", nil, NoLauncher, -1, -1, -1, 0, 0, 1},
		{"mpirun -np 4",
			[]string{"OMPI_COMM_WORLD_SIZE=4", "OMPI_COMM_WORLD_RANK=2", "OMPI_COMM_WORLD_LOCAL_RANK=2", "OMPI_COMM_WORLD_LOCAL_SIZE=4"},
			MPIRun, 2, 4, 2, 0, 1, 4},
		{"mpi operator worker",
			[]string{"OMPI_COMM_WORLD_SIZE=8", "OMPI_COMM_WORLD_RANK=5", "OMPI_COMM_WORLD_LOCAL_RANK=1", "OMPI_COMM_WORLD_LOCAL_SIZE=4", "K_MPI_JOB_ROLE=worker", "KUBERNETES_SERVICE_HOST=10.0.0.1"},
			MPIOperator, 5, 8, 1, 0, 1, 8},
		{"mpi operator v1 hostfile",
			[]string{"OMPI_COMM_WORLD_SIZE=2", "OMPI_COMM_WORLD_RANK=0", "OMPI_MCA_orte_default_hostfile=/etc/mpi/hostfile"},
			MPIOperator, 0, 2, -1, 0, 1, 2},
		{"srun --mpi=pmix -n 8",
			[]string{"SLURM_JOB_ID=77", "SLURM_STEP_ID=0", "SLURM_STEP_NUM_TASKS=8", "SLURM_NTASKS=8", "SLURM_PROCID=3", "SLURM_LOCALID=3", "PMIX_RANK=3", "PMIX_NAMESPACE=slurm.pmix.77.0"},
			Slurm, 3, 8, 3, 8, 1, 8},
		{"srun --mpi=pmix, after Open MPI's init set OMPI_COMM_WORLD_*",
			[]string{"SLURM_JOB_ID=77", "SLURM_STEP_ID=0", "SLURM_STEP_NUM_TASKS=8", "PMIX_RANK=3", "OMPI_COMM_WORLD_SIZE=8", "OMPI_COMM_WORLD_RANK=3", "OMPI_COMM_WORLD_LOCAL_RANK=3"},
			Slurm, 3, 8, 3, 8, 1, 8},
		{"srun -n 4 without an MPI plugin: the trap",
			[]string{"SLURM_JOB_ID=78", "SLURM_STEP_ID=0", "SLURM_STEP_NUM_TASKS=4", "SLURM_NTASKS=4", "SLURM_PROCID=1", "SLURM_LOCALID=1"},
			SlurmNoMPI, 1, 4, 1, 4, 1, 4},
		{"sbatch --ntasks=4 script's shell running the binary directly: the trap",
			[]string{"SLURM_JOB_ID=79", "SLURM_NTASKS=4", "SLURM_PROCID=0"},
			SlurmNoMPI, 0, 4, -1, 4, 1, 4},
		{"sbatch --ntasks=1",
			[]string{"SLURM_JOB_ID=80", "SLURM_NTASKS=1", "SLURM_PROCID=0"},
			SlurmNoMPI, 0, 1, -1, 1, 0, 1},
		{"mpirun inside a Slurm allocation (orted started by srun; mpirun's env)",
			[]string{"SLURM_JOB_ID=82", "SLURM_STEP_ID=1", "SLURM_STEP_NUM_TASKS=2", "SLURM_NTASKS=16", "PMIX_RANK=5", "OMPI_COMM_WORLD_SIZE=16", "OMPI_COMM_WORLD_RANK=5", "OMPI_COMM_WORLD_LOCAL_RANK=5", "OMPI_MCA_orte_ess_num_procs=16"},
			MPIRun, 5, 16, 5, 2, 1, 16},
		{"hydra",
			[]string{"PMI_RANK=1", "PMI_SIZE=2", "MPI_LOCALRANKID=1"},
			OtherPMI, 1, 2, 1, 0, 1, 2},
		{"mpirun -np 4 inside an sbatch --ntasks=4 allocation",
			[]string{"SLURM_JOB_ID=81", "SLURM_NTASKS=4", "OMPI_COMM_WORLD_SIZE=4", "OMPI_COMM_WORLD_RANK=1", "OMPI_COMM_WORLD_LOCAL_RANK=1"},
			MPIRun, 1, 4, 1, 4, 1, 4},
	}
	for _, tc := range cases {
		l := DetectLaunchEnv(envOf(tc.env...))
		type fields struct {
			Launcher                          Launcher
			Rank, Size, LocalRank, SlurmTasks int
		}
		if !assert.Equal(t, fields{tc.launcher, tc.rank, tc.size, tc.local, tc.slurmTasks},
			fields{l.Launcher, l.Rank, l.Size, l.LocalRank, l.SlurmTasks}, "%s: got %+v", tc.name, l) {
			continue
		}
		if tc.trapAtWorld > 0 {
			err := l.SingleRankTrap(tc.trapAtWorld, false)
			if assert.Error(t, err, "%s: a world of %d passed", tc.name, tc.trapAtWorld) {
				t.Logf("%s: %v", tc.name, err)
			}
		}
		assert.NoError(t, l.SingleRankTrap(tc.okAtWorld, false), "%s: a world of %d refused", tc.name, tc.okAtWorld)
	}
	// mpirun -np 2 inside a 4-task allocation: mpirun's count rules.
	l := DetectLaunchEnv(envOf("SLURM_JOB_ID=81", "SLURM_NTASKS=4", "OMPI_COMM_WORLD_SIZE=2", "OMPI_COMM_WORLD_RANK=1"))
	assert.NoError(t, l.SingleRankTrap(2, false), "mpirun -np 2 in a 4-task allocation")
	// The deliberate single run inside a multi-task allocation.
	l = DetectLaunchEnv(envOf("SLURM_JOB_ID=79", "SLURM_NTASKS=4"))
	assert.NoError(t, l.SingleRankTrap(1, true), "GMVAE_DIST_ALLOW_SINGLE")
}

// TestOpenWithoutLauncher: with no launcher variables (as in `go test`), Open gives
// one process with no MPI, whatever the build tag.
func TestOpenWithoutLauncher(t *testing.T) {
	if l := DetectLaunch(); l.Launcher != NoLauncher {
		t.Skipf("started by a launcher: %s", l)
	}
	if !MPIBuilt() {
		c, l, err := Open()
		require.NoError(t, err, "Open")
		require.Equal(t, 1, c.Size(), "Open: %v %v: world size", c, l)
		require.Equal(t, NoLauncher, l.Launcher, "Open: %v %v: launcher", c, l)
		require.NoError(t, c.Close())
	}
}

// TestOpenRefusesTrap: a build without the mpi tag under a launcher that says 4 ranks
// refuses to run alone.
func TestOpenRefusesTrap(t *testing.T) {
	if MPIBuilt() {
		t.Skip("mpi build: ci/mpi-test.sh checks the trap on the built binary")
	}
	for _, env := range [][]string{
		{"OMPI_COMM_WORLD_SIZE=4", "OMPI_COMM_WORLD_RANK=0"},
		{"SLURM_JOB_ID=1", "SLURM_STEP_ID=0", "SLURM_STEP_NUM_TASKS=4"},
	} {
		_, err := open(DetectLaunchEnv(envOf(env...)))
		assert.ErrorContains(t, err, "-tags mpi", "%v", env)
	}
}
