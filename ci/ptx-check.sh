#!/usr/bin/env bash
# PTX checks (shared/design/ARCHITECTURE.md, "Kernels"):
#   1. regenerate every module with the fixed flags and fail on any difference from the
#      committed kernels/*.ptx (and on a .cu without .ptx or a .ptx without .cu);
#   2. assemble each module with ptxas for sm_70, sm_80 and sm_90 with -warn-spills
#      -Werror, printing every kernel's registers;
# The lint (no .approx, .ftz, float atomics, unrounded float ops) runs as a Go test in
# kernels/ (TestLintShippedPTX), so it also guards `go test ./...`.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

echo "== ptx: regenerate and compare"
bash ci/gen-ptx.sh "$scratch"
fail=0
for cu in kernels/*.cu; do
  m=$(basename "$cu" .cu)
  if [ ! -f "kernels/$m.ptx" ]; then
    echo "kernels/$m.ptx is missing: run 'make kernels' and commit it"; fail=1; continue
  fi
  if ! cmp -s "$scratch/$m.ptx" "kernels/$m.ptx"; then
    echo "kernels/$m.ptx differs from what kernels/$m.cu compiles to: run 'make kernels' and commit it"
    diff "kernels/$m.ptx" "$scratch/$m.ptx" | head -20 || true
    fail=1
  fi
done
for ptx in kernels/*.ptx; do
  m=$(basename "$ptx" .ptx)
  [ -f "kernels/$m.cu" ] || { echo "kernels/$m.ptx has no kernels/$m.cu"; fail=1; }
done
[ $fail = 0 ] || exit 1
ptx_files=(kernels/*.ptx)
echo "PTX up to date: ${#ptx_files[@]} modules"

echo "== ptxas: sm_70, sm_80, sm_90 (-warn-spills -Werror)"
for arch in sm_70 sm_80 sm_90; do
  for ptx in kernels/*.ptx; do
    if ! ptxas -arch="$arch" -v -warn-spills -Werror "$ptx" -o "$scratch/out.cubin" 2>"$scratch/ptxas.log"; then
      cat "$scratch/ptxas.log"; echo "ptxas failed: $ptx for $arch"; exit 1
    fi
    # One line per kernel: arch, kernel, registers, shared memory, spills.
    awk -v arch="$arch" '
      /Compiling entry function/ { split($0, q, "\x27"); fn = q[2] }
      /bytes stack frame/        { spill = $0; sub(/^ptxas info *: */, "", spill) }
      /Used [0-9]+ registers/    { reg = $0; sub(/^ptxas info *: */, "", reg); printf "%-6s %-22s %s | %s\n", arch, fn, reg, spill }
    ' "$scratch/ptxas.log"
  done
done
