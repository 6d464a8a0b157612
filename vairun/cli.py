"""``vairun``: run compiled models on the emulated DPU and report how fast the board would be.

    vairun run MODEL.xmodel -i INPUT.npy [-i ...] -o OUT.npz [--nchw] [--raw] [--arch A] [--reference]
    vairun profile MODEL.xmodel [--arch A] [--json FILE] [--html FILE] [-i INPUT.npy ...]
    vairun info MODEL.xmodel
    vairun bench MODEL.xmodel [--batch N] [--warmup N] [--repeat N] [--timing-only] [--json FILE]
    vairun eval MODEL.xmodel --data DATA [--workers N] [--ray local|ADDRESS] ...   (vairun/cli_eval.py)

Exit codes: 0 success, 1 internal failure, 2 bad input (one line: missing file, wrong shape or
dtype, corrupt model, checksum or fingerprint mismatch).
"""
from __future__ import annotations

import json
import sys
import time
import traceback
import zipfile
from pathlib import Path

import click
import numpy as np

from xir.arrays import open_npy
from xir.cli import OneLineGroup

from .benchmark import DEFAULT_REPEAT, DEFAULT_WARMUP
from .errors import VairunError

_CTX = {"help_option_names": ["-h", "--help"]}


def _guard(fn, debug: bool):
    from xir.errors import XirError
    try:
        return fn()
    except (VairunError, XirError) as e:
        if debug:
            traceback.print_exc()
        click.echo(f"vairun: error: {e}", err=True)
        sys.exit(2)
    except Exception as e:
        if debug:
            traceback.print_exc()
        click.echo(f"vairun: internal error: {type(e).__name__}: {e} (rerun with --debug)", err=True)
        sys.exit(1)


def _load_inputs(paths, runner, nchw: bool) -> list[np.ndarray]:
    tins = runner.get_input_tensors()
    if len(paths) != len(tins):
        raise VairunError(f"the model takes {len(tins)} input(s) ({[t.name for t in tins]}), got {len(paths)} -i file(s)")
    arrays = []
    for p, t in zip(paths, tins):
        path = Path(p)
        if zipfile.is_zipfile(path):
            raise VairunError(f"{path}: give one .npy per input, not an .npz")
        a = open_npy(path, "input")
        if a.ndim == 0 or a.ndim == len(t.dims) and a.shape[0] == 0:
            raise VairunError(f"{path}: holds no samples (shape {list(a.shape)}); give at least one")
        given = list(a.shape)               # the file's shape, as the message names it
        if a.ndim == len(t.dims) - 1:       # one sample without its batch dim (NCHW too)
            a = a[None]
        if nchw and a.ndim == 4:
            a = np.transpose(a, (0, 2, 3, 1))
        if a.ndim != len(t.dims) or list(a.shape[1:]) != t.dims[1:]:
            want = t.dims[1:] if not (nchw and len(t.dims) == 4) else [t.dims[3], t.dims[1], t.dims[2]]
            raise VairunError(f"{path}: shape {given} does not match input '{t.name}' "
                              f"([batch] + {want}{' NCHW' if nchw else ' NHWC'})")
        if not (np.issubdtype(a.dtype, np.floating) or a.dtype == np.int8):
            raise VairunError(f"{path}: dtype {a.dtype}; give float values (quantized with the input fix point) "
                              "or int8 values at the fix point")
        arrays.append(a)
    return arrays


@click.group(cls=OneLineGroup, context_settings=_CTX)
def main():
    """Run compiled models on a bit-exact, cycle-approximate DPU emulator."""


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("-i", "--input", "inputs", multiple=True, required=True, help="input .npy (NHWC, float or int8)")
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False), help="output .npz")
@click.option("--nchw", is_flag=True, help="inputs and outputs are NCHW")
@click.option("--raw", is_flag=True, help="write int8 outputs with their fix points instead of floats")
@click.option("--arch", help="emulate this board (same fingerprint as the compiled model)")
@click.option("--chunk", default=64, show_default=True, type=click.IntRange(1, 1 << 20),
              help="images per emulator call (a progress bar follows the chunks)")
@click.option("--reference", is_flag=True,
              help="execute on the emulator's reference executor (one plain function per instruction; slow)")
