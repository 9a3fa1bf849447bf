#!/usr/bin/env bash
# The mutation test of the kernel comparison suite (docs/mutants.md): changes one float
# instruction of the shipped PTX from .rn to .rz at a time, runs the emulator
# comparison of that instruction's kernel on the planted PTX, and reports how many of
# the changes the suite catches (killed), how many it misses (survived) and which
# survivors are equivalent (no input can tell them apart; each proven in
# docs/mutants.md). Fails when fewer than 90 % of the non-equivalent mutants die.
#
#   bash ci/mutants.sh [-n N] [-seed S] [-kernels k1,k2] [-ops fma,add] [-sites m:l,...]
#                      [-mode rz|rm|rp] [-keep DIR] [-min PCT] [-v]
#
#   -n N        sites sampled, evenly spread over all float sites (default 100; 0: all
#               5,463, about 11 minutes on 2 cores)
#   -seed S     the sample's seed (default 1)
#   -kernels    sample only the sites of these kernels;  -ops: only these operations
#   -sites      run exactly these sites (module:line, as the report names them)
#   -mode       the rounding put in place of .rn (default rz)
#   -keep DIR   keep each survivor's planted module in DIR/module-line/, to replay it:
#                 GMVAE_KERNELTEST_PTXDIR=DIR/module-line GMVAE_KERNELTEST_KERNELS=kernel \
#                   go test -run 'TestEmulatorMatchesTwins$' ./engine/kerneltest/
#   -min PCT    the least score that passes (default 90)
#   -v          list every mutant with its fate
#
# `make mutants` runs it with the defaults.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
export GMVAE_MUTANTS=1
verbose=()
while [ $# -gt 0 ]; do
  case $1 in
  -n) export GMVAE_MUTANTS_N=$2 && shift ;;
  -seed) export GMVAE_MUTANTS_SEED=$2 && shift ;;
  -kernels) export GMVAE_MUTANTS_KERNELS=$2 && shift ;;
  -ops) export GMVAE_MUTANTS_OPS=$2 && shift ;;
  -sites) export GMVAE_MUTANTS_SITES=$2 && shift ;;
  -mode) export GMVAE_MUTANTS_MODE=$2 && shift ;;
  -keep) GMVAE_MUTANTS_KEEP=$(mkdir -p "$2" && cd "$2" && pwd) && export GMVAE_MUTANTS_KEEP && shift ;;
  -min) export GMVAE_MUTANTS_MIN=$2 && shift ;;
  -v) verbose=(-test.v) ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | sed '$d' >&2
    exit 2
    ;;
  esac
  shift
done
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go test -c -o "$bin/kerneltest.test" ./engine/kerneltest/
start=$SECONDS
status=0
# The test prints its report on stdout; -test.timeout 0: a run of every site is long.
(cd engine/kerneltest && "$bin/kerneltest.test" -test.run '^TestMutants$' -test.timeout 0 "${verbose[@]}") || status=$?
echo "mutants.sh: $((SECONDS - start))s"
exit "$status"
