"""The cycle model against the one published figure (DPU_FACTS §7): ResNet-50 on KV260 (one B4096
core @ 300 MHz) takes about 13.0 ms of DPU time per frame (77.1 fps, several threads). Also prints
what a timing-only profile of it costs. The parameters are not tuned per model (docs/timing.md).

Emulator speed against torch (the issue 5 goals) is scripts/bench_emulator.py, which times torch and
the emulator in separate processes.

Usage: python scripts/bench_timing_model.py [--model resnet50] [--target DPUCZDX8G/KV260] [--workdir DIR]
"""
from __future__ import annotations

import tempfile
import time
import warnings
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

#: the published figure this script compares with (model, target) -> (ms per frame, frames/s, GOP/frame)
PUBLISHED = {("resnet50", "DPUCZDX8G/KV260"): (13.0, 77.1, 7.7)}


@click.command()
@click.option("--model", "name", default="resnet50", show_default=True, help="vaiq.zoo model")
@click.option("--target", default="DPUCZDX8G/KV260", show_default=True)
@click.option("--workdir", default=None, type=click.Path(file_okay=False),
              help="keep the compiled model here and reuse it (default: a temporary folder)")
def main(name: str, target: str, workdir: str | None) -> None:
    from zoo_quantize import compiled_xmodel as compiled_model
    from vairun import GraphRunner
    from vairun.profiling import profile_model

    warnings.simplefilter("ignore")
    console = Console()
    folder = Path(workdir) if workdir else Path(tempfile.mkdtemp())
    folder = folder / f"{name}_{target.replace('/', '_')}"
    folder.mkdir(parents=True, exist_ok=True)
    with console.status(f"quantizing and compiling {name} for {target}"):
        path = compiled_model(name, target, folder)
    runner = GraphRunner(path)
    t0 = time.perf_counter()
    p = profile_model(runner.model)
    t_prof = time.perf_counter() - t0
    t = Table(title=f"{name} on {target}: cycle model vs the published figure")
    for col in ("", "DPU ms/frame", "frames/s", "GOP/frame", "ops/cycle"):
        t.add_column(col, justify="right")
    t.add_row("vairun estimate", f"{p.latency_ms:.2f}", f"{p.fps:.1f}", f"{2 * p.macs / 1e9:.2f}",
              f"{2 * p.macs / max(p.cycles, 1):.0f} of {p.peak_ops_per_cycle}")
    pub = PUBLISHED.get((name, target))
    if pub:
        t.add_row("published (Vitis AI 1.4 model zoo)", f"{pub[0]:.1f}", f"{pub[1]:.1f}", f"{pub[2]:.1f}", "-")
    console.print(t)
    console.print("engine utilisation " + ", ".join(f"{k} {v * 100:.0f}%" for k, v in p.utilization.items())
                  + f"; timing-only profile took {t_prof * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
