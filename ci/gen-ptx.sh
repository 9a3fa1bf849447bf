#!/usr/bin/env bash
# Compiles kernels/*.cu to PTX with the project's fixed flags into the directory given
# as $1 (default: kernels/). Further arguments name modules to compile (default: all).
#
# nvcc writes the source's absolute path into the PTX (.file) and hashes it into
# internal symbol names, so sources are compiled from one fixed staging directory: the
# PTX is then byte-identical whatever the clone's location. A lock serialises
# concurrent runs, which share that directory.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-kernels}
shift || true
case "$out" in /*) ;; *) out="$top/$out" ;; esac
stage=/tmp/gmvae-kernels-stage
flags=(-ptx -arch=compute_70 -fmad=false -ftz=false -prec-div=true -prec-sqrt=true -lineinfo)
mkdir -p "$out"
exec 9>"$stage.lock"
flock 9
rm -rf "$stage" && mkdir -p "$stage"
cp "$top"/kernels/*.cu "$top"/kernels/*.cuh "$stage"/ 2>/dev/null || true
cd "$stage"
if [ $# -gt 0 ]; then mods=("$@"); else mods=(); for cu in *.cu; do mods+=("${cu%.cu}"); done; fi
for m in "${mods[@]}"; do
  nvcc "${flags[@]}" "$m.cu" -o "$out/$m.ptx"
done
