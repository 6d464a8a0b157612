"""Emulator speed against the float torch forward (issue 5): ResNet-18 and MobileNetV2 (224x224)
compiled for DPUCZDX8G/KV260, at batch 1 and 8, for several thread settings, with a breakdown of
the emulator's time by instruction kind, and the cost of a timing-only profile.

Goals: emulator time per image at most 3x the float forward at batch 1 and at most 1.5x at batch 8,
judged on ``split``, the setting a user gets without any environment variable; a timing-only profile
(``vairun profile`` without inputs) under 10 float forwards of the same batch.

Every measurement runs in a fresh process of its own: torch's OpenMP threads and numpy's OpenBLAS
threads both spin after their work, and timed in one process they steal each other's cores (a torch
forward right after emulator runs can take many times its normal time). Thread settings of the
emulator processes (torch keeps its default thread count):

* ``blas1``: OPENBLAS_NUM_THREADS=1 and the emulator in one thread;
* ``blas2``: OPENBLAS_NUM_THREADS=<cores> and the emulator in one thread;
* ``split``: OPENBLAS_NUM_THREADS=<cores> and VAIRUN_EMU_THREADS=<cores>: the emulator splits the
  batch over its own threads and caps OpenBLAS at 1 thread meanwhile (vairun/emu/fast/blas.py); at
  batch 1 there is nothing to split, so it is ``blas2``. This is vairun's default.

Times are medians (and minima) of ``--repeat`` warm runs after three warm-up runs (the first run of
a stream executes it instruction by instruction and builds the fused program, the second fills its
caches). On a machine shared with other work, multi-threaded timings (torch's, blas2, split) swing
widely; compare the minima, or rerun when the machine is quiet.

Usage: python scripts/bench_emulator.py [--models resnet18,mobilenet_v2] [--repeat 7] [--workdir DIR]
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import click

SETTINGS = ("blas1", "blas2", "split")
GOALS = {1: 3.0, 8: 1.5}
#: a timing-only profile costs less than this many float forwards
PROFILE_GOAL = 10
#: the setting vairun runs in when no environment variable says otherwise (judged against GOALS)
DEFAULT = "split"


def compiled_model(name: str, target: str, folder: Path) -> Path:
    """Quantize (calibrating on random data) and compile ``name`` into ``folder``; reuses a model
    compiled there before."""
    out = folder / "out" / f"{name}.xmodel"
    if out.exists():
        return out
    from vaic.pipeline import compile_graph
    from vaic.writer import write_outputs
    from zoo_quantize import quantized_xmodel
    res = compile_graph(quantized_xmodel(name, folder), target)
    return Path(write_outputs(res, folder / "out", name)[f"{name}.xmodel"])


def _times(fn, repeat: int, warmup: int) -> dict:
    """Median and minimum seconds of ``repeat`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return {"seconds": statistics.median(ts), "min": min(ts)}


def _measure(kind: str, args: dict, env: dict) -> dict:
    """Run one measurement in a fresh process (this script's ``worker`` command)."""
    out = subprocess.run([sys.executable, __file__, "worker", kind, json.dumps(args)], env={**os.environ, **env},
                         capture_output=True, text=True, check=False)
    if out.returncode:
        raise click.ClickException(f"{kind} measurement failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _image_shape(name: str) -> tuple[int, ...]:
    """(C, H, W) of one input image of zoo model ``name``."""
    from vaiq.zoo import MODELS
    return tuple(MODELS[name].input_shape[1:])


def _worker_torch(args: dict) -> dict:
    import torch
    from vaiq.zoo import get_model
    warnings.simplefilter("ignore")
    model = get_model(args["model"]).eval()
    x = torch.randn(args["batch"], *_image_shape(args["model"]), generator=torch.Generator().manual_seed(args["batch"]))
    with torch.no_grad():
        res = _times(lambda: model(x), args["repeat"], warmup=3)
    return {**res, "threads": torch.get_num_threads()}


def _worker_emu(args: dict) -> dict:
    import numpy as np
    from vairun import GraphRunner
    from vairun.emu.fast import blas
    from vairun.emu.fast.program import timings
    warnings.simplefilter("ignore")
    runner = GraphRunner(args["path"])
    c, h, w = _image_shape(args["model"])
    x = np.random.default_rng(args["batch"]).standard_normal((args["batch"], h, w, c))
    x = x.astype(np.float32)
    res = _times(lambda: runner.run([x]), args["repeat"], warmup=3)
    with timings() as tm:
        runner.run([x])
    out = {**res, "breakdown": tm, "blas_threads": blas.get_threads()}
    if args.get("profile"):
        from vairun.profiling import profile_model
        out["profile"] = _times(lambda: profile_model(runner.model), args["repeat"], warmup=1)["seconds"]
    return out


@click.group(invoke_without_command=True)
@click.option("--models", default="resnet18,mobilenet_v2", show_default=True)
@click.option("--target", default="DPUCZDX8G/KV260", show_default=True)
@click.option("--batches", default="1,8", show_default=True)
@click.option("--repeat", default=7, show_default=True, help="timed warm runs per measurement (median)")
@click.option("--cores", default=None, type=int, help="threads for blas2/split (default: usable CPUs)")
@click.option("--settings", default=",".join(SETTINGS), show_default=True)
@click.option("--workdir", default=None, type=click.Path(file_okay=False),
              help="keep the compiled models here and reuse them (default: a temporary folder)")
@click.pass_context
def main(ctx, models, target, batches, repeat, cores, settings, workdir) -> None:
    if ctx.invoked_subcommand is not None:
        return
    from rich.console import Console
    from rich.table import Table
    from vairun.emu.fast.engine import default_threads

    warnings.simplefilter("ignore")
    cores = cores or default_threads()
    console = Console(width=max(Console().width, 140))
    settings = [s for s in settings.split(",") if s]
    if DEFAULT not in settings:
        raise click.UsageError(f"--settings must include {DEFAULT}: the goals are judged on vairun's default")
    base = Path(workdir) if workdir else Path(tempfile.mkdtemp())
    table = Table(title=f"vairun emulator vs float torch forward, {target}, ms per image: median (minimum) of "
                        f"{repeat} warm runs, {cores} cores; ratio of the medians, emulator in the default "
                        f"setting ({DEFAULT}); profile: timing-only, ms per call and in forwards of the batch")
    for col in ("model", "batch", "torch", *[f"emu {s}" for s in settings], "ratio", "goal", "met",
                "profile", "/ fwd", "met"):
        table.add_column(col, justify="right")
    breakdowns = []
    torch_threads = None
    load_before = os.getloadavg()
    for name in models.split(","):
        folder = base / name
        folder.mkdir(parents=True, exist_ok=True)
        with console.status(f"quantizing and compiling {name}"):
            path = compiled_model(name, target, folder)
        for batch in (int(b) for b in batches.split(",")):
            with console.status(f"{name} batch {batch}: torch"):
                tr = _measure("torch", {"model": name, "batch": batch, "repeat": repeat}, {})
            torch_threads = tr["threads"]
            t_torch = tr["seconds"] / batch
            emu = {}
            for s in settings:
                env = {"OPENBLAS_NUM_THREADS": str(1 if s == "blas1" else cores),
                       "VAIRUN_EMU_THREADS": str(cores if s == "split" else 1)}
                with console.status(f"{name} batch {batch}: emulator {s}"):
                    emu[s] = _measure("emu", {"path": str(path), "model": name, "batch": batch, "repeat": repeat,
                                              "profile": s == DEFAULT}, env)
            ratio = emu[DEFAULT]["seconds"] / batch / t_torch
            goal = GOALS.get(batch)
            fwds = emu[DEFAULT]["profile"] / tr["seconds"]
            table.add_row(name, str(batch), f"{t_torch * 1e3:.1f} ({tr['min'] / batch * 1e3:.1f})",
                          *[f"{emu[s]['seconds'] / batch * 1e3:.1f} ({emu[s]['min'] / batch * 1e3:.1f})"
                            for s in settings], f"{ratio:.2f}",
                          f"<= {goal}" if goal else "-", ("yes" if ratio <= goal else "NO") if goal else "-",
                          f"{emu[DEFAULT]['profile'] * 1e3:.1f}", f"{fwds:.2f}",
                          "yes" if fwds < PROFILE_GOAL else "NO")
            breakdowns.append((name, batch, DEFAULT, emu[DEFAULT]["breakdown"]))
    console.print(table)
    load_after = os.getloadavg()
    console.print(f"load average (1/5/15 min) before {'/'.join(f'{v:.2f}' for v in load_before)}, after "
                  f"{'/'.join(f'{v:.2f}' for v in load_after)}: other work on the machine distorts the "
                  f"multi-threaded timings")
    console.print(f"torch threads: {torch_threads}; emulator settings: blas1 = OpenBLAS 1 thread; blas2 = OpenBLAS "
                  f"{cores} threads; split = batch over {cores} emulator threads (OpenBLAS 1 thread each)")
    for name, batch, setting, tm in breakdowns:
        t = Table(title=f"{name}, batch {batch}, {setting}: fused steps by instruction kind (ms per image; "
                        f"with split, the first thread's steps, which run alongside the others)")
        for col in ("kind", "instructions", "ms/img", "share"):
            t.add_column(col, justify="right")
        total = sum(v[0] for v in tm.values())
        for kind, (sec, count) in sorted(tm.items(), key=lambda kv: -kv[1][0]):
            t.add_row(kind, str(count), f"{sec / batch * 1e3:.2f}", f"{sec / total * 100:.0f}%")
        t.add_row("all steps", str(sum(v[1] for v in tm.values())), f"{total / batch * 1e3:.2f}", "100%")
        console.print(t)


@main.command(hidden=True)
@click.argument("kind", type=click.Choice(["torch", "emu"]))
@click.argument("args")
def worker(kind, args) -> None:
    """One measurement in this process; prints its result as JSON."""
    fn = _worker_torch if kind == "torch" else _worker_emu
    print(json.dumps(fn(json.loads(args))))


if __name__ == "__main__":
    main()
