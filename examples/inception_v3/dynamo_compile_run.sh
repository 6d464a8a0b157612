#!/usr/bin/env bash
# usage: bash dynamo_compile_run.sh path_to_pretrained_float_model path_to_the_quantized_result_path [IMAGE_OR_FOLDER]
# (CONFIG: another config.yaml)
set -euo pipefail
source "$(dirname "$0")/_python.sh"
if [ $# -lt 2 ]; then
  echo "usage: bash $0 path_to_pretrained_float_model path_to_the_quantized_result_path [IMAGE_OR_FOLDER]" >&2
  exit 2
fi
exec "$PY" "$HERE/run.py" --phase compile --float_model_path "$1" --quant_result_path "$2" ${CONFIG:+--config "$CONFIG"} ${3:+"$3"}
