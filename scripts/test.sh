#!/usr/bin/env bash
# Sets up (or reuses) .venv and runs the test suite. Extra arguments go to pytest
# (e.g. `bash scripts/test.sh -m slow` for the slow end-to-end cases, `-m "slow or not slow"` for all).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec "${VAI_VENV:-.venv}/bin/python" -m pytest "$@"
