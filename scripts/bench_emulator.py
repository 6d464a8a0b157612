"""Emulator speed as users get it, beside the float torch forward and onnxruntime (issue 15).

For each model (default ResNet-18 and MobileNetV2, 224x224, compiled for DPUCZDX8G/KV260) and batch
(default 1 and 8), these measurements, each in a fresh process of its own:

* ``vairun``: the ``vairun bench`` command itself (``vairun bench MODEL --batch B --warmup W
  --repeat R --json F``), i.e. exactly the code path and the thread settings a user gets;
* ``vairun numpy`` (unless ``--no-numpy``): the same with ``VAIRUN_EMU_KERNELS=numpy``: numpy's
  float32 BLAS products and numpy's passes instead of torch's int8 GEMM and the compiled kernels
  (docs/vairun.md);
* ``torch``: the float model's forward (``torch.no_grad``, torch's default threads);
* ``onnxruntime``: the same float model exported to ONNX (torch's TorchScript exporter), run by
  onnxruntime's CPU provider with default session options: the practical floor for a float
  forward on this CPU.

Each measurement makes ``--warmup`` untimed calls and then ``--repeat`` timed ones and reports the
minimum and the median per image. Separate processes matter: torch's OpenMP threads and numpy's
OpenBLAS threads spin after their work, and timed in one process they steal each other's cores.
The environment is passed on unchanged (thread variables such as OMP_NUM_THREADS, if set, are
printed). The ratios are vairun over torch (the issue's goals: <= 1.5 at batch 1 and <= 1.0 at batch
8, judged on the medians) and vairun over onnxruntime. ``profile`` is ``vairun bench --timing-only``
(the cycle model without data), in ms per call and in float torch forwards of the batch.

On a machine shared with other work the multi-threaded timings swing widely; the load average
before and after is printed; compare the minima or rerun when the machine is quiet.

Usage: python scripts/bench_emulator.py [--models resnet18,mobilenet_v2] [--batches 1,8]
                                        [--warmup 2] [--repeat 7] [--workdir DIR] [--no-numpy]
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import click

from vairun.benchmark import steady_state

#: vairun time per image at most this many float torch forwards per image (issue 15), by batch
GOALS = {1: 1.5, 8: 1.0}
#: a timing-only profile costs less than this many float forwards of the same batch (issue 5)
PROFILE_GOAL = 10
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VAIRUN_EMU_THREADS")
#: the fast executor's kernels (docs/vairun.md): ``vairun`` runs with the default, ``--numpy`` adds
#: a run with numpy's only for comparison
KERNELS_ENV = "VAIRUN_EMU_KERNELS"


def _run(cmd: list[str], what: str, env: dict | None = None) -> None:
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if out.returncode:
        raise click.ClickException(f"{what} failed (exit {out.returncode}):\n{out.stderr[-3000:]}")


def _worker(kind: str, args: dict) -> dict:
    """Run one float measurement in a fresh process (this script's ``worker`` command)."""
    with tempfile.TemporaryDirectory() as tmp:
        res = Path(tmp) / "res.json"
        _run([sys.executable, __file__, "worker", kind, json.dumps(args), str(res)], f"{kind} measurement")
        return json.loads(res.read_text())


def _vairun_exe() -> list[str]:
    """The ``vairun`` console script of this interpreter's environment (what users type)."""
    exe = Path(sys.executable).parent / "vairun"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "vairun.cli"]


def _vairun_bench(path: Path, batch: int, warmup: int, repeat: int, timing_only: bool = False,
                  kernels: str | None = None) -> dict:
    """``vairun bench`` in its own process (``kernels``: its VAIRUN_EMU_KERNELS); its --json record."""
    with tempfile.TemporaryDirectory() as tmp:
        res = Path(tmp) / "bench.json"
        cmd = [*_vairun_exe(), "bench", str(path), "--batch", str(batch), "--warmup", str(warmup),
               "--repeat", str(repeat), "--json", str(res)] + (["--timing-only"] if timing_only else [])
        _run(cmd, "vairun bench", None if kernels is None else {**os.environ, KERNELS_ENV: kernels})
        return json.loads(res.read_text())


def _input(name: str, batch: int):
    import torch
    from vaiq.zoo import MODELS
    return torch.randn(batch, *MODELS[name].input_shape[1:], generator=torch.Generator().manual_seed(batch))


def _measure_torch(args: dict) -> dict:
    import torch
    from vaiq.zoo import get_model
    model = get_model(args["model"]).eval()
    x = _input(args["model"], args["batch"])
    with torch.no_grad():
        res = steady_state(lambda: model(x), args["batch"], args["warmup"], args["repeat"]).to_dict()
    return {**res, "threads": torch.get_num_threads()}


def _measure_ort(args: dict) -> dict:
    import onnxruntime as ort
    sess = ort.InferenceSession(args["onnx"], providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: _input(args["model"], args["batch"]).numpy()}
    res = steady_state(lambda: sess.run(None, feed), args["batch"], args["warmup"], args["repeat"]).to_dict()
    return {**res, "version": ort.__version__}


