"""Runs inside the separate AMD Quark virtual environment that ``scripts/vaiq_accuracy.py --with-quark``
creates (never imported by the project): quantizes a float ONNX model with Quark's XINT8 configuration
(int8, symmetric, power-of-two scales, MinMSE calibration, per tensor) on the given calibration inputs,
then runs the quantized model with onnxruntime on the test inputs and saves its outputs.

Usage: <quark venv>/bin/python scripts/quark_xint8.py FLOAT.onnx CALIB.npy TEST.npy OUT_DIR
Writes OUT_DIR/quark_xint8.onnx and OUT_DIR/quark_logits.npy.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization.calibrate import CalibrationDataReader
from quark.onnx import XINT8_QCONFIG, ModelQuantizer


class ArrayReader(CalibrationDataReader):
    """Feeds the calibration array in batches under the model's input name."""

    def __init__(self, name: str, data: np.ndarray, batch: int = 100):
        self.batches = [{name: data[i:i + batch]} for i in range(0, len(data), batch)]
        self.pos = 0

    def get_next(self):
        if self.pos >= len(self.batches):
            return None
        self.pos += 1
        return self.batches[self.pos - 1]

    def rewind(self):
        self.pos = 0


def main(float_onnx: str, calib_npy: str, test_npy: str, out_dir: str) -> None:
    out = Path(out_dir)
    calib, test = np.load(calib_npy).astype(np.float32), np.load(test_npy).astype(np.float32)
    name = ort.InferenceSession(float_onnx, providers=["CPUExecutionProvider"]).get_inputs()[0].name
    qpath = out / "quark_xint8.onnx"
    ModelQuantizer(XINT8_QCONFIG).quantize_model(float_onnx, str(qpath), ArrayReader(name, calib))
    sess = ort.InferenceSession(str(qpath), providers=["CPUExecutionProvider"])
    ys = [sess.run(None, {name: test[i:i + 256]})[0] for i in range(0, len(test), 256)]
    np.save(out / "quark_logits.npy", np.concatenate(ys))


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(*sys.argv[1:])
