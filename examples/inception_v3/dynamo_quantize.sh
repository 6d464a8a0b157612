#!/usr/bin/env bash
# usage: bash dynamo_quantize.sh path_to_pretrained_float_model path_to_imagenet_val_folder desired_quantize_result_path
# (CALIB_SET_LEN: images used, default 200; CONFIG: another config.yaml)
set -euo pipefail
source "$(dirname "$0")/_python.sh"
if [ $# -lt 3 ]; then
  echo "usage: bash $0 path_to_pretrained_float_model path_to_imagenet_val_folder desired_quantize_result_path" >&2
  exit 2
fi
exec "$PY" "$HERE/run.py" --phase quantize --float_model_path "$1" --calibration_images_folder "$2" \
  --quant_result_path "$3" ${CALIB_SET_LEN:+--calib_set_len "$CALIB_SET_LEN"} ${CONFIG:+--config "$CONFIG"}
