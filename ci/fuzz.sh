#!/usr/bin/env bash
# Runs every fuzz target (func FuzzX(f *testing.F)) of the packages given (default:
# ./data/ ./checkpoint/ ./trainer/: the readers, the checkpoint loader and the
# configuration), one after another, each for FUZZTIME (default 5s). Their seed
# corpora and testdata/fuzz/ already run with every `go test`; this adds a short random
# search. A failing input is written to the package's testdata/fuzz/FuzzX/: fix the
# reader and commit the input as a regression seed.
#
#   bash ci/fuzz.sh                            # ./data/, 5 s per target
#   FUZZTIME=1m bash ci/fuzz.sh ./data/ ./metrics/
#   make fuzz                                  # 5 min per target
#
# FUZZMINIMIZETIME (default 10s) bounds the minimisation of each new input, which
# would otherwise take up to a minute of a short run.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

fuzztime=${FUZZTIME:-5s}
minimize=${FUZZMINIMIZETIME:-10s}
pkgs=("$@")
if [ ${#pkgs[@]} -eq 0 ]; then
  pkgs=(./data/ ./checkpoint/ ./trainer/)
fi

ran=0
for pkg in "${pkgs[@]}"; do
  # A package that does not build fails here, not silently with "no targets".
  list=$(go test -list '^Fuzz' "$pkg")
  mapfile -t targets < <(grep '^Fuzz' <<<"$list" || true)
  if [ ${#targets[@]} -eq 0 ]; then
    echo "== fuzz $pkg: no fuzz targets"
    continue
  fi
  for target in "${targets[@]}"; do
    echo "== fuzz $pkg $target ($fuzztime)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimize" "$pkg"
    ran=$((ran + 1))
  done
done
echo "== fuzz: $ran targets, $fuzztime each"
