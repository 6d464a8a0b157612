"""WeGO-Torch against torch (issue 10): for Inception-v3 and ResNet-18, compile time (quantization
result -> module, with a cold and a warm compile cache) beside ``torch.export`` time, and the
compiled module's time per image beside the float torch forward, at batch 1 and 8.

Goal: ``wego_mod`` time per image at most 2x the float forward at batch 8 (judged in the table).

Every measurement runs in a fresh process (torch's OpenMP threads and numpy's BLAS threads spin after
their work and steal each other's cores when timed in one process; see scripts/bench_emulator.py).
Times are medians (and minima) of ``--repeat`` warm runs after two warm-up runs. Models are
quantized once into ``--workdir`` (calibrated on random data; the weights are the zoo's seeded ones).

Usage: python scripts/bench_wego.py [--models inception_v3,resnet18] [--batches 1,8] [--repeat 5]
       [--target DPUCZDX8G/KV260] [--workdir DIR]
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import click

GOAL_BATCH, GOAL = 8, 2.0


def _quantize(name: str, folder: Path) -> None:
    import torch
    from vaiq import torch_quantizer
    from vaiq.zoo import MODELS, get_model
    if (folder / "quant_info.json").exists():
        return
    spec = MODELS[name]
    model = get_model(name)
    gen = torch.Generator().manual_seed(0)
    q = torch_quantizer("calib", model, (torch.randn(*spec.input_shape, generator=gen),), output_dir=str(folder),
                        dynamo=True)
    with torch.no_grad():
        for _ in range(2):
            q.quant_model(torch.randn(2, *spec.input_shape[1:], generator=gen))
    q.export_quant_config()


def _timed(fn, repeat: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def worker(kind: str, name: str, batch: int, repeat: int, target: str, workdir: Path) -> dict:
    import torch
    import wego_torch
    from vaiq.capture import export_program
    from vaiq.zoo import MODELS, get_model
    warnings.simplefilter("ignore")
    spec = MODELS[name]
    folder = workdir / name / "quant_result"
    if kind == "prep":
        _quantize(name, folder)
        return {}
    model = get_model(name)
    example = torch.randn(1, *spec.input_shape[1:])

    def compile_(cache):
        opts = wego_torch.CompileOptions(
            dynamo=True, dynamo_options=wego_torch.DynamoCompileOptions(str(folder)), target=target,
            cache_dir=str(cache), verbose=False, inputs_meta=[wego_torch.InputMeta(torch.float, list(spec.input_shape))])
        return wego_torch.compile(model, opts)
    if kind == "export":
        return {"seconds": _timed(lambda: export_program(model, (example,)), repeat=3, warmup=1)}
    if kind == "compile":
        cache = Path(tempfile.mkdtemp(prefix="wego-bench-cache-", dir=workdir))
        t = time.perf_counter()
        m = compile_(cache)
        cold = time.perf_counter() - t
        t = time.perf_counter()
        compile_(cache)
        warm = time.perf_counter() - t
        return {"cold": cold, "warm": warm, "stages": m.summary()["seconds"],
                "dpu": [d["ops"] for d in m.summary()["dpu_subgraphs"]], "cpu": len(m.summary()["cpu_ops"])}
    x = torch.randn(batch, *spec.input_shape[1:], generator=torch.Generator().manual_seed(1))
    if kind == "float":
        with torch.no_grad():
            return {"seconds": _timed(lambda: model(x), repeat)}
    if kind == "wego":
        m = compile_(workdir / "cache")
        with torch.no_grad():
            return {"seconds": _timed(lambda: m(x), repeat)}
    raise ValueError(kind)


def run(kind, name, batch, repeat, target, workdir) -> dict:
    r = subprocess.run([sys.executable, __file__, "--worker", kind, "--models", name, "--batches", str(batch),
                        "--repeat", str(repeat), "--target", target, "--workdir", str(workdir)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{kind} {name} b{batch} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


@click.command()
@click.option("--models", default="inception_v3,resnet18", show_default=True)
@click.option("--batches", default="1,8", show_default=True)
@click.option("--repeat", default=5, show_default=True)
@click.option("--target", default="DPUCZDX8G/KV260", show_default=True)
@click.option("--workdir", default=None, help="keeps quantization results and the compile cache")
@click.option("--worker", default=None, hidden=True)
def main(models, batches, repeat, target, workdir, worker):
    from rich.console import Console
    from rich.table import Table
    work = Path(workdir or tempfile.mkdtemp(prefix="bench-wego-"))
    work.mkdir(parents=True, exist_ok=True)
    names = [m for m in models.split(",") if m]
    bs = [int(b) for b in batches.split(",") if b]
    if worker:
        print(json.dumps(globals()["worker"](worker, names[0], bs[0], repeat, target, work)))
        return
    con = Console(width=max(110, Console().width))
    t1 = Table(title=f"compile: quantization result -> module ({target})", title_justify="left")
    stages = []
    for c in ("model", "torch.export s", "compile, cold cache s", "compile, warm cache s", "DPU subgraph ops",
              "CPU ops"):
        t1.add_column(c)
    t2 = Table(title="run: time per image (median / min of the runs)", title_justify="left")
    for c in ("model", "batch", "float torch ms", "wego_mod ms", "ratio (median)", "goal"):
        t2.add_column(c)
    for name in names:
        run("prep", name, 1, repeat, target, work)
        ex = run("export", name, 1, repeat, target, work)["seconds"]
        co = run("compile", name, 1, repeat, target, work)
        t1.add_row(name, f"{statistics.median(ex):.2f}", f"{co['cold']:.2f}", f"{co['warm']:.2f}",
                   str(co["dpu"]), str(co["cpu"]))
        stages.append(f"{name}, cold compile: " + ", ".join(f"{k} {v:.2f} s" for k, v in co["stages"].items()))
        for b in bs:
            fl = run("float", name, b, repeat, target, work)["seconds"]
            wg = run("wego", name, b, repeat, target, work)["seconds"]
            fm, wm = statistics.median(fl) / b * 1e3, statistics.median(wg) / b * 1e3
            ratio = wm / fm
            goal = (f"<= {GOAL}x: {'met' if ratio <= GOAL else 'NOT met'}") if b == GOAL_BATCH else "-"
            t2.add_row(name, str(b), f"{fm:.1f} / {min(fl) / b * 1e3:.1f}", f"{wm:.1f} / {min(wg) / b * 1e3:.1f}",
                       f"{ratio:.2f}x", goal)
    con.print(t1)
    for line in stages:
        con.print(line)
    con.print(t2)


if __name__ == "__main__":
    main()
