"""Benchmark: vaic compile time beside the time torch.export takes to capture the same model.

Target (issue 4): compiling costs at most 2x capturing (ResNet-50, 1x3x224x224). Capture is timed twice:
the first torch.export of the model in the process (what a user's script pays) and a second one
(torch's caches warm); the target column judges against the second, the stricter one.
Usage: python scripts/bench_vaic_compile.py [--models resnet50,resnet18] [--target DPUCZDX8G/KV260]
"""
from __future__ import annotations

import tempfile
import time
import warnings
from pathlib import Path

import click
import torch
from rich.console import Console
from rich.table import Table

from zoo_quantize import quantized_xmodel
from vaiq.zoo import MODELS, get_model


@click.command()
@click.option("--models", default="resnet50,resnet18,mobilenet_v2")
@click.option("--target", default="DPUCZDX8G/KV260", show_default=True)
def main(models: str, target: str) -> None:
    from vaic.pipeline import compile_graph
    from vaic.writer import write_outputs

    table = Table(title=f"vaic compile time vs torch.export capture ({target})")
    for col in ("model", "export 1st s", "export again s", "vaic compile s", "ratio 1st", "ratio again",
                "target <= 2", "DPU subgraphs", "instructions"):
        table.add_column(col, justify="right")
    for name in models.split(","):
        spec = MODELS[name]
        model = get_model(name).eval()
        x = torch.randn(*spec.input_shape)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            torch.export.export(model, (x,), strict=False)
            t_export = time.perf_counter() - t0
            t0 = time.perf_counter()
            torch.export.export(model, (x,), strict=False)
            t_again = time.perf_counter() - t0
        folder = Path(tempfile.mkdtemp())
        path = quantized_xmodel(name, folder, calib_batch=1)
        t0 = time.perf_counter()
        res = compile_graph(path, target)
        write_outputs(res, folder / "compiled", name)
        t_compile = time.perf_counter() - t0
        n_instr = sum(len(p.instructions) for p in res.programs.values())
        ratio, ratio2 = t_compile / t_export, t_compile / t_again
        table.add_row(name, f"{t_export:.2f}", f"{t_again:.2f}", f"{t_compile:.2f}", f"{ratio:.2f}", f"{ratio2:.2f}",
                      "yes" if ratio2 <= 2 else ("first call only" if ratio <= 2 else "NO"),
                      str(len(res.dpu_subgraphs)), str(n_instr))
    Console().print(table)


if __name__ == "__main__":
    main()
