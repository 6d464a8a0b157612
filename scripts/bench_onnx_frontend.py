"""Benchmark: the ONNX frontend on zoo models exported with torch.onnx.export.

Per model: the export time (torch, for reference), load_onnx time (read, check, fold, build), the float
forward time of the loaded module beside onnxruntime's and the torch source's (batch 1, median of
--repeat runs), the largest difference to onnxruntime, and how many nodes the reference fallback runs.
Usage: python scripts/bench_onnx_frontend.py [--models resnet18,mobilenet_v2] [--repeat 10]
"""
from __future__ import annotations

import io
import time
import warnings

import click
import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from vairun.benchmark import steady_state
from vaiq.onnx_frontend import load_onnx
from vaiq.zoo import MODELS, get_model


@click.command()
@click.option("--models", default="resnet18,mobilenet_v2", show_default=True)
@click.option("--repeat", default=10, show_default=True, type=click.IntRange(min=1))
def main(models: str, repeat: int) -> None:
    import onnxruntime as ort

    torch.set_num_threads(1)
    table = Table(title="ONNX frontend: load_onnx and float forward (batch 1, 1 thread, median)")
    for col in ("model", "torch.onnx.export s", "load_onnx s", "module ms", "onnxruntime ms", "torch source ms",
                "max |diff| vs ort", "reference nodes"):
        table.add_column(col, justify="right")
    for name in models.split(","):
        shape = MODELS[name].input_shape
        net = get_model(name).eval()
        x = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
        buf = io.BytesIO()
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(net, (x,), buf, dynamo=False, input_names=["x"], opset_version=17)
        t_export = time.perf_counter() - t
        t = time.perf_counter()
        mod = load_onnx(buf.getvalue(), name=name)
        t_load = time.perf_counter() - t
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        sess = ort.InferenceSession(buf.getvalue(), so, providers=["CPUExecutionProvider"])
        xn = x.numpy()
        with torch.no_grad():
            t_mod = steady_state(lambda: mod(x), 1, 1, repeat).seconds_median
            t_src = steady_state(lambda: net(x), 1, 1, repeat).seconds_median
            diff = float(np.abs(mod(x).numpy() - sess.run(None, {"x": xn})[0]).max())
        t_ort = steady_state(lambda: sess.run(None, {"x": xn}), 1, 1, repeat).seconds_median
        table.add_row(name, f"{t_export:.2f}", f"{t_load:.2f}", f"{1e3 * t_mod:.1f}", f"{1e3 * t_ort:.1f}",
                      f"{1e3 * t_src:.1f}", f"{diff:.2e}", str(len(mod.reference_nodes)))
    Console(width=150).print(table)


if __name__ == "__main__":
    main()
