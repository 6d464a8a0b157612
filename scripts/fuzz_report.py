"""Run the fuzz corpus (tests/fuzz/fuzz_corpus.py) outside pytest and print, per class, how the cases
ended: exit 2 (one line), exit 0 with the unmutated result, exit 0 with another result (semantic classes
only), and any contract break (exit 1, traceback, hang, changed result where none is allowed).

Usage: PYTHONPATH=. python scripts/fuzz_report.py [--scale slow|default] [--classes a,b] [--first-seed N]
"""
from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "fuzz"))
sys.path.insert(0, str(ROOT / "tests"))

from fuzz_corpus import build_base, check, make_case, run_case  # noqa: E402
from test_fuzz_cli import COUNTS  # noqa: E402


@click.command()
@click.option("--scale", type=click.Choice(["default", "slow"]), default="slow",
              help="default: the default test run's seeds; slow: the -m slow run's seeds")
@click.option("--classes", default=None, help="comma-separated classes (all by default)")
@click.option("--seeds", default=None, help="only these seeds, e.g. 100-200 (overrides --scale's range)")
def main(scale, classes, seeds):
    chosen = classes.split(",") if classes else list(COUNTS)
    con = Console()
    with tempfile.TemporaryDirectory(prefix="vai-fuzz-") as tmp:
        root = Path(tmp)
        base = build_base(root / "base")
        table = Table(title=f"fuzz corpus ({scale} seeds)")
        for col in ("class", "cases", "exit 2", "exit 0 same", "exit 0 other", "broken", "seconds"):
            table.add_column(col, justify="left" if col == "class" else "right")
        total = Counter()
        broken_examples = []
        for cls in chosen:
            n0, n1 = COUNTS[cls]
            if seeds:
                lo, _, hi = seeds.partition("-")
                chosen_seeds = range(int(lo), int(hi or lo) + 1)
            else:
                chosen_seeds = range(n0) if scale == "default" else range(n0, n0 + n1)
            counts = Counter()
            t0 = time.perf_counter()
            for seed in chosen_seeds:
                case = make_case(cls, seed, base, root / cls / str(seed))
                o = run_case(case, base)
                why = check(o)
                if why:
                    counts["broken"] += 1
                    broken_examples.append(f"{cls} seed {seed} ({case.what}): {why}")
                    con.print(f"  broken: {broken_examples[-1]}", highlight=False)
                elif o.code == 2:
                    counts["exit 2"] += 1
                else:
                    counts["exit 0 same" if o.same in (True, None) else "exit 0 other"] += 1
            total.update(counts)
            total["cases"] += len(chosen_seeds)
            table.add_row(cls, str(len(chosen_seeds)), str(counts["exit 2"]), str(counts["exit 0 same"]),
                          str(counts["exit 0 other"]), str(counts["broken"]), f"{time.perf_counter() - t0:.0f}")
            con.print(f"{cls}: {len(chosen_seeds)} cases, {counts['broken']} broken", highlight=False)
        table.add_row("all", str(total["cases"]), str(total["exit 2"]), str(total["exit 0 same"]),
                      str(total["exit 0 other"]), str(total["broken"]), "")
        con.print(table)
        for line in broken_examples[:30]:
            con.print(line, highlight=False)
        sys.exit(1 if total["broken"] else 0)


if __name__ == "__main__":
    main()
