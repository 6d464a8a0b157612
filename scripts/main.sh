#!/usr/bin/env bash
# The main job on a fresh machine: set up (or reuse) .venv, then run the tutorial end to end on
# built-in synthetic data: generate, train, quantize (calib, test, deploy), compile for
# DPUCADF8H/U250 with vaic, run on the emulated DPU with vairun, and print float vs quantized vs
# emulated quality plus the estimated latency. Work files go to build_example/ (or $1).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/ffn_quantize.sh "${1:-build_example}"
bash scripts/ffn_compile_run.sh "${1:-build_example}" "${2:-DPUCADF8H/U250}"
