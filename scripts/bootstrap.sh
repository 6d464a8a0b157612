#!/usr/bin/env bash
# Creates (or reuses) the virtual environment .venv and installs the project with what it needs.
# Safe to run again: it reinstalls only when pyproject.toml, setup.py or the compiled kernels' source
# (vairun/emu/fast/_native.c) changed since the last install.
# VAI_VENV overrides the venv location; PYTHON the interpreter that creates it (>= 3.10).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VAI_VENV:-.venv}
PY=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
  echo "creating virtual environment $VENV" >&2
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.vitis-ai-py-installed"
want=$(cat pyproject.toml setup.py vairun/emu/fast/_native.c scripts/bootstrap.sh | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "installing torch 2.13.0 (CPU) and the project into $VENV" >&2
  # torch first and pinned: an unpinned torch would pull a CUDA build with several GB of packages.
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "torch==2.13.0"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[test,ray,png,tvm]"
  echo "$want" > "$stamp"
fi
