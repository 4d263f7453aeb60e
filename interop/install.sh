#!/usr/bin/env bash
# Installs the real tus clients and peers pinned in this folder:
#   package.json + package-lock.json  -> interop/node_modules (npm ci)
#   requirements.txt                  -> interop/.venv (tuspy)
# and, with --browser, Debian's Chromium for the Uppy test.
# Idempotent and safe to run from several tests at once (one runs, the
# others wait). Both install folders are gitignored.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE"
exec 9>"$HERE/.install.lock"
flock 9

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "install.sh: node and npm are needed (Debian: apt-get install nodejs npm)" >&2
  exit 1
fi
stamp=node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  npm ci --no-audit --no-fund --loglevel=error >&2
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! cmp -s requirements.txt .venv/installed-requirements.txt; then
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt >&2
  cp requirements.txt .venv/installed-requirements.txt
fi

if [ "${1:-}" = "--browser" ] && ! command -v chromium >/dev/null; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "install.sh: Chromium is needed (Debian: apt-get install chromium)" >&2
    exit 1
  fi
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >&2
fi
echo "interop tools installed in $HERE"
