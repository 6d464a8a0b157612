"""``vaic sweep``: compile a quantized model for many targets and rank them by emulated latency.

    vaic sweep QUANTIZED.xmodel [--targets all|FAMILY|LIST] [--arch ARCH.json ...] [--workers N]
               [--ray local|ADDRESS] [--json OUT.json] [--html OUT.html]

Exit codes: 0 the sweep ran (targets that failed are listed; with --strict any failure is exit 1),
1 internal failure, 2 bad input. The driver is vaic/sweep.py (timing through ``vairun profile``).
"""
from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("sweep")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--targets", help="all | FAMILY | comma list of FAMILY/BOARD [all, or none when --arch is given]")
@click.option("--arch", "arch_paths", multiple=True, type=click.Path(), help="also this arch.json (repeatable)")
@click.option("--workers", type=click.IntRange(1, 1024), help="parallel jobs [CPU count; Ray: cluster CPUs]")
@click.option("--ray", "ray_address", metavar="local|ADDRESS", help="run the jobs on Ray")
@click.option("--json", "json_file", type=click.Path(dir_okay=False), help="write the rows as JSON")
@click.option("--html", "html_file", type=click.Path(dir_okay=False), help="write an HTML chart and table")
@click.option("--strict", is_flag=True, help="exit 1 when any target failed")
@click.option("-q", "--quiet", is_flag=True)
@click.option("--debug", is_flag=True)
def sweep_command(model, targets, arch_paths, workers, ray_address, json_file, html_file, strict, quiet, debug):
    """Compile MODEL for every chosen target and tabulate latency, fps and utilisation."""
    from .cli import _run

    def work():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
        from xir.files import check_output_files, write_files_atomic
        from .sweep import choose_targets, run_sweep
        from .sweep_report import print_table, render_html
        import sys
        check_output_files(json_file, html_file)
        chosen = choose_targets(targets, arch_paths)
        with Progress(TextColumn("sweeping"), BarColumn(), MofNCompleteColumn(),
                      disable=quiet or not sys.stdout.isatty()) as bar:
            task = bar.add_task("sweep", total=len(chosen))
            rows = run_sweep(model, chosen, workers, ray_address, on_row=lambda r: bar.advance(task))
        title = f"{Path(model).name} on {len(chosen)} target(s)"
        files = {}
        if json_file:
            files[Path(json_file)] = (json.dumps(rows, indent=1) + "\n").encode()
        if html_file:
            files[Path(html_file)] = render_html(rows, title).encode()
        write_files_atomic(files)
        if not quiet:
            print_table(rows, title)
        if strict and any("error" in r for r in rows):
            sys.exit(1)
    _run(work, debug)
