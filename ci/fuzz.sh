#!/usr/bin/env bash
# Runs every fuzz target (func FuzzX(f *testing.F)) of the packages given (default:
# ./data/ ./checkpoint/ ./trainer/: the readers, the checkpoint loader and the
# configuration), one after another. Their seed corpora and testdata/fuzz/ already run
# with every `go test`; this adds a short random search. A failing input is written to
# the package's testdata/fuzz/FuzzX/: fix the reader and commit the input as a
# regression seed.
#
# Budgets are execution counts, not durations. Go 1.26's fuzzing coordinator can fail a
# duration-bounded run (-fuzztime 5s) with a bare "context deadline exceeded" when a
# worker is still inside an input as the time runs out (golang/go#75804, fixed in Go
# 1.27); on a loaded 2-core CI machine that happened to FuzzLoad (stop 18). A count
# (-fuzztime 800x) has no deadline to race, and a hanging input still ends in the test
# timeout. Each target's count is in its doc comment, as a line
#     // fuzz-execs: 800
# sized to about 5 s on a 2-core machine; a target without one gets 20000.
#
#   bash ci/fuzz.sh                            # data/, checkpoint/, trainer/: ~5 s a target
#   FUZZSCALE=60 bash ci/fuzz.sh ./data/       # 60 times each count (~5 min a target)
#   FUZZTIME=1m bash ci/fuzz.sh ./metrics/     # a duration instead (may hit go#75804)
#   make fuzz                                  # FUZZSCALE=60
#
# FUZZMINIMIZETIME (default 10s) bounds the minimisation of each new input, which
# would otherwise take up to a minute of a short run.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

scale=${FUZZSCALE:-1}
minimize=${FUZZMINIMIZETIME:-10s}
default_execs=20000
if ! [[ $scale =~ ^[1-9][0-9]*$ ]]; then
  echo "fuzz.sh: FUZZSCALE=$scale: want a positive whole number" >&2
  exit 2
fi
pkgs=("$@")
if [ ${#pkgs[@]} -eq 0 ]; then
  pkgs=(./data/ ./checkpoint/ ./trainer/)
fi

# execs_of DIR TARGET: the "fuzz-execs: N" of TARGET's doc comment in DIR's tests, or
# the default. The comment block is the run of // lines just above "func TARGET(".
execs_of() {
  local n
  n=$(awk -v fn="func $2(" '
    /^\/\// { if ($0 ~ /fuzz-execs:/) { sub(/.*fuzz-execs:[ \t]*/, ""); found = $1 } ; next }
    index($0, fn) == 1 { if (found != "") print found; exit }
    { found = "" }
  ' "$1"/*_test.go)
  if [ -z "$n" ]; then
    echo "$default_execs"
  elif [[ $n =~ ^[1-9][0-9]*$ ]]; then
    echo "$n"
  else
    echo "fuzz.sh: $1: $2's fuzz-execs is \"$n\": want a positive whole number" >&2
    return 2
  fi
}

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
    if [ -n "${FUZZTIME:-}" ]; then
      budget=$FUZZTIME
    else
      execs=$(execs_of "$pkg" "$target")
      budget="$((execs * scale))x"
    fi
    echo "== fuzz $pkg $target ($budget)"
    start=$SECONDS
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$budget" -fuzzminimizetime "$minimize" "$pkg"
    echo "== fuzz $pkg $target: $((SECONDS - start)) s"
    ran=$((ran + 1))
  done
done
echo "== fuzz: $ran targets"
