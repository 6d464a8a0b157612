"""The TVM flow on ResNet-18 (issue 13): the project's zoo ResNet-18 exported to ONNX, then

- TVM import (``vai_tvm.from_onnx``) + ``partition_for_vitis_ai`` + ``relax.build`` time,
- time per inference during calibration (DPU partitions in float through vaiq's ONNX frontend, inputs
  recorded), the quantize + compile time at the switch (vaiq + vaic, all partitions), and the time per
  inference after it (DPU partitions on vairun's emulator),
- beside onnxruntime's and TVM's float time per inference of the same ONNX model.

Times are medians (and minima) of warm runs in one process, batch 1; calibration inputs are random
images (the numbers are about time, not accuracy).

Usage: python scripts/bench_tvm.py [--quant-size 8] [--after 3] [--size 224] [--dpu DPUCZDX8G-zcu104]
"""
from __future__ import annotations

import io
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import click
import numpy as np

from vairun.benchmark import steady_state


def _resnet18_onnx(size: int) -> bytes:
    import torch
    from vaiq.zoo import get_model
    model = get_model("resnet18", input_shape=(1, 3, size, size))
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 3, size, size),), f, input_names=["x"], output_names=["y"],
                          dynamo=False, opset_version=17)
    return f.getvalue()


def _stats(xs: list[float]) -> str:
    return f"{statistics.median(xs) * 1e3:9.1f} ms (min {min(xs) * 1e3:.1f})"


@click.command()
@click.option("--quant-size", default=8, show_default=True, type=click.IntRange(2, 100000),
              help="PX_QUANT_SIZE: float runs before the switch")
@click.option("--after", default=3, show_default=True, type=click.IntRange(1, 1000), help="runs timed after the switch")
@click.option("--float-runs", default=10, show_default=True, type=click.IntRange(1, 1000))
@click.option("--size", default=224, show_default=True, type=click.IntRange(32, 1024), help="input height and width")
@click.option("--dpu", default="DPUCZDX8G-zcu104", show_default=True)
def main(quant_size, after, float_runs, size, dpu):
    import onnxruntime as ort
    import tvm
    from rich.console import Console
    from rich.table import Table
    from tvm import relax

    import vai_tvm

    model = _resnet18_onnx(size)
    rng = np.random.RandomState(0)
    imgs = [rng.uniform(-1, 1, (1, 3, size, size)).astype(np.float32) for _ in range(quant_size + after)]

    sess = ort.InferenceSession(model)
    sess.run(None, {"x": imgs[0]})
    t_ort = list(steady_state(lambda: sess.run(None, {"x": imgs[0]}), 1, 0, float_runs).times)

    plain = relax.VirtualMachine(relax.build(vai_tvm.from_onnx(model, shape_dict={"x": [1, 3, size, size]}),
                                             target="llvm"), tvm.cpu())
    x0 = tvm.runtime.tensor(imgs[0])
    plain["main"](x0)
    t_tvm = list(steady_state(lambda: plain["main"](x0), 1, 0, float_runs).times)

    t0 = time.perf_counter()
    mod = vai_tvm.from_onnx(model, shape_dict={"x": [1, 3, size, size]})
    t1 = time.perf_counter()
    mod = vai_tvm.partition_for_vitis_ai(mod, dpu=dpu)
    t2 = time.perf_counter()
    ex = relax.build(mod, target="llvm")
    t3 = time.perf_counter()

    with tempfile.TemporaryDirectory() as tmp:
        m = vai_tvm.GraphModule(ex, quant_size=quant_size, build_dir=Path(tmp) / "build")
        calib = []
        for img in imgs[:quant_size - 1]:
            m.set_input("x", img)
            calib.append(steady_state(m.run, 1, 0, 1).seconds_min)
        m.set_input("x", imgs[quant_size - 1])
        t_last = steady_state(m.run, 1, 0, 1).seconds_min
        assert m.switched
        switch = m.switch_seconds
        dpu_runs = []
        for img in imgs[quant_size:]:
            m.set_input("x", img)
            dpu_runs.append(steady_state(m.run, 1, 0, 1).seconds_min)
        parts = len(m.parts)

    t = Table(title=f"TVM flow, ResNet-18 (zoo) from ONNX, 1x3x{size}x{size}, {dpu}, PX_QUANT_SIZE={quant_size}, "
                    f"{parts} DPU partition(s)")
    t.add_column("step")
    t.add_column("time", justify="right")
    t.add_row("TVM import (from_onnx)", f"{(t1 - t0) * 1e3:9.1f} ms")
    t.add_row("partition_for_vitis_ai", f"{(t2 - t1) * 1e3:9.1f} ms")
    t.add_row("relax.build (llvm)", f"{(t3 - t2) * 1e3:9.1f} ms")
    t.add_row("import + partition + build", f"{(t3 - t0) * 1e3:9.1f} ms")
    t.add_row("onnxruntime float, per inference", _stats(t_ort))
    t.add_row("TVM float build, per inference", _stats(t_tvm))
    t.add_row(f"calibration run (float + recording), per inference, {len(calib)} runs", _stats(calib))
    t.add_row("quantize + compile at the switch (vaiq + vaic)", f"{switch:9.1f} s")
    t.add_row(f"run {quant_size} (float + switch)", f"{t_last:9.1f} s")
    t.add_row(f"after the switch (DPU partitions on the emulator), per inference, {len(dpu_runs)} runs",
              _stats(dpu_runs))
    Console().print(t)


if __name__ == "__main__":
    main()
