#!/usr/bin/env bash
# Regenerates fixtures.ptx from fixtures.cu with the project's fixed flags. The PTX is
# committed so that the emulator's tests need no nvcc. Compiled from a fixed staging
# path so the output does not depend on the clone's location.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
stage=/tmp/gmvae-emu-fixtures-stage
rm -rf "$stage" && mkdir -p "$stage"
cp "$here/fixtures.cu" "$stage/"
cd "$stage"
nvcc -ptx -arch=compute_70 -fmad=false -ftz=false -prec-div=true -prec-sqrt=true -lineinfo fixtures.cu -o "$here/fixtures.ptx"
