#!/usr/bin/env bash
# Runs on the GPU machine (copied there by ci/gpu-build.sh as gpu-bin/unpack.sh; run.sh
# and quality.sh call it first): restores every compressed binary NAME.xz of its folder
# to NAME, executable, unless NAME is already there and newer. Uses xz, or python3's
# lzma module where xz is missing.
set -euo pipefail
cd "$(dirname "$0")"
for z in *.xz; do
  [ -e "$z" ] || continue
  out=${z%.xz}
  if [ -x "$out" ] && [ "$out" -nt "$z" ]; then
    continue
  fi
  if command -v xz >/dev/null; then
    xz -dc "$z" >"$out.tmp"
  elif command -v python3 >/dev/null; then
    python3 -c 'import lzma, shutil, sys
with lzma.open(sys.argv[1]) as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)' "$z" "$out.tmp"
  else
    echo "unpack.sh: neither xz nor python3 is here to decompress $z" >&2
    exit 1
  fi
  chmod +x "$out.tmp"
  mv "$out.tmp" "$out"
done
