#!/usr/bin/env bash
# The tutorial's quantization half (the shape of the original dynamo_quantize.sh):
# synthetic data -> training -> calibration -> test + deploy exports, in WORK (default build_example).
# Assumes the project is installed (bash scripts/bootstrap.sh) and .venv/bin is the python to use.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PY:-$ROOT/.venv/bin/python}
WORK=${1:-$ROOT/build_example}
mkdir -p "$WORK" && cd "$WORK"
EX="$ROOT/examples/ffn"
"$PY" "$EX/generate_data.py" --n_samples 10000 --output_dir data --seed 42
"$PY" "$EX/run.py" --train --evaluate --data_dir data --checkpoint ffn.pth --seed 42
"$PY" "$EX/vai_q_pytorch_quant.py" --quant_mode calib --data_dir data --checkpoint ffn.pth --output_dir quantize_result
"$PY" "$EX/vai_q_pytorch_quant.py" --quant_mode test --deploy --data_dir data --checkpoint ffn.pth --output_dir quantize_result
