"""The cycle model against published board throughput (docs/timing.md, issue 15).

Every model of scripts/timing_published.py is built from vaiq.zoo at the published input size,
quantized (calibrating on random data) and compiled for DPUCZDX8G/KV260 once; ZCU104 and ZCU102
carry the same DPU (fingerprint), so the same streams are timed on each board's target. The figure
compared is the published multi-thread end-to-end frames/s, which on these boards is bound by the DPU
cores: the model's ``fps`` = cores / (DPU time of one frame, the job overhead included). Error =
estimate / published - 1. The summary per half (fit, held-out; scored boards only) gives the
geometric-mean absolute error, exp(mean |ln(estimate / published)|) - 1, and the largest |error|.

``--fit`` searches the global timing parameters of DPUCZDX8G (``ddr_bytes_per_cycle`` and the
``overheads``) that minimise the mean squared log error on the fit half only, by coordinate descent
from the catalog's values, and prints the result beside the catalog; the catalog
(xir/target/catalog.py, then scripts/gen_arch.py) holds the chosen values, which the table uses.

Usage: python scripts/bench_timing_model.py [--workdir DIR] [--models a,b] [--fit]
"""
from __future__ import annotations

import math
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from timing_published import DPU_CONFIG, ENTRIES, SCORED_BOARDS, SOURCE, split

COMPILE_TARGET = "DPUCZDX8G/KV260"
BOARDS = ("KV260", "ZCU104", "ZCU102")
#: the parameters --fit searches (Overheads fields and ddr_bytes_per_cycle), with their lower bounds
FIT_PARAMS = {"ddr_bytes_per_cycle": 1.0, "load": 0, "save": 0, "conv": 0, "misc": 0, "ddr_latency": 0, "job": 0}


def params_of(t) -> dict:
    return {"ddr_bytes_per_cycle": t.ddr_bytes_per_cycle,
            **{k: getattr(t.overheads, k) for k in FIT_PARAMS if k != "ddr_bytes_per_cycle"}}


def with_params(t, p: dict):
    """``t`` with the timing parameters ``p`` (the fingerprint and everything else unchanged)."""
    over = replace(t.overheads, **{k: int(round(v)) for k, v in p.items() if k != "ddr_bytes_per_cycle"})
    return replace(t, overheads=over, ddr_bytes_per_cycle=float(p["ddr_bytes_per_cycle"]))


def compiled_models(workdir: Path, keys: list[str], console) -> dict:
    from vairun.model import load_compiled
    from zoo_quantize import compiled_xmodel
    out = {}
    for e in ENTRIES:
        if e.key not in keys:
            continue
        with console.status(f"quantizing and compiling {e.key} ({e.published_name}) for {COMPILE_TARGET}"):
            path = compiled_xmodel(e.zoo, COMPILE_TARGET, workdir / e.key, e.input_shape, e.kwargs)
        out[e.key] = load_compiled(path)
    return out


_LATENCY: dict = {}


def estimates(models: dict, targets: dict, boards) -> dict:
    """(model key, board) -> (estimated frames/s, DPU ms per frame). Boards whose cores run at the
    same clock with the same parameters share one profile (only the number of cores differs)."""
    from vairun.profiling import profile_model
    res = {}
    for key, m in models.items():
        for b in boards:
            t = targets[b]
            memo = (key, t.clock_mhz, t.overheads, t.ddr_bytes_per_cycle)
            if memo not in _LATENCY:
                _LATENCY[memo] = profile_model(m, t).latency_ms
            ms = _LATENCY[memo]
            res[key, b] = (t.lanes * 1e3 / ms, ms)
    return res


def summary(rows) -> tuple[float, float, int]:
    """(geometric-mean absolute error, largest |error|, count) of (estimate, published) pairs."""
    logs = [abs(math.log(e / p)) for e, p in rows]
    if not logs:
        return math.nan, math.nan, 0
    return math.exp(sum(logs) / len(logs)) - 1, max(abs(e / p - 1) for e, p in rows), len(logs)


