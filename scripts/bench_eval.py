"""Throughput of ``vairun eval`` (issue 14): images/s of ResNet-18 compiled for DPUCZDX8G/KV260 on 1, 2
(and, on a bigger machine, N = CPU count) local workers, and on Ray (``--ray local``) with the same
numbers of workers.

Goals: 2 local workers at least 1.7x one worker on a 2-core machine; Ray within 15% of the local
pool at equal workers. images/s counts worker start-up and model loading (what ``--json`` reports):
each worker pays about 2 CPU-seconds of start-up and a slow first shard on ResNet-18, so ``--images``
(default 192) sets how far that is amortised. Every run is a fresh ``vairun eval`` process, and every
configuration runs on the same inputs and must give the same top-1/top-5 (checked, printed).

On a machine shared with other work, read the ``CPU share`` column: the CPU time the local run's
processes got over its wall time and workers (Linux's autogroup scheduling gives all processes of one
terminal session one share, so local workers started from a busy session get less than a core each;
Ray's processes run in a session of their own and are not measured here).

Usage: python scripts/bench_eval.py [--model resnet18] [--images 192] [--batch 8] [--workdir DIR]
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import click
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

GOAL_SCALING = 1.7
GOAL_RAY = 0.15


def compiled(name: str, folder: Path) -> Path:
    out = folder / "out" / f"{name}.xmodel"
    if out.exists():
        return out
    from vaic.pipeline import compile_graph
    from vaic.writer import write_outputs
    from zoo_quantize import quantized_xmodel
    res = compile_graph(quantized_xmodel(name, folder), "DPUCZDX8G/KV260")
    return Path(write_outputs(res, folder / "out", name)[f"{name}.xmodel"])


def run_eval(model: Path, x: Path, y: Path, batch: int, workers: int, ray: bool, folder: Path) -> dict:
    res = folder / f"r_{workers}_{int(ray)}.json"
    cmd = [sys.executable, "-m", "vairun.cli", "eval", str(model), "--data", str(x), "--labels", str(y),
           "--batch", str(batch), "--workers", str(workers), "--json", str(res), "-q"]
    if ray:
        cmd += ["--ray", "local"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run(cmd, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{r.stderr}")
    out = json.loads(res.read_text())
    # the CLI and its local workers (joined, so counted); Ray's actors are not our children
    out["cpu_s"] = None if ray else (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return out


@click.command()
@click.option("--model", default="resnet18", show_default=True)
@click.option("--images", default=192, show_default=True)
@click.option("--batch", default=8, show_default=True)
@click.option("--workdir", type=click.Path(file_okay=False), help="keep the compiled model here")
def main(model, images, batch, workdir):
    from rich.console import Console
    from rich.table import Table
    folder = Path(workdir or tempfile.mkdtemp(prefix="bench_eval_"))
    folder.mkdir(parents=True, exist_ok=True)
    xmodel = compiled(model, folder)
    rng = np.random.default_rng(0)
    x, y = folder / "x.npy", folder / "y.npy"
    np.save(x, rng.standard_normal((images, 224, 224, 3)).astype(np.float32))
    np.save(y, rng.integers(0, 1000, images))
    cpus = len(os.sched_getaffinity(0))
    counts = sorted({1, 2, cpus})
    try:
        import ray  # noqa: F401
        engines = (False, True)
    except ImportError:
        engines = (False,)
        print("Ray is not installed (pip install '.[ray]'): local pool only")
    results = {}
    for w in counts:
        for ray in engines:
            results[(w, ray)] = run_eval(xmodel, x, y, batch, w, ray, folder)
    first = next(iter(results.values()))
    same = all((r["top1"], r["top5"]) == (first["top1"], first["top5"]) for r in results.values())
    base = results[(1, False)]["images_per_s"]
    t = Table(title=f"vairun eval: {model} on {first['board']['target']}, {images} images, batch {batch}, "
                    f"{cpus} CPU(s)")
    for col in ("workers", "engine", "images/s", "vs 1 local worker", "Ray vs local", "seconds", "CPU share",
                "retries"):
        t.add_column(col, justify="right")
    for (w, ray), r in results.items():
        vs_local = (f"{r['images_per_s'] / results[(w, False)]['images_per_s'] - 1:+.1%}" if ray else "")
        share = "-" if r["cpu_s"] is None else f"{r['cpu_s'] / (r['seconds'] * w):.0%}"
        t.add_row(str(w), "ray" if ray else "local", f"{r['images_per_s']:.2f}", f"{r['images_per_s'] / base:.2f}x",
                  vs_local, f"{r['seconds']:.1f}", share, str(r["retries"]))
    c = Console(width=max(Console().width, 110))
    c.print(t)
    c.print(f"identical top-1/top-5 across all runs: {same} (top-1 {first['top1']}, top-5 {first['top5']})")
    if 2 in counts:
        s = results[(2, False)]["images_per_s"] / base
        c.print(f"2 local workers / 1: {s:.2f}x (goal >= {GOAL_SCALING}x on a 2-core machine)")
    if True in engines:
        worst = max(abs(results[(w, True)]["images_per_s"] / results[(w, False)]["images_per_s"] - 1) for w in counts)
        c.print(f"Ray vs local pool, worst at equal workers: {worst:.1%} (goal within {GOAL_RAY:.0%})")


if __name__ == "__main__":
    main()
