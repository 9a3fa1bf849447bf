#!/usr/bin/env bash
# Builds the GPU kit (ci/gpu-build.sh) and checks that what travels to a GPU machine
# fits: the working tree as the device tool copies it (tracked files and untracked
# ones git does not ignore) plus gpu-bin/ must stay under 48 MiB, a margin below the
# tool's limit of 64 MiB for the tree and the carried paths together. Prints the sizes;
# exits 1 when over. KIT_LIMIT_MIB overrides the limit; --no-build measures the gpu-bin
# already there.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
limit_mib=${KIT_LIMIT_MIB:-48}
if [ "${1:-}" != --no-build ]; then
  bash ci/gpu-build.sh >/dev/null
fi
[ -d gpu-bin ] || {
  echo "gpu-kit-size: no gpu-bin/ (run without --no-build)" >&2
  exit 1
}
# Files of the tree that exist (a tracked file deleted in the work tree does not travel).
tree=$(git ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' f; do [ -f "$f" ] && [ ! -L "$f" ] && printf '%s\0' "$f"; done |
  du -cb --files0-from=- | tail -1 | cut -f1)
bin=$(du -cb gpu-bin | tail -1 | cut -f1)
total=$((tree + bin))
limit=$((limit_mib * 1024 * 1024))
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
echo "gpu-bin:      $(mib "$bin")"
du -b gpu-bin/* | sort -k2 | while read -r b f; do echo "  $f $(mib "$b")"; done
echo "working tree: $(mib "$tree")"
echo "kit:          $(mib "$total") (limit $limit_mib MiB)"
if [ "$total" -gt "$limit" ]; then
  echo "gpu-kit-size: the kit is over $limit_mib MiB" >&2
  exit 1
fi
