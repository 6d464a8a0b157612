#!/usr/bin/env bash
# The tutorial's deployment half (the shape of the original dynamo_compile_run.sh):
# compile the quantized FFN for a DPU (default DPUCADF8H/U250), run the test set on the emulator,
# print float vs quantized vs emulated quality and the estimated latency, write a profile report.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/.venv/bin}
WORK=${1:-$ROOT/build_example}
ARCH=${2:-DPUCADF8H/U250}
cd "$WORK"
"$BIN/vai_c_xir" -x quantize_result/FFN_int.xmodel -a "$ARCH" -o compile_output -n ffn
"$BIN/vairun" info compile_output/ffn.xmodel
"$BIN/python" "$ROOT/examples/ffn/evaluate_emulated.py" --model compile_output/ffn.xmodel --data_dir data --checkpoint ffn.pth
"$BIN/vairun" profile compile_output/ffn.xmodel --json compile_output/profile.json --html compile_output/profile.html -q
echo "profile: $WORK/compile_output/profile.json and profile.html"
