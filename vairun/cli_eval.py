"""``vairun eval``: top-1/top-5, throughput and the board estimate of a compiled model over a data set.

    vairun eval MODEL.xmodel --data DATA [--labels LABELS.npy] [--preprocess none|imagenet] [--batch 16]
                [--workers N] [--ray local|ADDRESS] [--limit N] [--outputs OUT.npz [--resume]] [--json FILE]

Exit codes: 0 success, 1 the job failed (a worker kept dying, an unexpected error), 2 bad input,
130 interrupted (Ctrl-C; with --outputs, ``--resume`` continues).
"""
from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

import click


@click.command("eval")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--data", required=True, type=click.Path(), help="ImageFolder, .npy of inputs, or folder of .npy shards")
@click.option("--labels", type=click.Path(dir_okay=False), help=".npy of integer labels (for .npy data)")
@click.option("--preprocess", type=click.Choice(["none", "imagenet"]), default="none", show_default=True)
@click.option("--batch", default=16, show_default=True, type=click.IntRange(1, 4096), help="inputs per shard")
@click.option("--workers", type=click.IntRange(1, 1024), help="workers [local: CPU count; Ray: cluster CPUs]")
@click.option("--ray", "ray_address", metavar="local|ADDRESS", help="run on Ray: in-process, or a cluster's HOST:PORT")
@click.option("--limit", type=click.IntRange(1, None), help="only the first N inputs")
@click.option("--outputs", type=click.Path(dir_okay=False), help="write every output to this .npz (input order)")
@click.option("--resume", is_flag=True, help="continue an interrupted run with the same --outputs")
@click.option("--arch", help="emulate this board (same fingerprint as the compiled model)")
@click.option("--json", "json_file", type=click.Path(dir_okay=False), help="write the result as JSON")
@click.option("--quiet", "-q", is_flag=True)
@click.option("--debug", is_flag=True)
def eval_command(model, data, labels, preprocess, batch, workers, ray_address, limit, outputs, resume, arch,
                 json_file, quiet, debug):
    """Evaluate MODEL over a data set on local worker processes or on Ray."""
    from .cli import _guard                    # the tool's one mapping of errors to exit codes 2 and 1
    from .evaluate import EvalFailure, EvalInterrupted

    def work():
        from xir.files import check_output_files
        check_output_files(json_file, outputs)
        try:
            res = _run(model, data, labels, preprocess, batch, workers, ray_address, limit, outputs, resume, arch,
                       quiet)
        except EvalInterrupted as e:
            hint = "; rerun with --resume to continue" if e.resumable and e.done else ""
            click.echo(f"vairun: interrupted after {e.done} of {e.total} inputs{hint}", err=True)
            sys.exit(130)
        except KeyboardInterrupt:              # before any worker started
            click.echo("vairun: interrupted", err=True)
            sys.exit(130)
        except EvalFailure as e:               # the job failed (a worker kept dying): exit 1, one line
            if debug:
                traceback.print_exc()
            click.echo(f"vairun: error: {e}", err=True)
            sys.exit(1)
        if json_file:
            from xir.files import write_atomic
            write_atomic(Path(json_file), (json.dumps(res.to_dict(), indent=1) + "\n").encode())
        if not quiet:
            _print(res)
    _guard(work, debug)

def _run(model, data, labels, preprocess, batch, workers, ray_address, limit, outputs, resume, arch, quiet):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from .evaluate import evaluate
    show = not quiet and sys.stdout.isatty()
    with Progress(TextColumn("evaluating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  disable=not show) as bar:
        task = bar.add_task("eval", total=None)
        return evaluate(model, data, labels, preprocess, batch, workers, ray_address, limit, outputs, resume, arch,
                        on_progress=lambda done, total, _: bar.update(task, completed=done, total=total))


def _print(r) -> None:
    acc = "no labels" if r.top1 is None else f"top-1 {r.top1 * 100:.2f}%, top-5 {r.top5 * 100:.2f}%"
    extra = f", {r.retries} shard(s) retried" if r.retries else ""
    extra += f", {r.resumed} resumed" if r.resumed else ""
    click.echo(f"{r.images} inputs: {acc}; {r.images_per_s:.2f} inputs/s on {r.workers} {r.engine} worker(s)"
               f"{extra}; board estimate {r.board['target']}: {r.board['latency_ms']:.3f} ms, "
               f"{r.board['fps']:.1f} frames/s" + (f"; wrote {r.outputs}" if r.outputs else ""))
