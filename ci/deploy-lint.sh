#!/usr/bin/env bash
# Lints what can be linted of deploy/ without a Docker engine or a cluster: the Slurm
# batch script (shellcheck; ci/test.sh shellchecks ci/*.sh) and the Kubernetes manifest
# (yamllint), and the Dockerfile (dockerfilelint, when npx is there). The first two
# come from Debian when missing (as root).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

need=()
command -v shellcheck >/dev/null 2>&1 || need+=(shellcheck)
command -v yamllint >/dev/null 2>&1 || need+=(yamllint)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "deploy-lint: missing ${need[*]}; install them (apt-get install ${need[*]})" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

echo "== shellcheck"
shellcheck deploy/*.sbatch
echo "== yamllint"
yamllint -d '{extends: default, rules: {line-length: {max: 100}, document-start: disable}}' deploy/*.yaml
# The Dockerfile, where Node is at hand (dockerfilelint from the npm registry).
if command -v npx >/dev/null 2>&1; then
  echo "== dockerfilelint"
  npx --yes dockerfilelint@1.8.0 Dockerfile
else
  echo "== dockerfilelint skipped: no npx"
fi
