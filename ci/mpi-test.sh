#!/usr/bin/env bash
# The multi-rank and deployment checks: lints the scripts and manifests, installs
# Open MPI, vets and builds with `-tags mpi`, runs the MPI test binary alone (no
# launcher: one process, no MPI_Init) and under `mpirun -np 2` and `-np 4` on this one
# machine (oversubscribed, loopback only), checks the single-rank trap, runs the
# all-reduce benchmark briefly, and runs the Docker image's build steps
# (ci/image-build.sh) outside Docker. ci/test.sh runs it after its own installs;
# `bash ci/mpi-test.sh` alone works too.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

bash ci/deploy-lint.sh
bash ci/install-mpi.sh

# Open MPI on one machine, as root: shared memory and self only, the out-of-band
# channel on loopback, no CPU binding (ranks outnumber cores). The shared-memory
# transport's single-copy mode (CMA) is chosen below when this machine allows it.
export OMPI_MCA_btl=self,vader
export OMPI_MCA_pml=ob1
export OMPI_MCA_oob_tcp_if_include=lo
export OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_hwloc_base_binding_policy=none
export OMPI_ALLOW_RUN_AS_ROOT=1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT

echo "== go vet / build -tags mpi (dist)"
go vet -tags mpi ./dist/... ./trainer/ ./cmd/distbench/
go build -tags mpi ./dist/... ./cmd/distbench/
go test -c -tags mpi -o "$bin/dist.test" ./dist/
go test -c -tags mpi -o "$bin/trainer.test" ./trainer/
go build -tags mpi -o "$bin/distbench" ./cmd/distbench

mpi() {
  timeout 300 mpirun --oversubscribe --allow-run-as-root --bind-to none "$@"
}

# CMA (process_vm_readv) copies a large message in one go; without it (containers
# without ptrace rights) messages go through 32 KB fragments that two oversubscribed
# ranks hand back and forth, up to a second per all-reduce when the cores are busy.
if OMPI_MCA_btl_vader_single_copy_mechanism=cma mpi -np 2 "$bin/dist.test" -test.run 'MPILaunch' >/dev/null 2>&1; then
  export OMPI_MCA_btl_vader_single_copy_mechanism=cma
else
  export OMPI_MCA_btl_vader_single_copy_mechanism=none
fi
echo "== shared-memory single copy: $OMPI_MCA_btl_vader_single_copy_mechanism"

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
  grep -E '^dist:|MPI ranks|^PASS$' "$bin/np$np.log"
  echo "== models A and B, mpirun -np $np"
  mpi -np "$np" "$bin/trainer.test" -test.run 'MPIModels' -test.count=1 -test.v >"$bin/models$np.log" 2>&1 || {
    cat "$bin/models$np.log"; echo "models under mpirun -np $np failed" >&2; exit 1; }
  grep -E 'MPI ranks|^PASS$' "$bin/models$np.log"
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

echo "== the Docker image's build steps, outside Docker"
bash ci/install-cuda.sh
bash ci/image-build.sh "$bin/image"
