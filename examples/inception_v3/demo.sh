#!/usr/bin/env bash
# The example end to end without ImageNet: synthetic JPEGs in an ImageNet-style folder and a generated
# checkpoint with torchvision's Inception-v3 keys, then both scripts. usage: bash demo.sh [WORK_DIR]
set -euo pipefail
source "$(dirname "$0")/_python.sh"
WORK=${1:-build_inception_demo}
"$PY" "$HERE/make_demo_data.py" "$WORK"
bash "$HERE/dynamo_quantize.sh" "$WORK/inception_v3_demo.pth" "$WORK/imagenet_val" "$WORK/quant_result"
bash "$HERE/dynamo_compile_run.sh" "$WORK/inception_v3_demo.pth" "$WORK/quant_result" "$WORK/imagenet_val"
