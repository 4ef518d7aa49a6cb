#!/usr/bin/env bash
# Sets up a fresh machine for SkinLens: a Python venv with the pinned packages, and with --test
# also the npm packages (to check the vendored tfjs) and a Chromium for the browser tests.
#   bash scripts/setup.sh          # to serve the app and train
#   bash scripts/setup.sh --test   # to run the tests as well
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
if [ "${1:-}" = "--test" ]; then
  .venv/bin/python -m pip install --quiet -e ".[test]"
  if ! command -v npm >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
  fi
  npm ci --no-audit --no-fund --loglevel=error
  if [ -z "${SKINLENS_CHROMIUM:-}" ] && ! command -v chromium >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get update -qq && apt-get install -y -qq chromium >/dev/null
    else
      # With internet and no system Chromium, Playwright can fetch its own build.
      .venv/bin/python -m playwright install chromium
    fi
  fi
else
  .venv/bin/python -m pip install --quiet -e .
fi