def export_float_onnx(name: str, folder: Path) -> Path:
    """The float zoo model as ONNX with a dynamic batch (reuses a file exported there before)."""
    path = folder / f"{name}_float.onnx"
    if not path.exists():
        import torch
        from vaiq.zoo import get_model
        torch.onnx.export(get_model(name).eval(), (_input(name, 1),), str(path), dynamo=False, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    return path


def _cell(r: dict) -> str:
    return f"{r['ms_per_image_median']:.1f} ({r['ms_per_image_min']:.1f})"


@click.group(invoke_without_command=True)
@click.option("--models", default="resnet18,mobilenet_v2", show_default=True)
@click.option("--target", default="DPUCZDX8G/KV260", show_default=True)
@click.option("--batches", default="1,8", show_default=True)
@click.option("--warmup", default=2, show_default=True, help="untimed calls first, in every measurement")
@click.option("--repeat", default=7, show_default=True, help="timed calls per measurement (min and median)")
@click.option("--workdir", default=None, type=click.Path(file_okay=False),
              help="keep the compiled models and ONNX files here and reuse them (default: a temporary folder)")
@click.option("--numpy/--no-numpy", "numpy_too", default=True, show_default=True,
              help=f"also run vairun bench with {KERNELS_ENV}=numpy (numpy's kernels only)")
@click.pass_context
def main(ctx, models, target, batches, warmup, repeat, workdir, numpy_too) -> None:
    if ctx.invoked_subcommand is not None:
        return
    from rich.console import Console
    from rich.table import Table
    from zoo_quantize import compiled_xmodel

    warnings.simplefilter("ignore")
    console = Console(width=max(Console().width, 190))
    base = Path(workdir) if workdir else Path(tempfile.mkdtemp())
    table = Table(title=f"vairun bench vs float torch and onnxruntime, {target}: ms per image, median (minimum) of "
                        f"{repeat} timed calls after {warmup} warm-up calls, each measurement in its own process")
    cols = ["model", "batch", "torch", "onnxruntime", "vairun", "vairun/torch", "goal", "met", "vairun/ort"]
    cols += ["vairun numpy", "numpy/torch"] if numpy_too else []
    for col in cols + ["profile ms", "/ fwd", "met"]:
        table.add_column(col, justify="right")
    threads, ort_version, executors = None, None, set()
    load_before = os.getloadavg()
    try:
        for name in models.split(","):
            folder = base / name
            folder.mkdir(parents=True, exist_ok=True)
            with console.status(f"quantizing and compiling {name}, exporting its float ONNX"):
                path = compiled_xmodel(name, target, folder)
                onnx_path = export_float_onnx(name, folder)
            with console.status(f"{name}: vairun bench --timing-only"):
                prof = _vairun_bench(path, 1, warmup, repeat, timing_only=True)["seconds_median"]
            for batch in (int(b) for b in batches.split(",")):
                args = {"model": name, "batch": batch, "warmup": warmup, "repeat": repeat}
                with console.status(f"{name} batch {batch}: torch"):
                    tr = _worker("torch", args)
                with console.status(f"{name} batch {batch}: onnxruntime"):
                    orr = _worker("ort", {**args, "onnx": str(onnx_path)})
                with console.status(f"{name} batch {batch}: vairun bench"):
                    vr = _vairun_bench(path, batch, warmup, repeat)
                extra = []
                if numpy_too:
                    with console.status(f"{name} batch {batch}: vairun bench, {KERNELS_ENV}=numpy"):
                        vn = _vairun_bench(path, batch, warmup, repeat, kernels="numpy")
                    extra = [_cell(vn), f"{vn['ms_per_image_median'] / tr['ms_per_image_median']:.2f}"]
                threads, ort_version = tr["threads"], orr["version"]
                executors.add(vr.get("executor"))
                ratio = vr["ms_per_image_median"] / tr["ms_per_image_median"]
                goal = GOALS.get(batch)
                fwds = prof * 1e3 / (tr["ms_per_image_median"] * batch)
                table.add_row(name, str(batch), _cell(tr), _cell(orr), _cell(vr), f"{ratio:.2f}",
                              f"<= {goal}" if goal else "-", ("yes" if ratio <= goal else "NO") if goal else "-",
                              f"{vr['ms_per_image_median'] / orr['ms_per_image_median']:.2f}", *extra,
                              f"{prof * 1e3:.1f}", f"{fwds:.2f}", "yes" if fwds < PROFILE_GOAL else "NO")
    finally:
        if not workdir:
            shutil.rmtree(base, ignore_errors=True)
    console.print(table)
    load_after = os.getloadavg()
    console.print(f"load average (1/5/15 min) before {'/'.join(f'{v:.2f}' for v in load_before)}, after "
                  f"{'/'.join(f'{v:.2f}' for v in load_after)}; {os.cpu_count()} CPUs; torch threads {threads}; "
                  f"onnxruntime {ort_version}")
    env = {k: os.environ[k] for k in THREAD_VARS + (KERNELS_ENV,) if k in os.environ}
    console.print(f"thread variables: {env or 'none set (defaults)'}")
    console.print(f"vairun: {', '.join(sorted(e for e in executors if e))}")


@main.command(hidden=True)
@click.argument("kind", type=click.Choice(["torch", "ort"]))
@click.argument("args")
@click.argument("result", type=click.Path(dir_okay=False))
def worker(kind, args, result) -> None:
    """One float measurement in this process; writes its result as JSON to RESULT."""
    warnings.simplefilter("ignore")
    res = (_measure_torch if kind == "torch" else _measure_ort)(json.loads(args))
    Path(result).write_text(json.dumps(res))


if __name__ == "__main__":
    main()
