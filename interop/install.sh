#!/usr/bin/env bash
# Installs the real tus clients and peers pinned in this folder:
#   node    package.json + package-lock.json -> interop/node_modules (npm ci)
#   python  requirements.txt                 -> interop/.venv (tuspy)
# Usage: interop/install.sh [node] [python]   (both when none is named)
# Node.js, npm, Python and Chromium themselves come from the machine
# (.ci/run installs them with apt-get). Idempotent and safe to run from
# several tests at once (one runs, the others wait). Both install folders
# are gitignored.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE"
exec 9>"$HERE/.install.lock"
flock 9

scopes=("$@")
[ ${#scopes[@]} -gt 0 ] || scopes=(node python)
for scope in "${scopes[@]}"; do
  case "$scope" in
    node)
      if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        echo "install.sh: node and npm are needed (Debian: apt-get install nodejs npm)" >&2
        exit 1
      fi
      stamp=node_modules/.package-lock.json
      if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
        npm ci --no-audit --no-fund --loglevel=error >&2
      fi
      ;;
    python)
      if [ ! -x .venv/bin/python ]; then
        python3 -m venv .venv
      fi
      if ! cmp -s requirements.txt .venv/installed-requirements.txt; then
        .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt >&2
        cp requirements.txt .venv/installed-requirements.txt
      fi
      ;;
    *)
      echo "install.sh: unknown part $scope (node or python)" >&2
      exit 2
      ;;
  esac
done
echo "interop clients installed in $HERE"
