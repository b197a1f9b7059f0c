#!/usr/bin/env bash
# Digit Lab set-up: a virtual environment in .venv with everything the dashboard needs (Ray, for sweeps, is the
# optional extra: .venv/bin/python -m pip install -e ".[cluster]").
#   bash scripts/setup.sh          # runtime only (dashboard, training, evaluation)
#   bash scripts/setup.sh --test   # plus pytest, Playwright, Debian's chromium (browser tests), ruff and Ray (requirements-dev.txt)
# MNIST is not downloaded here: the dashboard and the scripts fetch and verify it on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
want_tests=0
for arg in "$@"; do
  case "$arg" in
    --test) want_tests=1 ;;
    *) echo "setup.sh: unknown argument '$arg' (use --test or nothing)" >&2; exit 2 ;;
  esac
done
python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "setup.sh: Python 3.11 or newer is needed ($python is $("$python" --version 2>&1))" >&2; exit 2
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv
if [ "$want_tests" = 1 ]; then
  .venv/bin/python -m pip install --quiet -r requirements-dev.txt
  if ! command -v chromium >/dev/null 2>&1; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    echo "Installing Debian's chromium for the browser test (apt-get)…"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium
  fi
else
  .venv/bin/python -m pip install --quiet -r requirements.txt
fi
# the digitlab package itself (core, dashboard, scripts), editable: the checkout is what runs
.venv/bin/python -m pip install --quiet --no-deps -e .
echo "Digit Lab environment ready in .venv"
