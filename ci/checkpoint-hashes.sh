#!/usr/bin/env bash
# Prints the SHA-256 of the checkpoint (and the run's config and metrics without the
# clock) that a short CPU run of each model writes. A refactoring must leave every line
# unchanged: compare the output before and after.
#
#   bash ci/checkpoint-hashes.sh [OUTDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-$(mktemp -d)}
go build -o "$out/train" ./cmd/train
run() {
  local name=$1; shift
  rm -rf "${out:?}/$name"
  "$out/train" -device cpu -subset 600 -test-subset 300 -epochs 2 -no-pictures -out "$out/$name" "$@" >/dev/null 2>&1
  printf '%s  %s\n' "$(sha256sum <"$out/$name/checkpoint.safetensors" | cut -c1-64)" "$name $*"
}
run a-default
run a-bn -batch-norm -hidden 64,32 -init torch -m 2 -lambda 0.5 -p-grad authors
run a-gauss -likelihood gaussian -dz 8 -dw 4 -hidden 32
run b-exact -model shu
run b-gumbel -model shu -gumbel -batch 64 -binarize=false
run b-gauss -model shu -likelihood gaussian -binarize=false -hidden 32 -dz 8