@click.option("--quiet", "-q", is_flag=True)
@click.option("--debug", is_flag=True)
def run(model, inputs, output, nchw, raw, arch, chunk, reference, quiet, debug):
    """Run MODEL on the inputs; outputs keyed by output tensor name."""
    def work():
        from xir.files import check_output_files, write_atomic
        from .runner import GraphRunner
        check_output_files(output)
        r = GraphRunner(model, arch, reference=True if reference else None)
        arrays = _load_inputs(inputs, r, nchw)
        t0 = time.perf_counter()
        res = _run_chunks(r, arrays, raw, chunk, quiet)
        dt = time.perf_counter() - t0
        out = {}
        for info in r.get_output_tensors():
            v = res[info.name]
            if nchw and v.ndim == 4:
                v = np.transpose(v, (0, 3, 1, 2))
            out[info.name] = v
            if raw and info.has_attr("fix_point"):
                out[f"{info.name}__fix_point"] = np.array(info.get_attr("fix_point"))
        import io
        buf = io.BytesIO()
        np.savez(buf, **out)
        write_atomic(Path(output), buf.getvalue())
        click.echo(f"ran {arrays[0].shape[0]} image(s) in {dt:.3f} s; wrote {output} ({', '.join(out)})")
    _guard(work, debug)


