#!/usr/bin/env bash
# The clustering benchmark (bench/cluster/run.py): this engine's default recipe, vade,
# kmeans and gmm against scikit-learn's KMeans and GaussianMixture on MNIST, iris,
# wine, breast cancer and five synthetic sets; prints one table (Hungarian ACC and NMI,
# mean ± s.d. over seeds, median wall time per run).
#
#   bash bench/cluster/run.sh                          # everything, 5 seeds (hours: MNIST vade)
#   bash bench/cluster/run.sh --sets iris,wine,moons   # a few sets
#   bash bench/cluster/run.sh --quick --seeds 1        # smoke test: 2 epochs of vade
#
# Runs are kept in --out (default bench/cluster/out) and reused, so an interrupted
# benchmark continues where it stopped. Installs Debian's python3-sklearn when missing
# (a benchmark dependency only). Our runs use GOMAXPROCS=1 each (set GOMAXPROCS to
# change it); scikit-learn runs with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
if ! /usr/bin/python3 -c 'import sklearn, scipy' 2>/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-sklearn >/dev/null
fi
mkdir -p bench/cluster/out
go build -o bench/cluster/out/train ./cmd/train
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/cluster/run.py --train bench/cluster/out/train "$@"