def fit(models: dict, targets: dict, halves: dict, console) -> dict:
    """Coordinate descent on the mean squared log error of the fit half (scored boards)."""
    keys = [k for k in models if halves[k] == "fit"]
    pub = {(e.key, b): e.fps[b] for e in ENTRIES for b in SCORED_BOARDS}

    def loss(p):
        ts = {b: with_params(targets[b], p) for b in SCORED_BOARDS}
        est = estimates({k: models[k] for k in keys}, ts, SCORED_BOARDS)
        return sum(math.log(est[k, b][0] / pub[k, b]) ** 2 for k in keys for b in SCORED_BOARDS)

    best = params_of(targets[SCORED_BOARDS[0]])
    best_loss = loss(best)
    for factor in (2.0, 1.41, 1.19, 1.09, 1.04):
        improved = True
        while improved:
            improved = False
            for name, low in FIT_PARAMS.items():
                for direction in (factor, 1 / factor):
                    trial = dict(best)
                    v = best[name]
                    trial[name] = max(low, v * direction if v else (direction > 1) * 64.0)
                    if trial[name] == v or name != "ddr_bytes_per_cycle" and round(trial[name]) == round(v):
                        continue
                    tl = loss(trial)
                    if tl < best_loss - 1e-9:
                        best, best_loss, improved = trial, tl, True
                        console.log(f"loss {best_loss:.4f}: {name} = {trial[name]:.4g}")
                        break
    return best


@click.command()
@click.option("--workdir", default=None, type=click.Path(file_okay=False),
              help="keep the compiled models here and reuse them (default: a temporary folder)")
@click.option("--models", default=None, help="comma-separated keys of scripts/timing_published.py (default: all)")
@click.option("--fit", "do_fit", is_flag=True, help="search the global parameters on the fit half and print them")
@click.option("--markdown", default=None, type=click.Path(dir_okay=False),
              help="also write the table and the summary as markdown (for docs/timing.md)")
def main(workdir, models, do_fit, markdown) -> None:
    from xir.target import load_target

    warnings.simplefilter("ignore")
    console = Console(width=max(Console().width, 150))
    keys = models.split(",") if models else [e.key for e in ENTRIES]
    unknown = set(keys) - {e.key for e in ENTRIES}
    if unknown:
        raise click.BadParameter(f"unknown model keys {sorted(unknown)}; known: {[e.key for e in ENTRIES]}")
    base = Path(workdir) if workdir else Path(tempfile.mkdtemp())
    compiled = compiled_models(base, keys, console)
    targets = {b: load_target(f"DPUCZDX8G/{b}") for b in BOARDS}
    halves = split()
    if do_fit:
        fitted = fit(compiled, targets, halves, console)
        current = params_of(targets[SCORED_BOARDS[0]])
        t = Table(title="global parameters: catalog vs fitted on the fit half")
        for col in ("parameter", "catalog", "fitted"):
            t.add_column(col, justify="right")
        for k in FIT_PARAMS:
            t.add_row(k, f"{current[k]:g}", f"{fitted[k]:.4g}" if k == "ddr_bytes_per_cycle" else f"{round(fitted[k])}")
        console.print(t)
    t0 = time.perf_counter()
    est = estimates(compiled, targets, BOARDS)
    t_prof = (time.perf_counter() - t0) / max(len(est), 1)
    table = Table(title=f"cycle model vs published multi-thread frames/s ({SOURCE})")
    for col in ("model", "published model", "GOP", "board", "DPU", "est. ms/frame", "est. fps", "published fps",
                "error", "half"):
        table.add_column(col, justify="right")
    rows = {"fit": [], "held-out": []}
    md = ["| model | published model | GOP | board | est. ms/frame | est. fps | published fps | error | half |",
          "|---|---|---|---|---|---|---|---|---|"]
    for e in ENTRIES:
        if e.key not in compiled:
            continue
        for b in BOARDS:
            fps, ms = est[e.key, b]
            pub = e.fps[b]
            scored = b in SCORED_BOARDS
            half = halves[e.key] if scored else "not scored"
            if scored:
                rows[half].append((fps, pub))
            err = fps / pub - 1
            table.add_row(e.key, e.published_name, f"{e.gops:g}", b, DPU_CONFIG[b], f"{ms:.3f}", f"{fps:.1f}",
                          f"{pub:g}", f"{err * 100:+.1f}%", half)
            md.append(f"| {e.key} | {e.published_name} | {e.gops:g} | {b} | {ms:.3f} | {fps:.1f} | {pub:g} | "
                      f"{err * 100:+.1f}% | {half} |")
    console.print(table)
    summaries = []
    for half, pairs in rows.items():
        g, worst, n = summary(pairs)
        line = (f"{half}: {n} figures on {', '.join(SCORED_BOARDS)}; geometric-mean absolute error "
                f"{g * 100:.1f}%, largest {worst * 100:.1f}%")
        console.print(line)
        summaries.append(f"- {line}")
    p = params_of(targets["KV260"])
    console.print("parameters (DPUCZDX8G, catalog): " + ", ".join(f"{k} {v:g}" for k, v in p.items())
                  + f"; a timing-only profile takes {t_prof * 1e3:.0f} ms on average")
    if markdown:
        Path(markdown).write_text("\n".join([*md, "", *summaries]) + "\n")


if __name__ == "__main__":
    main()