def _run_chunks(r, arrays, raw: bool, chunk: int, quiet: bool) -> dict[str, np.ndarray]:
    """Run the batch ``chunk`` images at a time, with a progress bar on a terminal."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    n = arrays[0].shape[0]
    starts = list(range(0, n, chunk))
    parts: list[dict] = []
    show = len(starts) > 1 and not quiet and sys.stdout.isatty()
    with Progress(TextColumn("emulating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  disable=not show) as bar:
        task = bar.add_task("run", total=n)
        for s0 in starts:
            parts.append(r.run([a[s0:s0 + chunk] for a in arrays], raw=raw))
            bar.update(task, advance=min(chunk, n - s0))
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _print_profile(p, title: str) -> None:
    from rich.console import Console
    from rich.table import Table
    c = Console()
    c.print(f"[bold]{title}[/bold]: {p.target} @ {p.clock_mhz:g} MHz: {p.cycles} cycles, "
            f"{p.latency_ms:.3f} ms latency, {p.fps:.1f} frames/s, {2 * p.macs / 1e9:.3f} GOP, "
            f"{2 * p.macs / max(p.cycles, 1):.0f}/{p.peak_ops_per_cycle} ops/cycle")
    eng = Table(title="engines")
    for col in ("engine", "busy cycles", "utilization"):
        eng.add_column(col, justify="right")
    for k, v in p.busy.items():
        eng.add_row(k, str(v), f"{p.utilization[k] * 100:.1f}%")
    c.print(eng)
    lay = Table(title="layers")
    for col in ("layer", "cycles", "ms", "MACs", "ops/cycle", "DDR KiB", "instr"):
        lay.add_column(col, justify="right")
    for l in p.layers:
        lay.add_row(l.name, str(l.cycles), f"{l.cycles / (p.clock_mhz * 1e3):.3f}", str(l.macs),
                    f"{l.ops_per_cycle():.0f}", f"{l.ddr_bytes / 1024:.1f}", str(l.instructions))
    c.print(lay)


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--arch", help="emulate this board (same fingerprint)")
@click.option("--json", "json_file", type=click.Path(dir_okay=False))
@click.option("--html", "html_file", type=click.Path(dir_okay=False))
@click.option("-i", "--input", "inputs", multiple=True, help="also run these inputs functionally")
@click.option("--nchw", is_flag=True)
@click.option("--quiet", "-q", is_flag=True)
@click.option("--debug", is_flag=True)
def profile(model, arch, json_file, html_file, inputs, nchw, quiet, debug):
    """Cycle-approximate timing per layer and per engine (timing-only unless inputs are given)."""
    def work():
        from xir.files import check_output_files, write_files_atomic
        from .profiling import profile_model
        from .runner import GraphRunner
        check_output_files(json_file, html_file)
        r = GraphRunner(model, arch)
        if inputs:
            r.run(_load_inputs(inputs, r, nchw))
        p = profile_model(r.model)
        if not quiet:
            _print_profile(p, Path(model).name)
        files = {}
        if json_file:
            files[Path(json_file)] = (json.dumps(p.to_dict(), indent=1) + "\n").encode()
        if html_file:
            from .html_report import render
            files[Path(html_file)] = render(p, f"{Path(model).name} on {p.target}").encode()
        write_files_atomic(files)
    _guard(work, debug)


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--arch")
@click.option("--debug", is_flag=True)
def info(model, arch, debug):
    """Inputs, outputs, fix points, subgraphs and target of MODEL."""
    def work():
        from .runner import GraphRunner
        r = GraphRunner(model, arch)
        t = r.target
        click.echo(f"model   {Path(model).name} (graph {r.model.graph.get_name()})")
        click.echo(f"target  {t.name} {t.board or ''} fingerprint {t.fingerprint_hex}, {t.cores} core(s) @ "
                   f"{t.clock_mhz:g} MHz, peak {t.peak_gops:.0f} GOPS")
        for kind, ts in (("input", r.get_input_tensors()), ("output", r.get_output_tensors())):
            for tinfo in ts:
                fp = tinfo.get_attr("fix_point") if tinfo.has_attr("fix_point") else "-"
                click.echo(f"{kind:7} {tinfo.name} {tinfo.dims} {tinfo.dtype} {tinfo.layout} fix_point {fp}")
        for sg in r.model.subgraphs:
            n = len(r.model.plans[sg.get_name()].instructions) if sg.get_name() in r.model.plans else 0
            click.echo(f"subgraph {sg.get_name()} [{sg.get_attr('device')}] {sg.get_op_num()} ops"
                       + (f", {n} instructions" if n else ""))
    _guard(work, debug)


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--batch", default=1, show_default=True, type=click.IntRange(1, 4096))
@click.option("--warmup", default=DEFAULT_WARMUP, show_default=True, type=click.IntRange(0, 100),
              help="untimed runs first (the emulator builds its plan and fills its caches)")
@click.option("--repeat", default=DEFAULT_REPEAT, show_default=True, type=click.IntRange(1, 1000),
              help="timed runs (min and median reported)")
@click.option("--timing-only", is_flag=True, help="time the cycle model only, no data")
@click.option("--arch")
@click.option("--json", "json_file", type=click.Path(dir_okay=False))
@click.option("--debug", is_flag=True)
def bench(model, batch, warmup, repeat, timing_only, arch, json_file, debug):
    """Emulator time per image in steady state (warm-up runs not counted), and the board estimate."""
    def work():
        from xir.files import check_output_files, write_atomic
        from .benchmark import random_feeds, steady_state
        from .emu.machine import describe_executor
        from .profiling import profile_model
        from .runner import GraphRunner
        check_output_files(json_file)
        r = GraphRunner(model, arch)
        if timing_only:
            s = steady_state(lambda: profile_model(r.model), 1, warmup, repeat)
        else:
            feeds = random_feeds(r, batch)
            s = steady_state(lambda: r.run(feeds), batch, warmup, repeat)
        p = profile_model(r.model)
        what = "timing-only profile" if timing_only else f"emulator ({describe_executor()}), batch {batch}"
        unit = "per profile" if timing_only else "per image"
        click.echo(f"{what}: {s.warmup} warm-up run(s) not timed, {s.repeat} timed run(s); {unit} "
                   f"min {s.ms_per_image_min:.2f} ms, median {s.ms_per_image_median:.2f} ms "
                   f"({s.images_per_s:.2f} {'profiles' if timing_only else 'images'}/s at the median); "
                   f"board estimate {p.fps:.1f} frames/s, {p.latency_ms:.2f} ms per frame")
        res = {"batch": batch, "timing_only": timing_only, **s.to_dict(),
               "executor": None if timing_only else describe_executor(),
               "board_fps": p.fps, "cycles": p.cycles, "latency_ms": p.latency_ms}
        if json_file:
            write_atomic(Path(json_file), (json.dumps(res, indent=1) + "\n").encode())
    _guard(work, debug)


from .cli_eval import eval_command  # noqa: E402  (its own module: the command is long)

main.add_command(eval_command)

if __name__ == "__main__":
    main()
