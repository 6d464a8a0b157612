"""Benchmark: vaiq calibration time per batch beside the float forward time of the same model.

Target (issue 3): one calibration batch costs at most 1.5x a float forward pass.
Usage: python scripts/bench_vaiq_calibration.py [--models resnet18,mobilenet_v2] [--batch 8] [--repeat 3]
"""
from __future__ import annotations

import statistics
import time

import click
import torch
from rich.console import Console
from rich.table import Table

from vaiq import torch_quantizer
from vaiq.zoo import MODELS, get_model


def _time(fn, repeat: int) -> float:
    fn()  # warm-up
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


@click.command()
@click.option("--models", default="resnet18,mobilenet_v2,squeezenet,digits_cnn,tiny_resnet")
@click.option("--batch", default=8, show_default=True)
@click.option("--repeat", default=3, show_default=True)
def main(models: str, batch: int, repeat: int) -> None:
    torch.manual_seed(0)
    table = Table(title=f"vaiq calibration cost (batch {batch}, median of {repeat}, {torch.get_num_threads()} threads)")
    for col in ("model", "input", "float forward ms", "calib batch ms", "ratio", "target <= 1.5"):
        table.add_column(col, justify="right")
    for name in models.split(","):
        spec = MODELS[name]
        model = get_model(name)
        shape = (batch,) + tuple(spec.input_shape[1:])
        x = torch.randn(*shape)
        q = torch_quantizer("calib", model, (torch.randn(*spec.input_shape),), output_dir="/tmp/bench_vaiq")
        with torch.no_grad():
            t_float = _time(lambda: model(x), repeat)
            t_calib = _time(lambda: q.quant_model(x), repeat)
        ratio = t_calib / t_float
        table.add_row(name, "x".join(map(str, shape)), f"{t_float * 1e3:.1f}", f"{t_calib * 1e3:.1f}",
                      f"{ratio:.2f}", "yes" if ratio <= 1.5 else "NO")
    Console().print(table)


if __name__ == "__main__":
    main()
