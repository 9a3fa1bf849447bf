#!/usr/bin/env bash
# The multi-rank checks (engine/dist): installs Open MPI, vets and builds with
# `-tags mpi`, runs the MPI test binary alone (no launcher: one process, no MPI_Init)
# and under `mpirun -np 2` and `-np 4` on this one machine (oversubscribed, loopback
# only), checks the single-rank trap, and runs the all-reduce benchmark briefly.
# ci/test.sh runs it; `bash ci/mpi-test.sh` alone works too.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

bash ci/install-mpi.sh

# Open MPI on one machine, in a container, as root: shared memory and self only, the
# out-of-band channel on loopback, no CPU binding (ranks outnumber cores), and no
# single-copy (CMA) transport, which containers without ptrace rights refuse.
export OMPI_MCA_btl=self,vader
export OMPI_MCA_pml=ob1
export OMPI_MCA_oob_tcp_if_include=lo
export OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_hwloc_base_binding_policy=none
export OMPI_ALLOW_RUN_AS_ROOT=1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT

echo "== go vet / build -tags mpi (engine/dist)"
go vet -tags mpi ./engine/dist/...
go build -tags mpi ./engine/dist/...
go test -c -tags mpi -o "$bin/dist.test" ./engine/dist/
go build -tags mpi -o "$bin/distbench" ./engine/dist/cmd/distbench

mpi() {
  timeout 300 mpirun --oversubscribe --allow-run-as-root --bind-to none "$@"
}

echo "== MPI tests, one process without a launcher"
"$bin/dist.test" -test.run 'MPI' -test.count=1

for np in 2 4; do
  echo "== MPI tests, mpirun -np $np"
  status=0
  mpi -np "$np" "$bin/dist.test" -test.run 'MPI' -test.count=1 -test.v >"$bin/np$np.log" 2>&1 || status=$?
  if [ "$status" != 0 ]; then
    cat "$bin/np$np.log"
    echo "mpirun -np $np: exit status $status" >&2
    exit 1
  fi
  grep -E '^dist:|MPI ranks x batch|^PASS$' "$bin/np$np.log"
done

echo "== the single-rank trap: Slurm says 4 tasks, no MPI launcher"
if out=$(SLURM_JOB_ID=1 SLURM_STEP_ID=0 SLURM_STEP_NUM_TASKS=4 "$bin/distbench" -n 16 -iters 1 2>&1); then
  echo "the trap was not caught: $out" >&2
  exit 1
fi
case "$out" in
  *"single-rank trap"*) echo "refused, as it must be" ;;
  *) echo "unexpected error: $out" >&2; exit 1 ;;
esac

echo "== all-reduce benchmark (short): 1, 2, 4 ranks"
"$bin/distbench" -iters 3 -steps 1
for np in 2 4; do
  mpi -np "$np" "$bin/distbench" -iters 3 -steps 1
done
