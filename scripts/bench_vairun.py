"""Benchmark the emulator against the float torch forward of the same model, and the cycle model
against the one published figure (DPU_FACTS §7).

Targets (issue 5): emulator time per image at most 3x the float forward at batch 1 and at most 1.5x
per image at batch 8; a timing-only profile under 10 float forwards. Published: ResNet-50 on KV260
(one B4096 core @ 300 MHz) takes about 13.0 ms of DPU time per frame (77.1 fps, several threads).
Usage: python scripts/bench_vairun.py [--models resnet18,mobilenet_v2] [--target DPUCZDX8G/KV260]
"""
from __future__ import annotations

import statistics
import tempfile
import time
import warnings
from pathlib import Path

import click
import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from vaiq import torch_quantizer
from vaiq.zoo import MODELS, get_model


def compiled_model(name: str, target: str, folder: Path):
    from vaic.pipeline import compile_graph
    from vaic.writer import write_outputs
    spec = MODELS[name]
    model = get_model(name)
    x = torch.randn(*spec.input_shape)
    q = torch_quantizer("calib", model, (x,), output_dir=str(folder))
    with torch.no_grad():
        q.quant_model(torch.randn(2, *spec.input_shape[1:]))
    q.export_quant_config()
    path = torch_quantizer("test", model, (x,), output_dir=str(folder)).export_xmodel()
    res = compile_graph(path, target)
    return model, write_outputs(res, folder / "out", name)[f"{name}.xmodel"], res


def best(fn, repeat: int) -> float:
    fn()
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return min(ts) if repeat < 3 else statistics.median(ts)


@click.command()
@click.option("--models", default="resnet18,mobilenet_v2")
@click.option("--target", default="DPUCZDX8G/KV260", show_default=True)
@click.option("--repeat", default=3, show_default=True)
@click.option("--resnet50/--no-resnet50", default=True, show_default=True, help="report the ResNet-50 estimate")
def main(models: str, target: str, repeat: int, resnet50: bool) -> None:
    from vairun import GraphRunner
    from vairun.profiling import profile_model

    warnings.simplefilter("ignore")
    console = Console()
    table = Table(title=f"vairun emulator vs float torch forward ({target}, {torch.get_num_threads()} threads)")
    for col in ("model", "batch", "torch ms/img", "emulator ms/img", "ratio", "target", "met",
                "profile ms", "profile / forward"):
        table.add_column(col, justify="right")
    for name in models.split(","):
        folder = Path(tempfile.mkdtemp())
        model, path, res = compiled_model(name, target, folder)
        runner = GraphRunner(path)
        shape = MODELS[name].input_shape
        for batch, goal in ((1, 3.0), (8, 1.5)):
            x = torch.randn(batch, *shape[1:])
            xn = np.ascontiguousarray(x.numpy().transpose(0, 2, 3, 1))
            with torch.no_grad():
                t_torch = best(lambda: model(x), repeat) / batch
            t_emu = best(lambda: runner.run([xn]), repeat) / batch
            t_prof = best(lambda: profile_model(runner.model), repeat)
            ratio = t_emu / t_torch
            table.add_row(name, str(batch), f"{t_torch * 1e3:.1f}", f"{t_emu * 1e3:.1f}", f"{ratio:.2f}",
                          f"<= {goal}", "yes" if ratio <= goal else "NO", f"{t_prof * 1e3:.1f}",
                          f"{t_prof / (t_torch * batch):.2f}")
    console.print(table)
    if resnet50:
        folder = Path(tempfile.mkdtemp())
        _, path, res = compiled_model("resnet50", "DPUCZDX8G/KV260", folder)
        p = profile_model(GraphRunner(path).model)
        t = Table(title="ResNet-50 on KV260 (B4096 @ 300 MHz): cycle model vs the published figure")
        for col in ("", "DPU ms/frame", "frames/s", "GOP/frame", "ops/cycle"):
            t.add_column(col, justify="right")
        t.add_row("vairun estimate", f"{p.latency_ms:.2f}", f"{p.fps:.1f}", f"{2 * p.macs / 1e9:.2f}",
                  f"{2 * p.macs / max(p.cycles, 1):.0f} of {p.peak_ops_per_cycle}")
        t.add_row("published (Vitis AI 1.4 model zoo)", "13.0", "77.1", "7.7", "-")
        cpu = [s.get_name() for s in res.subgraphs if s.get_attr("device") == "CPU"]
        console.print(t)
        console.print(f"DPU subgraphs {len(res.dpu_subgraphs)}, CPU subgraphs {len(cpu)}; engine utilisation "
                      + ", ".join(f"{k} {v * 100:.0f}%" for k, v in p.utilization.items()))


if __name__ == "__main__":
    main()
